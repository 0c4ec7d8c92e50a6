use loader_batch::ValueError;
use std::path::PathBuf;

/// Errors of the file layer. Each names the file and, where there is one, the line, byte
/// offset and column (1-based) of the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path given does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// A path given is a pipe, a socket or a device, which can be read only once.
    #[error(
        "{path}: not a regular file (a pipe or a device): a load reads its input more than \
         once (sample, content hash, rows); copy it to a file, or give it as `-` on standard \
         input"
    )]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The inputs matched no file.
    #[error("no input files found in {inputs}")]
    NoInput {
        /// The inputs, joined for display.
        inputs: String,
    },
    /// A glob pattern is malformed.
    #[error("bad glob pattern {pattern:?}: {message}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Reading stopped partway through the file (a compressed stream that ends early, a
    /// disk error): the rows before `line` were handed out, the one there was not.
    #[error(
        "{path}:{line}: reading stopped at this line (byte {byte}): {source}; is the file cut \
         short or damaged? The rows before this line are read"
    )]
    ReadStopped {
        /// The file.
        path: PathBuf,
        /// Line of the record being read.
        line: u64,
        /// Its byte offset (in the decompressed text for a compressed file).
        byte: u64,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The CSV syntax is broken (for example an unterminated quote).
    #[error("{path}:{line}: malformed CSV at byte {byte}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Line of the record.
        line: u64,
        /// Byte offset of the record.
        byte: u64,
        /// The parser's message.
        message: String,
    },
    /// A record has more or fewer fields than the header.
    #[error("{path}:{line}: expected {expected} fields, found {found}")]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// Line of the record.
        line: u64,
        /// Byte offset of the record.
        byte: u64,
        /// Fields in the header (or first record).
        expected: usize,
        /// Fields in this record.
        found: usize,
    },
    /// A field does not hold a value of its column's type.
    #[error("{path}:{line}: column {column} ({name:?}): {source}")]
    Value {
        /// The file.
        path: PathBuf,
        /// Line of the record.
        line: u64,
        /// Byte offset of the record.
        byte: u64,
        /// Column number, from 1.
        column: usize,
        /// Column name.
        name: String,
        /// What was wrong.
        #[source]
        source: ValueError,
    },
    /// A number its column's type would not store as written (a leading zero, or a whole
    /// number too large for an integer in a real column), in a column the user gave no type
    /// ([`CsvOptions::inferred_columns`](crate::CsvOptions::inferred_columns)).
    #[error(
        "{path}:{line}: column {column} ({name:?}): {found:?} {reason}, and no type was given for the column: --column {name}:{ty} stores such values as numbers, --column {name}:text keeps them as written"
    )]
    NotAsWritten {
        /// The file.
        path: PathBuf,
        /// Line of the record.
        line: u64,
        /// Byte offset of the record.
        byte: u64,
        /// Column number, from 1.
        column: usize,
        /// Column name.
        name: String,
        /// The field as read.
        found: String,
        /// The column's type.
        ty: loader_batch::ColumnType,
        /// What the type would change.
        reason: &'static str,
    },
    /// A typed field not written as the options say it is: no number written with a
    /// decimal comma (`--decimal-comma`), no date in the `--date-format` given.
    #[error("{path}:{line}: column {column} ({name:?}): expected {expected}, found {found:?}")]
    NotInFormat {
        /// The file.
        path: PathBuf,
        /// Line of the record.
        line: u64,
        /// Byte offset of the record.
        byte: u64,
        /// Column number, from 1.
        column: usize,
        /// Column name.
        name: String,
        /// The field as read, cut to 64 bytes.
        found: String,
        /// What the options say such a value is written as (boxed: every error of this
        /// crate is as large as its largest).
        expected: Box<str>,
    },
    /// A text field holds a NUL byte, which the target cannot store.
    #[error(
        "{path}:{line}: column {column} ({name:?}): a NUL byte, which the target's text cannot hold"
    )]
    Nul {
        /// The file.
        path: PathBuf,
        /// Line of the record.
        line: u64,
        /// Byte offset of the record.
        byte: u64,
        /// Column number, from 1.
        column: usize,
        /// Column name.
        name: String,
    },
    /// The file's last row has a quoted field that runs to the end of the file: its closing
    /// quote is missing, most often because the file was cut short.
    #[error(
        "{path}:{line}: column {column} ({name:?}): a quoted field runs to the end of the file without its closing quote (was the file cut short?)"
    )]
    UnterminatedQuote {
        /// The file.
        path: PathBuf,
        /// Line the row starts on.
        line: u64,
        /// Byte offset of the row.
        byte: u64,
        /// Column number of the open field, from 1.
        column: usize,
        /// Its column name (empty past the header's last).
        name: String,
    },
    /// The bad-row policy's limit was crossed: the file stops. Rows before `line` were
    /// handed out (and are loaded when their batches commit); this line and those after
    /// it are not loaded.
    #[error(
        "{path}:{line}: stopped after {rejected} rejected rows of {read} read, over {limit}; rows before line {line} are loaded, this line and the rest of the file are not"
    )]
    TooManyRejects {
        /// The file.
        path: PathBuf,
        /// First line not loaded.
        line: u64,
        /// Its byte offset.
        byte: u64,
        /// Rows rejected, the one crossing the limit included.
        rejected: u64,
        /// Rows read from the file so far.
        read: u64,
        /// The limit, as given (`--max-errors 5`, `--max-error-ratio 0.01`).
        limit: String,
    },
    /// A row is longer than the row limit; it was not read into memory.
    #[error("{path}:{line}: the row starting here is longer than {limit} bytes (--max-row-bytes)")]
    RowTooLong {
        /// The file.
        path: PathBuf,
        /// Line the row starts on.
        line: u64,
        /// Its byte offset.
        byte: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file has no header and no rows.
    #[error("{path}: the file is empty")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A single row needs more memory than the whole budget.
    #[error("{path}:{line}: a row of {bytes} bytes does not fit the memory budget: {source}")]
    RowTooLarge {
        /// The file.
        path: PathBuf,
        /// Line of the record.
        line: u64,
        /// Field bytes of the row.
        bytes: usize,
        /// The budget's refusal.
        #[source]
        source: loader_memory::Error,
    },
    /// The memory budget refused a batch.
    #[error("{path}: {source}")]
    Memory {
        /// The file.
        path: PathBuf,
        /// The budget's refusal.
        #[source]
        source: loader_memory::Error,
    },
}

