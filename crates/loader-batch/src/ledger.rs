use crate::{AuditEvent, SinkError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The ledger names every table it owns with this prefix, so it never meets a user's table.
pub const LEDGER_PREFIX: &str = "_loader_";

/// The ledger schema version this build writes and reads.
pub const LEDGER_VERSION: u32 = 2;

/// One run of the loader, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Unique run id (time-ordered).
    pub run_id: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time, once ended.
    pub ended_at: Option<String>,
    /// The settings, as JSON, free of credentials.
    pub settings: String,
    /// `running`, `succeeded` or `failed`.
    pub outcome: String,
    /// The first error, if the run failed.
    pub error: Option<String>,
}

/// How a file stands in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileLedgerState {
    /// Being loaded (or the run died while loading it).
    Loading,
    /// Every row is accounted for.
    Complete,
    /// Stopped at an error.
    Failed,
    /// Not loaded because an earlier run completed it.
    Skipped,
}

impl FileLedgerState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileLedgerState::Loading => "loading",
            FileLedgerState::Complete => "complete",
            FileLedgerState::Failed => "failed",
            FileLedgerState::Skipped => "skipped",
        }
    }

    /// Parses a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "loading" => FileLedgerState::Loading,
            "complete" => FileLedgerState::Complete,
            "failed" => FileLedgerState::Failed,
            "skipped" => FileLedgerState::Skipped,
            _ => return None,
        })
    }
}

/// One file in one run, as the ledger keeps it. A file is identified by its target table and
/// the hash of its content (not its path: a renamed file is the same data), and a
/// `generation`, which `--force` advances to load the same content again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The run.
    pub run_id: String,
    /// Target table.
    pub table: String,
    /// Content hash (BLAKE3, hex).
    pub file_hash: String,
    /// Load generation of this content into this table (1 for the first).
    pub generation: u32,
    /// Path as given in this run.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// State at the end of this run (or `loading` while it runs).
    pub state: FileLedgerState,
    /// Rows accounted for: read now, or committed by earlier runs and skipped.
    pub rows_read: u64,
    /// Rows loaded by this run.
    pub rows_loaded: u64,
    /// Rows rejected by this run.
    pub rows_rejected: u64,
    /// Rows committed by earlier runs and not read again.
    pub rows_skipped: u64,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end.
    pub ended_at: Option<String>,
    /// Why the file failed.
    pub error: Option<String>,
}

/// What the ledger knows of a file's content in a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerStatus {
    /// Never loaded.
    New,
    /// Loaded completely, by `run_id`, as `generation`; `rows` rows.
    Complete {
        /// The run that completed it.
        run_id: String,
        /// Its generation.
        generation: u32,
        /// Rows it holds.
        rows: u64,
        /// The newest generation started (larger when a forced reload is under way).
        latest_generation: u32,
        /// Whether a run that ended (succeeded or failed, not died) has recorded the newest
        /// generation. An unsettled one was made by a run that died: re-running it must not
        /// make yet another.
        latest_settled: bool,
    },
    /// A load of `generation` started and did not complete; rows up to `resume_byte` (the
    /// start of the row on `resume_line`) are committed, `rows` of them.
    Partial {
        /// The unfinished generation.
        generation: u32,
        /// Where the first uncommitted row starts, if any row was committed.
        resume: Option<(u64, u64)>,
        /// Rows committed so far.
        rows: u64,
        /// Whether an earlier generation completed (a forced reload is what is partial).
        earlier_complete: bool,
    },
}

/// The newest load of a path into a table that committed rows: what a file at that path
/// that has grown since is compared with, and resumed after (see [`Ledger::last_load_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathHistory {
    /// The run that recorded it (loaded it, found it loaded, or died or failed loading it).
    pub run_id: String,
    /// Its content hash.
    pub file_hash: String,
    /// Its size in bytes.
    pub size: u64,
    /// Rows committed up to `end` (loaded, rejected, or skipped as loaded before).
    pub rows: u64,
    /// Where its last committed row ended: byte offset and the line after it.
    pub end: (u64, u64),
}

/// Names a write in the ledger: it is recorded in the same transaction as its rows.
#[derive(Debug)]
pub struct LedgerKey {
    /// The run writing.
    pub run_id: String,
    /// Content hash of the source file.
    pub file_hash: String,
    /// Load generation.
    pub generation: u32,
    /// Set for `--mode replace`: shared by every file of the table in the run, and true until
    /// the first write empties the table (in that write's transaction).
    pub replace: Option<Arc<PendingReplace>>,
}

/// A table that a run must empty, once, in the same transaction as its first write.
#[derive(Debug, Default)]
pub struct PendingReplace(AtomicBool);

impl PendingReplace {
    /// A replace not yet done.
    pub fn new() -> Self {
        PendingReplace(AtomicBool::new(true))
    }

    /// Whether the table still has to be emptied.
    pub fn is_pending(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Marks the replace done; call only once the emptying transaction has committed.
    pub fn done(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The exactly-once ledger, kept in the target database next to the data.
///
/// Sinks that implement it record each write's byte range in the same transaction as its
/// rows (see [`LoadTarget::ledger`](crate::LoadTarget)), so a crash leaves the ledger and the
/// table in agreement, and a re-run knows exactly where to resume.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records a run as started (creating the ledger tables on first use).
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be written or its version is not supported.
    async fn begin_run(&self, run: &RunRecord) -> Result<(), SinkError>;

    /// What the ledger knows of `file_hash` in `table`.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be read.
    async fn status(&self, table: &str, file_hash: &str) -> Result<LedgerStatus, SinkError>;

    /// The newest load of `path` (as given to its run) into `table`, of content other than
    /// `other_than`, that committed rows, whatever its state (complete, skipped as loaded,
    /// failed, or left by a run that died); `None` when there is none.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be read.
    async fn last_load_at(
        &self,
        table: &str,
        path: &str,
        other_than: &str,
    ) -> Result<Option<PathHistory>, SinkError>;

    /// [`status`](Self::status) of `file_hash` in `table` and
    /// [`last_load_at`](Self::last_load_at) of `path`: the two questions a run asks
    /// of a file that may have grown. A ledger that can ask both at once (PostgreSQL
    /// pipelines them on one connection) overrides this; by default they are asked in turn.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be read.
    async fn status_at(
        &self,
        table: &str,
        file_hash: &str,
        path: &str,
    ) -> Result<(LedgerStatus, Option<PathHistory>), SinkError> {
        let status = self.status(table, file_hash).await?;
        Ok((status, self.last_load_at(table, path, file_hash).await?))
    }

    /// Records a file's state in a run (inserted, or updated when already recorded).
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be written.
    async fn record_file(&self, file: &FileRecord) -> Result<(), SinkError>;

    /// Records a run's end, durably: once it returns, the record and everything the run
    /// committed before it survive a crash of the database or the machine (a sink that
    /// commits its writes without waiting for the disk makes this commit wait, and so flush
    /// theirs). A caller may then archive or delete the files the run loaded.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be written.
    async fn end_run(&self, run: &RunRecord) -> Result<(), SinkError>;

    /// Runs, newest first.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be read.
    async fn runs(&self) -> Result<Vec<RunRecord>, SinkError>;

    /// The files of one run.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be read.
    async fn files(&self, run_id: &str) -> Result<Vec<FileRecord>, SinkError>;

    /// The audit events of one run, in order, where the sink keeps them.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the ledger cannot be read.
    async fn events(&self, run_id: &str) -> Result<Vec<AuditEvent>, SinkError>;
}
