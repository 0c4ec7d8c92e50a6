use crate::monitor::{Monitor, Reactor};
use crate::plan::make_plan;
use crate::reaction::{Baseline, Controls};
use crate::{
    Error, FileReport, FileState, LoadPlan, LoadReport, LoadSettings, PlannedFile, Result,
};
use loader_batch::{
    AuditEvent, AuditScope, AuditSink, BatchProcessor, BatchSink, ContextId, EventKind, LoadTarget,
    RowBatch, Scope, SubBatchLimits,
};
use loader_file::{BatchReader, ReservedBatch, ResumePoint};
use loader_memory::{CleanupHooks, MemoryBudget, MemoryProbe, PressureMonitor, Tally};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
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
}

impl std::fmt::Debug for DataLoadingService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoadingService")
            .field("settings", &self.settings)
            .finish()
    }
}

/// Where one file stands, updated after every commit so that a fallback resumes exactly
/// after the last committed row.
#[derive(Debug, Default)]
struct Progress {
    resume: Option<ResumePoint>,
    rows_loaded: u64,
    rows_read: u64,
    bytes_loaded: u64,
    batches: u64,
    retries: u32,
    started: Option<Instant>,
    finished: Option<Instant>,
    fell_back: bool,
    outcome: Option<std::result::Result<(), String>>,
    data_error: bool,
    /// Budget bytes this file holds, across attempts.
    tally: Arc<Tally>,
}

/// What every file task shares.
struct RunContext {
    processor: BatchProcessor,
    controls: Arc<Controls>,
    run: ContextId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pool,
    Sequential,
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
        }
    }

    /// Runs `hooks` when memory pressure rises to high or critical (they always end with
    /// returning freed memory to the operating system). Register a sink's hooks here, and
    /// your own.
    pub fn with_cleanup_hooks(mut self, hooks: CleanupHooks) -> Self {
        self.cleanup = hooks;
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
    /// [`Error::File`] when an input is missing or a sample is malformed, [`Error::Memory`]
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
    /// [`Error::Audit`] when the run's own audit context cannot be written.
    pub async fn run(&self, plan: LoadPlan) -> Result<LoadReport> {
        let started = Instant::now();
        let mut run_template = AuditEvent::new(Scope::Run, EventKind::Started, ContextId::next());
        run_template.reason = Some(format!(
            "{} files, {} workers, budget {} bytes of a {} byte {} limit",
            plan.files.len(),
            plan.workers,
            plan.budget,
            plan.limit.bytes,
            plan.limit.source.as_str()
        ));
        let run_scope = AuditScope::start(Arc::clone(&self.audit), run_template).await?;
        let baseline = Baseline {
            sub_batch_rows: plan.settings.sub_batch_rows,
            sub_batch_bytes: plan.settings.sub_batch_bytes,
            writers: plan.workers,
            budget: plan.budget,
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
                audit: Arc::clone(&self.audit),
                controls: Arc::clone(&controls),
                hooks: self.cleanup.clone(),
                run: run_scope.id(),
            },
            plan.settings.monitor_interval,
        )
        .await;
        let context = Arc::new(RunContext {
            processor: BatchProcessor::new(Arc::clone(&self.sink), Arc::clone(&self.audit))
                .with_limits(limits)
                .with_retry(plan.settings.retry.clone()),
            controls,
            run: run_scope.id(),
        });
        let files: Arc<Vec<PlannedFile>> = Arc::new(plan.files.clone());
        let progress: Arc<Vec<Mutex<Progress>>> = Arc::new(
            files
                .iter()
                .map(|_| Mutex::new(Progress::default()))
                .collect(),
        );

        let fallback = run_pool(&context, &files, &progress, plan.workers).await;
        if let Some(reason) = &fallback {
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
            run_scope.note(event).await?;
            for index in pending {
                lock(&progress[index]).fell_back = true;
                let result =
                    load_file(&context, &files[index], &progress[index], Mode::Sequential).await;
                record_outcome(&progress[index], result);
            }
        }

        let stats = monitor.finish().await;
        let report = LoadReport {
            files: files
                .iter()
                .zip(progress.iter())
                .map(|(file, progress)| file_report(file, &lock(progress)))
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
        };
        let failed = report
            .files
            .iter()
            .filter(|f| f.state != FileState::Loaded)
            .count();
        if failed == 0 {
            run_scope
                .commit(report.rows_loaded(), report.input_bytes())
                .await?;
        } else {
            run_scope
                .fail(format!("{failed} of {} files failed", report.files.len()))
                .await?;
        }
        Ok(report)
    }
}

