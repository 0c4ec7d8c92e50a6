use crate::AuditError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Identifies one audit context (a run, a file, a batch, a sub-batch) within a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContextId(pub u64);

impl ContextId {
    /// A fresh id, unique within this process.
    pub fn next() -> ContextId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ContextId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What an audit context covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scope {
    /// A whole run of the loader.
    Run,
    /// One input file.
    File,
    /// One batch read from a file.
    Batch,
    /// One sub-batch written in one transaction.
    SubBatch,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The context began.
    Started,
    /// The context's rows are durably stored.
    Committed,
    /// The context ended without storing its rows; `reason` says why.
    Failed,
    /// A transient failure is being retried; `attempt` counts.
    Retried,
    /// A batch was cut into sub-batches; `rows` is the batch's, `reason` gives the count.
    Split,
    /// Work moved from the concurrent pool to sequential processing.
    FellBack,
    /// Memory pressure changed.
    Pressure,
    /// Work was skipped (already loaded, or nothing to do).
    Skipped,
    /// A periodic memory reading (twice a second while a run goes on): `memory` holds
    /// the figures, `reason` the pressure level.
    Sampled,
}

/// Memory figures at one moment of a run, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryFigures {
    /// Usage counted against the effective limit (resident set, or the cgroup's working set).
    pub used: u64,
    /// Budget bytes reserved by batches in flight.
    pub reserved: u64,
    /// The row budget (shrunk under pressure).
    pub budget: u64,
    /// The effective memory limit.
    pub limit: u64,
}

/// One audit event. Fields that do not apply are absent from the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When, in RFC 3339 with milliseconds, UTC.
    pub at: String,
    /// The run, once the event has passed a [`RunTagged`] sink: joins the trail to the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// What the context covers.
    pub scope: Scope,
    /// The context this event belongs to.
    pub context: ContextId,
    /// The enclosing context, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ContextId>,
    /// What happened.
    pub kind: EventKind,
    /// Source file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Target table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Batch sequence number within the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
    /// Rows concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Field bytes concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Source lines `[first, after last)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<[u64; 2]>,
    /// Source byte range `[start, end)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_range: Option<[u64; 2]>,
    /// How long the context took, for events that end one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Attempt number, for retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Why: the error, the pressure reading, the reason for a fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Memory figures, on `sampled` and `pressure` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryFigures>,
}

impl AuditEvent {
    /// An event of `kind` in context `context`, stamped now.
    pub fn new(scope: Scope, kind: EventKind, context: ContextId) -> Self {
        AuditEvent {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            run: None,
            scope,
            context,
            parent: None,
            kind,
            file: None,
            table: None,
            batch: None,
            rows: None,
            bytes: None,
            lines: None,
            byte_range: None,
            duration_ms: None,
            attempt: None,
            reason: None,
            memory: None,
        }
    }

    /// Sets the reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// Receives audit events. Implementations must be cheap per event: they are called twice
/// per sub-batch.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Records one event.
    ///
    /// # Errors
    ///
    /// An [`AuditError`] when the event could not be stored.
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError>;

    /// Records several events, in order. A sink that pays per write (a database
    /// transaction) stores them in one; the default records them one by one.
    ///
    /// # Errors
    ///
    /// An [`AuditError`] when the events could not be stored; some may have been.
    async fn record_many(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        for event in events {
            self.record(event).await?;
        }
        Ok(())
    }
}

/// Writes events as JSON lines, one `write` per event so that a crash leaves whole lines.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use loader_batch::{AuditEvent, AuditSink, ContextId, EventKind, JsonlAudit, Scope};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("audit.jsonl");
/// let audit = JsonlAudit::create(&path).unwrap();
/// audit.record(&AuditEvent::new(Scope::Run, EventKind::Started, ContextId::next())).await.unwrap();
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert!(text.ends_with("\n") && text.contains("\"kind\":\"started\""));
/// # });
/// ```
#[derive(Debug)]
pub struct JsonlAudit {
    path: PathBuf,
    file: Mutex<File>,
}

impl JsonlAudit {
    /// Appends to `path`, creating it when missing.
    ///
    /// # Errors
    ///
    /// An [`AuditError`] when the file cannot be opened.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| AuditError {
                target: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(JsonlAudit {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl AuditSink for JsonlAudit {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let fail = |message: String| AuditError {
            target: self.path.display().to_string(),
            message,
        };
        let mut line = serde_json::to_vec(event).map_err(|e| fail(e.to_string()))?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line).map_err(|e| fail(e.to_string()))
    }
}

/// Keeps events in memory, for tests and for reports built at the end of a run.
#[derive(Debug, Default)]
pub struct InMemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl InMemoryAudit {
    /// An empty trail.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl AuditSink for InMemoryAudit {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        Ok(())
    }
}

/// Discards events.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullAudit;

#[async_trait]
impl AuditSink for NullAudit {
    async fn record(&self, _event: &AuditEvent) -> Result<(), AuditError> {
        Ok(())
    }
}

/// Stamps every event with a run id, then passes it on.
#[derive(Clone)]
pub struct RunTagged {
    run_id: String,
    inner: Arc<dyn AuditSink>,
}

impl RunTagged {
    /// Tags events for `inner` with `run_id`.
    pub fn new(run_id: impl Into<String>, inner: Arc<dyn AuditSink>) -> Self {
        RunTagged {
            run_id: run_id.into(),
            inner,
        }
    }
}

#[async_trait]
impl AuditSink for RunTagged {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut event = event.clone();
        event.run = Some(self.run_id.clone());
        self.inner.record(&event).await
    }

    async fn record_many(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        let tagged: Vec<AuditEvent> = events
            .iter()
            .map(|event| AuditEvent {
                run: Some(self.run_id.clone()),
                ..event.clone()
            })
            .collect();
        self.inner.record_many(&tagged).await
    }
}