impl Error {
    /// The line the error points at, when it points at one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Error::Csv { line, .. }
            | Error::FieldCount { line, .. }
            | Error::Value { line, .. }
            | Error::NotAsWritten { line, .. }
            | Error::NotInFormat { line, .. }
            | Error::Nul { line, .. }
            | Error::UnterminatedQuote { line, .. }
            | Error::TooManyRejects { line, .. }
            | Error::RowTooLong { line, .. }
            | Error::RowTooLarge { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// Whether the error is about the data (as opposed to the machine or the arguments).
    pub fn is_data_error(&self) -> bool {
        matches!(
            self,
            Error::Csv { .. }
                | Error::FieldCount { .. }
                | Error::Value { .. }
                | Error::NotAsWritten { .. }
                | Error::NotInFormat { .. }
                | Error::Nul { .. }
                | Error::UnterminatedQuote { .. }
                | Error::TooManyRejects { .. }
                | Error::RowTooLong { .. }
                | Error::RowTooLarge { .. }
        )
    }

    /// The rejected-row entry for this error, when it is about one row that the bad-row
    /// policy may set aside (wrong field count, bad value, NUL byte, a last row left in an
    /// open quote), with `raw` as its text.
    pub fn to_reject(&self, raw: Vec<u8>) -> Option<loader_batch::RejectedRow> {
        use loader_batch::{ColumnType, RejectKind, RejectedRow};
        let (line, byte, column, kind) = match self {
            Error::FieldCount { line, byte, .. } => (*line, *byte, None, RejectKind::FieldCount),
            Error::Value {
                line,
                byte,
                column,
                name,
                source,
                ..
            } => {
                let kind = if source.expected == ColumnType::Text {
                    RejectKind::Encoding
                } else {
                    RejectKind::Type
                };
                (*line, *byte, Some((*column, name)), kind)
            }
            Error::NotAsWritten {
                line,
                byte,
                column,
                name,
                ..
            }
            | Error::NotInFormat {
                line,
                byte,
                column,
                name,
                ..
            } => (*line, *byte, Some((*column, name)), RejectKind::Type),
            Error::Nul {
                line,
                byte,
                column,
                name,
                ..
            } => (*line, *byte, Some((*column, name)), RejectKind::NulByte),
            Error::UnterminatedQuote {
                line,
                byte,
                column,
                name,
                ..
            } => (
                *line,
                *byte,
                Some((*column, name)),
                RejectKind::UnterminatedQuote,
            ),
            _ => return None,
        };
        // The message without the `path:line: ` prefix every row error starts with: the
        // entry holds file and line apart.
        let message = self.to_string();
        let path = match self {
            Error::FieldCount { path, .. }
            | Error::Value { path, .. }
            | Error::NotAsWritten { path, .. }
            | Error::NotInFormat { path, .. }
            | Error::Nul { path, .. }
            | Error::UnterminatedQuote { path, .. } => path,
            _ => return None,
        };
        let prefix = format!("{}:{line}: ", path.display());
        let message = message.strip_prefix(&prefix).unwrap_or(&message).to_owned();
        Some(RejectedRow {
            line,
            byte,
            column: column.map(|(c, _)| c as u32),
            column_name: column.map(|(_, n)| n.clone()),
            kind,
            message,
            raw,
        })
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn csv_error(path: &std::path::Path, error: csv::Error) -> Error {
    let (line, byte) = error.position().map_or((0, 0), |p| (p.line(), p.byte()));
    let message = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        _ => Error::Csv {
            path: path.to_path_buf(),
            line,
            byte,
            message,
        },
    }
}
