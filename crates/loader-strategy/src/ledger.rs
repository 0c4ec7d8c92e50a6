//! How a run uses the exactly-once ledger: which files to skip, where to resume, what to record.

use crate::{Error, LoadSettings, PlannedFile, Result};
use loader_batch::{
    FileLedgerState, FileRecord, Ledger, LedgerKey, LedgerStatus, PathHistory, PendingReplace,
    RunRecord,
};
use loader_file::ResumePoint;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What happens to existing data and to content already loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LoadMode {
    /// Add rows to the table (default). Content the ledger holds as complete for the table is
    /// skipped; content partly loaded by a run that died is resumed after its last committed
    /// row.
    #[default]
    Append,
    /// Empty each target table first, in the same transaction as the run's first write to it,
    /// then load every file. A replace run that dies and is run again starts over, so the
    /// table ends with exactly the input either way.
    Replace,
    /// As append, but a row whose key ([`LoadSettings::upsert_key`]) the table holds already
    /// replaces that row's values (those of the file's columns): a corrected export loaded
    /// again updates the rows it changed and adds the rest. Of rows with one key the one
    /// written last wins, so files are best loaded one at a time, in order.
    Upsert,
}

impl LoadMode {
    /// The name used in settings and history.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMode::Append => "append",
            LoadMode::Replace => "replace",
            LoadMode::Upsert => "upsert",
        }
    }
}

/// What to do with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing: the content is complete already (or is a duplicate within this run).
    /// `generation` is the one that holds it (0 for a duplicate within the run).
    Skip {
        reason: String,
        rows: u64,
        generation: u32,
    },
    /// Load `generation`, from `resume` when an earlier run committed part of it.
    Load {
        generation: u32,
        resume: Option<ResumePoint>,
        rows_committed: u64,
    },
}

/// A run's view of the ledger.
pub(crate) struct RunLedger {
    pub ledger: Arc<dyn Ledger>,
    pub run_id: String,
    mode: LoadMode,
    force: bool,
    replace: Mutex<HashMap<String, Arc<PendingReplace>>>,
    seen: Mutex<HashMap<(String, String), String>>,
    /// Compressed files of the run whose uncompressed namesake goes to the same table in
    /// it too (`orders.csv.gz` beside `orders.csv`): the two may be one content.
    twins: HashSet<PathBuf>,
}

impl RunLedger {
    pub fn new(
        ledger: Arc<dyn Ledger>,
        run_id: String,
        settings: &LoadSettings,
        files: &[PlannedFile],
    ) -> Self {
        let in_run: HashSet<(&Path, &str)> = files
            .iter()
            .map(|f| (f.path.as_path(), f.table.as_str()))
            .collect();
        let twins = files
            .iter()
            .filter(|f| {
                crate::grown::uncompressed_name(f)
                    .is_some_and(|from| in_run.contains(&(from.as_path(), f.table.as_str())))
            })
            .map(|f| f.path.clone())
            .collect();
        RunLedger {
            ledger,
            run_id,
            mode: settings.mode,
            force: settings.force,
            replace: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            twins,
        }
    }

    /// Whether `path` is a compressed file whose uncompressed namesake is in the run too.
    pub fn has_twin(&self, path: &Path) -> bool {
        self.twins.contains(path)
    }

