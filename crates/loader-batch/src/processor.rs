use crate::{
    AuditEvent, AuditScope, AuditSink, BatchSink, ContextId, Error, EventKind, LoadTarget,
    PreviousWrite, RejectedRow, Result, RowBatch, Scope, SinkError, SinkErrorKind,
};
use futures_util::{FutureExt, StreamExt};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The largest sub-batch, in rows and in field bytes, shared between the processor and
/// whoever adjusts it under memory pressure.
///
/// # Example
///
/// ```
/// use loader_batch::SubBatchLimits;
/// let limits = SubBatchLimits::new(1000, 1 << 20);
/// limits.set(100, 64 << 10);
/// assert_eq!((limits.rows(), limits.bytes()), (100, 64 << 10));
/// ```
#[derive(Debug)]
pub struct SubBatchLimits {
    rows: AtomicUsize,
    bytes: AtomicUsize,
}

impl SubBatchLimits {
    /// Limits of `rows` rows and `bytes` field bytes (each at least 1).
    pub fn new(rows: usize, bytes: usize) -> Self {
        SubBatchLimits {
            rows: AtomicUsize::new(rows.max(1)),
            bytes: AtomicUsize::new(bytes.max(1)),
        }
    }

    /// Most rows in one sub-batch.
    pub fn rows(&self) -> usize {
        self.rows.load(Ordering::Relaxed)
    }

    /// Most field bytes in one sub-batch (a single larger row still forms its own sub-batch).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Changes both limits; sub-batches cut after this call follow them.
    pub fn set(&self, rows: usize, bytes: usize) {
        self.rows.store(rows.max(1), Ordering::Relaxed);
        self.bytes.store(bytes.max(1), Ordering::Relaxed);
    }
}

/// How transient sink errors are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 means no retry).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// No retry starts after this much time since the first attempt.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            deadline: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Cuts rows `0..batch.len()` into consecutive ranges of at most `max_rows` rows and
/// `max_bytes` field bytes; a row larger than `max_bytes` forms a range of its own.
///
/// # Example
///
/// ```
/// use loader_batch::{split_rows, RowBatch};
/// let mut batch = RowBatch::new(1, 0);
/// for (i, field) in [&b"aaaa"[..], b"bb", b"c", b"dddddd"].into_iter().enumerate() {
///     batch.push_row(i as u64 + 1, 0, [field]).unwrap();
/// }
/// assert_eq!(split_rows(&batch, 10, 6), vec![0..2, 2..3, 3..4]);
/// assert_eq!(split_rows(&batch, 3, 100), vec![0..3, 3..4]);
/// ```
pub fn split_rows(batch: &RowBatch, max_rows: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let (max_rows, max_bytes) = (max_rows.max(1), max_bytes.max(1));
    let mut ranges = Vec::with_capacity(batch.len() / max_rows + 1);
    let mut start = 0;
    while start < batch.len() {
        let mut end = start + 1;
        let mut bytes = batch.data_bytes(start..end);
        while end < batch.len() && end - start < max_rows {
            let next = batch.data_bytes(end..end + 1);
            if bytes + next > max_bytes {
                break;
            }
            bytes += next;
            end += 1;
        }
        ranges.push(start..end);
        start = end;
    }
    ranges
}

/// What a processed batch came to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Rows stored in the table.
    pub rows: u64,
    /// Field bytes stored.
    pub bytes: u64,
    /// Rejected rows quarantined with them: the batch's own rejects and the rows the
    /// database refused.
    pub rejected: u64,
    /// The rows of the batch the database refused, quarantined instead of stored (only
    /// when [`process_quarantining`](BatchProcessor::process_quarantining) allowed it), in
    /// source order.
    pub refused: Vec<RejectedRow>,
    /// Sub-batches written.
    pub sub_batches: usize,
    /// Retries needed along the way.
    pub retries: u32,
}

