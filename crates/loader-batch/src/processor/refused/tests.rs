use super::*;
use crate::RejectKind;

#[test]
fn a_refused_part_is_cut_around_the_named_row_then_in_doubling_parts_or_else_in_halves() {
    // Small parts: the first part after the named row takes the rest.
    assert_eq!(
        crate::refused_parts(10..20, Some(14)),
        vec![10..14, 14..15, 15..20]
    );
    assert_eq!(crate::refused_parts(10..20, Some(10)), vec![10..11, 11..20]);
    assert_eq!(crate::refused_parts(10..20, Some(19)), vec![10..19, 19..20]);
    // 1,000 rows went before the named one: 2,000, then 4,000, then the rest.
    assert_eq!(
        crate::refused_parts(0..10_000, Some(999)),
        vec![0..999, 999..1000, 1000..3000, 3000..7000, 7000..10_000]
    );
    // Named early: parts start at 256 rows and double.
    assert_eq!(
        crate::refused_parts(0..1000, Some(0)),
        vec![0..1, 1..257, 257..769, 769..1000]
    );
    // A row outside the part (a hint about another write) is no help.
    assert_eq!(crate::refused_parts(10..20, Some(25)), vec![10..15, 15..20]);
    assert_eq!(crate::refused_parts(10..13, None), vec![10..11, 11..13]);
}

#[test]
fn a_carrier_covers_the_row_and_the_rejects_after_it() {
    let mut batch = RowBatch::new(1, 4);
    batch.set_start(2, 10);
    batch.push_row(3, 20, [&b"a"[..]]).unwrap();
    batch.push_reject(reject(4, 30, RejectKind::FieldCount));
    batch.push_row(5, 40, [&b"b"[..]]).unwrap();
    batch.set_end(6, 50);
    let first = carrier(&batch, 0, reject(3, 20, RejectKind::Refused));
    assert_eq!((first.len(), first.sequence()), (0, 4));
    assert_eq!(first.byte_range(0..0), 10..40);
    assert_eq!(first.line_range(0..0), 2..5);
    let kinds: Vec<_> = first.rejects_in(0..0).iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [RejectKind::Refused, RejectKind::FieldCount]);
    let last = carrier(&batch, 1, reject(5, 40, RejectKind::Refused));
    assert_eq!(last.byte_range(0..0), 40..50);
    assert_eq!(last.rejects_in(0..0).len(), 1);
}

fn reject(line: u64, byte: u64, kind: RejectKind) -> RejectedRow {
    RejectedRow {
        line,
        byte,
        column: None,
        column_name: None,
        kind,
        message: String::new(),
        raw: Vec::new(),
    }
}

/// A table in memory that refuses, atomically, any write holding the value `bad` or a value
/// it already has (a UNIQUE column); it names the refused row when `names_rows` is set, as
/// PostgreSQL's COPY does, and not otherwise, as SQLite's multi-row INSERT does. With
/// `in_one_transaction` it sets refused rows aside itself, writing parts inside one
/// transaction ([`BatchSink::write_setting_aside`](crate::BatchSink::write_setting_aside)).
#[derive(Default)]
struct UniqueTable {
    names_rows: bool,
    in_one_transaction: bool,
    state: std::sync::Mutex<TableState>,
}

#[derive(Default)]
struct TableState {
    values: Vec<Vec<u8>>,
    quarantined: Vec<RejectedRow>,
    /// The byte range of every committed write, as a ledger records them.
    ranges: Vec<Range<u64>>,
    writes: usize,
}

/// A [`UniqueTable`] naming refused rows or not, and setting them aside itself or not.
fn unique_table(names_rows: bool, in_one_transaction: bool) -> std::sync::Arc<UniqueTable> {
    std::sync::Arc::new(UniqueTable {
        names_rows,
        in_one_transaction,
        ..UniqueTable::default()
    })
}

