//! Rows the bad-row policy set aside: they travel in their batch, between its good rows, and
//! are quarantined in the same transaction as the sub-batch whose byte range covers them, so
//! that a row is either loaded, or quarantined, or neither (and then read again by the next
//! run), never both and never lost.

use serde::{Deserialize, Serialize};

/// Why a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectKind {
    /// More or fewer fields than the header.
    FieldCount,
    /// A field that is not a value of its column's type.
    Type,
    /// A text field that is not valid UTF-8.
    Encoding,
    /// A text field holding a NUL byte, which the target cannot store.
    NulByte,
    /// The file's last row, whose quoted field runs to the end of the file without its
    /// closing quote: most often a file cut short.
    UnterminatedQuote,
    /// A row the database refused when written alone: a value out of range for a narrower
    /// column of an existing table, or a broken NOT NULL, UNIQUE, CHECK or foreign key.
    Refused,
}

impl RejectKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::FieldCount => "field_count",
            RejectKind::Type => "type",
            RejectKind::Encoding => "encoding",
            RejectKind::NulByte => "nul_byte",
            RejectKind::UnterminatedQuote => "unterminated_quote",
            RejectKind::Refused => "refused",
        }
    }
}

impl std::fmt::Display for RejectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected row, with everything needed to find it, understand it and load it again.
///
/// # Example
///
/// ```
/// use loader_batch::{RejectKind, RejectedRow};
/// let row = RejectedRow {
///     line: 3,
///     byte: 17,
///     column: Some(2),
///     column_name: Some("amount".into()),
///     kind: RejectKind::Type,
///     message: "expected real, found \"ten\"".into(),
///     raw: b"2,ten".to_vec(),
/// };
/// assert_eq!(row.kind.as_str(), "type");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// Line the row starts on (1-based; the header is line 1).
    pub line: u64,
    /// Byte offset of the row in the (decoded) input.
    pub byte: u64,
    /// The offending column (1-based), when one column is to blame.
    pub column: Option<u32>,
    /// Its name.
    pub column_name: Option<String>,
    /// What kind of problem.
    pub kind: RejectKind,
    /// What exactly was wrong.
    pub message: String,
    /// The row's bytes exactly as read, without its line terminator. For compressed or
    /// transcoded inputs these are the decoded bytes the parser saw. For a row the database
    /// [refused](RejectKind::Refused), which was read as good, its fields as the database was
    /// given them, written back as one CSV record (comma-separated, quoted where needed).
    pub raw: Vec<u8>,
}

impl RejectedRow {
    /// Heap bytes the entry holds.
    pub fn heap_size(&self) -> usize {
        self.raw.capacity()
            + self.message.capacity()
            + self.column_name.as_ref().map_or(0, String::capacity)
    }
}
