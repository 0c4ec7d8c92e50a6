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

/// The [`content_hash`] of the first `len` bytes of the file at `path` (all of it when it is
/// shorter): its content as it was when it was `len` bytes long, whatever was appended
/// since. A load hashes a file up to its size before the hash and reads no further (see
/// [`CsvOptions::content_bytes`](crate::CsvOptions::content_bytes)).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read.
///
/// # Example
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("log.csv");
/// std::fs::write(&path, "x\n1\n").unwrap();
/// let hash = loader_file::content_hash(&path).unwrap();
/// std::fs::write(&path, "x\n1\n2\n").unwrap();
/// assert_eq!(loader_file::content_hash_upto(&path, 4).unwrap(), hash);
/// ```
pub fn content_hash_upto(path: &Path, len: u64) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let (hash, _) = hash_from(&mut file, len).map_err(io)?;
    Ok(hash.to_hex().to_string())
}

/// The BLAKE3 hash of the next `limit` bytes of `input` (fewer at its end), and how many
/// bytes that was.
fn hash_from(input: &mut impl Read, limit: u64) -> std::io::Result<(blake3::Hash, u64)> {
    let mut hasher = blake3::Hasher::new();
    let read = feed(&mut hasher, input, limit)?;
    Ok((hasher.finalize(), read))
}

/// Feeds the next `limit` bytes of `input` (fewer at its end) to `hasher`; how many it fed.
fn feed(hasher: &mut blake3::Hasher, input: &mut impl Read, limit: u64) -> std::io::Result<u64> {
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
    Ok(read)
}

/// The bytes a gzip or zstd file decompresses to, as they are (no transcoding); an
/// uncompressed file's own bytes.
fn decompressed(path: &Path) -> std::io::Result<Box<dyn Read>> {
    Ok(match crate::input::open(path, crate::Encoding::Utf8)?.0 {
        crate::input::Input::Plain(file) => Box::new(file),
        crate::input::Input::Decoded(text) => text,
    })
}

/// The [`content_hash`] of what a compressed file decompresses to: a gzip or zstd copy of a
/// file hashes as the file itself does, so a run holding `orders.csv` and `orders.csv.gz`
/// made from it can tell they are the same content. An uncompressed file gives its
/// [`content_hash`].
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read or decompressed.
///
/// # Example
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let plain = dir.path().join("orders.csv");
/// std::fs::write(&plain, "id\n1\n").unwrap();
/// let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gzip.write_all(b"id\n1\n").unwrap();
/// let packed = dir.path().join("orders.csv.gz");
/// std::fs::write(&packed, gzip.finish().unwrap()).unwrap();
/// let plain_hash = loader_file::content_hash(&plain).unwrap();
/// assert_ne!(loader_file::content_hash(&packed).unwrap(), plain_hash);
/// assert_eq!(loader_file::decompressed_hash(&packed).unwrap(), plain_hash);
/// ```
pub fn decompressed_hash(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let (hash, _) = hash_from(&mut decompressed(path).map_err(io)?, u64::MAX).map_err(io)?;
    Ok(hash.to_hex().to_string())
}

/// Whether the compressed file at `path` holds, decompressed, an earlier uncompressed file's
/// content (its `old_size` bytes hash to `old_hash`), and perhaps rows after it: as
/// [`grew_from`] asks of a file that grew, with a line end at `resume_byte`. It is how a run
/// over `orders.csv.gz` finds the rows an earlier run loaded from `orders.csv`, compressed
/// since (a nightly job that loads a directory, then archives what it loaded).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read or decompressed.
pub fn decompressed_from(
    path: &Path,
    old_size: u64,
    old_hash: &str,
    resume_byte: u64,
) -> Result<bool> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if resume_byte > old_size {
        return Ok(false);
    }
    let mut text = decompressed(path).map_err(io)?;
    let mut hasher = blake3::Hasher::new();
    // Up to the byte before the resume point, then the two around it (kept for the line
    // end), then the rest of the old content.
    let before = resume_byte.saturating_sub(1).min(old_size);
    let mut read = feed(&mut hasher, &mut text, before).map_err(io)?;
    let mut around = [0u8; 2];
    let filled = if resume_byte == 0 || read < before {
        0
    } else {
        crate::input::read_up_to(&mut text, &mut around).map_err(io)?
    };
    let within = usize::try_from(old_size - read).map_or(filled, |left| left.min(filled));
    hasher.update(&around[..within]);
    read += within as u64;
    read += feed(&mut hasher, &mut text, old_size - read).map_err(io)?;
    if read < old_size || hasher.finalize().to_hex().as_str() != old_hash {
        return Ok(false);
    }
    Ok(resume_byte == 0 || around[..filled].iter().any(|&b| matches!(b, b'\n' | b'\r')))
}