impl UniqueTable {
    /// The values of `rows`, unless the table refuses one of them, `existing` held already.
    fn check(
        &self,
        existing: &[Vec<u8>],
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> Result<Vec<Vec<u8>>, SinkError> {
        let mut added: Vec<Vec<u8>> = Vec::new();
        for row in rows {
            let value = batch.field(row, 0).to_vec();
            if value == b"bad" || existing.contains(&value) || added.contains(&value) {
                let refusal = SinkError::new(SinkErrorKind::Data, "duplicate key (23505)");
                return Err(if self.names_rows {
                    refusal.at_row(row)
                } else {
                    refusal
                });
            }
            added.push(value);
        }
        Ok(added)
    }
}

/// The open transaction of [`UniqueTable`] setting rows aside: the values its parts added.
struct Tentative<'a> {
    table: &'a UniqueTable,
    added: Vec<Vec<u8>>,
}

#[async_trait::async_trait]
impl crate::PartWriter for Tentative<'_> {
    async fn write_part(&mut self, batch: &RowBatch, rows: Range<usize>) -> Result<(), SinkError> {
        // A part takes time: the writes after this one go on meanwhile.
        tokio::task::yield_now().await;
        let mut existing = self.table.state.lock().unwrap().values.clone();
        existing.extend(self.added.iter().cloned());
        let added = self.table.check(&existing, batch, rows)?;
        self.added.extend(added);
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::BatchSink for UniqueTable {
    async fn prepare(&self, _: &LoadTarget) -> Result<(), SinkError> {
        Ok(())
    }

    async fn write(
        &self,
        _: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> Result<u64, SinkError> {
        let mut state = self.state.lock().unwrap();
        state.writes += 1;
        let added = self.check(&state.values, batch, rows.clone())?;
        state.values.extend(added);
        state
            .quarantined
            .extend(batch.rejects_in(rows.clone()).iter().cloned());
        state.ranges.push(batch.byte_range(rows.clone()));
        Ok(rows.len() as u64)
    }

    /// With `in_one_transaction`, refuses at once what the rows stored so far refuse, as a
    /// database's COPY would while the write before still works; then writes after it.
    async fn write_after(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        previous: crate::PreviousWrite,
    ) -> Result<u64, SinkError> {
        if self.in_one_transaction {
            let state = self.state.lock().unwrap();
            self.check(&state.values, batch, rows.clone())?;
        }
        previous.committed().await?;
        self.write(target, batch, rows).await
    }

    async fn write_setting_aside(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        refusal: &SinkError,
        turn: crate::SetAsideTurn,
    ) -> Result<Option<crate::SetAside>, SinkError> {
        if !self.in_one_transaction {
            return Ok(None);
        }
        let mut transaction = Tentative {
            table: self,
            added: Vec::new(),
        };
        let set_aside = crate::write_in_parts(
            &mut transaction,
            target,
            batch,
            rows.clone(),
            refusal,
            turn.limits,
        )
        .await?;
        turn.previous.committed().await?;
        let stored_meanwhile = {
            let state = self.state.lock().unwrap();
            transaction.added.iter().any(|v| state.values.contains(v))
        };
        if stored_meanwhile {
            // A write before this one stored a value this one added meanwhile: a database
            // would have made this one wait, then refused the value. Again, after it.
            let again = crate::SetAsideTurn {
                previous: crate::PreviousWrite::none(),
                ..turn
            };
            return Box::pin(self.write_setting_aside(target, batch, rows, refusal, again)).await;
        }
        if !(turn.admit)(&set_aside) {
            return Ok(None);
        }
        let committed = set_aside.committed.clone();
        let mut quarantined = batch.rejects_in(committed.clone()).to_vec();
        quarantined.extend(set_aside.refused.iter().map(|(_, reject)| reject.clone()));
        quarantined.sort_by_key(|reject| reject.byte);
        let mut state = self.state.lock().unwrap();
        state.writes += 1;
        state.values.extend(transaction.added);
        state.quarantined.extend(quarantined);
        if !committed.is_empty() {
            state.ranges.push(batch.byte_range(committed));
        }
        Ok(Some(set_aside))
    }
}

fn target() -> LoadTarget {
    use crate::{ColumnType, Schema};
    LoadTarget::new(
        "t",
        std::sync::Arc::new(Schema::from_pairs([("id", ColumnType::Text)])),
        "in.csv",
    )
}

/// Rows on lines 2, 3, ... at bytes 0, 10, 20, ...; a value of `None` is a reject read there.
fn batch_of(values: &[Option<&str>]) -> RowBatch {
    let mut batch = RowBatch::new(1, 0);
    batch.set_start(2, 0);
    for (i, value) in values.iter().enumerate() {
        let (line, byte) = (i as u64 + 2, i as u64 * 10);
        match value {
            Some(value) => batch.push_row(line, byte, [value.as_bytes()]).unwrap(),
            None => batch.push_reject(RejectedRow {
                kind: RejectKind::FieldCount,
                ..reject(line, byte, RejectKind::FieldCount)
            }),
        }
    }
    batch.set_end(values.len() as u64 + 2, values.len() as u64 * 10);
    batch
}

fn processor(sink: std::sync::Arc<UniqueTable>, rows: usize) -> BatchProcessor {
    use crate::{InMemoryAudit, SubBatchLimits};
    BatchProcessor::new(sink, std::sync::Arc::new(InMemoryAudit::new()))
        .with_limits(std::sync::Arc::new(SubBatchLimits::new(rows, 1 << 20)))
}

/// What a failed batch committed (rows, and the refused among them) and why it failed.
fn sink_failure(err: crate::Error) -> (usize, Box<[RejectedRow]>, Box<SinkError>) {
    match err {
        crate::Error::Sink {
            committed_rows,
            refused,
            source,
            ..
        } => (committed_rows, refused, source),
        other => panic!("expected a sink error, got {other}"),
    }
}

/// The committed ranges, in order, cover `0..end` with no gap and no overlap.
fn assert_covers(ranges: &[Range<u64>], end: u64) {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    let mut at = 0;
    for range in sorted {
        assert_eq!(range.start, at, "gap or overlap in {ranges:?}");
        at = range.end;
    }
    assert_eq!(at, end);
}

#[tokio::test]
async fn refused_rows_are_set_aside_and_every_other_row_stored_once() {
    let values = [
        "a", "b", "bad", "c", "d", "e", "a", "f", "g", "h", "i", "bad",
    ];
    let values: Vec<Option<&str>> = values.into_iter().map(Some).collect();
    let ways = [false, true].into_iter().flat_map(|in_one_transaction| {
        [(false, 1), (true, 1), (false, 3), (true, 3)].map(|(n, s)| (n, s, in_one_transaction))
    });
    for (names_rows, streams, in_one_transaction) in ways {
        let sink = unique_table(names_rows, in_one_transaction);
        let processor = processor(sink.clone(), 5).with_streams(streams);
        let outcome = processor
            .process_quarantining(&target(), &batch_of(&values), None, u64::MAX)
            .await
            .unwrap();
        assert_eq!((outcome.rows, outcome.rejected), (9, 3));
        let lines: Vec<u64> = outcome.refused.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            [4, 8, 13],
            "names_rows {names_rows}, streams {streams}, in one transaction {in_one_transaction}"
        );
        assert!(
            outcome
                .refused
                .iter()
                .all(|r| r.kind == RejectKind::Refused)
        );
        assert_eq!(outcome.refused[1].raw, b"a");
        let state = sink.state.lock().unwrap();
        let stored: Vec<&[u8]> = state.values.iter().map(Vec::as_slice).collect();
        assert_eq!(
            stored,
            [&b"a"[..], b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i"]
        );
        assert_eq!(state.quarantined, outcome.refused);
        assert_covers(&state.ranges, 120);
    }
}

#[tokio::test]
async fn a_named_row_is_found_in_fewer_writes_than_by_halving() {
    let mut values = vec![Some("x0"); 0];
    let names: Vec<String> = (0..64).map(|i| format!("v{i}")).collect();
    values.extend(names.iter().map(|v| Some(v.as_str())));
    values[41] = Some("bad");
    let mut writes = Vec::new();
    for names_rows in [false, true] {
        let sink = unique_table(names_rows, false);
        let outcome = processor(sink.clone(), 64)
            .process_quarantining(&target(), &batch_of(&values), None, u64::MAX)
            .await
            .unwrap();
        assert_eq!((outcome.rows, outcome.rejected), (63, 1));
        writes.push(sink.state.lock().unwrap().writes);
    }
    // Halving: the sub-batch, then two parts per level down to one row (6 levels), and the
    // quarantine write; named: the sub-batch, the rows before, the row alone, the quarantine
    // write, and the rows after in one part (fewer than 256).
    assert_eq!(writes, [14, 5]);
}

#[tokio::test]
async fn a_reject_read_beside_a_refused_row_is_quarantined_with_it_in_order() {
    let values = [Some("a"), Some("bad"), None, Some("b")];
    let sink = unique_table(false, false);
    let outcome = processor(sink.clone(), 10)
        .process_quarantining(&target(), &batch_of(&values), None, u64::MAX)
        .await
        .unwrap();
    assert_eq!((outcome.rows, outcome.rejected), (2, 2));
    let state = sink.state.lock().unwrap();
    let kinds: Vec<_> = state.quarantined.iter().map(|r| (r.line, r.kind)).collect();
    assert_eq!(
        kinds,
        [(3, RejectKind::Refused), (4, RejectKind::FieldCount)]
    );
    assert_covers(&state.ranges, 40);
}

#[tokio::test]
async fn past_the_allowance_a_refused_row_fails_the_batch_after_the_rows_before_it() {
    let values = ["a", "bad", "b", "c", "bad", "d"].map(Some);
    let ways = [(false, 1), (true, 1), (true, 2)];
    for (in_one_transaction, streams) in ways {
        let sink = unique_table(false, in_one_transaction);
        let err = processor(sink.clone(), 3)
            .with_streams(streams)
            .process_quarantining(&target(), &batch_of(&values), None, 1)
            .await
            .unwrap_err();
        let (committed_rows, refused, source) = sink_failure(err);
        assert_eq!(committed_rows, 4);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].line, 3);
        assert_eq!(source.message, "duplicate key (23505)");
        assert_eq!(source.row, Some(4));
        let state = sink.state.lock().unwrap();
        assert_eq!(state.values.len(), 3);
        assert_covers(&state.ranges, 40);
    }
}

