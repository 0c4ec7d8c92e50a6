use loader_memory::ByteSize;

/// Errors of the strategy layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Discovery or sampling failed.
    #[error(transparent)]
    File(#[from] loader_file::Error),
    /// A batch could not be written.
    #[error(transparent)]
    Batch(#[from] loader_batch::Error),
    /// The sink failed outside a batch (preparing a table).
    #[error("{}", named_once(table, source))]
    Sink {
        /// The table.
        table: String,
        /// What the sink said.
        #[source]
        source: loader_batch::SinkError,
    },
    /// The database refused a row of the file, found alone, and the bad-row policy set no
    /// row aside: the file stops there.
    #[error(
        "{path}:{line}: the database refused this row: {message}; rows before line {line} are loaded, this line and the rest of the file are not"
    )]
    Refused {
        /// The file.
        path: String,
        /// The row's line.
        line: u64,
        /// What the database said.
        message: String,
    },
    /// The run was asked to stop ([`StopSignal`](crate::StopSignal)) before the file was
    /// done: the rows before `line` are loaded (and in the ledger, which a new run of the
    /// same load resumes from).
    #[error(
        "{path}:{line}: stopped on request; rows before line {line} are loaded, run the load again to resume there"
    )]
    Stopped {
        /// The file.
        path: String,
        /// The first line not loaded.
        line: u64,
    },
    /// The memory probe or budget failed.
    #[error(transparent)]
    Memory(#[from] loader_memory::Error),
    /// The audit trail could not be written.
    #[error(transparent)]
    Audit(#[from] loader_batch::AuditError),
    /// A `--column` type or a `--rename` names a column no file of the run has.
    #[error("--{flag} {column}: no file has such a column ({available})")]
    UnknownColumn {
        /// The option: `column` or `rename`.
        flag: &'static str,
        /// The column asked for.
        column: String,
        /// The columns the first files have, each as `PATH has A, B`.
        available: String,
    },
    /// An upsert without the columns that identify a row, or those columns without an upsert.
    #[error("{0}")]
    UpsertKey(&'static str),
    /// A file lacks a column of the upsert key: its rows could not be matched to the table's.
    #[error(
        "{path}: --key {column}: the file has no such column to match its rows by (its columns: {available})"
    )]
    KeyNotInFile {
        /// The file.
        path: String,
        /// The key's column.
        column: String,
        /// The file's columns, as loaded.
        available: String,
    },
    /// Every column of a file is skipped (`--skip-column`): it would make a table of none.
    #[error("{path}: every column of the file is skipped (--skip-column): nothing would be loaded")]
    NothingLoaded {
        /// The file.
        path: String,
    },
    /// A `--rename` gives a column the name another column of the file has already (or
    /// takes by another rename), letter case aside.
    #[error("{path}: --rename {from}={to}: column {other:?} of the file has that name already")]
    RenameTaken {
        /// The file.
        path: String,
        /// The renamed column's header name.
        from: String,
        /// The name asked for.
        to: String,
        /// The column that has it.
        other: String,
    },
    /// A file has a column its existing table lacks.
    #[error("{path}: column {column:?} is not in table {table:?} (its columns: {available})")]
    ColumnNotInTable {
        /// The file.
        path: String,
        /// The table.
        table: String,
        /// The file's column.
        column: String,
        /// The table's columns.
        available: String,
        /// The table's columns the file names none of (by name, letter case aside).
        unmatched: Box<[String]>,
    },
    /// A file without a header has more columns than the existing table it goes to, whose
    /// columns it takes in order.
    #[error(
        "{path}: the file has {file_columns} columns and no header, and table {table:?} has {table_columns}: without a header, a file's columns are the table's, in order"
    )]
    MoreColumnsThanTable {
        /// The file.
        path: String,
        /// The table.
        table: String,
        /// Columns in the file.
        file_columns: usize,
        /// Columns in the table.
        table_columns: usize,
    },
    /// The memory limit leaves a row budget too small to read even one file.
    #[error(
        "the memory limit ({}, {limit_source}) leaves {} for row batches, the process using {} already; \
         reading {path} needs at least {}: give --memory-limit {} or more",
        ByteSize(*limit), ByteSize(*budget), ByteSize(*used), ByteSize(*needed), ByteSize(*enough)
    )]
    BudgetTooSmall {
        /// The effective memory limit, in bytes.
        limit: u64,
        /// Where it came from (explicit, cgroup, physical).
        limit_source: &'static str,
        /// Bytes the process (or its cgroup) used when planned.
        used: u64,
        /// The row budget it left, in bytes.
        budget: u64,
        /// The file that needs the most.
        path: String,
        /// What it needs, in bytes.
        needed: u64,
        /// A limit whose budget would hold it, in bytes.
        enough: u64,
    },
    /// The rejects file could not be written.
    #[error("rejects file {0}")]
    Rejects(String),
    /// A worker died (panicked or vanished).
    #[error("worker failed: {0}")]
    Worker(String),
    /// The file's size or modification time moved between the hash of its content and the
    /// end of its load: what was read may not be the content the ledger holds it under.
    #[error(
        "{path}: the file changed while it was read ({} when its content was hashed, {} now): \
         the rows committed before stand; run again once it is written (the same content \
         resumes after them, other content loads whole){}",
        ByteSize(*was), now.map_or_else(|| "gone".to_owned(), |n| ByteSize(n).to_string()),
        stopped.as_ref().map_or_else(String::new, |s| format!("; reading had stopped: {s}"))
    )]
    ChangedWhileRead {
        /// The file.
        path: String,
        /// Its size when its content was hashed.
        was: u64,
        /// Its size now; `None` when it is gone.
        now: Option<u64>,
        /// The error its reading had stopped with, if it had.
        stopped: Option<String>,
    },
    /// Rows read did not equal rows loaded + rejected + skipped.
    #[error(
        "{path}: reconciliation failed: read {read} rows but loaded {loaded}, rejected {rejected}, skipped {skipped}"
    )]
    Reconciliation {
        /// The file.
        path: String,
        /// Rows read.
        read: u64,
        /// Rows loaded.
        loaded: u64,
        /// Rows rejected.
        rejected: u64,
        /// Rows skipped.
        skipped: u64,
    },
}