/// Whether the file at `path` is an earlier file that has grown: its first `old_size` bytes
/// hash to `old_hash` (a [`content_hash`]), and a line ends at `resume_byte` (where the
/// earlier content's last row ended), so that the rows after it are whole rows of their own.
///
/// `resume_byte` is an offset in the text the reader reads, as `encoding` makes it: in a
/// plain UTF-8 file, an offset in the file; in a compressed or transcoded one (latin1,
/// UTF-16), an offset in its decoded UTF-8, which a resume reads past rather than seeks to.
/// The line end is looked for there. A file whose old bytes are unchanged decodes to the
/// old text and then more: rows appended, a gzip download cut short that is whole now, a
/// gzip member appended.
///
/// A line ends there when the byte before it is a line end, or, for earlier content whose
/// last row had none, when the byte at it is one: text appended straight after such a row
/// would have changed that row, and the file is then new content.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, or its text decoded up to `resume_byte`.
///
/// # Example
///
/// ```
/// use loader_file::{Encoding, grew_from};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("daily.csv");
/// std::fs::write(&path, "id\n1\n").unwrap();
/// let old = loader_file::content_hash(&path).unwrap();
/// std::fs::write(&path, "id\n1\n2\n").unwrap();
/// assert!(grew_from(&path, 5, &old, 5, Encoding::Utf8).unwrap());
/// std::fs::write(&path, "id\n7\n2\n").unwrap();
/// assert!(!grew_from(&path, 5, &old, 5, Encoding::Utf8).unwrap());
/// ```
pub fn grew_from(
    path: &Path,
    old_size: u64,
    old_hash: &str,
    resume_byte: u64,
    encoding: crate::Encoding,
) -> Result<bool> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() <= old_size {
        return Ok(false);
    }
    let (hash, read) = hash_from(&mut file, old_size).map_err(io)?;
    if read < old_size || hash.to_hex().as_str() != old_hash {
        return Ok(false);
    }
    if resume_byte == 0 {
        return Ok(true);
    }
    // The two bytes around the resume point, in the text the reader reads.
    let mut around = [0u8; 2];
    let filled = match crate::input::open_marked(path, encoding).map_err(io)?.0 {
        crate::input::Input::Plain(mut file) => {
            if resume_byte > old_size {
                return Ok(false);
            }
            file.seek(SeekFrom::Start(resume_byte - 1)).map_err(io)?;
            crate::input::read_up_to(&mut file, &mut around).map_err(io)?
        }
        crate::input::Input::Decoded(mut text) => {
            std::io::copy(&mut (&mut text).take(resume_byte - 1), &mut std::io::sink())
                .map_err(io)?;
            crate::input::read_up_to(&mut text, &mut around).map_err(io)?
        }
    };
    Ok(around[..filled].iter().any(|&b| matches!(b, b'\n' | b'\r')))
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
        grew_from(
            &path,
            old.len() as u64,
            &hash,
            resume,
            crate::Encoding::Utf8,
        )
        .unwrap()
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

    /// Whether `new`, gzip-compressed, holds `old` (uncompressed), `old`'s last row ending at
    /// `resume`.
    fn holds(old: &[u8], new: &[u8], resume: u64) -> bool {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("f.csv");
        std::fs::write(&plain, old).unwrap();
        let hash = content_hash(&plain).unwrap();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(new).unwrap();
        let packed = dir.path().join("f.csv.gz");
        std::fs::write(&packed, gzip.finish().unwrap()).unwrap();
        decompressed_from(&packed, old.len() as u64, &hash, resume).unwrap()
    }

    #[test]
    fn a_compressed_file_holds_an_earlier_plain_one_as_a_grown_file_would() {
        // The same content compressed, or compressed after rows were added.
        assert!(holds(b"id\n1\n", b"id\n1\n", 5));
        assert!(holds(b"id\n1\n", b"id\n1\n2\n", 5));
        assert!(holds(b"id\n1", b"id\n1\n2\n", 4));
        assert!(holds(b"id\r\n1", b"id\r\n1\r\n2\r\n", 5));
        assert!(holds(b"id\n1\n", b"id\n1\n", 0));
        // The last row changed, an old byte changed, or the content shrank.
        assert!(!holds(b"id\n1", b"id\n12\n", 4));
        assert!(!holds(b"id\n1\n", b"id\n7\n2\n", 5));
        assert!(!holds(b"id\n1\n2\n", b"id\n1\n", 7));
        assert!(!holds(b"id\n1\n", b"id\n1\n2\n", 6));
        // Longer than one read buffer, resuming in the middle of the old content.
        let old: Vec<u8> = (0..100_000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let mut new = old.clone();
        new.extend_from_slice(b"100000\n");
        // Where the row 12345 starts, and two bytes into it.
        let row = old.windows(7).position(|w| w == b"\n12345\n").unwrap() as u64 + 1;
        assert!(holds(&old, &new, old.len() as u64));
        assert!(holds(&old, &new, row));
        assert!(!holds(&old, &new, row + 2));
        let mut changed = new.clone();
        changed[300_000] ^= 1;
        assert!(!holds(&old, &changed, old.len() as u64));
    }

    #[test]
    fn a_transcoded_file_is_looked_at_in_its_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        let old = b"id\n1,caf\xe9\n";
        assert_eq!(old.len(), 10);
        std::fs::write(&path, old).unwrap();
        let hash = content_hash(&path).unwrap();
        std::fs::write(&path, b"id\n1,caf\xe9\n2,x\n").unwrap();
        // `id\n1,café\n` is 11 bytes of UTF-8 for 10 of latin1: the resume point lies past
        // the old bytes' length, in the text the reader reads.
        let grew = |resume| grew_from(&path, 10, &hash, resume, crate::Encoding::Latin1).unwrap();
        assert!(grew(11));
        assert!(!grew(8), "not at a line end");
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
