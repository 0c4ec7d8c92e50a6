use crate::LoadMode;
use loader_batch::{ColumnType, RetryPolicy};
use loader_file::{CsvOptions, FileOrder};
use loader_memory::PressureThresholds;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a run can be told. Built with struct update syntax from the defaults:
///
/// ```
/// use loader_strategy::LoadSettings;
/// let settings = LoadSettings { workers: 4, memory_limit: Some(256 << 20), ..LoadSettings::default() };
/// assert_eq!(settings.budget_share, 0.5);
/// ```
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// Files loaded at once (default: the number of CPUs).
    pub workers: usize,
    /// Explicit memory limit in bytes (`--memory-limit`), on top of physical and cgroup limits.
    pub memory_limit: Option<u64>,
    /// Share of the room left under the effective limit (the limit less what is already in
    /// use when the run is planned) given to the row budget (default 0.5): the rest is left
    /// for the database engine's cache, the allocator, buffers and growth.
    pub budget_share: f64,
    /// CSV dialect and batch limits (rows and bytes, whichever comes first).
    pub csv: CsvOptions,
    /// Most rows in one sub-batch, that is one transaction (default
    /// [`DEFAULT_SUB_BATCH_ROWS`](loader_batch::DEFAULT_SUB_BATCH_ROWS), 25,000).
    pub sub_batch_rows: usize,
    /// Most field bytes in one sub-batch (default 4 MiB).
    pub sub_batch_bytes: usize,
    /// Sub-batches of one file written at once, committed in order (see
    /// [`BatchProcessor::with_streams`](loader_batch::BatchProcessor::with_streams));
    /// one by default, so that a sink sees only [`BatchSink::write`](loader_batch::BatchSink::write)
    /// unless asked.
    pub streams: Streams,
    /// Order of files.
    pub order: FileOrder,
    /// One table for every file; by default each file gets a table named after it.
    pub table: Option<String>,
    /// Retries of transient sink errors.
    pub retry: RetryPolicy,
    /// How often memory is sampled while loading (default 250 ms).
    pub monitor_interval: Duration,
    /// Where pressure levels start.
    pub thresholds: PressureThresholds,
    /// Append (default), replace or upsert.
    pub mode: LoadMode,
    /// The columns that identify a row, for [`LoadMode::Upsert`] (which needs them; no other
    /// mode takes them): named as [`columns`](Self::columns) are, each a column every file
    /// loads. A new table gets them as its primary key; an existing one needs a unique index
    /// on exactly them.
    pub upsert_key: Vec<String>,
    /// Load content again even when the ledger holds it as complete (a new generation).
    pub force: bool,
    /// Column types that win over inference (`--column name:type`), by the name a column
    /// is loaded under or, for one [renamed](Self::renames), its header's. A name no file
    /// of the run has fails the plan; a file without it is fine.
    pub columns: Vec<(String, ColumnType)>,
    /// Columns loaded under another name (`--rename from=to`): `from` as the header names
    /// it (spaces around it trimmed, repeats numbered, as `loader schema` shows), `to` the
    /// table's column. Applied together, so two renames may swap names. A name no file of
    /// the run has fails the plan.
    pub renames: Vec<(String, String)>,
    /// Columns not loaded (`--skip-column`), by the header's name or the loaded one: the
    /// files that have them load the other columns. A name no file has fails the plan.
    pub skip_columns: Vec<String>,
    /// Add the columns a file's header names and its existing table lacks (`--add-columns`,
    /// see [`BatchSink::add_columns`](loader_batch::BatchSink::add_columns)); by default
    /// such a file stops before a row is read.
    pub add_columns: bool,
    /// Where to write a CSV copy of the rows the bad-row policy quarantined (`--rejects`).
    pub rejects_file: Option<PathBuf>,
    /// Threads that read one large plain file in parts (see
    /// [`loader_file::ParallelReader`]); by default the CPUs left to each file loaded at once
    /// after [`sink_cpus`](Self::sink_cpus), at least one.
    pub read_threads: Option<usize>,
    /// CPUs the sink keeps busy while loading one file (default 1: SQLite's single writer,
    /// or the PostgreSQL server parsing a COPY stream; 0 for a sink that does no work, such
    /// as a dry run's). Reading threads are not given these.
    pub sink_cpus: usize,
    /// Files smaller than this are read by one thread (default
    /// [`Parallelism::MIN_FILE_BYTES`](loader_file::Parallelism::MIN_FILE_BYTES)).
    pub parallel_min_file_bytes: u64,
}

