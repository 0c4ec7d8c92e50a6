use crate::file_task::{Mode, Progress, RunContext, describe_error, load_file, lock, panic_text};
use crate::ledger::{RunLedger, new_run_id, now};
use crate::monitor::{Monitor, Reactor};
use crate::plan::make_plan;
use crate::reaction::{Baseline, Controls};
use crate::{
    EmptyFile, FileReport, FileState, LoadPlan, LoadReport, LoadSettings, PlannedFile, Result,
    UnreadFile,
};
use loader_batch::{
    AuditEvent, AuditScope, AuditSink, BatchProcessor, BatchSink, ContextId, EventKind, Ledger,
    LoadTarget, RowBatch, RunTagged, Scope, SubBatchLimits,
};
use loader_memory::{CleanupHooks, MemoryBudget, MemoryProbe, PressureMonitor};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Plans and runs loads: the entry point for the `loader` command and for services that
/// embed loader.
///
/// # Example
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use loader_batch::JsonlAudit;
/// use loader_memory::SysinfoProbe;
/// use loader_sink::SqliteSink;
/// use loader_strategy::{DataLoadingService, LoadSettings};
///
/// let service = DataLoadingService::new(
///     Arc::new(SqliteSink::open("loader.db")?),
///     Arc::new(JsonlAudit::create("audit.jsonl")?),
///     Arc::new(SysinfoProbe::new()?),
///     LoadSettings::default(),
/// );
/// let report = service.load(&["data/".into()]).await?;
/// assert!(report.is_success());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DataLoadingService {
    sink: Arc<dyn BatchSink>,
    audit: Arc<dyn AuditSink>,
    probe: Arc<dyn MemoryProbe>,
    settings: LoadSettings,
    cleanup: CleanupHooks,
    ledger: Option<Arc<dyn Ledger>>,
    live: Arc<crate::LiveProgress>,
    stop: crate::StopSignal,
}

impl std::fmt::Debug for DataLoadingService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoadingService")
            .field("settings", &self.settings)
            .finish()
    }
}

impl DataLoadingService {
    /// A service writing to `sink`, auditing to `audit`, reading memory through `probe`.
    pub fn new(
        sink: Arc<dyn BatchSink>,
        audit: Arc<dyn AuditSink>,
        probe: Arc<dyn MemoryProbe>,
        settings: LoadSettings,
    ) -> Self {
        DataLoadingService {
            sink,
            audit,
            probe,
            settings,
            cleanup: CleanupHooks::new(),
            ledger: None,
            live: Arc::new(crate::LiveProgress::new()),
            stop: crate::StopSignal::new(),
        }
    }

    /// Keeps an exactly-once ledger in the target: content already loaded is skipped, a
    /// load that died is resumed after its last committed row, and each write records its
    /// byte range in the same transaction as its rows. The sink must be the ledger's database.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Runs `hooks` when memory pressure rises to high or critical (they always end with
    /// returning freed memory to the operating system). Register a sink's hooks here, and
    /// your own.
    pub fn with_cleanup_hooks(mut self, hooks: CleanupHooks) -> Self {
        self.cleanup = hooks;
        self
    }

    /// Keeps `live` up to date while runs go on, for a progress display (see
    /// [`LiveProgress::snapshot`](crate::LiveProgress::snapshot)).
    pub fn with_live(mut self, live: Arc<crate::LiveProgress>) -> Self {
        self.live = live;
        self
    }

    /// Stops runs when `stop` is raised: no file starts after that, and a file being loaded
    /// stops once its batch in hand has committed, its error naming the first line not
    /// loaded ([`FileState::Stopped`](crate::FileState::Stopped)). With a ledger, running
    /// the same load again resumes each file there.
    pub fn with_stop(mut self, stop: crate::StopSignal) -> Self {
        self.stop = stop;
        self
    }

    /// The cleanup hooks runs use; register more on this handle.
    pub fn cleanup_hooks(&self) -> &CleanupHooks {
        &self.cleanup
    }

    /// The settings runs use.
    pub fn settings(&self) -> &LoadSettings {
        &self.settings
    }