/// Sends every event to several sinks, in order; the first error wins.
#[derive(Default, Clone)]
pub struct TeeAudit(pub Vec<Arc<dyn AuditSink>>);

#[async_trait]
impl AuditSink for TeeAudit {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        for sink in &self.0 {
            sink.record(event).await?;
        }
        Ok(())
    }

    async fn record_many(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        for sink in &self.0 {
            sink.record_many(events).await?;
        }
        Ok(())
    }
}

/// An audit context that records `started` when opened and exactly one of `committed` or
/// `failed` when it ends.
///
/// If the scope is dropped without being ended (its future was cancelled, or code between
/// start and end panicked), the drop records `failed` with reason `abandoned` on the current
/// tokio runtime, so the trail never holds a context that started and never ended.
pub struct AuditScope {
    sink: Arc<dyn AuditSink>,
    template: AuditEvent,
    started: Instant,
    ended: bool,
}

impl std::fmt::Debug for AuditScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditScope")
            .field("context", &self.template.context)
            .field("scope", &self.template.scope)
            .finish()
    }
}

impl AuditScope {
    /// Opens a context described by `template` (its kind and time are replaced) and records
    /// `started`.
    ///
    /// # Errors
    ///
    /// The sink's [`AuditError`]; the context is then not open.
    pub async fn start(sink: Arc<dyn AuditSink>, template: AuditEvent) -> Result<Self, AuditError> {
        let scope = AuditScope {
            sink,
            template,
            started: Instant::now(),
            ended: false,
        };
        let started = scope.event(EventKind::Started);
        match scope.sink.record(&started).await {
            Ok(()) => Ok(scope),
            Err(e) => {
                // Never opened, so nothing to end.
                let mut scope = scope;
                scope.ended = true;
                Err(e)
            }
        }
    }

    /// This context's id.
    pub fn id(&self) -> ContextId {
        self.template.context
    }

    /// A fresh event of `kind` carrying this context's fields.
    pub fn event(&self, kind: EventKind) -> AuditEvent {
        let mut event = self.template.clone();
        event.kind = kind;
        event.at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        event
    }

    /// Records an event inside the context (a retry, a split) without ending it.
    ///
    /// # Errors
    ///
    /// The sink's [`AuditError`].
    pub async fn note(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.sink.record(&event).await
    }

    /// Ends the context as committed, with the rows and bytes stored.
    ///
    /// # Errors
    ///
    /// The sink's [`AuditError`].
    pub async fn commit(self, rows: u64, bytes: u64) -> Result<(), AuditError> {
        self.end(EventKind::Committed, Some((rows, bytes)), None)
            .await
    }

    /// Ends the context as committed, with the rows and bytes stored and a note (figures a
    /// reader of the trail will want, such as memory estimated and measured).
    ///
    /// # Errors
    ///
    /// The sink's [`AuditError`].
    pub async fn commit_with_note(
        self,
        rows: u64,
        bytes: u64,
        note: impl Into<String>,
    ) -> Result<(), AuditError> {
        self.end(EventKind::Committed, Some((rows, bytes)), Some(note.into()))
            .await
    }

    /// Ends the context as failed, with the reason.
    ///
    /// # Errors
    ///
    /// The sink's [`AuditError`].
    pub async fn fail(self, reason: impl Into<String>) -> Result<(), AuditError> {
        self.end(EventKind::Failed, None, Some(reason.into())).await
    }

    async fn end(
        mut self,
        kind: EventKind,
        counts: Option<(u64, u64)>,
        reason: Option<String>,
    ) -> Result<(), AuditError> {
        self.ended = true;
        let mut event = self.event(kind);
        if let Some((rows, bytes)) = counts {
            event.rows = Some(rows);
            event.bytes = Some(bytes);
        }
        event.reason = reason.or(event.reason);
        event.duration_ms = Some(self.started.elapsed().as_secs_f64() * 1e3);
        self.sink.record(&event).await
    }
}

impl Drop for AuditScope {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut event = self.event(EventKind::Failed);
        event.reason = Some("abandoned: the context was dropped before it ended".into());
        event.duration_ms = Some(self.started.elapsed().as_secs_f64() * 1e3);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let sink = Arc::clone(&self.sink);
            // The result has nowhere to go from a destructor; the record is best effort.
            handle.spawn(async move { sink.record(&event).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> AuditEvent {
        let mut event = AuditEvent::new(Scope::Batch, EventKind::Started, ContextId::next());
        event.file = Some("a.csv".into());
        event
    }

    #[tokio::test]
    async fn dropped_scope_records_failed() {
        let audit = Arc::new(InMemoryAudit::new());
        let scope = AuditScope::start(audit.clone(), template()).await.unwrap();
        drop(scope);
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        let kinds: Vec<_> = audit.events().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Started, EventKind::Failed]);
        assert!(
            audit.events()[1]
                .reason
                .as_deref()
                .unwrap()
                .contains("abandoned")
        );
    }

    #[tokio::test]
    async fn jsonl_lines_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let audit: Arc<dyn AuditSink> = Arc::new(JsonlAudit::create(&path).unwrap());
        let scope = AuditScope::start(audit, template()).await.unwrap();
        scope.commit(10, 200).await.unwrap();
        let events: Vec<AuditEvent> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].kind, EventKind::Committed);
        assert_eq!(events[1].rows, Some(10));
        assert_eq!(events[0].context, events[1].context);
        assert_eq!(events[1].file.as_deref(), Some("a.csv"));
    }
}
