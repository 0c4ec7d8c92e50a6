use crate::ColumnType;
use std::ops::Range;

/// Errors of the batch layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sink failed a sub-batch; rows before it in the batch were committed.
    #[error("writing rows {}..{} of batch {batch} into {table:?} failed: {source}", rows.start, rows.end)]
    Sink {
        /// Sequence number of the batch within its file.
        batch: u64,
        /// Table being written.
        table: String,
        /// Rows of the batch in the failed sub-batch.
        rows: Range<usize>,
        /// Rows of this batch committed before the failure, stored or set aside as refused.
        committed_rows: usize,
        /// The rows among them the database refused, quarantined instead of stored.
        refused: Box<[crate::RejectedRow]>,
        /// What the sink said (boxed: it is the large part of a rare error).
        #[source]
        source: Box<SinkError>,
    },
    /// The audit trail could not be written.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A batch grew past 4 GiB of field data.
    #[error("batch exceeds 4 GiB of field data")]
    BatchTooLarge,
    /// A row did not have as many fields as the batch has columns.
    #[error("row has {found} fields, batch has {expected} columns")]
    FieldCount {
        /// Columns of the batch.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A field that does not hold a value of its column's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe_value_error(self))]
pub struct ValueError {
    /// The column type.
    pub expected: ColumnType,
    /// The field text, cut to 64 characters; bytes that are not UTF-8 written `\xE9`.
    pub found: String,
    /// The field is not UTF-8: most likely the file is in another encoding (Latin-1,
    /// Windows-1252) read as UTF-8.
    pub not_utf8: bool,
}

impl ValueError {
    pub(crate) fn new(expected: ColumnType, field: &[u8]) -> Self {
        let mut text = String::with_capacity(field.len().min(256));
        let mut not_utf8 = false;
        for chunk in field.utf8_chunks() {
            text.push_str(chunk.valid());
            for byte in chunk.invalid() {
                text.push_str(&format!("\\x{byte:02X}"));
                not_utf8 = true;
            }
        }
        let found = match text.char_indices().nth(64) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text,
        };
        ValueError {
            expected,
            found,
            not_utf8,
        }
    }
}

/// `expected integer, found "x"`; a real written as one but beyond a double's range says so,
/// since it looks like a real; text that is not UTF-8 shows its bytes (`"Jos\xE9"`).
fn describe_value_error(error: &ValueError) -> String {
    let ValueError {
        expected,
        found,
        not_utf8,
    } = error;
    if *not_utf8 {
        format!("expected {expected}, found \"{found}\", which is not UTF-8")
    } else if *expected == ColumnType::Real && crate::value::has_real_shape(found.as_bytes()) {
        format!("{found:?} is out of range for real")
    } else {
        format!("expected {expected}, found {found:?}")
    }
}

/// How a sink failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SinkErrorKind {
    /// Worth retrying: connection reset, busy database, serialization failure, lock timeout.
    Transient,
    /// Retrying will not help: missing permission, bad credentials, disk full, schema mismatch.
    Terminal,
    /// The data itself was refused by the database (constraint, type).
    Data,
    /// The sink panicked; the pool that ran it is suspect.
    Panicked,
}

/// A failure reported by a [`BatchSink`](crate::BatchSink).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// How to handle it.
    pub kind: SinkErrorKind,
    /// What happened, already free of credentials and of long SQL text.
    pub message: String,
    /// The underlying error, when there is one.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// For a [`Data`](SinkErrorKind::Data) failure, the row of the batch the database named
    /// (an index into the batch, not a line), when it named one. A hint only: a row is set
    /// aside as refused once a write of it alone is refused.
    pub row: Option<usize>,
    /// For a [`Data`](SinkErrorKind::Data) failure, the column the database named, when it
    /// named one (a NOT NULL column, say).
    pub column: Option<String>,
}

impl SinkError {
    /// A failure of `kind` with `message`.
    pub fn new(kind: SinkErrorKind, message: impl Into<String>) -> Self {
        SinkError {
            kind,
            message: message.into(),
            source: None,
            row: None,
            column: None,
        }
    }

    /// Names the row of the batch the database refused.
    pub fn at_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }

    /// Names the column the database refused a value of.
    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    /// A transient failure.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(SinkErrorKind::Transient, message)
    }

    /// A terminal failure.
    pub fn terminal(message: impl Into<String>) -> Self {
        Self::new(SinkErrorKind::Terminal, message)
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == SinkErrorKind::Transient
    }
}

/// The audit trail could not be written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit trail {target}: {message}")]
pub struct AuditError {
    /// Where events were going (a file path, a table).
    pub target: String,
    /// What went wrong.
    pub message: String,
}