#[tokio::test]
async fn without_quarantining_a_refused_row_fails_the_batch_as_before() {
    let values = ["a", "bad"].map(Some);
    let sink = unique_table(false, false);
    let err = processor(sink.clone(), 10)
        .process(&target(), &batch_of(&values), None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        crate::Error::Sink {
            committed_rows: 0,
            ..
        }
    ));
    assert_eq!(sink.state.lock().unwrap().writes, 1);
}

mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Whatever rows the table refuses, however the batch is cut and written, every row
        /// is stored or quarantined exactly once, in file order: the table holds what a
        /// row-by-row load would, the quarantine the rest, and the ledger ranges cover the
        /// batch without gap or overlap.
        #[test]
        fn every_row_is_stored_or_set_aside_once(
            kinds in proptest::collection::vec((0u8..8, any::<prop::sample::Index>()), 1..80),
            rows in 1usize..20,
            streams in 1usize..4,
            names_rows in any::<bool>(),
            in_one_transaction in any::<bool>(),
        ) {
            let mut values: Vec<Option<String>> = Vec::new();
            for (i, (kind, earlier)) in kinds.iter().enumerate() {
                let value = match kind {
                    0 => Some("bad".to_owned()),
                    1 if i > 0 => values[earlier.index(i)].clone(),
                    2 => None,
                    _ => Some(format!("v{i}")),
                };
                values.push(value);
            }
            // A row-by-row load: a value is stored unless it is `bad` or already stored.
            let mut stored: Vec<String> = Vec::new();
            let mut refused_lines = Vec::new();
            for (i, value) in values.iter().enumerate() {
                match value {
                    Some(v) if v == "bad" || stored.contains(v) => refused_lines.push(i as u64 + 2),
                    Some(v) => stored.push(v.clone()),
                    None => {}
                }
            }
            let borrowed: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
            let batch = batch_of(&borrowed);
            let sink = unique_table(names_rows, in_one_transaction);
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap()
                .block_on(
                    processor(sink.clone(), rows)
                        .with_streams(streams)
                        .process_quarantining(&target(), &batch, None, u64::MAX),
                )
                .unwrap();
            let state = sink.state.lock().unwrap();
            let held: Vec<String> = state
                .values
                .iter()
                .map(|v| String::from_utf8(v.clone()).unwrap())
                .collect();
            prop_assert_eq!(&held, &stored);
            prop_assert_eq!(outcome.rows as usize, stored.len());
            let lines: Vec<u64> = outcome.refused.iter().map(|r| r.line).collect();
            prop_assert_eq!(&lines, &refused_lines);
            let reads = values.iter().filter(|v| v.is_none()).count();
            prop_assert_eq!(outcome.rejected as usize, reads + refused_lines.len());
            let quarantined: Vec<u64> = state.quarantined.iter().map(|r| r.byte).collect();
            prop_assert!(quarantined.windows(2).all(|w| w[0] < w[1]), "{:?}", quarantined);
            prop_assert_eq!(quarantined.len(), reads + refused_lines.len());
            assert_covers(&state.ranges, values.len() as u64 * 10);
        }
    }
}

