use super::*;
use crate::{ColumnType, InMemoryAudit, MockBatchSink, Schema};
use mockall::Sequence;

fn target() -> LoadTarget {
    LoadTarget {
        table: "t".into(),
        schema: Arc::new(Schema::from_pairs([("c", ColumnType::Text)])),
        source: "input.csv".into(),
        ledger: None,
        upsert_key: None,
    }
}

fn batch_of(rows: usize) -> RowBatch {
    let mut batch = RowBatch::new(1, 7);
    for i in 0..rows {
        batch
            .push_row(i as u64 + 2, i as u64 * 4, [&b"abc"[..]])
            .unwrap();
    }
    batch.set_end(rows as u64 + 2, rows as u64 * 4);
    batch
}

fn kinds(audit: &InMemoryAudit) -> Vec<(Scope, EventKind)> {
    audit.events().iter().map(|e| (e.scope, e.kind)).collect()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

#[tokio::test]
async fn sink_failing_mid_batch_stops_there_and_audits_every_context() {
    let mut sink = MockBatchSink::new();
    let mut order = Sequence::new();
    sink.expect_write()
        .withf(|_, _, rows| *rows == (0..4))
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, rows| Ok(rows.len() as u64));
    sink.expect_write()
        .withf(|_, _, rows| *rows == (4..8))
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, _| Err(SinkError::terminal("disk full")));
    let audit = Arc::new(InMemoryAudit::new());
    let processor = BatchProcessor::new(Arc::new(sink), audit.clone())
        .with_limits(Arc::new(SubBatchLimits::new(4, 1 << 20)));

    let err = processor
        .process(&target(), &batch_of(10), None)
        .await
        .unwrap_err();
    let Error::Sink {
        rows,
        committed_rows,
        source,
        batch,
        ..
    } = err
    else {
        panic!("expected a sink error, got {err}");
    };
    assert_eq!((rows, committed_rows, batch), (4..8, 4, 7));
    assert_eq!(source.kind, SinkErrorKind::Terminal);

    use EventKind::*;
    use Scope::*;
    assert_eq!(
        kinds(&audit),
        [
            (Batch, Started),
            (Batch, Split),
            (SubBatch, Started),
            (SubBatch, Committed),
            (SubBatch, Started),
            (SubBatch, Failed),
            (Batch, Failed),
        ]
    );
    let events = audit.events();
    assert_eq!(events[5].reason.as_deref(), Some("disk full"));
    assert_eq!(events[2].parent, Some(events[0].context));
    assert_eq!(events[3].rows, Some(4));
    assert_eq!(events[3].lines, Some([2, 6]));
    assert!(events[3].duration_ms.is_some());
}

#[tokio::test]
async fn sink_panic_is_caught_and_audited_as_failed() {
    let mut sink = MockBatchSink::new();
    sink.expect_write()
        .times(1)
        .returning(|_, _, _| panic!("boom in sink"));
    let audit = Arc::new(InMemoryAudit::new());
    let processor = BatchProcessor::new(Arc::new(sink), audit.clone());

    let err = processor
        .process(&target(), &batch_of(3), None)
        .await
        .unwrap_err();
    let Error::Sink {
        source,
        committed_rows,
        ..
    } = err
    else {
        panic!("expected a sink error");
    };
    assert_eq!(source.kind, SinkErrorKind::Panicked);
    assert!(source.message.contains("boom in sink"));
    assert_eq!(committed_rows, 0);
    let last = audit.events().pop().unwrap();
    assert_eq!((last.scope, last.kind), (Scope::Batch, EventKind::Failed));
}

