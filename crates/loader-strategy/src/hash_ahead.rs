//! The next file's content hash, made while every worker is still busy with the files
//! before it.
//!
//! A file's content hash is the exactly-once ledger's key for it, so a worker hashes a file
//! before it loads a row of it: a read of the whole file during which the database waits.
//! On a pool whose workers are all busy, the run hashes the file next in line while it waits
//! for a worker, and the worker that takes it starts at once. The hash is used only if the
//! file's size and modification time are still those it was made from; otherwise the worker
//! hashes the file again, as it would have without this.

use loader_file::content_hash;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::task::JoinHandle;

/// A hash being made on a blocking thread, with the file's stamp from before it started.
#[derive(Debug)]
pub(crate) struct HashAhead {
    stamp: Option<Stamp>,
    hashing: JoinHandle<loader_file::Result<String>>,
}

/// What tells a changed file: its length and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub len: u64,
    modified: SystemTime,
}

impl Stamp {
    pub(crate) fn of(path: &Path) -> Option<Stamp> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Stamp {
            len: metadata.len(),
            modified: metadata.modified().ok()?,
        })
    }
}

impl HashAhead {
    /// Starts hashing `path` on a blocking thread of the current runtime.
    pub(crate) fn start(path: PathBuf) -> Self {
        HashAhead {
            stamp: Stamp::of(&path),
            hashing: tokio::task::spawn_blocking(move || content_hash(&path)),
        }
    }

    /// The hash (or the error hashing met), if it was made from `path` as the file is now;
    /// `None` when the file changed since, could not be looked at, or the thread failed.
    pub(crate) async fn finish(self, path: &Path) -> Option<loader_file::Result<String>> {
        let made = self.hashing.await.ok()?;
        let unchanged = self.stamp.is_some() && Stamp::of(path) == self.stamp;
        unchanged.then_some(made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unchanged_file_gives_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "id\n1\n").unwrap();
        let ahead = HashAhead::start(path.clone());
        let hash = ahead.finish(&path).await.unwrap().unwrap();
        assert_eq!(hash, content_hash(&path).unwrap());
    }

    #[tokio::test]
    async fn a_file_changed_since_gives_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "id\n1\n").unwrap();
        let ahead = HashAhead::start(path.clone());
        // A row appended after the hash began: its length differs whatever the clock says.
        std::fs::write(&path, "id\n1\n2\n").unwrap();
        assert!(ahead.finish(&path).await.is_none());
    }

    #[tokio::test]
    async fn a_missing_file_gives_nothing_and_the_worker_meets_the_error_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.csv");
        let ahead = HashAhead::start(path.clone());
        assert!(ahead.finish(&path).await.is_none());
    }
}