#[tokio::test]
async fn a_table_that_refuses_every_row_stops_the_file_instead_of_setting_each_aside() {
    let values = vec![Some("bad"); 2500];
    for in_one_transaction in [false, true] {
        let sink = unique_table(true, in_one_transaction);
        let err = processor(sink.clone(), 700)
            .process_quarantining(&target(), &batch_of(&values), None, u64::MAX)
            .await
            .unwrap_err();
        let (committed_rows, refused, source) = sink_failure(err);
        assert_eq!(source.kind, SinkErrorKind::Terminal);
        assert!(
            source
                .message
                .starts_with("the database refused 1000 rows in a row (lines 2 to 1001)"),
            "{}",
            source.message
        );
        assert_eq!((committed_rows, refused.len()), (999, 999));
        assert_eq!(sink.state.lock().unwrap().quarantined.len(), 999);
    }
}

#[tokio::test]
async fn refused_rows_between_stored_ones_never_stop_the_file() {
    let values: Vec<Option<String>> = (0..2 * REFUSED_IN_A_ROW as usize)
        .map(|i| {
            Some(if i % 2 == 0 {
                "bad".into()
            } else {
                format!("v{i}")
            })
        })
        .collect();
    let values: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
    for in_one_transaction in [false, true] {
        let sink = unique_table(true, in_one_transaction);
        let outcome = processor(sink, 700)
            .process_quarantining(&target(), &batch_of(&values), None, u64::MAX)
            .await
            .unwrap();
        assert_eq!(outcome.refused.len(), REFUSED_IN_A_ROW as usize);
    }
}

