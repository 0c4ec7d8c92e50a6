//! Audit events delivered to a slow sink in groups, off the caller's path.
//!
//! A database audit table pays a transaction, and so a commit and a flush of the server's
//! log, for each event it stores alone. A load records two events per sub-batch, two per
//! batch and two per file, so a directory of small files spent a third of its time committing its trail
//! (200 files of 20 rows into PostgreSQL: 0.47 s with the table, 0.34 s without).
//! [`BufferedAudit`] hands events to a task that writes them with
//! [`AuditSink::record_many`], up to [`DEFAULT_GROUP_EVENTS`] at a time and at most
//! [`DEFAULT_GROUP_DELAY`] after the first of them was recorded.

use crate::{AuditError, AuditEvent, AuditSink};
use async_trait::async_trait;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most events written in one group (one transaction of a database trail).
pub const DEFAULT_GROUP_EVENTS: usize = 256;

/// Longest an event waits for the rest of its group: what a person watching the trail of a
/// running load waits at most to see it.
pub const DEFAULT_GROUP_DELAY: Duration = Duration::from_millis(100);

// Events are nearly every message: boxing them would allocate per event to shrink a rare
// flush request.
#[allow(clippy::large_enum_variant)]
enum Message {
    Event(AuditEvent),
    Flush(oneshot::Sender<Result<(), AuditError>>),
}

/// An [`AuditSink`] that passes events on to `inner` in groups, written by a task of the
/// current tokio runtime (spawned at the first event).
///
/// [`record`](AuditSink::record) returns once the event is queued, so a failure of `inner`
/// shows on a later call: every `record` and [`flush`](BufferedAudit::flush) after a group
/// failed returns that group's error. Events still queued when the process dies are lost:
/// those of its last [`DEFAULT_GROUP_DELAY`] or so. The exactly-once ledger does not depend
/// on the trail. Call [`flush`](BufferedAudit::flush) before reading the trail back or exiting.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use loader_batch::{AuditEvent, AuditSink, BufferedAudit, ContextId, EventKind, InMemoryAudit, Scope};
/// use std::sync::Arc;
/// let table = Arc::new(InMemoryAudit::new());
/// let audit = BufferedAudit::new(table.clone());
/// audit.record(&AuditEvent::new(Scope::Run, EventKind::Started, ContextId::next())).await.unwrap();
/// audit.flush().await.unwrap();
/// assert_eq!(table.events().len(), 1);
/// # });
/// ```
pub struct BufferedAudit {
    inner: Arc<dyn AuditSink>,
    group_events: usize,
    group_delay: Duration,
    queue: OnceLock<mpsc::Sender<Message>>,
    failure: Arc<Mutex<Option<AuditError>>>,
}

impl std::fmt::Debug for BufferedAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedAudit")
            .field("group_events", &self.group_events)
            .field("group_delay", &self.group_delay)
            .finish_non_exhaustive()
    }
}

impl BufferedAudit {
    /// Groups events for `inner` with the default group size and delay.
    pub fn new(inner: Arc<dyn AuditSink>) -> Self {
        Self::with_groups(inner, DEFAULT_GROUP_EVENTS, DEFAULT_GROUP_DELAY)
    }

    /// Groups of at most `events` events (at least 1), written at most `delay` after their
    /// first event was recorded.
    pub fn with_groups(inner: Arc<dyn AuditSink>, events: usize, delay: Duration) -> Self {
        BufferedAudit {
            inner,
            group_events: events.max(1),
            group_delay: delay,
            queue: OnceLock::new(),
            failure: Arc::new(Mutex::new(None)),
        }
    }

    /// Waits until every event recorded so far is written.
    ///
    /// # Errors
    ///
    /// The error of the first group `inner` failed to write, if any did.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let Some(queue) = self.queue.get() else {
            return self.failed();
        };
        let (reply, written) = oneshot::channel();
        if queue.send(Message::Flush(reply)).await.is_err() {
            return Err(self.writer_gone());
        }
        written.await.unwrap_or_else(|_| Err(self.writer_gone()))
    }

    fn failed(&self) -> Result<(), AuditError> {
        match &*self.failure.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    fn writer_gone(&self) -> AuditError {
        self.failed().err().unwrap_or_else(|| AuditError {
            target: "audit trail".into(),
            message: "the task writing it stopped".into(),
        })
    }

    /// The writer's queue, the writer started on the current runtime at the first call.
    fn queue(&self) -> Result<&mpsc::Sender<Message>, AuditError> {
        if let Some(queue) = self.queue.get() {
            return Ok(queue);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AuditError {
            target: "audit trail".into(),
            message: "grouped events need a tokio runtime to write them".into(),
        })?;
        Ok(self.queue.get_or_init(|| {
            // Room for a few groups: a slower trail holds the load back instead of letting
            // events pile up in memory.
            let (queue, events) = mpsc::channel(self.group_events.saturating_mul(4));
            runtime.spawn(write_groups(
                Arc::clone(&self.inner),
                events,
                self.group_events,
                self.group_delay,
                Arc::clone(&self.failure),
            ));
            queue
        }))
    }
}

#[async_trait]
impl AuditSink for BufferedAudit {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.failed()?;
        self.queue()?
            .send(Message::Event(event.clone()))
            .await
            .map_err(|_| self.writer_gone())
    }
}

