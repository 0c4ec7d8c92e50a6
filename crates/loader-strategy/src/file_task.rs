//! One file's load: decide with the ledger, read batches (on a reader thread in the pool,
//! inline when sequential), write them, and keep the file's progress so that any later
//! attempt resumes after the last committed row.

use crate::grown::PathCheck;
use crate::hash_ahead::HashAhead;
use crate::ledger::{Decision, FileEntry, RunLedger, now};
use crate::live::{LiveFile, LiveState};
use crate::reaction::Controls;
use crate::reject_room::RejectRoom;
use crate::{Error, PlannedFile, Result};
use loader_batch::{
    AuditEvent, AuditScope, BatchProcessor, ContextId, EventKind, FileLedgerState, LoadTarget,
    RowBatch, Scope,
};
use loader_file::{ResumePoint, content_hash};
use loader_memory::{MemoryBudget, Tally};
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod source;
mod table_match;

use source::{BatchSource, ReadCount};
use table_match::{matched_to_table, retyped, with_added_columns};

/// Where one file stands, updated after every commit so that a fallback resumes exactly
/// after the last committed row.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub resume: Option<ResumePoint>,
    /// The file as it was before its content was hashed (see `unchanged`).
    pub stamp: Option<crate::hash_ahead::Stamp>,
    /// Rows committed by this run.
    pub rows_loaded: u64,
    /// Rows quarantined by this run (committed as rejects).
    pub rows_rejected: u64,
    /// Those of them the database refused (read as good, set aside when written).
    pub rows_refused: u64,
    /// The rows rejected, by kind, in the order the kinds were first met.
    pub rejected_by_kind: Vec<crate::report::RejectedKind>,
    /// The first row rejected (the first committed: commits follow the file's order).
    pub first_reject: Option<crate::report::FirstReject>,
    /// Rows read by this run.
    pub rows_read: u64,
    /// Rows committed by earlier runs and not read again (or all rows, for a skipped file).
    pub rows_skipped: u64,
    pub bytes_loaded: u64,
    pub batches: u64,
    pub retries: u32,
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
    pub fell_back: bool,
    pub outcome: Option<std::result::Result<(), String>>,
    pub data_error: bool,
    /// The run was asked to stop while the file was loading.
    pub stopped: bool,
    /// Why the file was skipped, if it was.
    pub skipped: Option<String>,
    /// Content hash and generation, once the ledger decided.
    pub ledger: Option<(String, u32)>,
    /// RFC 3339 start, for the ledger.
    pub started_at: String,
    /// Budget bytes this file holds, across attempts.
    pub tally: Arc<Tally>,
    /// The file's live counters, for progress displays and metrics.
    pub live: Option<Arc<LiveFile>>,
    /// Its content hash, being made while it waited for a worker (see [`HashAhead`]).
    pub hash_ahead: Option<HashAhead>,
    /// What the ledger's history of the file's path said (see [`PathCheck`]), for the trail.
    pub path_note: Option<String>,
    /// Which columns an existing table typed otherwise than the sample (see
    /// `matched_to_table`), for the report.
    pub table_note: Option<String>,
    /// The flags that would get past the row that stopped the file (see `remedy`).
    pub remedy: Option<String>,
}

impl Progress {
    /// Counts committed rejects by kind, and keeps the first.
    fn count_rejects(&mut self, rejects: &[loader_batch::RejectedRow]) {
        for reject in rejects {
            let kinds = &mut self.rejected_by_kind;
            match kinds.iter_mut().find(|counted| counted.kind == reject.kind) {
                Some(counted) => counted.rows += 1,
                None => kinds.push(crate::report::RejectedKind {
                    kind: reject.kind,
                    rows: 1,
                }),
            }
        }
        if self.first_reject.is_none()
            && let Some(first) = rejects.first()
        {
            self.first_reject = Some(crate::report::FirstReject {
                line: first.line,
                column_name: first.column_name.clone(),
                kind: first.kind,
                message: first.message.clone(),
            });
        }
    }

