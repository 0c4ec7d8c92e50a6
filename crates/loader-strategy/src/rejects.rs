//! The rejects file (`--rejects FILE`): a CSV copy of what the run quarantined, for people
//! who want the bad rows next to the input rather than in the database.
//!
//! Entries are appended after the sub-batches that quarantined them commit, so the file never
//! names a row the database does not hold as rejected. The quarantine table stays the record:
//! a run that dies between a commit and the append leaves the entry in the table only.

use crate::{Error, Result};
use loader_batch::RejectedRow;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Columns of the rejects file, in order.
pub const REJECTS_HEADER: [&str; 8] = [
    "file",
    "line",
    "byte",
    "column",
    "column_name",
    "kind",
    "message",
    "raw",
];

/// A CSV file of rejected rows, shared by the files of a run.
#[derive(Debug)]
pub(crate) struct RejectsFile {
    path: PathBuf,
    writer: Mutex<csv::Writer<BufWriter<File>>>,
}

impl RejectsFile {
    /// Creates (or empties) `path` and writes the header.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| io_error(path, &e))?;
        let mut writer = csv::Writer::from_writer(BufWriter::new(file));
        writer
            .write_record(REJECTS_HEADER)
            .and_then(|()| writer.flush().map_err(csv::Error::from))
            .map_err(|e| csv_error(path, e))?;
        Ok(RejectsFile {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
        })
    }

    /// Appends committed rejects of `source` and flushes, so the file is complete up to the
    /// last commit whatever happens next.
    pub(crate) fn append(&self, source: &Path, rejects: &[RejectedRow]) -> Result<()> {
        if rejects.is_empty() {
            return Ok(());
        }
        let source = source.display().to_string();
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for reject in rejects {
            let line = reject.line.to_string();
            let byte = reject.byte.to_string();
            let column = reject.column.map(|c| c.to_string()).unwrap_or_default();
            let fields: [&[u8]; 8] = [
                source.as_bytes(),
                line.as_bytes(),
                byte.as_bytes(),
                column.as_bytes(),
                reject.column_name.as_deref().unwrap_or_default().as_bytes(),
                reject.kind.as_str().as_bytes(),
                reject.message.as_bytes(),
                &reject.raw,
            ];
            writer
                .write_record(fields)
                .map_err(|e| csv_error(&self.path, e))?;
        }
        writer.flush().map_err(|e| io_error(&self.path, &e))
    }
}

fn io_error(path: &Path, error: &std::io::Error) -> Error {
    Error::Rejects(format!("{}: {error}", path.display()))
}

fn csv_error(path: &Path, error: csv::Error) -> Error {
    Error::Rejects(format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loader_batch::RejectKind;

    #[test]
    fn raw_bytes_survive_a_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejects.csv");
        let file = RejectsFile::create(&path).unwrap();
        let raw = b"5,\"a,\xff\"\"b\"\r\n,x".to_vec();
        let reject = RejectedRow {
            line: 7,
            byte: 90,
            column: Some(2),
            column_name: Some("name".into()),
            kind: RejectKind::Encoding,
            message: "column 2 (\"name\"): expected text".into(),
            raw: raw.clone(),
        };
        file.append(Path::new("in.csv"), &[reject]).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        assert_eq!(reader.headers().unwrap(), &REJECTS_HEADER[..]);
        let record = reader.byte_records().next().unwrap().unwrap();
        assert_eq!(&record[0], b"in.csv");
        assert_eq!(&record[1], b"7");
        assert_eq!(&record[5], b"encoding");
        assert_eq!(&record[7], &raw[..]);
    }
}
