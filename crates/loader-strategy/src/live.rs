//! What a run is doing right now, for progress displays and metrics.
//!
//! The run updates these counters after each committed batch and each memory sample (never
//! per row), with relaxed atomics, so watching a run costs it nothing measurable. The same
//! updates feed the `metrics` facade: a program that installs a recorder (Prometheus, say)
//! gets counters, gauges and histograms; one that does not pays a no-op call.

use crate::PlannedFile;
use loader_memory::PressureLevel;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where a file stands in a running load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiveState {
    /// Not started.
    Waiting,
    /// Being read and written.
    Running,
    /// Every row accounted for.
    Done,
    /// Skipped: the ledger holds its content as loaded.
    Skipped,
    /// Stopped at an error.
    Failed,
}

impl LiveState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => LiveState::Running,
            2 => LiveState::Done,
            3 => LiveState::Skipped,
            4 => LiveState::Failed,
            _ => LiveState::Waiting,
        }
    }
}

/// One file's live counters.
#[derive(Debug)]
pub(crate) struct LiveFile {
    path: PathBuf,
    table: String,
    size: u64,
    estimated_rows: u64,
    rows_loaded: AtomicU64,
    rows_rejected: AtomicU64,
    rows_skipped: AtomicU64,
    /// Input bytes behind the last commit (decoded bytes, for compressed files).
    position: AtomicU64,
    state: AtomicU8,
}

impl LiveFile {
    pub(crate) fn set_state(&self, state: LiveState) {
        self.state.store(state as u8, Relaxed);
    }

    /// A batch committed: its rows, its rejects, its field bytes, and where the file now
    /// stands.
    pub(crate) fn committed(&self, rows: u64, rejected: u64, bytes: u64, position: u64) {
        self.rows_loaded.fetch_add(rows, Relaxed);
        self.rows_rejected.fetch_add(rejected, Relaxed);
        self.position.fetch_max(position, Relaxed);
        metrics::counter!("loader_rows_loaded_total", "table" => self.table.clone())
            .increment(rows);
        metrics::counter!("loader_rows_rejected_total", "table" => self.table.clone())
            .increment(rejected);
        metrics::counter!("loader_bytes_loaded_total", "table" => self.table.clone())
            .increment(bytes);
        metrics::counter!("loader_batches_total").increment(1);
    }

    /// Rows earlier runs accounted for, found when the file starts or is skipped.
    pub(crate) fn skipped(&self, rows: u64, position: u64) {
        self.rows_skipped.store(rows, Relaxed);
        self.position.fetch_max(position, Relaxed);
    }
}

/// Live counters of a run. Share one with [`DataLoadingService::with_live`] and read
/// [`snapshot`](Self::snapshot)s from another task or thread.
///
/// [`DataLoadingService::with_live`]: crate::DataLoadingService::with_live
///
/// # Example
///
/// ```
/// use loader_strategy::LiveProgress;
/// let live = LiveProgress::new();
/// let snapshot = live.snapshot();
/// assert!(snapshot.files.is_empty());
/// assert_eq!(snapshot.rows_loaded(), 0);
/// ```
#[derive(Debug, Default)]
pub struct LiveProgress {
    files: Mutex<Vec<Arc<LiveFile>>>,
    started: Mutex<Option<Instant>>,
    used: AtomicU64,
    reserved: AtomicU64,
    budget: AtomicU64,
    limit: AtomicU64,
    level: AtomicU8,
}

/// One file in a [`LiveSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSnapshot {
    /// The file.
    pub path: PathBuf,
    /// Its table.
    pub table: String,
    /// Size on disk.
    pub size: u64,
    /// Rows the planner expects from the file.
    pub estimated_rows: u64,
    /// Rows committed by this run.
    pub rows_loaded: u64,
    /// Rows quarantined by this run.
    pub rows_rejected: u64,
    /// Rows accounted for by earlier runs.
    pub rows_skipped: u64,
    /// Input bytes behind the last commit.
    pub position: u64,
    /// Where it stands.
    pub state: LiveState,
}

impl FileSnapshot {
    /// Rows accounted for so far (loaded, rejected or skipped).
    pub fn rows_done(&self) -> u64 {
        self.rows_loaded + self.rows_rejected + self.rows_skipped
    }
}

