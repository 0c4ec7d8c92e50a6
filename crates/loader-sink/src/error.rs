use loader_batch::{SinkError, SinkErrorKind};
use std::path::PathBuf;

/// Errors of the sink layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target string is not one loader understands.
    #[error("unsupported target {target:?}: {reason}")]
    BadTarget {
        /// The target as given (credentials redacted).
        target: String,
        /// Why it was refused.
        reason: String,
    },
    /// The database could not be opened or set up.
    #[error("cannot open {path}: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A statement failed.
    #[error("{table}: {message}")]
    Database {
        /// How to treat it.
        kind: SinkErrorKind,
        /// The table concerned.
        table: String,
        /// What the database said (shortened).
        message: String,
    },
    /// The database refused one row of the batch being written: `row` is its index.
    #[error("{source}")]
    RefusedRow {
        /// The row, an index into the batch.
        row: usize,
        /// The column the database named, if it named one.
        column: Option<String>,
        /// What the database said about it.
        source: Box<Error>,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for SinkError {
    fn from(error: Error) -> Self {
        let kind = match error {
            Error::Database { kind, .. } => kind,
            Error::RefusedRow {
                row,
                column,
                source,
            } => {
                let refused = SinkError::from(*source).at_row(row);
                return match column {
                    Some(column) => refused.in_column(column),
                    None => refused,
                };
            }
            _ => SinkErrorKind::Terminal,
        };
        SinkError::new(kind, error.to_string())
    }
}

/// Keeps the first line of a database message, at most 300 characters: some messages echo
/// the whole statement, which for a multi-row insert is megabytes.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn shorten(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_owned(),
    }
}