    /// Discovers, samples, estimates and orders `inputs` without loading anything.
    ///
    /// # Errors
    ///
    /// [`Error::File`](crate::Error::File) when an input is missing or a sample is malformed, [`Error::Memory`](crate::Error::Memory)
    /// when memory cannot be read.
    pub fn plan(&self, inputs: &[PathBuf]) -> Result<LoadPlan> {
        make_plan(inputs, &self.settings, &*self.probe)
    }

    /// Plans and runs `inputs`.
    ///
    /// # Errors
    ///
    /// As [`plan`](Self::plan) and [`run`](Self::run).
    pub async fn load(&self, inputs: &[PathBuf]) -> Result<LoadReport> {
        let plan = self.plan(inputs)?;
        self.run(plan).await
    }

    /// Runs a plan. File failures do not stop other files; they are in the report.
    ///
    /// # Errors
    ///
    /// [`Error::Audit`](crate::Error::Audit) when the run's own audit context cannot be written,
    /// [`Error::Rejects`](crate::Error::Rejects) when the rejects file cannot be created.
    pub async fn run(&self, plan: LoadPlan) -> Result<LoadReport> {
        let started = Instant::now();
        let rejects = match &plan.settings.rejects_file {
            Some(path) => Some(crate::rejects::RejectsFile::create(path)?),
            None => None,
        };
        let run_id = new_run_id();
        let started_at = now();
        // Every event of the run carries its id, which joins the trail to the ledger.
        let audit: Arc<dyn AuditSink> =
            Arc::new(RunTagged::new(run_id.clone(), Arc::clone(&self.audit)));
        let ledger = self.ledger.as_ref().map(|l| {
            Arc::new(RunLedger::new(
                Arc::clone(l),
                run_id.clone(),
                &plan.settings,
                &plan.files,
            ))
        });
        if let Some(ledger) = &ledger {
            ledger.begin(&plan.settings, &started_at).await?;
        }
        let mut run_template = AuditEvent::new(Scope::Run, EventKind::Started, ContextId::next());
        run_template.reason = Some(format!(
            "{} files, {} workers, budget {} bytes of a {} byte {} limit",
            plan.files.len(),
            plan.workers,
            plan.budget,
            plan.limit.bytes,
            plan.limit.source.as_str()
        ));
        let run_scope = AuditScope::start(Arc::clone(&audit), run_template).await?;
        let live_files = self.live.begin(&plan.files, plan.budget, plan.limit.bytes);
        tracing::info!(
            run = %run_id,
            files = plan.files.len(),
            workers = plan.workers,
            budget = plan.budget,
            limit = plan.limit.bytes,
            "run started"
        );
        let baseline = Baseline {
            sub_batch_rows: plan.settings.sub_batch_rows,
            sub_batch_bytes: plan.settings.sub_batch_bytes,
            writers: plan.workers,
            budget: plan.budget,
            least_budget: plan.least_budget,
        };
        let limits = Arc::new(SubBatchLimits::new(
            baseline.sub_batch_rows,
            baseline.sub_batch_bytes,
        ));
        let controls = Arc::new(Controls::new(
            baseline,
            Arc::clone(&limits),
            MemoryBudget::new(plan.budget),
        ));
        let monitor = Monitor::start(
            Reactor {
                pressure: Arc::new(PressureMonitor::new(
                    Arc::clone(&self.probe),
                    plan.settings.thresholds,
                    plan.settings.memory_limit,
                )),
                audit: Arc::clone(&audit),
                controls: Arc::clone(&controls),
                hooks: self.cleanup.clone(),
                run: run_scope.id(),
                live: Arc::clone(&self.live),
            },
            plan.settings.monitor_interval,
        )
        .await;
        let context = Arc::new(RunContext {
            processor: BatchProcessor::new(Arc::clone(&self.sink), Arc::clone(&audit))
                .with_limits(limits)
                .with_retry(plan.settings.retry.clone())
                .with_streams(plan.streams_per_file),
            controls,
            run: run_scope.id(),
            ledger: ledger.clone(),
            rejects,
            stop: self.stop.clone(),
            add_columns: plan.settings.add_columns,
        });
        let files: Arc<Vec<PlannedFile>> = Arc::new(plan.files.clone());
        let progress: Arc<Vec<Mutex<Progress>>> = Arc::new(
            live_files
                .into_iter()
                .map(|live| {
                    Mutex::new(Progress {
                        live: Some(live),
                        ..Progress::default()
                    })
                })
                .collect(),
        );

        let fallback = run_pool(&context, &files, &progress, plan.workers).await;
        if let Some(reason) = fallback.as_ref().filter(|_| !self.stop.is_stopped()) {
            let pending: Vec<usize> = (0..files.len())
                .filter(|&i| {
                    let p = lock(&progress[i]);
                    p.outcome
                        .as_ref()
                        .is_none_or(|o| o.is_err() && !p.data_error)
                })
                .collect();
            let event = run_scope.event(EventKind::FellBack).with_reason(format!(
                "concurrent pool failed ({reason}); {} files continue sequentially from their last committed row",
                pending.len()
            ));
            tracing::warn!("falling back to sequential processing: {reason}");
            metrics::counter!("loader_fallbacks_total").increment(1);
            run_scope.note(event).await?;
            for index in pending {
                lock(&progress[index]).fell_back = true;
                let result =
                    load_file(&context, &files[index], &progress[index], Mode::Sequential).await;
                record_outcome(&files[index], &progress[index], result);
            }
        }

        if let Some(ledger) = &ledger {
            apply_pending_replaces(&context, ledger, &files, &progress).await;
        }
        for empty in &plan.empty_files {
            let mut event = run_scope
                .event(EventKind::Skipped)
                .with_reason(EMPTY_FILE.to_owned());
            event.file = Some(empty.path.display().to_string());
            event.table = Some(empty.table.clone());
            run_scope.note(event).await?;
        }
        for unread in &plan.unread_files {
            let mut event = run_scope
                .event(EventKind::Failed)
                .with_reason(format!("the file could not be sampled: {}", unread.error));
            event.file = Some(unread.path.display().to_string());
            event.table = Some(unread.table.clone());
            run_scope.note(event).await?;
        }
        let stats = monitor.finish().await;
        let report = LoadReport {
            files: files
                .iter()
                .zip(progress.iter())
                .map(|(file, progress)| file_report(file, &lock(progress)))
                .chain(plan.empty_files.iter().map(empty_file_report))
                .chain(plan.unread_files.iter().map(unread_file_report))
                .collect(),
            duration: started.elapsed(),
            memory_limit: plan.limit.bytes,
            memory_limit_source: plan.limit.source.as_str(),
            budget: plan.budget,
            peak_reserved: context.controls.budget.peak_reserved(),
            peak_rss: stats.peak_rss,
            workers: plan.workers,
            fallback,
            pressure_changes: stats.changes,
            cleanups: stats.cleanups.into_iter().map(Into::into).collect(),
            run_id: run_id.clone(),
        };
        let failed = report
            .files
            .iter()
            .filter(|f| !f.state.is_success())
            .count();
        if let Some(ledger) = &ledger {
            ledger
                .end(
                    &plan.settings,
                    &started_at,
                    report.first_error(),
                    self.stop.is_stopped(),
                )
                .await?;
        }
        if failed == 0 {
            run_scope
                .commit(report.rows_loaded(), report.input_bytes())
                .await?;
        } else if self.stop.is_stopped() {
            run_scope
                .fail(format!(
                    "stopped on request: {} of {} files did not finish",
                    failed,
                    report.files.len()
                ))
                .await?;
        } else {
            run_scope
                .fail(format!("{failed} of {} files failed", report.files.len()))
                .await?;
        }
        Ok(report)
    }
}

