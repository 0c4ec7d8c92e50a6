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
/// Only for plain files, whose byte offsets are those of the reader: false for a compressed
/// one (checked by its magic number).
///
/// A line ends there when the byte before it is a line end, or, for earlier content whose
/// last row had none, when the byte at it is one: text appended straight after such a row
/// would have changed that row, and the file is then new content.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read.
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
    if size <= old_size
        || resume_byte > old_size
        || crate::input::detect(&mut file).map_err(io)? != crate::Compression::None
        // Resume points in UTF-16 text are offsets in its UTF-8, not in the file.
        || crate::input::utf16_order(&mut file).map_err(io)?.is_some()
    {
        return Ok(false);
    }
    let (hash, read) = hash_from(&mut file, old_size).map_err(io)?;
    if read < old_size || hash.to_hex().as_str() != old_hash {
        return Ok(false);
    }
    let mut line_end = |at: u64| -> Result<bool> {
        let mut byte = [0u8; 1];
        file.seek(SeekFrom::Start(at)).map_err(io)?;
        Ok(file.read(&mut byte).map_err(io)? == 1 && matches!(byte[0], b'\n' | b'\r'))
    };
    Ok(resume_byte == 0 || line_end(resume_byte - 1)? || line_end(resume_byte)?)
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
    fn a_compressed_file_is_never_taken_for_a_grown_one() {
        use std::io::Write;
        let gzip = |text: &[u8]| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(text).unwrap();
            encoder.finish().unwrap()
        };
        // Two gzip members one after the other: the old file is a prefix of the new one.
        let old = gzip(b"id\n1\n");
        let mut new = old.clone();
        new.extend(gzip(b"2\n"));
        assert!(!grown(&old, &new, 5));
    }
}
