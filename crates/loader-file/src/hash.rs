use crate::{Error, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The BLAKE3 hash of a file's bytes, in hex: how the ledger recognises content it has
/// loaded, whatever the file is called now.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read.
///
/// # Example
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let a = dir.path().join("a.csv");
/// let b = dir.path().join("renamed.csv");
/// std::fs::write(&a, "x\n1\n").unwrap();
/// std::fs::write(&b, "x\n1\n").unwrap();
/// assert_eq!(loader_file::content_hash(&a).unwrap(), loader_file::content_hash(&b).unwrap());
/// assert_eq!(loader_file::content_hash(&a).unwrap().len(), 64);
/// ```
pub fn content_hash(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let (hash, _) = hash_from(&mut file, u64::MAX).map_err(io)?;
    Ok(hash.to_hex().to_string())
}

/// The BLAKE3 hash of the next `limit` bytes of `input` (fewer at its end), and how many
/// bytes that was.
fn hash_from(input: &mut impl Read, limit: u64) -> std::io::Result<(blake3::Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 256 << 10];
    let mut read = 0;
    while read < limit {
        let want =
            usize::try_from(limit - read).map_or(buffer.len(), |left| left.min(buffer.len()));
        let n = match input.read(&mut buffer[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..n]);
        read += n as u64;
    }
    Ok((hasher.finalize(), read))
}

/// Whether the file at `path` is an earlier file that has grown: its first `old_size` bytes
/// hash to `old_hash` (a [`content_hash`]), and a line ends at `resume_byte` (where the
/// earlier content's last row ended), so that the rows after it are whole rows of their own.
///
/// In a plain file `resume_byte` is an offset in the file. In a compressed one it is an
/// offset in the text the reader decodes (which a resume reads past rather than seeks to),
/// and the line end is looked for there: a compressed stream whose old bytes are unchanged
/// decodes to the old text and then more (a gzip file that was cut short and is whole now,
/// or one with another gzip member appended). Plain UTF-16 is left out: its resume points
/// are offsets in its UTF-8.
///
/// A line ends there when the byte before it is a line end, or, for earlier content whose
/// last row had none, when the byte at it is one: text appended straight after such a row
/// would have changed that row, and the file is then new content.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, or a compressed one decoded up to
/// `resume_byte`.
///
/// # Example
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("daily.csv");
/// std::fs::write(&path, "id\n1\n").unwrap();
/// let old = loader_file::content_hash(&path).unwrap();
/// std::fs::write(&path, "id\n1\n2\n").unwrap();
/// assert!(loader_file::grew_from(&path, 5, &old, 5).unwrap());
/// std::fs::write(&path, "id\n7\n2\n").unwrap();
/// assert!(!loader_file::grew_from(&path, 5, &old, 5).unwrap());
/// ```
pub fn grew_from(path: &Path, old_size: u64, old_hash: &str, resume_byte: u64) -> Result<bool> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let plain = crate::input::detect(&mut file).map_err(io)? == crate::Compression::None;
    if size <= old_size
        || (plain && resume_byte > old_size)
        // Resume points in UTF-16 text are offsets in its UTF-8, not in the file.
        || (plain && crate::input::utf16_order(&mut file).map_err(io)?.is_some())
    {
        return Ok(false);
    }
    let (hash, read) = hash_from(&mut file, old_size).map_err(io)?;
    if read < old_size || hash.to_hex().as_str() != old_hash {
        return Ok(false);
    }
    if resume_byte == 0 {
        return Ok(true);
    }
    let is_line_end = |byte: u8| matches!(byte, b'\n' | b'\r');
    if !plain {
        // The two bytes around the resume point, in the text the reader decodes.
        let (mut text, _, _) =
            crate::input::open_marked(path, crate::Encoding::Utf8).map_err(io)?;
        std::io::copy(&mut (&mut text).take(resume_byte - 1), &mut std::io::sink()).map_err(io)?;
        let mut around = [0u8; 2];
        let filled = crate::input::read_up_to(&mut text, &mut around).map_err(io)?;
        return Ok(around[..filled].iter().any(|&b| is_line_end(b)));
    }
    let mut line_end = |at: u64| -> Result<bool> {
        let mut byte = [0u8; 1];
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        Ok(file.read(&mut byte).map_err(io)? == 1 && is_line_end(byte[0]))
    };
    Ok(line_end(resume_byte - 1)? || line_end(resume_byte)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `new` is `old` grown, `old`'s last row ending at `resume`.
    fn grown(old: &[u8], new: &[u8], resume: u64) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, old).unwrap();
        let hash = content_hash(&path).unwrap();
        std::fs::write(&path, new).unwrap();
        grew_from(&path, old.len() as u64, &hash, resume).unwrap()
    }

    #[test]
    fn a_file_has_grown_only_when_its_old_bytes_are_unchanged_and_a_row_ends_where_they_did() {
        assert!(grown(b"id\n1\n", b"id\n1\n2\n", 5));
        // A blank line after the last row: the row ended before the old end.
        assert!(grown(b"id\n1\n\n", b"id\n1\n\n2\n", 5));
        // No line end after the last row, and the new text starts with one.
        assert!(grown(b"id\n1", b"id\n1\n2\n", 4));
        assert!(grown(b"id\r\n1", b"id\r\n1\r\n2\r\n", 5));
        // Appended straight after a row without a line end: that row changed.
        assert!(!grown(b"id\n1", b"id\n12\n", 4));
        // An old byte changed, or nothing added, or the file shrank.
        assert!(!grown(b"id\n1\n", b"id\n7\n2\n", 5));
        assert!(!grown(b"id\n1\n", b"id\n1\n", 5));
        assert!(!grown(b"id\n1\n2\n", b"id\n1\n", 7));
        // A resume point past the old end cannot be the old content's.
        assert!(!grown(b"id\n1\n", b"id\n1\n2\n", 6));
    }

    #[test]
    fn a_compressed_file_grown_by_its_own_bytes_is_found_in_its_decoded_text() {
        use std::io::Write;
        let gzip = |text: &[u8]| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(text).unwrap();
            encoder.finish().unwrap()
        };
        // Two gzip members one after the other: the old file is a prefix of the new one, and
        // the resume point (5, after `id\n1\n`) is in the decoded text, past the old file's
        // own 25 or so bytes.
        let old = gzip(b"id\n1\n");
        let mut new = old.clone();
        new.extend(gzip(b"2\n"));
        assert!(grown(&old, &new, 5));
        // A row without a line end, continued by the next member: that row changed.
        let unended = gzip(b"id\n1");
        let mut continued = unended.clone();
        continued.extend(gzip(b"2\n"));
        assert!(!grown(&unended, &continued, 4));
        // A file cut short and then whole: its cut bytes are the start of the whole one.
        let mut text = String::from("id\n");
        for i in 0..5000 {
            text.push_str(&format!("{i},{}\n", i * 7919 % 10_000));
        }
        let whole = gzip(text.as_bytes());
        let cut = &whole[..whole.len() / 2];
        let rows_read = 2000;
        let resume = text
            .lines()
            .take(rows_read + 1)
            .map(|l| l.len() as u64 + 1)
            .sum();
        assert!(grown(cut, &whole, resume));
        assert!(!grown(cut, &whole, resume - 2), "not at a line end");
        // The same text compressed again, differently: other bytes, new content.
        let mut again = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        again.write_all(text.as_bytes()).unwrap();
        assert!(!grown(cut, &again.finish().unwrap(), resume));
    }
}