    /// The file of the run that went to `table` first with content `hash`; `None` when this
    /// is the first, and `path` is noted as it.
    fn first_with(&self, table: &str, hash: &str, path: &Path) -> Option<String> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.entry((table.to_owned(), hash.to_owned())) {
            std::collections::hash_map::Entry::Occupied(first) => Some(first.get().clone()),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(path.display().to_string());
                None
            }
        }
    }

    /// The newest load of `path` into `table` that committed rows (see `grown.rs`).
    pub async fn path_history(
        &self,
        table: &str,
        hash: &str,
        path: &Path,
    ) -> Result<Option<PathHistory>> {
        let path = path.display().to_string();
        let (_, history) = self
            .ledger
            .status_at(table, hash, &path)
            .await
            .map_err(ledger_error)?;
        Ok(history)
    }

    pub async fn begin(&self, settings: &LoadSettings, started_at: &str) -> Result<()> {
        let record = RunRecord {
            run_id: self.run_id.clone(),
            started_at: started_at.to_owned(),
            ended_at: None,
            settings: settings_json(settings),
            outcome: "running".into(),
            error: None,
        };
        self.ledger.begin_run(&record).await.map_err(ledger_error)
    }

    pub async fn end(
        &self,
        settings: &LoadSettings,
        started_at: &str,
        error: Option<String>,
        stopped: bool,
    ) -> Result<()> {
        let outcome = match (&error, stopped) {
            (None, _) => "succeeded",
            (Some(_), true) => "stopped",
            (Some(_), false) => "failed",
        };
        let record = RunRecord {
            run_id: self.run_id.clone(),
            started_at: started_at.to_owned(),
            ended_at: Some(now()),
            settings: settings_json(settings),
            outcome: outcome.into(),
            error,
        };
        self.ledger.end_run(&record).await.map_err(ledger_error)
    }

    /// Decides for one file (content `hash`, from `path`) going to `table`; with
    /// `path_history`, also asks for the newest complete load of the path into the table
    /// (see `grown.rs`), in the same breath as the content's status.
    pub async fn decide(
        &self,
        table: &str,
        hash: &str,
        path: &Path,
        path_history: bool,
    ) -> Result<(Decision, Option<PathHistory>)> {
        if let Some(first) = self.first_with(table, hash, path) {
            return Ok((
                Decision::Skip {
                    reason: format!("same content as {first}, loaded in this run"),
                    rows: 0,
                    generation: 0,
                },
                None,
            ));
        }
        if self.mode == LoadMode::Replace {
            return Ok((
                Decision::Load {
                    generation: 1,
                    resume: None,
                    rows_committed: 0,
                },
                None,
            ));
        }
        let (status, history) = if path_history {
            let path = path.display().to_string();
            self.ledger.status_at(table, hash, &path).await
        } else {
            self.ledger.status(table, hash).await.map(|s| (s, None))
        }
        .map_err(ledger_error)?;
        let decision = match status {
            LedgerStatus::New => Decision::Load {
                generation: 1,
                resume: None,
                rows_committed: 0,
            },
            // An unfinished load is finished first, forced or not: its rows are in the table.
            LedgerStatus::Partial {
                generation,
                resume,
                rows,
                ..
            } => Decision::Load {
                generation,
                resume: resume.map(|(byte, line)| ResumePoint {
                    byte,
                    line,
                    sequence: 0,
                }),
                rows_committed: rows,
            },
            // --force loads again, but only once per command: a generation that no ended run
            // has recorded was made by a forced run that died, and re-running that command
            // must not make another.
            LedgerStatus::Complete {
                latest_generation,
                latest_settled: true,
                ..
            } if self.force => Decision::Load {
                generation: latest_generation + 1,
                resume: None,
                rows_committed: 0,
            },
            LedgerStatus::Complete {
                run_id,
                rows,
                generation,
                latest_generation,
                ..
            } => Decision::Skip {
                reason: if latest_generation > generation || self.force {
                    format!("already loaded again by run {run_id}, which died; not repeated")
                } else {
                    format!("already loaded by run {run_id}")
                },
                rows,
                generation: latest_generation,
            },
        };
        Ok((decision, history))
    }

    /// Whether a file that grew since an earlier load resumes after that load's rows: not
    /// when every row is loaded anyway (`--force`, `--mode replace`).
    pub fn resumes_grown_files(&self) -> bool {
        self.mode != LoadMode::Replace && !self.force
    }

    /// The ledger key for writes of `hash` as `generation` into `table`.
    pub fn key(&self, table: &str, hash: &str, generation: u32) -> Arc<LedgerKey> {
        let replace = (self.mode == LoadMode::Replace).then(|| {
            Arc::clone(
                self.replace
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(table.to_owned())
                    .or_insert_with(|| Arc::new(PendingReplace::new())),
            )
        });
        Arc::new(LedgerKey {
            run_id: self.run_id.clone(),
            file_hash: hash.to_owned(),
            generation,
            replace,
        })
    }

    /// Tables whose replace is still pending (every file of them was empty).
    pub fn pending_replaces(&self) -> Vec<(String, Arc<PendingReplace>)> {
        self.replace
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, r)| r.is_pending())
            .map(|(t, r)| (t.clone(), Arc::clone(r)))
            .collect()
    }

    pub async fn record(&self, record: &FileRecord) -> Result<()> {
        self.ledger.record_file(record).await.map_err(ledger_error)
    }
}