    fn live(&self, update: impl FnOnce(&LiveFile)) {
        if let Some(live) = &self.live {
            update(live);
        }
    }
}

/// What every file task shares.
pub(crate) struct RunContext {
    pub processor: BatchProcessor,
    pub controls: Arc<Controls>,
    pub run: ContextId,
    pub ledger: Option<Arc<RunLedger>>,
    pub rejects: Option<crate::rejects::RejectsFile>,
    /// Raised when the run is asked to stop: files stop between batches.
    pub stop: crate::StopSignal,
    /// Columns a file's header names and its table lacks are added (`--add-columns`).
    pub add_columns: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Pool,
    Sequential,
}

impl Mode {
    /// Runs `hashing`, which reads a whole file: on a blocking thread in the pool, to keep
    /// it off the async workers; inline when sequential.
    pub(crate) async fn hash<T>(
        self,
        hashing: impl FnOnce() -> loader_file::Result<T> + Send + 'static,
    ) -> Result<T>
    where
        T: Send + 'static,
    {
        match self {
            Mode::Pool => Ok(tokio::task::spawn_blocking(hashing)
                .await
                .map_err(|e| Error::Worker(format!("hashing thread failed: {e}")))??),
            Mode::Sequential => Ok(hashing()?),
        }
    }
}

/// An error's message for the report and the ledger, always naming the file: file-layer
/// errors start with its path already; sink errors name the table and line but not the file.
pub(crate) fn describe_error(file: &PlannedFile, error: &Error) -> String {
    let path = file.path.display().to_string();
    let message = error.to_string();
    if message.starts_with(&path) {
        message
    } else {
        format!("{path}: {message}")
    }
}

pub(crate) fn lock(progress: &Mutex<Progress>) -> std::sync::MutexGuard<'_, Progress> {
    progress.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

/// Loads one file (or the rest of it), under its own audit context.
pub(crate) async fn load_file(
    context: &RunContext,
    file: &PlannedFile,
    progress: &Mutex<Progress>,
    mode: Mode,
) -> Result<()> {
    {
        let mut p = lock(progress);
        p.started.get_or_insert_with(Instant::now);
        if p.started_at.is_empty() {
            p.started_at = now();
        }
        if p.stamp.is_none() {
            p.stamp = crate::hash_ahead::Stamp::of(&file.path);
        }
    }
    let mut template = AuditEvent::new(Scope::File, EventKind::Started, ContextId::next());
    template.parent = Some(context.run);
    template.file = Some(file.path.display().to_string());
    template.table = Some(file.table.clone());
    let key = match &context.ledger {
        Some(ledger) => match decide(context, ledger, file, progress, mode).await? {
            Some(key) => Some(key),
            None => return skip(context, progress, template).await,
        },
        None => None,
    };
    let (resume, loaded_before, tally) = {
        let p = lock(progress);
        (
            p.resume,
            p.rows_loaded + p.rows_rejected,
            Arc::clone(&p.tally),
        )
    };
    let path_note = lock(progress).path_note.clone();
    if let Some(resume) = resume {
        let committed = loaded_before + lock(progress).rows_skipped;
        let resuming = format!(
            "resuming at line {} (byte {}) after {committed} committed rows",
            resume.line, resume.byte
        );
        template.reason = Some(match path_note {
            Some(note) => format!("{note}: {resuming}"),
            None => resuming,
        });
    } else {
        template.reason = path_note;
    }
    let target = LoadTarget {
        table: file.table.clone(),
        schema: Arc::new(file.sample.schema.clone()),
        source: file.path.clone(),
        ledger: key,
        upsert_key: file.upsert_key.clone(),
    };
    let scope = AuditScope::start(Arc::clone(context.processor.audit()), template).await?;
    let attempt = Attempt {
        mode,
        resume,
        budget: context.controls.budget.tallied(tally),
        parent: scope.id(),
    };
    lock(progress).live(|l| l.set_state(LiveState::Running));
    tracing::info!(file = %file.path.display(), table = %file.table, "loading");
    let result = load_batches(context, file, &target, progress, attempt)
        .await
        .and_then(|read| reconcile(file, progress, loaded_before + read.rows + read.rejected));
    let result = unchanged(context, file, progress, mode, result).await;
    let state = if result.is_ok() {
        LiveState::Done
    } else {
        LiveState::Failed
    };
    lock(progress).live(|l| l.set_state(state));
    let (counts, bytes, measured) = {
        let p = lock(progress);
        let counts = [
            p.rows_skipped + p.rows_read,
            p.rows_loaded,
            p.rows_rejected,
            p.rows_skipped,
        ];
        (counts, p.bytes_loaded, p.tally.peak())
    };
    match result {
        Ok(()) => {
            record(
                context,
                file,
                progress,
                FileLedgerState::Complete,
                counts,
                None,
            )
            .await?;
            let memory = format!(
                "memory: estimated peak {} bytes, measured peak {measured} bytes",
                file.estimate.peak
            );
            // What the table was made to take (columns added, types the table decided)
            // belongs in the trail beside what was loaded into it.
            let note = match lock(progress).table_note.clone() {
                Some(table) => format!("{memory}; {table}"),
                None => memory,
            };
            scope.commit_with_note(counts[1], bytes, note).await?;
            Ok(())
        }
        Err(error) => {
            let message = describe_error(file, &error);
            // The load's own error is what matters; the ledger and trail are told if they can be.
            let _ = record(
                context,
                file,
                progress,
                FileLedgerState::Failed,
                counts,
                Some(message.clone()),
            )
            .await;
            let _ = scope.fail(message).await;
            Err(error)
        }
    }
}