/// A moment of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSnapshot {
    /// Per file, in plan order.
    pub files: Vec<FileSnapshot>,
    /// Seconds since the run started.
    pub elapsed: f64,
    /// Memory in use counted against the limit, bytes.
    pub memory_used: u64,
    /// Budget bytes held by batches in flight.
    pub memory_reserved: u64,
    /// The row budget, bytes.
    pub budget: u64,
    /// The effective memory limit, bytes.
    pub limit: u64,
    /// The pressure level.
    pub level: PressureLevel,
}

impl LiveSnapshot {
    /// Rows loaded by this run across files.
    pub fn rows_loaded(&self) -> u64 {
        self.files.iter().map(|f| f.rows_loaded).sum()
    }

    /// Rows rejected by this run across files.
    pub fn rows_rejected(&self) -> u64 {
        self.files.iter().map(|f| f.rows_rejected).sum()
    }
}

fn level_from(v: u8) -> PressureLevel {
    match v {
        1 => PressureLevel::Elevated,
        2 => PressureLevel::High,
        3 => PressureLevel::Critical,
        _ => PressureLevel::Normal,
    }
}

fn level_number(level: PressureLevel) -> u8 {
    match level {
        PressureLevel::Normal => 0,
        PressureLevel::Elevated => 1,
        PressureLevel::High => 2,
        PressureLevel::Critical => 3,
    }
}

impl LiveProgress {
    /// Empty counters, filled when a run starts.
    pub fn new() -> Self {
        LiveProgress::default()
    }

    /// A run starts with `files`: one live entry each, in plan order.
    pub(crate) fn begin(
        &self,
        files: &[PlannedFile],
        budget: u64,
        limit: u64,
    ) -> Vec<Arc<LiveFile>> {
        let entries: Vec<Arc<LiveFile>> = files
            .iter()
            .map(|f| {
                Arc::new(LiveFile {
                    path: f.path.clone(),
                    table: f.table.clone(),
                    size: f.size,
                    estimated_rows: f.sample.estimated_rows(),
                    rows_loaded: AtomicU64::new(0),
                    rows_rejected: AtomicU64::new(0),
                    rows_skipped: AtomicU64::new(0),
                    position: AtomicU64::new(0),
                    state: AtomicU8::new(LiveState::Waiting as u8),
                })
            })
            .collect();
        *self.files.lock().unwrap_or_else(|p| p.into_inner()) = entries.clone();
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.budget.store(budget, Relaxed);
        self.limit.store(limit, Relaxed);
        entries
    }

    /// A memory sample was taken.
    pub(crate) fn memory(&self, used: u64, reserved: u64, budget: u64, level: PressureLevel) {
        self.used.store(used, Relaxed);
        self.reserved.store(reserved, Relaxed);
        self.budget.store(budget, Relaxed);
        self.level.store(level_number(level), Relaxed);
        metrics::gauge!("loader_memory_used_bytes").set(used as f64);
        metrics::gauge!("loader_memory_reserved_bytes").set(reserved as f64);
        metrics::gauge!("loader_memory_budget_bytes").set(budget as f64);
        metrics::gauge!("loader_pressure_level").set(f64::from(level_number(level)));
    }

    /// The run as it stands.
    pub fn snapshot(&self) -> LiveSnapshot {
        let files = self
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|f| FileSnapshot {
                path: f.path.clone(),
                table: f.table.clone(),
                size: f.size,
                estimated_rows: f.estimated_rows,
                rows_loaded: f.rows_loaded.load(Relaxed),
                rows_rejected: f.rows_rejected.load(Relaxed),
                rows_skipped: f.rows_skipped.load(Relaxed),
                position: f.position.load(Relaxed),
                state: LiveState::from_u8(f.state.load(Relaxed)),
            })
            .collect();
        let elapsed = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(0.0, |s| s.elapsed().as_secs_f64());
        LiveSnapshot {
            files,
            elapsed,
            memory_used: self.used.load(Relaxed),
            memory_reserved: self.reserved.load(Relaxed),
            budget: self.budget.load(Relaxed),
            limit: self.limit.load(Relaxed),
            level: level_from(self.level.load(Relaxed)),
        }
    }
}