/// Why `mode` and an upsert `key` ([`LoadSettings::upsert_key`]) do not go together: an
/// upsert needs a key, and only an upsert takes one. `None` when they do.
///
/// ```
/// use loader_strategy::{LoadMode, upsert_key_problem};
/// assert!(upsert_key_problem(LoadMode::Upsert, &["id".into()]).is_none());
/// assert!(upsert_key_problem(LoadMode::Upsert, &[]).is_some());
/// assert!(upsert_key_problem(LoadMode::Append, &["id".into()]).is_some());
/// ```
pub fn upsert_key_problem(mode: LoadMode, key: &[String]) -> Option<&'static str> {
    match (mode, key.is_empty()) {
        (LoadMode::Upsert, true) => {
            Some("--mode upsert needs --key COLUMN: the column(s) that identify a row")
        }
        (LoadMode::Append | LoadMode::Replace, false) => {
            Some("--key names the column(s) an upsert matches rows by: give --mode upsert too")
        }
        _ => None,
    }
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_limit: None,
            budget_share: 0.5,
            csv: CsvOptions::default(),
            sub_batch_rows: loader_batch::DEFAULT_SUB_BATCH_ROWS,
            sub_batch_bytes: loader_batch::DEFAULT_SUB_BATCH_BYTES,
            streams: Streams::default(),
            order: FileOrder::default(),
            table: None,
            retry: RetryPolicy::default(),
            monitor_interval: Duration::from_millis(250),
            thresholds: PressureThresholds::default(),
            mode: LoadMode::default(),
            upsert_key: Vec::new(),
            force: false,
            columns: Vec::new(),
            renames: Vec::new(),
            skip_columns: Vec::new(),
            add_columns: false,
            rejects_file: None,
            read_threads: None,
            sink_cpus: 1,
            parallel_min_file_bytes: loader_file::Parallelism::MIN_FILE_BYTES,
        }
    }
}

/// How many sub-batches of one file are written at once ([`LoadSettings::streams`]). More
/// than one pays only with a sink whose writes use connections of their own, such as
/// PostgreSQL's (whose pool then needs a connection per stream of every worker, plus two);
/// SQLite's single writer takes them one at a time anyway.
///
/// # Example
///
/// ```
/// use loader_strategy::{LoadSettings, Streams};
/// assert_eq!(LoadSettings::default().streams, Streams::PerFile(1));
/// assert_eq!(Streams::IdleWorkers.for_load(4, 1), 4);
/// assert_eq!(Streams::IdleWorkers.for_load(2, 16), 1);
/// assert_eq!(Streams::PerFile(3).for_load(2, 16), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// This many per file (at least one).
    PerFile(usize),
    /// The workers that fewer files than workers leave idle, at most four per file: one
    /// file on two workers gets two streams, sixteen files get one each.
    IdleWorkers,
}

impl Default for Streams {
    fn default() -> Self {
        Streams::PerFile(1)
    }
}

/// Most streams per file chosen by [`Streams::IdleWorkers`]: a batch holds few sub-batches
/// to overlap.
const MAX_IDLE_WORKER_STREAMS: usize = 4;

impl Streams {
    /// Streams per file for a load of `files` files on `workers` workers.
    pub fn for_load(self, workers: usize, files: usize) -> usize {
        match self {
            Streams::PerFile(streams) => streams.max(1),
            Streams::IdleWorkers => (workers / files.max(1)).clamp(1, MAX_IDLE_WORKER_STREAMS),
        }
    }
}