/// Hashes the file and asks the ledger, once per file per run. Returns the ledger key to
/// write with, or `None` when the file is to be skipped.
async fn decide(
    context: &RunContext,
    ledger: &RunLedger,
    file: &PlannedFile,
    progress: &Mutex<Progress>,
    mode: Mode,
) -> Result<Option<Arc<loader_batch::LedgerKey>>> {
    if lock(progress).skipped.is_some() {
        return Ok(None);
    }
    if let Some((hash, generation)) = lock(progress).ledger.clone() {
        return Ok(Some(ledger.key(&file.table, &hash, generation)));
    }
    // The content is the file as it is now, up to its size now: a hash made ahead is used
    // only if the file is still as it was then, and a hash made here reads no byte appended
    // meanwhile. The load reads the same bytes (see `CsvOptions::content_bytes`), and
    // `unchanged` tells whether they stayed the same.
    let stamp = crate::hash_ahead::Stamp::of(&file.path);
    lock(progress).stamp.clone_from(&stamp);
    let size = stamp.as_ref().map(|stamp| stamp.len);
    let ahead = lock(progress).hash_ahead.take();
    let made_ahead = match ahead {
        Some(ahead) => ahead.finish(&file.path).await,
        None => None,
    };
    let path = file.path.clone();
    // A compressed copy of a file in this run (`gzip -k orders.csv`) is known by what it
    // decompresses to, as that file is: whichever of the two starts second is skipped, and
    // what an earlier run loaded of either counts for both. Its raw hash is not read.
    let hash = match made_ahead {
        _ if ledger.has_twin(&file.path) => {
            mode.hash(move || loader_file::decompressed_hash(&path))
                .await?
        }
        Some(hash) => hash?,
        None => match size {
            Some(size) => {
                mode.hash(move || loader_file::content_hash_upto(&path, size))
                    .await?
            }
            None => mode.hash(move || content_hash(&path)).await?,
        },
    };
    // Whether a grown file could resume after an earlier load of its path (any file: a
    // compressed or transcoded one's resume point is looked for in its decoded text, see
    // `loader_file::grew_from`): then the history comes with the content's status.
    let (decision, history) = ledger
        .decide(&file.table, &hash, &file.path, ledger.resumes_grown_files())
        .await?;
    match decision {
        Decision::Skip {
            reason,
            rows,
            generation,
        } => {
            {
                let mut p = lock(progress);
                p.live(|l| {
                    l.skipped(rows, file.size);
                    l.set_state(LiveState::Skipped);
                });
                tracing::info!(file = %file.path.display(), "skipped: {reason}");
                p.skipped = Some(reason);
                p.rows_skipped = rows;
                // The skip is recorded against the generation that holds the content, which
                // also settles a generation left by a run that died.
                p.ledger = Some((hash, generation));
            }
            let counts = [rows, 0, 0, rows];
            record(
                context,
                file,
                progress,
                FileLedgerState::Skipped,
                counts,
                None,
            )
            .await?;
            Ok(None)
        }
        Decision::Load {
            generation,
            resume,
            rows_committed,
        } => {
            // Content loaded for the first time may be an earlier file grown.
            let path_check = if generation == 1 {
                match crate::grown::check_path(history, file, &hash, mode).await? {
                    // A file archived after an earlier run loaded it (`gzip orders.csv`):
                    // not for a twin, whose namesake may be loading at this moment.
                    PathCheck::Unknown
                        if ledger.resumes_grown_files() && !ledger.has_twin(&file.path) =>
                    {
                        crate::grown::check_compressed(ledger, file, &hash, mode).await?
                    }
                    check => check,
                }
            } else {
                PathCheck::Unknown
            };
            let (resume, rows_committed) = path_check.resume(resume, rows_committed);
            let path_note = path_check.reason();
            if let Some(note) = &path_note {
                tracing::info!(file = %file.path.display(), "{note}");
            }
            {
                let mut p = lock(progress);
                p.path_note = path_note;
                p.live(|l| l.skipped(rows_committed, resume.map_or(0, |r| r.byte)));
                p.resume = resume;
                p.rows_skipped = rows_committed;
                p.ledger = Some((hash.clone(), generation));
            }
            let counts = [rows_committed, 0, 0, rows_committed];
            record(
                context,
                file,
                progress,
                FileLedgerState::Loading,
                counts,
                None,
            )
            .await?;
            Ok(Some(ledger.key(&file.table, &hash, generation)))
        }
    }
}