/// Hands batches to a sink as audited sub-batches, retrying transient failures.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::{ops::Range, sync::Arc};
/// use async_trait::async_trait;
/// use loader_batch::*;
///
/// struct Accepting;
/// #[async_trait]
/// impl BatchSink for Accepting {
///     async fn prepare(&self, _: &LoadTarget) -> Result<(), SinkError> { Ok(()) }
///     async fn write(&self, _: &LoadTarget, _: &RowBatch, rows: Range<usize>) -> Result<u64, SinkError> {
///         Ok(rows.len() as u64)
///     }
/// }
///
/// let audit = Arc::new(InMemoryAudit::new());
/// let processor = BatchProcessor::new(Arc::new(Accepting), audit.clone())
///     .with_limits(Arc::new(SubBatchLimits::new(2, 1 << 20)));
///
/// let mut batch = RowBatch::new(1, 0);
/// for line in 1..=3 { batch.push_row(line, 0, [&b"x"[..]]).unwrap(); }
/// let target = LoadTarget::new("t", Arc::new(Schema::from_pairs([("c", ColumnType::Text)])), "t.csv");
/// let outcome = processor.process(&target, &batch, None).await.unwrap();
/// assert_eq!((outcome.rows, outcome.sub_batches), (3, 2));
/// // batch started, split, 2 x (sub-batch started, committed), batch committed
/// assert_eq!(audit.events().len(), 7);
/// # });
/// ```
#[derive(Clone)]
pub struct BatchProcessor {
    sink: Arc<dyn BatchSink>,
    audit: Arc<dyn AuditSink>,
    limits: Arc<SubBatchLimits>,
    retry: RetryPolicy,
    streams: usize,
}

impl std::fmt::Debug for BatchProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchProcessor")
            .field("limits", &self.limits)
            .field("retry", &self.retry)
            .field("streams", &self.streams)
            .finish()
    }
}

/// Rows in one sub-batch (one transaction) unless set otherwise: measured fastest into
/// PostgreSQL, where each transaction costs a few milliseconds; SQLite is the same at any
/// size from 10,000 rows up.
pub const DEFAULT_SUB_BATCH_ROWS: usize = 25_000;

/// Field bytes in one sub-batch unless set otherwise, whichever of rows and bytes comes first.
pub const DEFAULT_SUB_BATCH_BYTES: usize = 4 << 20;

impl BatchProcessor {
    /// A processor writing to `sink` and auditing to `audit`, with sub-batches of at most
    /// [`DEFAULT_SUB_BATCH_ROWS`] rows and [`DEFAULT_SUB_BATCH_BYTES`], and the default
    /// [`RetryPolicy`].
    pub fn new(sink: Arc<dyn BatchSink>, audit: Arc<dyn AuditSink>) -> Self {
        BatchProcessor {
            sink,
            audit,
            limits: Arc::new(SubBatchLimits::new(
                DEFAULT_SUB_BATCH_ROWS,
                DEFAULT_SUB_BATCH_BYTES,
            )),
            retry: RetryPolicy::default(),
            streams: 1,
        }
    }

    /// Writes up to `streams` sub-batches of a batch at once, through
    /// [`BatchSink::write_after`], which commits them in order (1, the default, writes one
    /// at a time through [`BatchSink::write`]). Worth it for a sink whose writes each use a
    /// connection of their own, such as PostgreSQL's, where one file's COPY then runs on
    /// several server processes at once.
    pub fn with_streams(mut self, streams: usize) -> Self {
        self.streams = streams.max(1);
        self
    }

    /// Uses shared sub-batch limits.
    pub fn with_limits(mut self, limits: Arc<SubBatchLimits>) -> Self {
        self.limits = limits;
        self
    }

    /// Uses `retry` for transient errors.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The shared sub-batch limits.
    pub fn limits(&self) -> &Arc<SubBatchLimits> {
        &self.limits
    }

    /// The audit sink events go to.
    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// The sink rows go to.
    pub fn sink(&self) -> &Arc<dyn BatchSink> {
        &self.sink
    }

    /// Writes `batch` as sub-batches, in order, each in its own audit context inside the
    /// batch's context (itself inside `parent`, usually the file's).
    ///
    /// # Errors
    ///
    /// [`Error::Sink`] when a sub-batch fails for good; it says how many rows of the batch
    /// were committed before it. [`Error::Audit`] when the trail cannot be written.
    pub async fn process(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        parent: Option<ContextId>,
    ) -> Result<BatchOutcome> {
        self.process_inner(target, batch, parent, None).await
    }