impl Error {
    /// Whether the error comes from the data (a bad row, a refused value) rather than from
    /// the machinery. Data errors fail their file; other errors fail the pool.
    pub fn is_data_error(&self) -> bool {
        match self {
            Error::File(e) => e.is_data_error(),
            Error::Batch(loader_batch::Error::Sink { source, .. }) => {
                source.kind == loader_batch::SinkErrorKind::Data
            }
            Error::Reconciliation { .. } | Error::Refused { .. } => true,
            _ => false,
        }
    }

    /// Whether the concurrent pool should give way to sequential processing: a panic, a dead
    /// worker, or a sink that kept failing transiently.
    pub fn is_pool_failure(&self) -> bool {
        use loader_batch::SinkErrorKind::{Panicked, Transient};
        match self {
            Error::Worker(_) => true,
            Error::Batch(loader_batch::Error::Sink { source, .. }) => {
                matches!(source.kind, Panicked | Transient)
            }
            Error::Sink { source, .. } => matches!(source.kind, Panicked | Transient),
            _ => false,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `table: what the sink said`, unless the sink named the table already (both sinks name
/// the ledger in its errors): `_loader ledger: _loader ledger: ...` said nothing more.
fn named_once(table: &str, source: &loader_batch::SinkError) -> String {
    let said = source.to_string();
    match said.strip_prefix(table) {
        Some(rest) if rest.starts_with(": ") => said,
        _ => format!("{table}: {said}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_the_sink_named_is_named_once() {
        let sink = |message: &str| Error::Sink {
            table: "_loader ledger".into(),
            source: loader_batch::SinkError::new(loader_batch::SinkErrorKind::Terminal, message),
        };
        assert_eq!(
            sink("_loader ledger: database is locked").to_string(),
            "_loader ledger: database is locked"
        );
        assert_eq!(sink("disk full").to_string(), "_loader ledger: disk full");
        assert_eq!(
            sink("_loader ledgers: x").to_string(),
            "_loader ledger: _loader ledgers: x"
        );
    }
}
