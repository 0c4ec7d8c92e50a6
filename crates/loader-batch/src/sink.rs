use crate::{ColumnType, LedgerKey, RowBatch, Schema, SetAside, SetAsideTurn, SinkError};
use async_trait::async_trait;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a file's rows go: the table, its schema and the source they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadTarget {
    /// Target table name, unquoted; sinks quote it.
    pub table: String,
    /// Columns of the rows written.
    pub schema: Arc<Schema>,
    /// The source file, for messages.
    pub source: PathBuf,
    /// When set, each write also records its byte range in the ledger, in the same
    /// transaction as its rows (and, for `--mode replace`, the first write empties the table).
    pub ledger: Option<Arc<LedgerKey>>,
    /// When set, the columns (indices into `schema`) that identify a row, and the write is an
    /// upsert (`--mode upsert`): a row whose key the table holds already replaces that row's
    /// other columns (those of `schema`), and of two rows with one key the later wins. The
    /// table needs a unique index on exactly these columns; loader's sinks make a new table
    /// with them as its key (`NOT NULL`; PostgreSQL's primary key, SQLite's `UNIQUE`).
    pub upsert_key: Option<Arc<[usize]>>,
}

impl LoadTarget {
    /// A target without a ledger.
    pub fn new(table: impl Into<String>, schema: Arc<Schema>, source: impl Into<PathBuf>) -> Self {
        LoadTarget {
            table: table.into(),
            schema,
            source: source.into(),
            ledger: None,
            upsert_key: None,
        }
    }

    /// The names of the [upsert key](Self::upsert_key)'s columns, in its order; empty without
    /// one.
    pub fn upsert_key_names(&self) -> Vec<&str> {
        let columns = self.schema.columns();
        self.upsert_key
            .iter()
            .flat_map(|key| key.iter())
            .filter_map(|&index| columns.get(index).map(|c| c.name.as_str()))
            .collect()
    }
}

/// A column of an existing table, as [`BatchSink::table_columns`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableColumn {
    /// The name, as the table has it.
    pub name: String,
    /// The type a reader checks values for it against; `None` when any value goes.
    pub ty: Option<ColumnType>,
    /// The database reads the column's values from text as exact decimals (PostgreSQL's
    /// `numeric`): checked as text here, as only the database can judge them, but numbers
    /// all the same, which a decimal comma converts as it does an integer's or a real's.
    pub decimal_text: bool,
}

impl PartialEq for LedgerKey {
    fn eq(&self, other: &Self) -> bool {
        (&self.run_id, &self.file_hash, self.generation)
            == (&other.run_id, &other.file_hash, other.generation)
    }
}

impl Eq for LedgerKey {}

