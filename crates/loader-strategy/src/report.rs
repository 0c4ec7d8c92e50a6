use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// How a file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Every row is in the table.
    Loaded,
    /// The file stopped at an error; rows before it may be committed (see `rows_loaded`).
    Failed,
    /// The file was not started because the run stopped.
    NotStarted,
    /// The run was asked to stop while the file was loading: the rows before the line its
    /// error names are loaded, and a new run of the same load resumes there.
    Stopped,
    /// Nothing to load: the ledger holds the content as complete (see `note`).
    Skipped,
    /// Nothing to load: the file has no header and no rows (0 bytes, a blank line, or a
    /// compressed file of nothing). No table is made for it and the other files go on.
    Empty,
}

impl FileState {
    /// Whether the file ended as it should: loaded, skipped as already loaded, or empty.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            FileState::Loaded | FileState::Skipped | FileState::Empty
        )
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// The table written.
    pub table: String,
    /// How it ended.
    pub state: FileState,
    /// Size on disk.
    pub size: u64,
    /// Rows read from the file (each counted once, across a fallback too).
    pub rows_read: u64,
    /// Rows committed to the table.
    pub rows_loaded: u64,
    /// Rows refused by validation and set aside.
    pub rows_rejected: u64,
    /// Rows not loaded because an earlier run had loaded them.
    pub rows_skipped: u64,
    /// Field bytes committed.
    pub bytes_loaded: u64,
    /// Batches committed.
    pub batches: u64,
    /// Transient failures retried.
    pub retries: u32,
    /// Time from start to end, across attempts.
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Estimated peak memory (budget bytes held for the file at once), bytes.
    pub estimated_peak: u64,
    /// Measured peak: the most budget bytes the file held at once.
    pub measured_peak: u64,
    /// Whether the file finished in sequential mode after a pool failure.
    pub fell_back: bool,
    /// The error that stopped the file.
    pub error: Option<String>,
    /// Why the file was skipped, or what the ledger's history of its path said: that it grew
    /// since an earlier run loaded it, or held other content then; and which columns an
    /// existing table typed otherwise than the sample (`table "t" types qty as integer
    /// (sampled text)`).
    pub note: Option<String>,
    /// The rows rejected, by kind (`field_count`, `type`, ..., `refused` for rows the
    /// database refused), most first.
    pub rejected_by_kind: Vec<RejectedKind>,
    /// The file's first rejected row, without its raw text (which the quarantine holds).
    pub first_reject: Option<FirstReject>,
}

/// How many of a file's rejected rows were of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RejectedKind {
    /// The kind.
    pub kind: loader_batch::RejectKind,
    /// Rows of that kind.
    pub rows: u64,
}

/// The first rejected row of a file, as the summary names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstReject {
    /// Its line (the header is line 1).
    pub line: u64,
    /// The column to blame, by name, when one is.
    pub column_name: Option<String>,
    /// What kind of problem.
    pub kind: loader_batch::RejectKind,
    /// What exactly was wrong.
    pub message: String,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadReport {
    /// Per file, in plan order.
    pub files: Vec<FileReport>,
    /// Wall time of the run.
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    /// Effective memory limit, bytes.
    pub memory_limit: u64,
    /// Where the limit came from: `physical`, `cgroup` or `explicit`.
    pub memory_limit_source: &'static str,
    /// Row budget, bytes.
    pub budget: u64,
    /// Most budget bytes reserved at once.
    pub peak_reserved: u64,
    /// Highest resident set size seen by the monitor, bytes.
    pub peak_rss: u64,
    /// Files loaded at once.
    pub workers: usize,
    /// Why the pool gave way to sequential processing, if it did.
    pub fallback: Option<String>,
    /// Pressure level changes seen, as `level at seconds`.
    pub pressure_changes: Vec<String>,
    /// Cleanup hooks run under pressure, with what each freed.
    pub cleanups: Vec<CleanupReport>,
    /// The run's id, as in the ledger and the audit trail.
    pub run_id: String,
}

/// One cleanup hook run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// The hook.
    pub name: String,
    /// Bytes the hook said it freed.
    pub reported: u64,
    /// Resident set before, bytes.
    pub rss_before: u64,
    /// Resident set after, bytes.
    pub rss_after: u64,
}

impl From<loader_memory::CleanupOutcome> for CleanupReport {
    fn from(o: loader_memory::CleanupOutcome) -> Self {
        CleanupReport {
            name: o.name,
            reported: o.reported,
            rss_before: o.rss_before,
            rss_after: o.rss_after,
        }
    }
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

impl LoadReport {
    /// Whether every file loaded.
    pub fn is_success(&self) -> bool {
        self.files.iter().all(|f| f.state.is_success())
    }

    /// Rows skipped across files (loaded by earlier runs).
    pub fn rows_skipped(&self) -> u64 {
        self.files.iter().map(|f| f.rows_skipped).sum()
    }

    /// The first file error, as `path: message`.
    pub fn first_error(&self) -> Option<String> {
        self.files
            .iter()
            .find_map(|f| f.error.as_ref().map(|e| e.to_owned()))
    }

    /// Rows committed across files.
    pub fn rows_loaded(&self) -> u64 {
        self.files.iter().map(|f| f.rows_loaded).sum()
    }

    /// Rows read across files.
    pub fn rows_read(&self) -> u64 {
        self.files.iter().map(|f| f.rows_read).sum()
    }

    /// Rows rejected across files.
    pub fn rows_rejected(&self) -> u64 {
        self.files.iter().map(|f| f.rows_rejected).sum()
    }

    /// Bytes on disk across files.
    pub fn input_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}