/// Records the file's state in this run in the ledger, when there is one.
async fn record(
    context: &RunContext,
    file: &PlannedFile,
    progress: &Mutex<Progress>,
    state: FileLedgerState,
    counts: [u64; 4],
    error: Option<String>,
) -> Result<()> {
    let Some(ledger) = &context.ledger else {
        return Ok(());
    };
    let (Some((hash, generation)), started_at) = ({
        let p = lock(progress);
        (p.ledger.clone(), p.started_at.clone())
    }) else {
        return Ok(());
    };
    let entry = FileEntry {
        table: &file.table,
        hash: &hash,
        generation,
        path: &file.path,
        // The size of the content hashed, which a grown file's old bytes are checked to.
        size: lock(progress)
            .stamp
            .as_ref()
            .filter(|_| !ledger.has_twin(&file.path))
            .map_or(file.size, |stamp| stamp.len),
        started_at: &started_at,
    };
    ledger
        .record(&entry.record(&ledger.run_id, state, counts, error))
        .await
}

/// A skipped file still gets an audit context, so the trail says why nothing was loaded.
async fn skip(
    context: &RunContext,
    progress: &Mutex<Progress>,
    template: AuditEvent,
) -> Result<()> {
    let (reason, rows) = {
        let p = lock(progress);
        (p.skipped.clone().unwrap_or_default(), p.rows_skipped)
    };
    let scope = AuditScope::start(Arc::clone(context.processor.audit()), template).await?;
    let mut skipped = scope.event(EventKind::Skipped).with_reason(reason.clone());
    skipped.rows = Some(rows);
    scope.note(skipped).await?;
    scope
        .commit_with_note(0, 0, format!("skipped: {reason}"))
        .await?;
    Ok(())
}