    /// Writes `batch` as [`process`](Self::process) does, but sets aside the rows the
    /// database refuses ([`SinkErrorKind::Data`]) rather than failing: a refused sub-batch
    /// is written again in parts (split at the row the sink named, else in halves) until
    /// each refused row stands alone and is refused alone; that row is then quarantined
    /// ([`RejectKind::Refused`](crate::RejectKind::Refused)) in a write of its own, which
    /// also records its byte range in the ledger, so the rows around it load exactly once.
    /// Every step is in the audit trail.
    ///
    /// At most `allowed` rows are set aside; the next refused row fails the batch as
    /// [`process`](Self::process) would, after the rows before it are committed, with the
    /// error naming it ([`SinkError::row`]). So does a run of 1000 rows refused one after
    /// another with none stored between them, but with a terminal error: then the table
    /// refuses everything, and setting each row aside alone would take hours.
    ///
    /// # Errors
    ///
    /// As [`process`](Self::process).
    pub async fn process_quarantining(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        parent: Option<ContextId>,
        allowed: u64,
    ) -> Result<BatchOutcome> {
        let refusals = Arc::new(Refusals::new(allowed));
        self.process_inner(target, batch, parent, Some(&refusals))
            .await
    }

    async fn process_inner(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        parent: Option<ContextId>,
        refusals: Option<&Arc<Refusals>>,
    ) -> Result<BatchOutcome> {
        let all = 0..batch.len();
        let mut template = self.template(Scope::Batch, target, batch, all.clone());
        template.parent = parent;
        let scope = AuditScope::start(Arc::clone(&self.audit), template).await?;
        let mut ranges = split_rows(batch, self.limits.rows(), self.limits.bytes());
        if ranges.is_empty() && !batch.rejects().is_empty() {
            // Rejects alone still make a write: they are quarantined and their range recorded.
            ranges.push(0..0);
        }
        if ranges.len() > 1 {
            let split = scope.event(EventKind::Split).with_reason(format!(
                "{} sub-batches of at most {} rows and {} bytes",
                ranges.len(),
                self.limits.rows(),
                self.limits.bytes()
            ));
            scope.note(split).await?;
        }
        let mut outcome = BatchOutcome::default();
        // Each sub-batch waits for the one before it to commit (when there are streams to
        // overlap them); results come back in order, so a failure is met after every
        // sub-batch before it has been counted, and dropping the rest rolls them back.
        let mut previous = PreviousWrite::none();
        let parent = scope.id();
        let batch_scope = &scope;
        let writes = ranges.into_iter().map(|rows| {
            let (done, next) = PreviousWrite::chain();
            let previous = (self.streams > 1).then(|| std::mem::replace(&mut previous, next));
            async move {
                let written = self
                    .write_sub_batch(target, batch, rows.clone(), parent, previous.clone())
                    .await;
                let result = match (written, refusals) {
                    (Ok(retries), refusals) => {
                        if let Some(refusals) = refusals
                            && !rows.is_empty()
                        {
                            refusals.stored();
                        }
                        Ok(Written {
                            retries,
                            ..Written::default()
                        })
                    }
                    (Err(SubBatchFailure::Sink(refusal)), Some(refusals))
                        if refusal.kind == SinkErrorKind::Data =>
                    {
                        let part = refused::Part {
                            target,
                            batch,
                            parent,
                            previous,
                            scope: batch_scope,
                            refusals,
                        };
                        self.set_aside_refused(&part, rows.clone(), refusal).await
                    }
                    (Err(failure), _) => Err(Failed {
                        failure,
                        written: Written::default(),
                        handled: rows.start,
                    }),
                };
                if result.is_ok() {
                    done.committed();
                }
                (rows, result)
            }
        });
        let mut writes = futures_util::stream::iter(writes).buffered(self.streams);
        while let Some((rows, result)) = writes.next().await {
            match result {
                Ok(written) => outcome.count(batch, rows, written),
                Err(Failed {
                    failure,
                    written,
                    handled,
                }) => {
                    drop(writes);
                    // Parts of the sub-batch may have committed before it failed.
                    if handled > rows.start {
                        outcome.count(batch, rows.start..handled, written);
                    }
                    let source = match failure {
                        SubBatchFailure::Audit(e) => return Err(e.into()),
                        SubBatchFailure::Sink(source) => source,
                    };
                    let reason = format!("rows {}..{}: {source}", rows.start, rows.end);
                    // The sink error is what the caller must see; a failure to record it
                    // must not replace it.
                    let _ = scope.fail(reason).await;
                    return Err(Error::Sink {
                        batch: batch.sequence(),
                        table: target.table.clone(),
                        rows,
                        committed_rows: handled,
                        refused: outcome.refused.into_boxed_slice(),
                        source: Box::new(source),
                    });
                }
            }
        }
        drop(writes);
        scope.commit(outcome.rows, outcome.bytes).await?;
        Ok(outcome)
    }