fn lock(progress: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(|p| p.into_inner())
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
    for index in 0..files.len() {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        if failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            break;
        }
        // Admission: no new file while pressure is high, and then only once the budget has
        // room for one of its batches, so that it does not crowd out the files running.
        context.controls.admitted().await;
        let budget = &context.controls.budget;
        let first_batch = files[index].estimate.batch_heap.min(budget.capacity());
        if let Ok(room) = budget.reserve(first_batch).await {
            drop(room);
        }
        let (context, files, progress, failure) = (
            Arc::clone(context),
            Arc::clone(files),
            Arc::clone(progress),
            Arc::clone(&failure),
        );
        let handle = tasks.spawn(async move {
            let _permit = permit;
            let result = load_file(&context, &files[index], &progress[index], Mode::Pool).await;
            if let Err(error) = &result
                && error.is_pool_failure()
            {
                failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| format!("{}: {error}", files[index].path.display()));
            }
            record_outcome(&progress[index], result);
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

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

fn record_outcome(progress: &Mutex<Progress>, result: Result<()>) {
    let mut progress = lock(progress);
    progress.finished = Some(Instant::now());
    match result {
        Ok(()) => progress.outcome = Some(Ok(())),
        Err(error) => {
            progress.data_error = !error.is_pool_failure();
            progress.outcome = Some(Err(error.to_string()));
        }
    }
}

/// Batches come from a reader thread (pool mode) or straight from the reader (sequential
/// mode, which must not depend on spawning anything).
enum BatchSource {
    Thread {
        receiver: mpsc::Receiver<loader_file::Result<ReservedBatch>>,
        thread: tokio::task::JoinHandle<loader_file::Result<u64>>,
    },
    Inline(Box<BatchReader>),
}

impl BatchSource {
    async fn open(
        mode: Mode,
        file: &PlannedFile,
        schema: Arc<loader_batch::Schema>,
        budget: &MemoryBudget,
        resume: Option<ResumePoint>,
    ) -> Result<BatchSource> {
        let (path, csv, mean) = (
            file.path.clone(),
            file.csv.clone(),
            file.sample.mean_field_bytes,
        );
        let budget = budget.clone();
        match mode {
            Mode::Sequential => Ok(BatchSource::Inline(Box::new(BatchReader::open(
                &path, &csv, schema, mean, budget, resume,
            )?))),
            Mode::Pool => {
                let (sender, receiver) = mpsc::channel(1);
                let thread = tokio::task::spawn_blocking(move || {
                    let mut reader = BatchReader::open(&path, &csv, schema, mean, budget, resume)?;
                    for batch in reader.by_ref() {
                        if sender.blocking_send(batch).is_err() {
                            break;
                        }
                    }
                    Ok(reader.rows_read())
                });
                Ok(BatchSource::Thread { receiver, thread })
            }
        }
    }

    async fn next(&mut self) -> Option<loader_file::Result<ReservedBatch>> {
        match self {
            BatchSource::Thread { receiver, .. } => receiver.recv().await,
            BatchSource::Inline(reader) => reader.next(),
        }
    }

    /// Rows the reader handed out.
    async fn finish(self) -> Result<u64> {
        match self {
            BatchSource::Inline(reader) => Ok(reader.rows_read()),
            BatchSource::Thread { receiver, thread } => {
                drop(receiver);
                match thread.await {
                    Ok(result) => Ok(result?),
                    Err(e) if e.is_panic() => Err(Error::Worker(format!(
                        "reader thread panicked: {}",
                        panic_text(e.into_panic())
                    ))),
                    Err(_) => Err(Error::Worker("reader thread cancelled".into())),
                }
            }
        }
    }
}

async fn load_file(
    context: &RunContext,
    file: &PlannedFile,
    progress: &Mutex<Progress>,
    mode: Mode,
) -> Result<()> {
    let (resume, loaded_before, tally) = {
        let mut p = lock(progress);
        p.started.get_or_insert_with(Instant::now);
        (p.resume, p.rows_loaded, Arc::clone(&p.tally))
    };
    let schema = Arc::new(file.sample.schema.clone());
    let target = LoadTarget {
        table: file.table.clone(),
        schema: Arc::clone(&schema),
        source: file.path.clone(),
    };
    let mut template = AuditEvent::new(Scope::File, EventKind::Started, ContextId::next());
    template.parent = Some(context.run);
    template.file = Some(file.path.display().to_string());
    template.table = Some(file.table.clone());
    if let Some(resume) = resume {
        template.reason = Some(format!(
            "resuming at line {} (byte {}) after {loaded_before} committed rows",
            resume.line, resume.byte
        ));
    }
    let scope = AuditScope::start(Arc::clone(context.processor.audit()), template).await?;
    let budget = context.controls.budget.tallied(tally);
    let attempt = Attempt {
        mode,
        resume,
        budget,
        parent: scope.id(),
    };
    let result = load_batches(context, file, &target, progress, attempt).await;
    match result {
        Ok(rows_read) => {
            let rows = {
                let mut p = lock(progress);
                p.rows_read = loaded_before + rows_read;
                (p.rows_read, p.rows_loaded)
            };
            if rows.0 != rows.1 {
                let error = Error::Reconciliation {
                    path: file.path.display().to_string(),
                    read: rows.0,
                    loaded: rows.1,
                    rejected: 0,
                    skipped: 0,
                };
                scope.fail(error.to_string()).await?;
                return Err(error);
            }
            let (bytes, measured) = {
                let p = lock(progress);
                (p.bytes_loaded, p.tally.peak())
            };
            let note = format!(
                "memory: estimated peak {} bytes, measured peak {measured} bytes",
                file.estimate.peak
            );
            scope.commit_with_note(rows.1, bytes, note).await?;
            Ok(())
        }
        Err(error) => {
            let _ = scope.fail(error.to_string()).await;
            Err(error)
        }
    }
}

/// One go at a file: how to read it, from where, and under which audit context.
struct Attempt {
    mode: Mode,
    resume: Option<ResumePoint>,
    /// The run's budget, tallied for this file.
    budget: MemoryBudget,
    parent: ContextId,
}

async fn load_batches(
    context: &RunContext,
    file: &PlannedFile,
    target: &LoadTarget,
    progress: &Mutex<Progress>,
    attempt: Attempt,
) -> Result<u64> {
    context
        .processor
        .sink()
        .prepare(target)
        .await
        .map_err(|source| Error::Sink {
            table: target.table.clone(),
            source,
        })?;
    let mut source = BatchSource::open(
        attempt.mode,
        file,
        Arc::clone(&target.schema),
        &attempt.budget,
        attempt.resume,
    )
    .await?;
    while let Some(next) = source.next().await {
        let reserved = match next {
            Ok(reserved) => reserved,
            Err(error) => {
                // Let the reader thread end before reporting, so nothing is left running.
                let _ = source.finish().await;
                return Err(error.into());
            }
        };
        let batch = &reserved.batch;
        // Under pressure fewer files write at once; the others wait here, holding only the
        // batch already read, while their readers wait on the shrunken budget.
        let writer = context.controls.writers.acquire().await;
        let processed = context
            .processor
            .process(target, batch, Some(attempt.parent))
            .await;
        drop(writer);
        match processed {
            Ok(outcome) => {
                let mut p = lock(progress);
                p.resume = Some(resume_after(batch, batch.len()));
                p.rows_loaded += outcome.rows;
                p.bytes_loaded += outcome.bytes;
                p.batches += 1;
                p.retries += outcome.retries;
            }
            Err(error) => {
                if let loader_batch::Error::Sink { committed_rows, .. } = &error
                    && *committed_rows > 0
                {
                    let mut p = lock(progress);
                    p.resume = Some(resume_after(batch, *committed_rows));
                    p.rows_loaded += *committed_rows as u64;
                    p.bytes_loaded += batch.data_bytes(0..*committed_rows) as u64;
                }
                drop(reserved);
                let _ = source.finish().await;
                return Err(error.into());
            }
        }
    }
    source.finish().await
}

/// The resume point after the first `rows` rows of `batch` are committed.
fn resume_after(batch: &RowBatch, rows: usize) -> ResumePoint {
    let range = batch.byte_range(rows..batch.len());
    let lines = batch.line_range(rows..batch.len());
    ResumePoint {
        byte: range.start,
        line: lines.start,
        sequence: batch.sequence() + u64::from(rows == batch.len()),
    }
}

fn file_report(file: &PlannedFile, progress: &Progress) -> FileReport {
    let (state, error) = match &progress.outcome {
        Some(Ok(())) => (FileState::Loaded, None),
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
        rows_read: progress.rows_read.max(progress.rows_loaded),
        rows_loaded: progress.rows_loaded,
        rows_rejected: 0,
        rows_skipped: 0,
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