/// Fields of a [`FileRecord`] that the run fills in as a file goes.
pub(crate) struct FileEntry<'a> {
    pub table: &'a str,
    pub hash: &'a str,
    pub generation: u32,
    pub path: &'a Path,
    pub size: u64,
    pub started_at: &'a str,
}

impl FileEntry<'_> {
    pub fn record(
        &self,
        run_id: &str,
        state: FileLedgerState,
        counts: [u64; 4],
        error: Option<String>,
    ) -> FileRecord {
        let [rows_read, rows_loaded, rows_rejected, rows_skipped] = counts;
        FileRecord {
            run_id: run_id.to_owned(),
            table: self.table.to_owned(),
            file_hash: self.hash.to_owned(),
            generation: self.generation,
            path: self.path.display().to_string(),
            size: self.size,
            state,
            rows_read,
            rows_loaded,
            rows_rejected,
            rows_skipped,
            started_at: self.started_at.to_owned(),
            ended_at: (state != FileLedgerState::Loading).then(now),
            error,
        }
    }
}

fn ledger_error(source: loader_batch::SinkError) -> Error {
    Error::Sink {
        table: "_loader ledger".into(),
        source,
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A run id that sorts by time and does not repeat: UTC start time to the millisecond, then
/// process id and a counter.
pub(crate) fn new_run_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let stamp: String = now().chars().filter(|c| c.is_ascii_digit()).collect();
    format!(
        "{}-{:x}{:02x}",
        stamp,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed) % 256
    )
}

fn settings_json(settings: &LoadSettings) -> String {
    serde_json::json!({
        "mode": settings.mode.as_str(),
        "upsert_key": settings.upsert_key,
        "force": settings.force,
        "add_columns": settings.add_columns,
        "skip_lines": settings.csv.get_skip_lines(),
        "skip_footer": settings.csv.get_skip_footer(),
        "renames": settings.renames,
        "skip_columns": settings.skip_columns,
        "snake_case_names": settings.csv.get_snake_case_names(),
        "decimal_comma": settings.csv.get_decimal_comma(),
        "thousands": settings.csv.get_thousands().map(char::from),
        "currency": settings.csv.get_currency().map(|sign| sign.as_str().to_owned()),
        "date_format": settings.csv.get_date_format(),
        "timestamp_format": settings.csv.get_timestamp_format(),
        "workers": settings.workers,
        "memory_limit": settings.memory_limit,
        "budget_share": settings.budget_share,
        "batch_rows": settings.csv.get_batch_rows(),
        "batch_bytes": settings.csv.get_batch_bytes(),
        "sub_batch_rows": settings.sub_batch_rows,
        "sub_batch_bytes": settings.sub_batch_bytes,
        "streams": format!("{:?}", settings.streams),
        "table": settings.table,
        "on_error": format!("{:?}", settings.csv.get_bad_rows().on_error()).to_lowercase(),
        "max_errors": settings.csv.get_bad_rows().get_max_errors(),
        "max_error_ratio": settings.csv.get_bad_rows().get_max_error_ratio(),
        "rejects_file": settings.rejects_file,
    })
    .to_string()
}