/// A sink whose every attempt to set rows aside in one transaction breaks, as a connection
/// reset would; its writes go to a [`UniqueTable`].
struct Breaking(std::sync::Arc<UniqueTable>);

#[async_trait::async_trait]
impl crate::BatchSink for Breaking {
    async fn prepare(&self, _: &LoadTarget) -> Result<(), SinkError> {
        Ok(())
    }

    async fn write(
        &self,
        t: &LoadTarget,
        b: &RowBatch,
        rows: Range<usize>,
    ) -> Result<u64, SinkError> {
        self.0.write(t, b, rows).await
    }

    async fn write_setting_aside(
        &self,
        _: &LoadTarget,
        _: &RowBatch,
        _: Range<usize>,
        _: &SinkError,
        _: crate::SetAsideTurn,
    ) -> Result<Option<crate::SetAside>, SinkError> {
        Err(SinkError::transient("connection reset"))
    }
}

#[tokio::test]
async fn a_transient_failure_in_one_transaction_falls_back_to_a_write_per_part() {
    use crate::{EventKind, InMemoryAudit, SubBatchLimits};
    let values = ["a", "bad", "b", "a", "c"].map(Some);
    let table = unique_table(true, true);
    let audit = std::sync::Arc::new(InMemoryAudit::new());
    let outcome = BatchProcessor::new(std::sync::Arc::new(Breaking(table.clone())), audit.clone())
        .with_limits(std::sync::Arc::new(SubBatchLimits::new(10, 1 << 20)))
        .process_quarantining(&target(), &batch_of(&values), None, u64::MAX)
        .await
        .unwrap();
    let lines: Vec<u64> = outcome.refused.iter().map(|r| r.line).collect();
    assert_eq!((outcome.rows, lines), (3, vec![3, 5]));
    let fell_back: Vec<String> = audit
        .events()
        .into_iter()
        .filter(|e| e.kind == EventKind::FellBack)
        .filter_map(|e| e.reason)
        .collect();
    assert_eq!(fell_back.len(), 1, "{fell_back:?}");
    assert!(fell_back[0].contains("connection reset"), "{fell_back:?}");
    assert_covers(&table.state.lock().unwrap().ranges, 50);
}