/// The writer: takes the first event, waits up to `delay` for more (or until a flush is
/// asked for), writes them as one group, and keeps the first failure for the callers.
async fn write_groups(
    inner: Arc<dyn AuditSink>,
    mut queue: mpsc::Receiver<Message>,
    group_events: usize,
    delay: Duration,
    failure: Arc<Mutex<Option<AuditError>>>,
) {
    let mut group = Vec::with_capacity(group_events);
    while let Some(first) = queue.recv().await {
        let mut flush = None;
        match first {
            Message::Event(event) => group.push(event),
            Message::Flush(reply) => flush = Some(reply),
        }
        let deadline = tokio::time::Instant::now() + delay;
        while flush.is_none() && group.len() < group_events {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(Message::Event(event))) => group.push(event),
                Ok(Some(Message::Flush(reply))) => flush = Some(reply),
                // The delay is up, or every sender is gone: write what there is.
                Ok(None) | Err(_) => break,
            }
        }
        if !group.is_empty() {
            let written = inner.record_many(&group).await;
            group.clear();
            if let Err(error) = written {
                let mut first = failure.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert(error);
            }
        }
        if let Some(reply) = flush {
            let state = failure.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // The caller may have stopped waiting; nothing is lost by that.
            let _ = reply.send(state.map_or(Ok(()), Err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContextId, EventKind, InMemoryAudit, Scope};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts the groups it is given and keeps their events; fails from group `fail_from`.
    #[derive(Default)]
    struct Groups {
        kept: InMemoryAudit,
        groups: AtomicUsize,
        fail_from: Option<usize>,
    }

    #[async_trait]
    impl AuditSink for Groups {
        async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
            self.record_many(std::slice::from_ref(event)).await
        }

        async fn record_many(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
            let group = self.groups.fetch_add(1, Ordering::SeqCst);
            if self.fail_from.is_some_and(|from| group >= from) {
                return Err(AuditError {
                    target: "test table".into(),
                    message: format!("group {group} refused"),
                });
            }
            for event in events {
                self.kept.record(event).await?;
            }
            Ok(())
        }
    }

    fn event(batch: u64) -> AuditEvent {
        let mut event = AuditEvent::new(Scope::SubBatch, EventKind::Committed, ContextId::next());
        event.batch = Some(batch);
        event
    }

    #[tokio::test]
    async fn events_arrive_in_order_and_in_few_groups() {
        let table = Arc::new(Groups::default());
        let audit = BufferedAudit::with_groups(table.clone(), 100, Duration::from_secs(60));
        for batch in 0..1_000 {
            audit.record(&event(batch)).await.unwrap();
        }
        audit.flush().await.unwrap();
        let batches: Vec<u64> = table
            .kept
            .events()
            .iter()
            .map(|e| e.batch.unwrap())
            .collect();
        assert_eq!(batches, (0..1_000).collect::<Vec<_>>());
        // Full groups of 100; the flush may cut one short.
        let groups = table.groups.load(Ordering::SeqCst);
        assert!((10..=11).contains(&groups), "{groups} groups");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_event_is_written_after_the_delay_without_a_flush() {
        let table = Arc::new(Groups::default());
        let audit = BufferedAudit::with_groups(table.clone(), 100, Duration::from_millis(100));
        audit.record(&event(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(table.kept.events().is_empty(), "written before the delay");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(table.kept.events().len(), 1);
        assert_eq!(table.groups.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_group_fails_the_next_record_and_every_flush() {
        let table = Arc::new(Groups {
            fail_from: Some(1),
            ..Groups::default()
        });
        let audit = BufferedAudit::with_groups(table.clone(), 10, Duration::from_secs(60));
        audit.record(&event(0)).await.unwrap();
        audit.flush().await.unwrap();
        audit.record(&event(1)).await.unwrap();
        let error = audit.flush().await.unwrap_err();
        assert!(error.message.contains("group 1 refused"), "{error}");
        assert!(audit.record(&event(2)).await.is_err());
        assert!(audit.flush().await.is_err());
        assert_eq!(table.kept.events().len(), 1);
    }

    #[tokio::test]
    async fn dropping_the_audit_still_writes_what_it_holds() {
        let table = Arc::new(Groups::default());
        let audit = BufferedAudit::with_groups(table.clone(), 100, Duration::from_secs(60));
        for batch in 0..5 {
            audit.record(&event(batch)).await.unwrap();
        }
        drop(audit);
        for _ in 0..100 {
            if table.kept.events().len() == 5 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} of 5 events written", table.kept.events().len());
    }

    #[test]
    fn outside_a_tokio_runtime_recording_is_an_error_not_a_panic() {
        let audit = BufferedAudit::new(Arc::new(InMemoryAudit::new()));
        let recorded = futures_util::FutureExt::now_or_never(audit.record(&event(1)));
        let error = recorded.expect("ready at once").unwrap_err();
        assert!(error.message.contains("tokio runtime"), "{error}");
    }

    #[tokio::test]
    async fn a_flush_with_nothing_recorded_returns_at_once() {
        let audit = BufferedAudit::new(Arc::new(InMemoryAudit::new()));
        audit.flush().await.unwrap();
    }
}