    async fn write_sub_batch(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        parent: ContextId,
        previous: Option<PreviousWrite>,
    ) -> Result<u32, SubBatchFailure> {
        let mut template = self.template(Scope::SubBatch, target, batch, rows.clone());
        template.parent = Some(parent);
        let scope = AuditScope::start(Arc::clone(&self.audit), template).await?;
        let first_attempt = Instant::now();
        let mut attempt = 1;
        loop {
            // Both are the same boxed future type (async-trait), caught alike below.
            let write = match &previous {
                Some(previous) => {
                    self.sink
                        .write_after(target, batch, rows.clone(), previous.clone())
                }
                None => self.sink.write(target, batch, rows.clone()),
            };
            let result = match AssertUnwindSafe(write).catch_unwind().await {
                Ok(Ok(written)) if written == rows.len() as u64 => Ok(written),
                Ok(Ok(written)) => Err(SinkError::terminal(format!(
                    "sink reported {written} rows written for a sub-batch of {}",
                    rows.len()
                ))),
                Ok(Err(e)) => Err(e),
                Err(panic) => Err(SinkError::new(
                    SinkErrorKind::Panicked,
                    format!("sink panicked: {}", panic_message(&*panic)),
                )),
            };
            match result {
                Ok(written) => {
                    metrics::histogram!("loader_sub_batch_seconds")
                        .record(first_attempt.elapsed().as_secs_f64());
                    let bytes = batch.data_bytes(rows.clone()) as u64;
                    match quarantine_note(batch, rows) {
                        Some(note) => scope.commit_with_note(written, bytes, note).await?,
                        None => scope.commit(written, bytes).await?,
                    }
                    return Ok(attempt - 1);
                }
                Err(e)
                    if e.is_transient()
                        && attempt < self.retry.max_attempts
                        && first_attempt.elapsed() < self.retry.deadline =>
                {
                    metrics::counter!("loader_retries_total").increment(1);
                    tracing::warn!(table = %target.table, attempt, "retrying a sub-batch: {e}");
                    let mut retried = scope.event(EventKind::Retried).with_reason(e.to_string());
                    retried.attempt = Some(attempt + 1);
                    scope.note(retried).await?;
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    let _ = scope.fail(e.to_string()).await;
                    return Err(SubBatchFailure::Sink(e));
                }
            }
        }
    }

    fn template(
        &self,
        scope: Scope,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> AuditEvent {
        let mut event = AuditEvent::new(scope, EventKind::Started, ContextId::next());
        event.file = Some(target.source.display().to_string());
        event.table = Some(target.table.clone());
        event.batch = Some(batch.sequence());
        event.rows = Some(rows.len() as u64);
        event.bytes = Some(batch.data_bytes(rows.clone()) as u64);
        let lines = batch.line_range(rows.clone());
        event.lines = Some([lines.start, lines.end]);
        let bytes = batch.byte_range(rows);
        event.byte_range = Some([bytes.start, bytes.end]);
        event
    }
}

impl BatchOutcome {
    /// Adds rows `rows` of `batch`, committed as `written` says.
    fn count(&mut self, batch: &RowBatch, rows: Range<usize>, written: Written) {
        let refused = written.refused.len() as u64;
        self.rows += rows.len() as u64 - refused;
        self.rejected += batch.rejects_in(rows.clone()).len() as u64 + refused;
        self.bytes += batch.data_bytes(rows) as u64 - written.refused_bytes;
        self.sub_batches += 1;
        self.retries += written.retries;
        self.refused.extend(written.refused);
    }
}

/// What the audit trail says about the rejects committed with a sub-batch.
fn quarantine_note(batch: &RowBatch, rows: Range<usize>) -> Option<String> {
    let rejects = batch.rejects_in(rows);
    let first = rejects.first()?;
    let lines = refused::some_lines(rejects.iter().map(|r| r.line));
    Some(format!(
        "quarantined {} rejected row(s), line(s) {}; first: {}",
        rejects.len(),
        lines,
        first.message
    ))
}

pub(crate) enum SubBatchFailure {
    Sink(SinkError),
    Audit(crate::AuditError),
}

impl From<crate::AuditError> for SubBatchFailure {
    fn from(e: crate::AuditError) -> Self {
        SubBatchFailure::Audit(e)
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}

mod refused;
use refused::{Failed, Refusals, Written};

#[cfg(test)]
mod tests;