/// Runs files on the pool. Returns the reason the pool failed, if it did; files it did not
/// finish are then left without a successful outcome for the sequential pass.
async fn run_pool(
    context: &Arc<RunContext>,
    files: &Arc<Vec<PlannedFile>>,
    progress: &Arc<Vec<Mutex<Progress>>>,
    workers: usize,
) -> Option<String> {
    let permits = Arc::new(Semaphore::new(workers));
    let failure: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut tasks = JoinSet::new();
    let mut task_files = HashMap::new();
    // Files in flight, for admission under pressure (see `Controls::admitted`).
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for index in 0..files.len() {
        // Every worker busy: the file waits, and is hashed for its worker meanwhile.
        if context.ledger.is_some() && permits.available_permits() == 0 {
            lock(&progress[index]).hash_ahead = Some(crate::hash_ahead::HashAhead::start(
                files[index].path.clone(),
            ));
        }
        // No file starts once the run is asked to stop, however long it waited for a worker.
        let permit = tokio::select! {
            biased;
            () = context.stop.stopped() => break,
            permit = Arc::clone(&permits).acquire_owned() => permit,
        };
        let Ok(permit) = permit else {
            break;
        };
        if failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            break;
        }
        // Admission: no new file while pressure is high, and then only once the budget has
        // room for one of its batches, so that it does not crowd out the files running.
        let admitted = async {
            context.controls.admitted(&running).await;
            let budget = &context.controls.budget;
            let first_batch = files[index].estimate.batch_heap.min(budget.capacity());
            if let Ok(room) = budget.reserve(first_batch).await {
                drop(room);
            }
        };
        tokio::select! {
            biased;
            () = context.stop.stopped() => break,
            () = admitted => {}
        }
        let (context, files, progress, failure) = (
            Arc::clone(context),
            Arc::clone(files),
            Arc::clone(progress),
            Arc::clone(&failure),
        );
        running.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let in_flight = Arc::clone(&running);
        let handle = tasks.spawn(async move {
            let _permit = permit;
            // Counted out however the task ends, a panic included.
            struct Done(Arc<std::sync::atomic::AtomicUsize>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            let _done = Done(in_flight);
            let result = load_file(&context, &files[index], &progress[index], Mode::Pool).await;
            if let Err(error) = &result
                && error.is_pool_failure()
            {
                failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| format!("{}: {error}", files[index].path.display()));
            }
            record_outcome(&files[index], &progress[index], result);
        });
        task_files.insert(handle.id(), index);
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        if let Err(error) = joined {
            let index = task_files[&error.id()];
            let message = if error.is_panic() {
                format!(
                    "{}: worker panicked: {}",
                    files[index].path.display(),
                    panic_text(error.into_panic())
                )
            } else {
                format!("{}: worker cancelled", files[index].path.display())
            };
            lock(&progress[index]).outcome = Some(Err(message.clone()));
            failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(message);
        }
    }
    failure.lock().unwrap_or_else(|p| p.into_inner()).take()
}

