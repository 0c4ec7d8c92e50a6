use crate::{Error, Result};
use std::fs::File;
use std::io::Read;
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
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}