/// `result`, unless the file changed since it was looked at before its content was hashed:
/// then an error saying so, whatever the load came to. A file cut short at a row boundary
/// while it was read (a producer rewriting it) read to its new end without a fault, and
/// was recorded complete under the hash of its whole content: a later run of that whole
/// content skipped the rows past the cut. Recorded failed, its committed rows stand under
/// the hash and the same content resumes after them. A cut inside a row read as a short row,
/// and its remedy (`--ragged-rows`) was no help.
///
/// A file that only grew while it was read (a log appended to) holds the content hashed and
/// more: a load that read it to its end read all of that content, and `result` stands; the
/// rows past it are a grown file's for the next run (see `grown.rs`). Telling the two apart
/// reads the file's old bytes again (as a hash is read, off the async workers), only when
/// it changed.
async fn unchanged(
    context: &RunContext,
    file: &PlannedFile,
    progress: &Mutex<Progress>,
    mode: Mode,
    result: Result<()>,
) -> Result<()> {
    let (Some(was), hashed) = ({
        let p = lock(progress);
        (p.stamp.clone(), p.ledger.clone())
    }) else {
        return result;
    };
    let now = crate::hash_ahead::Stamp::of(&file.path);
    if now.as_ref() == Some(&was) {
        return result;
    }
    // The raw bytes' hash, not a twin's decompressed one.
    let raw_hash = hashed
        .filter(|_| {
            context
                .ledger
                .as_ref()
                .is_some_and(|l| !l.has_twin(&file.path))
        })
        .map(|(hash, _)| hash);
    if let (Ok(()), Some(hash)) = (&result, raw_hash) {
        let (path, encoding) = (file.path.clone(), file.csv.get_encoding());
        let grown = mode
            .hash(move || loader_file::grew_from(&path, was.len, &hash, 0, encoding))
            .await;
        if grown.unwrap_or(false) {
            return result;
        }
    }
    Err(Error::ChangedWhileRead {
        path: file.path.display().to_string(),
        was: was.len,
        now: now.map(|n| n.len),
        stopped: result.err().map(|e| describe_error(file, &e)),
    })
}

/// Rows read now must all have been loaded or quarantined now: read = loaded + rejected
/// (+ skipped, the rows earlier runs accounted for).
fn reconcile(file: &PlannedFile, progress: &Mutex<Progress>, read_now: u64) -> Result<()> {
    let mut p = lock(progress);
    p.rows_read = read_now;
    if p.rows_read == p.rows_loaded + p.rows_rejected {
        return Ok(());
    }
    Err(Error::Reconciliation {
        path: file.path.display().to_string(),
        read: p.rows_skipped + p.rows_read,
        loaded: p.rows_loaded,
        rejected: p.rows_rejected,
        skipped: p.rows_skipped,
    })
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
) -> Result<ReadCount> {
    let sink = context.processor.sink();
    let sink_error = |source| Error::Sink {
        table: target.table.clone(),
        source,
    };
    sink.prepare(target).await.map_err(sink_error)?;
    let table = sink.table_columns(target).await.map_err(sink_error)?;
    let (table, added) = match table {
        Some(table) if context.add_columns => with_added_columns(sink, target, file, table)
            .await
            .map_err(sink_error)?,
        table => (table, None),
    };
    let (matched, decimal_text) = matched_to_table(target, file, table)?;
    lock(progress).table_note = [added, retyped(target, &matched)]
        .into_iter()
        .flatten()
        .reduce(|added, retyped| format!("{added}; {retyped}"));
    let target = &matched;
    if target.upsert_key.is_some() {
        sink.check_upsert_key(target).await.map_err(sink_error)?;
    }
    // The content hashed, not rows appended since (see `CsvOptions::content_bytes`).
    let content = lock(progress).stamp.as_ref().map(|stamp| stamp.len);
    let mut source = BatchSource::open(
        attempt.mode,
        file,
        file.csv
            .clone()
            .decimal_text_columns(decimal_text)
            .content_bytes(content),
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
        // Asked to stop: the batches before this one are committed, this one is not begun.
        if context.stop.is_stopped() {
            let line = batch.line_range(0..batch.len()).start;
            drop(reserved);
            let _ = source.finish().await;
            return Err(Error::Stopped {
                path: file.path.display().to_string(),
                line,
            });
        }
        let room = match RejectRoom::for_batch(file, progress, batch) {
            Ok(room) => room,
            Err(error) => {
                drop(reserved);
                let _ = source.finish().await;
                return Err(error.into());
            }
        };
        // Under pressure fewer files write at once; the others wait here, holding only the
        // batch already read, while their readers wait on the shrunken budget.
        let writer = context.controls.writers.acquire().await;
        // Failing, no row is set aside, but the refused row is still found, so that the
        // error names its line and the rows before it load, as for a bad row read.
        let processed = context
            .processor
            .process_quarantining(target, batch, Some(attempt.parent), room.room.unwrap_or(0))
            .await;
        drop(writer);
        match processed {
            Ok(outcome) => {
                committed(
                    context,
                    file,
                    progress,
                    batch,
                    batch.len(),
                    &outcome.refused,
                )?;
                let mut p = lock(progress);
                p.batches += 1;
                p.retries += outcome.retries;
            }
            Err(error) => {
                if let loader_batch::Error::Sink {
                    committed_rows,
                    refused,
                    ..
                } = &error
                    && *committed_rows > 0
                {
                    committed(context, file, progress, batch, *committed_rows, refused)?;
                }
                let error = room
                    .refused(file, batch, &error)
                    .unwrap_or_else(|| error.into());
                drop(reserved);
                let _ = source.finish().await;
                return Err(error);
            }
        }
    }
    source.finish().await
}