/// Stores rows. Implemented by the database sinks; mocked in tests.
///
/// A sink must make each `write` atomic: either all the rows of the range are stored, or
/// none are and an error is returned.
///
/// A sink may assume that every field of a batch is valid for its column's type in
/// `target.schema` (an empty field is NULL): producers check fields before they build a batch,
/// as `loader-file` does, so that a bad value is reported with its file, line and column
/// instead of failing a database statement. Sinks therefore bind text as the bytes read.
///
/// # Example
///
/// A sink that counts rows, as a downstream test double might:
///
/// ```
/// use std::ops::Range;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use async_trait::async_trait;
/// use loader_batch::{BatchSink, LoadTarget, RowBatch, SinkError};
///
/// #[derive(Default)]
/// struct Counting(AtomicU64);
///
/// #[async_trait]
/// impl BatchSink for Counting {
///     async fn prepare(&self, _target: &LoadTarget) -> Result<(), SinkError> { Ok(()) }
///     async fn write(&self, _t: &LoadTarget, _b: &RowBatch, rows: Range<usize>) -> Result<u64, SinkError> {
///         self.0.fetch_add(rows.len() as u64, Ordering::Relaxed);
///         Ok(rows.len() as u64)
///     }
/// }
/// ```
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BatchSink: Send + Sync {
    /// Makes the target ready (creates the table when missing). Called once per file before
    /// its first write.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the target cannot be prepared.
    async fn prepare(&self, target: &LoadTarget) -> Result<(), SinkError>;

    /// The columns of the target's table, in the table's order, once
    /// [`prepare`](Self::prepare) has made or found it: each one's name, and the type a
    /// reader checks its values against (`None` where the table's type takes any value, and
    /// the file's own type stands). A table that existed before the load declares its
    /// columns: their types win over types inferred from a sample (a text column whose
    /// sample held only numbers still takes `abc`), and a file without a header takes their
    /// names in order. `Ok(None)` when the sink cannot say, as this default does: the
    /// file's names and types stand.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the table cannot be looked at.
    async fn table_columns(
        &self,
        target: &LoadTarget,
    ) -> Result<Option<Vec<TableColumn>>, SinkError> {
        let _ = target;
        Ok(None)
    }

    /// Adds `columns` to the target's existing table, each nullable and of its
    /// [`ColumnType`]: a file whose header names columns the table lacks, as exports gain
    /// columns over time (`loader load --add-columns`). A column that exists by then
    /// (another file added it) is left as it is. `Ok(true)` when the table has them now;
    /// `Ok(false)` from a sink that changes no table but takes rows as if it had (a dry
    /// run's). The default refuses: a sink that cannot change a table says so.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the table cannot be changed.
    async fn add_columns(
        &self,
        target: &LoadTarget,
        columns: &[crate::Column],
    ) -> Result<bool, SinkError> {
        let _ = columns;
        Err(SinkError::terminal(format!(
            "{}: this target cannot add columns to a table",
            target.table
        )))
    }

    /// Whether the target's table can take an upsert on its key
    /// ([`LoadTarget::upsert_key`]): it needs a unique index on exactly those columns, or the
    /// database cannot tell which row a new one replaces. Called once per file, after
    /// [`prepare`](Self::prepare) and only for a target with a key, so that a file stops
    /// before a row is read (a dry run's too). This default says it can: the first write
    /// finds out.
    ///
    /// # Errors
    ///
    /// A terminal [`SinkError`] saying what index the table lacks, or one when the table
    /// cannot be looked at.
    async fn check_upsert_key(&self, target: &LoadTarget) -> Result<(), SinkError> {
        let _ = target;
        Ok(())
    }

    /// Stores rows `rows` of `batch` atomically and returns how many were stored.
    ///
    /// In the same transaction the sink quarantines the batch's rejects that belong with
    /// the range ([`RowBatch::rejects_in`]). `rows` may be empty when a batch holds only
    /// rejects; the write then quarantines them (and records the range in the ledger).
    ///
    /// # Errors
    ///
    /// A [`SinkError`] whose kind tells whether retrying may help; nothing was stored.
    async fn write(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> Result<u64, SinkError>;

    /// Stores rows `rows` of `batch`, which the database refused as one write with
    /// `refusal`, in one transaction that sets the refused rows aside: a sink that can undo
    /// part of a transaction (a savepoint) writes the rows again in parts with
    /// [`write_in_parts`](crate::write_in_parts) under `turn.limits`, then quarantines the
    /// refused rows together with the batch's rejects in the rows it handled and records
    /// those rows in the ledger. That costs a savepoint per part instead of a transaction per
    /// part and per refused row.
    ///
    /// It commits as [`write_after`](Self::write_after) does: only once `turn.previous` has
    /// committed, so its work may overlap the writes before it. Just before committing it asks
    /// `turn.admit` whether what it came to stands under the limits as the writes before it
    /// left them (they may have set rows aside meanwhile); when not, it rolls back and returns
    /// `Ok(None)`, and the processor asks again with the limits as they are.
    ///
    /// Returns `Ok(None)` too when the sink cannot, as this default does: the processor then
    /// writes the parts itself, each in a write of its own.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the write failed otherwise; nothing was stored.
    async fn write_setting_aside(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        refusal: &SinkError,
        turn: SetAsideTurn,
    ) -> Result<Option<SetAside>, SinkError> {
        let _ = (target, batch, rows, refusal, turn);
        Ok(None)
    }

    /// Stores rows `rows` of `batch` as [`write`](Self::write) does, but commits them only
    /// once `previous` (the write of the rows just before them in the same file) has
    /// committed, and never if it failed. A sink that can do a write's work on a connection
    /// of its own overrides this to do that work at once and wait only to commit: two or more
    /// writes of one file then overlap, and the file's rows still commit in order, so a crash
    /// always leaves a prefix of them committed and the ledger's resume point holds.
    ///
    /// The processor calls this only when given more than one stream per file
    /// ([`BatchProcessor::with_streams`](crate::BatchProcessor::with_streams)). This default
    /// waits for `previous` and then writes: no overlap, for a sink with one writer.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write); a terminal [`SinkError`] when `previous` failed.
    async fn write_after(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        previous: PreviousWrite,
    ) -> Result<u64, SinkError> {
        previous.committed().await?;
        self.write(target, batch, rows).await
    }
}

/// The write before this one in a file, as [`BatchSink::write_after`] waits for it.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use loader_batch::PreviousWrite;
/// assert!(PreviousWrite::none().committed().await.is_ok());
///
/// let (done, previous) = PreviousWrite::chain();
/// done.committed();
/// assert!(previous.committed().await.is_ok());
///
/// let (failed, previous) = PreviousWrite::chain();
/// drop(failed);
/// assert!(previous.committed().await.is_err());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct PreviousWrite(Option<tokio::sync::watch::Receiver<bool>>);

/// Tells the next write that this one committed; dropped unsent, that it failed.
#[derive(Debug)]
pub struct WriteDone(tokio::sync::watch::Sender<bool>);

impl PreviousWrite {
    /// Nothing before: the first write of a file, or one whose predecessors have returned.
    pub fn none() -> Self {
        PreviousWrite(None)
    }

    /// A write still to finish: its [`WriteDone`], and what the write after it waits on.
    pub fn chain() -> (WriteDone, PreviousWrite) {
        let (sender, receiver) = tokio::sync::watch::channel(false);
        (WriteDone(sender), PreviousWrite(Some(receiver)))
    }

    /// Waits until the previous write has committed.
    ///
    /// # Errors
    ///
    /// A terminal [`SinkError`] when it failed (its [`WriteDone`] was dropped unsent).
    pub async fn committed(&self) -> Result<(), SinkError> {
        let Some(receiver) = &self.0 else {
            return Ok(());
        };
        match receiver.clone().wait_for(|committed| *committed).await {
            Ok(_) => Ok(()),
            Err(_) => Err(SinkError::terminal(
                "not committed: the write of the rows before these failed",
            )),
        }
    }
}

impl WriteDone {
    /// The write committed: the next may commit too.
    pub fn committed(self) {
        self.0.send_replace(true);
    }
}

#[async_trait]
impl<T: BatchSink + ?Sized> BatchSink for Arc<T> {
    async fn prepare(&self, target: &LoadTarget) -> Result<(), SinkError> {
        (**self).prepare(target).await
    }

    async fn write(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> Result<u64, SinkError> {
        (**self).write(target, batch, rows).await
    }

    async fn write_after(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        previous: PreviousWrite,
    ) -> Result<u64, SinkError> {
        (**self).write_after(target, batch, rows, previous).await
    }

    async fn table_columns(
        &self,
        target: &LoadTarget,
    ) -> Result<Option<Vec<TableColumn>>, SinkError> {
        (**self).table_columns(target).await
    }

    async fn add_columns(
        &self,
        target: &LoadTarget,
        columns: &[crate::Column],
    ) -> Result<bool, SinkError> {
        (**self).add_columns(target, columns).await
    }

    async fn write_setting_aside(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        refusal: &SinkError,
        turn: SetAsideTurn,
    ) -> Result<Option<SetAside>, SinkError> {
        (**self)
            .write_setting_aside(target, batch, rows, refusal, turn)
            .await
    }
}