#[tokio::test]
async fn transient_errors_are_retried_then_committed() {
    let mut sink = MockBatchSink::new();
    let mut order = Sequence::new();
    sink.expect_write()
        .times(2)
        .in_sequence(&mut order)
        .returning(|_, _, _| Err(SinkError::transient("database is locked")));
    sink.expect_write()
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _, rows| Ok(rows.len() as u64));
    let audit = Arc::new(InMemoryAudit::new());
    let processor = BatchProcessor::new(Arc::new(sink), audit.clone()).with_retry(fast_retry());

    let outcome = processor
        .process(&target(), &batch_of(5), None)
        .await
        .unwrap();
    assert_eq!(
        (outcome.rows, outcome.retries, outcome.sub_batches),
        (5, 2, 1)
    );
    let retries: Vec<_> = audit
        .events()
        .into_iter()
        .filter(|e| e.kind == EventKind::Retried)
        .map(|e| e.attempt)
        .collect();
    assert_eq!(retries, [Some(2), Some(3)]);
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let mut sink = MockBatchSink::new();
    sink.expect_write()
        .times(3)
        .returning(|_, _, _| Err(SinkError::transient("reset")));
    let processor = BatchProcessor::new(Arc::new(sink), Arc::new(InMemoryAudit::new())).with_retry(
        RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        },
    );
    assert!(
        processor
            .process(&target(), &batch_of(1), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn short_write_is_refused() {
    let mut sink = MockBatchSink::new();
    sink.expect_write()
        .returning(|_, _, rows| Ok(rows.len() as u64 - 1));
    let processor = BatchProcessor::new(Arc::new(sink), Arc::new(InMemoryAudit::new()));
    let err = processor
        .process(&target(), &batch_of(2), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("1 rows written for a sub-batch of 2"),
        "{err}"
    );
}

mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Sub-batches partition a batch exactly and in order, and respect both limits
        /// (a single oversized row stands alone).
        #[test]
        fn sub_batches_partition_the_batch(
            widths in proptest::collection::vec(0usize..50, 0..300),
            max_rows in 1usize..40,
            max_bytes in 1usize..200,
        ) {
            let mut batch = RowBatch::new(2, 0);
            for (i, width) in widths.iter().enumerate() {
                let field = vec![b'x'; *width];
                batch.push_row(i as u64, 0, [&field[..], b""]).unwrap();
            }
            let ranges = split_rows(&batch, max_rows, max_bytes);
            let mut next = 0;
            for range in &ranges {
                prop_assert_eq!(range.start, next);
                prop_assert!(range.end > range.start);
                prop_assert!(range.len() <= max_rows);
                prop_assert!(range.len() == 1 || batch.data_bytes(range.clone()) <= max_bytes);
                next = range.end;
            }
            prop_assert_eq!(next, widths.len());
        }
    }
}

/// A processor over `sink` with sub-batches of 4 rows, writing `streams` at once.
fn on_streams(sink: Arc<dyn BatchSink>, streams: usize) -> BatchProcessor {
    BatchProcessor::new(sink, Arc::new(InMemoryAudit::new()))
        .with_limits(Arc::new(SubBatchLimits::new(4, 1 << 20)))
        .with_streams(streams)
}

/// A write's work: later sub-batches finish theirs sooner, so only the order of commits
/// can keep them in line.
async fn work_on(rows: &Range<usize>) {
    tokio::time::sleep(Duration::from_millis(30 - 2 * rows.start as u64)).await;
}

/// A sink whose writes overlap: each records when its work starts, works a while (so the
/// next write starts meanwhile), waits for the write before it, then commits or fails.
#[derive(Default)]
struct OverlappingSink {
    events: std::sync::Mutex<Vec<(&'static str, usize)>>,
    fail_at: Option<usize>,
}

#[async_trait::async_trait]
impl BatchSink for OverlappingSink {
    async fn prepare(&self, _: &LoadTarget) -> std::result::Result<(), SinkError> {
        Ok(())
    }

    async fn write(
        &self,
        _: &LoadTarget,
        _: &RowBatch,
        _: Range<usize>,
    ) -> std::result::Result<u64, SinkError> {
        panic!("with streams, every write goes through write_after");
    }