/// The first `rows` rows of `batch`, and the rejects among them, are committed, `refused`
/// of them set aside as the database refused them: the file's progress, live counters and
/// rejects file follow.
fn committed(
    context: &RunContext,
    file: &PlannedFile,
    progress: &Mutex<Progress>,
    batch: &RowBatch,
    rows: usize,
    refused: &[loader_batch::RejectedRow],
) -> Result<()> {
    let read_rejects = batch.rejects_in(0..rows);
    let rejects = if refused.is_empty() {
        std::borrow::Cow::Borrowed(read_rejects)
    } else {
        let mut all = [read_rejects, refused].concat();
        all.sort_by_key(|reject| reject.byte);
        std::borrow::Cow::Owned(all)
    };
    committed_rejects(context, file, &rejects)?;
    let bytes = batch.data_bytes(0..rows) as u64;
    let stored = (rows - refused.len()) as u64;
    let resume = resume_after(batch, rows);
    let mut p = lock(progress);
    p.resume = Some(resume);
    p.rows_loaded += stored;
    p.rows_rejected += rejects.len() as u64;
    p.rows_refused += refused.len() as u64;
    p.count_rejects(&rejects);
    p.bytes_loaded += bytes;
    p.live(|l| l.committed(stored, rejects.len() as u64, bytes, resume.byte));
    Ok(())
}

/// The resume point after the first `rows` rows of `batch` (and the rejects among them) are
/// committed.
fn resume_after(batch: &RowBatch, rows: usize) -> ResumePoint {
    let (byte, line) = if rows == batch.len() {
        (batch.end_offset(), batch.end_line())
    } else {
        (batch.offset(rows), batch.line(rows))
    };
    ResumePoint {
        byte,
        line,
        sequence: batch.sequence() + u64::from(rows == batch.len()),
    }
}

/// Copies rejects the database now holds to the rejects file, when there is one.
fn committed_rejects(
    context: &RunContext,
    file: &PlannedFile,
    rejects: &[loader_batch::RejectedRow],
) -> Result<()> {
    match &context.rejects {
        Some(out) => out.append(&file.path, rejects),
        None => Ok(()),
    }
}