fn record_outcome(file: &PlannedFile, progress: &Mutex<Progress>, result: Result<()>) {
    let mut progress = lock(progress);
    progress.finished = Some(Instant::now());
    match result {
        Ok(()) => progress.outcome = Some(Ok(())),
        Err(error) => {
            progress.data_error = !error.is_pool_failure();
            progress.stopped = matches!(error, crate::Error::Stopped { .. });
            progress.remedy = crate::remedy::remedy(&error);
            progress.outcome = Some(Err(describe_error(file, &error)));
        }
    }
}

/// A replace run must leave each of its tables holding exactly its input, even when every
/// file for a table was empty and so never wrote: those tables are emptied here, in one
/// transaction each, if all their files succeeded.
async fn apply_pending_replaces(
    context: &RunContext,
    ledger: &RunLedger,
    files: &[PlannedFile],
    progress: &[Mutex<Progress>],
) {
    for (table, replace) in ledger.pending_replaces() {
        let mut of_table = files.iter().zip(progress).filter(|(f, _)| f.table == table);
        let Some((first, _)) = of_table.clone().next() else {
            continue;
        };
        if !of_table.all(|(_, p)| matches!(lock(p).outcome, Some(Ok(())))) {
            continue;
        }
        let target = LoadTarget {
            table: table.clone(),
            schema: Arc::new(first.sample.schema.clone()),
            source: first.path.clone(),
            ledger: Some(Arc::new(loader_batch::LedgerKey {
                run_id: ledger.run_id.clone(),
                file_hash: String::new(),
                generation: 0,
                replace: Some(replace),
            })),
            upsert_key: None,
        };
        let empty = RowBatch::new(first.sample.schema.len(), 0);
        // A failure leaves the old rows; the run has already reported the files as loaded,
        // so the error goes to the trail.
        if let Err(e) = context.processor.sink().write(&target, &empty, 0..0).await {
            let event = AuditEvent::new(Scope::Run, EventKind::Failed, context.run)
                .with_reason(format!("emptying {table:?} for replace failed: {e}"));
            let _ = context.processor.audit().record(&event).await;
        }
    }
}