    async fn write_after(
        &self,
        _: &LoadTarget,
        _: &RowBatch,
        rows: Range<usize>,
        previous: PreviousWrite,
    ) -> std::result::Result<u64, SinkError> {
        self.events.lock().unwrap().push(("work", rows.start));
        work_on(&rows).await;
        previous.committed().await?;
        if self.fail_at == Some(rows.start) {
            return Err(SinkError::terminal("disk full"));
        }
        self.events.lock().unwrap().push(("commit", rows.start));
        Ok(rows.len() as u64)
    }
}

impl OverlappingSink {
    fn events(&self) -> Vec<(&'static str, usize)> {
        self.events.lock().unwrap().clone()
    }
}

fn commits(events: &[(&'static str, usize)]) -> Vec<usize> {
    events
        .iter()
        .filter(|(what, _)| *what == "commit")
        .map(|(_, start)| *start)
        .collect()
}

#[tokio::test]
async fn streams_overlap_the_work_of_sub_batches_and_commit_them_in_order() {
    let sink = Arc::new(OverlappingSink::default());
    let processor = on_streams(sink.clone(), 2);

    let outcome = processor
        .process(&target(), &batch_of(14), None)
        .await
        .unwrap();
    assert_eq!((outcome.rows, outcome.sub_batches), (14, 4));
    let events = sink.events();
    assert_eq!(commits(&events), [0, 4, 8, 12], "{events:?}");
    // The second sub-batch's work started before the first committed...
    let at = |event: (&'static str, usize)| events.iter().position(|e| *e == event).unwrap();
    assert!(at(("work", 4)) < at(("commit", 0)), "{events:?}");
    // ...and never more than two were under way at once.
    let mut under_way = 0;
    for (what, _) in &events {
        under_way += if *what == "work" { 1 } else { -1 };
        assert!(under_way <= 2, "{events:?}");
    }
}

#[tokio::test]
async fn a_failed_stream_keeps_every_later_sub_batch_from_committing() {
    let sink = Arc::new(OverlappingSink {
        fail_at: Some(4),
        ..OverlappingSink::default()
    });
    let processor = on_streams(sink.clone(), 3);

    let err = processor
        .process(&target(), &batch_of(14), None)
        .await
        .unwrap_err();
    let Error::Sink {
        rows,
        committed_rows,
        ..
    } = err
    else {
        panic!("expected a sink error, got {err}");
    };
    assert_eq!((rows, committed_rows), (4..8, 4));
    let events = sink.events();
    assert_eq!(commits(&events), [0], "{events:?}");
    assert!(
        events.contains(&("work", 8)),
        "the third overlapped: {events:?}"
    );
}

/// A sink with one writer, which knows only `write`: later sub-batches finish sooner, so
/// only `write_after`'s default (wait for the previous, then write) keeps them in order.
#[derive(Default)]
struct SingleWriter(std::sync::Mutex<Vec<usize>>);

#[async_trait::async_trait]
impl BatchSink for SingleWriter {
    async fn prepare(&self, _: &LoadTarget) -> std::result::Result<(), SinkError> {
        Ok(())
    }

    async fn write(
        &self,
        _: &LoadTarget,
        _: &RowBatch,
        rows: Range<usize>,
    ) -> std::result::Result<u64, SinkError> {
        work_on(&rows).await;
        self.0.lock().unwrap().push(rows.start);
        Ok(rows.len() as u64)
    }
}

#[tokio::test]
async fn a_sink_that_knows_only_write_still_commits_in_order_on_streams() {
    let sink = Arc::new(SingleWriter::default());
    let processor = on_streams(sink.clone(), 3);
    let outcome = processor
        .process(&target(), &batch_of(14), None)
        .await
        .unwrap();
    assert_eq!(outcome.rows, 14);
    assert_eq!(*sink.0.lock().unwrap(), [0, 4, 8, 12]);
}