/// What the report and the audit trail say of an empty file.
const EMPTY_FILE: &str = "the file is empty (no header, no rows): nothing to load";

fn empty_file_report(file: &EmptyFile) -> FileReport {
    not_read_report(
        &file.path,
        &file.table,
        file.size,
        FileState::Empty,
        None,
        Some(EMPTY_FILE.to_owned()),
    )
}

fn unread_file_report(file: &UnreadFile) -> FileReport {
    not_read_report(
        &file.path,
        &file.table,
        file.size,
        FileState::Failed,
        Some(file.error.clone()),
        file.remedy.clone(),
    )
}

/// The report of a file the plan set aside, of which no row was read.
fn not_read_report(
    path: &std::path::Path,
    table: &str,
    size: u64,
    state: FileState,
    error: Option<String>,
    note: Option<String>,
) -> FileReport {
    FileReport {
        path: path.to_path_buf(),
        table: table.to_owned(),
        state,
        size,
        rows_read: 0,
        rows_loaded: 0,
        rows_rejected: 0,
        rows_skipped: 0,
        bytes_loaded: 0,
        batches: 0,
        retries: 0,
        duration: Duration::ZERO,
        estimated_peak: 0,
        measured_peak: 0,
        fell_back: false,
        error,
        note,
        rejected_by_kind: Vec::new(),
        first_reject: None,
    }
}

fn file_report(file: &PlannedFile, progress: &Progress) -> FileReport {
    let (state, error) = match &progress.outcome {
        Some(Ok(())) if progress.skipped.is_some() => (FileState::Skipped, None),
        Some(Ok(())) => (FileState::Loaded, None),
        Some(Err(message)) if progress.stopped => (FileState::Stopped, Some(message.clone())),
        Some(Err(message)) => (FileState::Failed, Some(message.clone())),
        None => (FileState::NotStarted, None),
    };
    let duration = match (progress.started, progress.finished) {
        (Some(start), Some(end)) => end.duration_since(start),
        _ => Duration::ZERO,
    };
    FileReport {
        path: file.path.clone(),
        table: file.table.clone(),
        state,
        size: file.size,
        rows_read: progress.rows_skipped
            + progress
                .rows_read
                .max(progress.rows_loaded + progress.rows_rejected),
        rows_loaded: progress.rows_loaded,
        rows_rejected: progress.rows_rejected,
        rows_skipped: progress.rows_skipped,
        rejected_by_kind: {
            let mut kinds = progress.rejected_by_kind.clone();
            kinds.sort_by_key(|counted| std::cmp::Reverse(counted.rows));
            kinds
        },
        first_reject: progress.first_reject.clone(),
        note: {
            let title = file.title_note();
            let header = file.header_note();
            // A file stopped by such a row has its remedy name the encoding already.
            let encoding = file.encoding_note().filter(|_| {
                progress
                    .remedy
                    .as_ref()
                    .is_none_or(|r| !r.contains("--encoding"))
            });
            let notes: Vec<&str> = [
                &progress.skipped,
                &title,
                &header,
                &encoding,
                &progress.path_note,
                &progress.table_note,
                &progress.remedy,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
            (!notes.is_empty()).then(|| notes.join("; "))
        },
        bytes_loaded: progress.bytes_loaded,
        batches: progress.batches,
        retries: progress.retries,
        duration,
        estimated_peak: file.estimate.peak,
        measured_peak: progress.tally.peak(),
        fell_back: progress.fell_back,
        error,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod exactly_once_tests;
