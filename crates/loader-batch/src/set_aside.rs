//! Rows the database refuses, set aside inside one write by a sink that can
//! ([`BatchSink::write_setting_aside`](crate::BatchSink::write_setting_aside)): the limits
//! it works under, what it reports, and the pieces it shares with the processor's own way
//! (the parts a refused range is written again in, and the quarantine entry of a refused row).

use crate::{LoadTarget, RejectKind, RejectedRow, RowBatch, SinkError};
use std::ops::Range;

/// How many refused rows one write may set aside: the processor's allowance and its run of
/// refusals, handed to the sink and given back spent.
///
/// # Example
///
/// ```
/// use loader_batch::SetAsideLimits;
/// let mut limits = SetAsideLimits { allowed: 2, in_a_row: 0, most_in_a_row: 1000 };
/// assert!(limits.take() && limits.take());
/// assert!(!limits.take(), "the allowance is spent");
/// assert!(!limits.run_ended(), "it stopped for the allowance, not for a run");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetAsideLimits {
    /// Rows that may still be set aside.
    pub allowed: u64,
    /// Rows refused one after another so far, with none stored between them.
    pub in_a_row: u64,
    /// The refusal that would make `in_a_row` reach this stops the write instead: a table
    /// that refuses every row is at fault, not its rows.
    pub most_in_a_row: u64,
}

impl SetAsideLimits {
    /// Counts one more refused row in, when the limits allow it; `false` (nothing counted)
    /// when the write must stop at it.
    pub fn take(&mut self) -> bool {
        if self.run_ended() || self.allowed == 0 {
            return false;
        }
        self.allowed -= 1;
        self.in_a_row += 1;
        true
    }

    /// Rows were stored: the refused rows before them were not a run.
    pub fn stored(&mut self) {
        self.in_a_row = 0;
    }

    /// Whether one more refusal would end a run the table is to blame for (rather than
    /// spend past the allowance): what a write that [`take`](Self::take) stopped stopped on.
    pub fn run_ended(&self) -> bool {
        self.in_a_row + 1 >= self.most_in_a_row
    }
}

/// Where a write setting refused rows aside stands among its file's writes
/// ([`BatchSink::write_setting_aside`](crate::BatchSink::write_setting_aside)).
#[derive(Clone)]
pub struct SetAsideTurn {
    /// The limits to work under, as known when the write starts: the writes before it may
    /// still spend some of the allowance, which `admit` then checks.
    pub limits: SetAsideLimits,
    /// The write of the rows before these: this one commits only after it has.
    pub previous: crate::PreviousWrite,
    /// Asked once `previous` has committed, just before committing: whether what the write
    /// came to stands under the limits as they are now. When not, the write rolls back.
    pub admit: std::sync::Arc<dyn Fn(&SetAside) -> bool + Send + Sync>,
}

impl SetAsideTurn {
    /// A turn with nothing before it, under `limits`, which stand: for a sink's own tests,
    /// or a caller that spends no allowance elsewhere.
    pub fn alone(limits: SetAsideLimits) -> Self {
        SetAsideTurn {
            limits,
            previous: crate::PreviousWrite::none(),
            admit: std::sync::Arc::new(|_| true),
        }
    }
}

impl std::fmt::Debug for SetAsideTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetAsideTurn")
            .field("limits", &self.limits)
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

/// What a write that set refused rows aside came to. Everything it reports is committed, in
/// one transaction: the stored rows, the refused rows' quarantine entries together with the
/// batch's own rejects in the range, and the range's ledger record.
#[derive(Debug)]
pub struct SetAside {
    /// The rows handled, from the write's first: each stored, or refused and quarantined.
    /// It ends before the write's last row only when the write `stopped`.
    pub committed: Range<usize>,
    /// The refused rows set aside, in order, each with its row in the batch and its entry
    /// as it was quarantined.
    pub refused: Vec<(usize, RejectedRow)>,
    /// The limits, spent by the rows set aside and reset by rows stored.
    pub limits: SetAsideLimits,
    /// The refusal of row `committed.end`, which the limits did not let it set aside
    /// ([`SinkError::row`] names it); `None` when every row was handled.
    pub stopped: Option<SinkError>,
    /// The writes of parts the database refused and that were undone within the
    /// transaction, for the audit trail.
    pub parts_refused: u32,
}

impl SetAside {
    /// The refused rows at the start of the rows handled, before any row stored: they
    /// continue the run of refusals the writes before this one ended with.
    pub fn leading_refused(&self) -> u64 {
        let start = self.committed.start;
        let leading = self.refused.iter().enumerate();
        leading
            .take_while(|(i, (row, _))| *row == start + i)
            .count() as u64
    }

    /// Whether any row was stored.
    pub fn stored_any(&self) -> bool {
        self.committed.len() > self.refused.len()
    }
}

impl RejectedRow {
    /// The quarantine entry of row `row` of `batch`, which the database refused with
    /// `refusal`: its fields written back as one CSV record, and the column the database
    /// named, when it is one of the target's.
    pub fn refused(target: &LoadTarget, batch: &RowBatch, row: usize, refusal: &SinkError) -> Self {
        let column = refusal.column.as_deref().and_then(|name| {
            let index = target
                .schema
                .columns()
                .iter()
                .position(|c| c.name == name)?;
            Some((index as u32 + 1, name.to_owned()))
        });
        RejectedRow {
            line: batch.line(row),
            byte: batch.offset(row),
            column: column.as_ref().map(|(number, _)| *number),
            column_name: column.map(|(_, name)| name),
            kind: RejectKind::Refused,
            message: refusal.message.clone(),
            raw: csv_record(batch.row(row)),
        }
    }
}

/// A row's fields as one CSV record: comma-separated, quoted where needed, and an empty
/// string as `""` (an empty field stays NULL).
fn csv_record(row: crate::RowRef<'_>) -> Vec<u8> {
    let mut record = Vec::new();
    for (i, field) in row.fields().enumerate() {
        if i > 0 {
            record.push(b',');
        }
        crate::push_csv_field(&mut record, field, row.is_empty_text(i));
    }
    record
}

/// Rows of the first part after a named row, at least: fewer make many small writes of a
/// sub-batch that holds one refused row early on.
const FIRST_PART_AFTER: usize = 256;

/// The parts a refused range `piece` is written again in: the rows before the row the
/// database named (`named`), when it is inside, that row alone, and the rows after it in
/// parts that double, the first twice the rows that went before the named one (at least
/// 256); else two halves. Empty parts are left out.
///
/// The database stops at the first row it refuses, and a COPY's rows are all sent before its
/// error comes back: written whole, a part holding `m` refused rows would be sent `m` times.
/// Halving the rest still sent about ten times the rows of a sub-batch with one refused row
/// in a thousand (`cargo xtask bench --section refused`); parts sized from the rows between
/// refusals, growing while none comes, send each row a few times at most.
///
/// # Example
///
/// ```
/// use loader_batch::refused_parts;
/// assert_eq!(refused_parts(0..1000, Some(100)), vec![0..100, 100..101, 101..357, 357..869, 869..1000]);
/// assert_eq!(refused_parts(0..10, None), vec![0..5, 5..10]);
/// ```
pub fn refused_parts(piece: Range<usize>, named: Option<usize>) -> Vec<Range<usize>> {
    match named.filter(|row| piece.contains(row)) {
        Some(row) => {
            let first_after = (2 * (row + 1 - piece.start)).max(FIRST_PART_AFTER);
            parts_around(piece, row, first_after)
        }
        None => {
            let middle = piece.start + piece.len() / 2;
            [piece.start..middle, middle..piece.end]
                .into_iter()
                .filter(|part| !part.is_empty())
                .collect()
        }
    }
}

/// The rows of `piece` before `row`, `row` alone, and the rows after it in parts of
/// `first_after` rows that double; empty parts left out.
fn parts_around(piece: Range<usize>, row: usize, first_after: usize) -> Vec<Range<usize>> {
    let mut parts = vec![piece.start..row, row..row + 1];
    let mut size = first_after.max(1);
    let mut start = row + 1;
    while start < piece.end {
        let end = (start + size).min(piece.end);
        parts.push(start..end);
        start = end;
        size = size.saturating_mul(2);
    }
    parts.retain(|part| !part.is_empty());
    parts
}

/// What a part in a savepoint costs beyond its rows, in rows: about 0.4 ms for a COPY of one
/// row into PostgreSQL (a savepoint, the COPY, its release or rollback) against about 2 µs a
/// row, measured on the refused-rows bench.
const PART_COST_ROWS: usize = 200;

/// The first part after a refused row, in a transaction that sets rows aside: `gap` rows
/// went since the refusal before. A refused part is sent whole and the rows before its
/// refused one again, so a part of `q` rows wastes about `q` rows, and `gap / q` parts cost
/// `gap / q` part costs: the sum is least at `q = sqrt(gap x part cost)`. About 450 rows
/// when one row in 1,000 is refused, where doubling from twice the gap sent each row three
/// times.
fn savepoint_part(gap: usize) -> usize {
    let rows = (gap.saturating_mul(PART_COST_ROWS) as f64).sqrt() as usize;
    rows.max(64)
}

/// A transaction a sink holds open while it sets refused rows aside
/// ([`write_in_parts`]): each part is written inside a savepoint of its own.
#[async_trait::async_trait]
pub trait PartWriter: Send {
    /// Writes rows `rows` of `batch` inside the open transaction. On error none of them is
    /// kept and the transaction stays usable (the part's savepoint was rolled back); a
    /// [`Data`](crate::SinkErrorKind::Data) error says the database refused a row, and
    /// names it ([`SinkError::row`], counted in `batch`) when it can.
    ///
    /// # Errors
    ///
    /// A [`SinkError`]; any kind but `Data` ends the whole write.
    async fn write_part(&mut self, batch: &RowBatch, rows: Range<usize>) -> Result<(), SinkError>;
}

/// Writes rows `rows` of `batch`, which the database refused as one write with `refusal`,
/// again in parts through `writer` (as [`refused_parts`] cuts them, but the parts after a
/// named row sized for savepoints, which cost less than writes), until each refused row stands alone
/// and is refused alone; such a row is set aside while `limits` allow. Only a row refused
/// alone is set aside, so a wrong hint costs a part, never a good row.
///
/// Returns what the sink is to commit: the rows handled from the first, the refused rows to
/// quarantine with them, and the refusal it stopped at, if any. Nothing is committed here.
///
/// # Errors
///
/// The first error of a part that is not a refusal ([`SinkErrorKind::Data`](crate::SinkErrorKind::Data)),
/// or `refusal` again when `rows` is empty (only rejects, which the database does not check).
pub async fn write_in_parts<W: PartWriter + ?Sized>(
    writer: &mut W,
    target: &LoadTarget,
    batch: &RowBatch,
    rows: Range<usize>,
    refusal: &SinkError,
    mut limits: SetAsideLimits,
) -> Result<SetAside, SinkError> {
    let mut set_aside = SetAside {
        committed: rows.start..rows.start,
        refused: Vec::new(),
        limits,
        stopped: None,
        parts_refused: 0,
    };
    // Parts still to write, the next one last; a part known to be refused carries its error.
    let mut first = SinkError::new(refusal.kind, refusal.message.clone());
    (first.row, first.column) = (refusal.row, refusal.column.clone());
    // The row after the last refused one: where the rows between refusals began.
    let mut since = rows.start;
    let mut pending = vec![(rows, Some(first))];
    while let Some((piece, known)) = pending.pop() {
        let refusal = match known {
            Some(refusal) => refusal,
            None => match writer.write_part(batch, piece.clone()).await {
                Ok(()) => {
                    set_aside.committed.end = piece.end;
                    limits.stored();
                    continue;
                }
                Err(e) if e.kind == crate::SinkErrorKind::Data => {
                    set_aside.parts_refused += 1;
                    e
                }
                Err(e) => return Err(e),
            },
        };
        if piece.is_empty() {
            // Only rejects, which the database does not check: nothing to set aside.
            return Err(refusal);
        }
        if piece.len() > 1 {
            let parts = match refusal.row.filter(|row| piece.contains(row)) {
                Some(row) => {
                    // The parts still pending were sized before this refusal: cut the rest
                    // of the write again from it. They follow this part, the last first.
                    let end = pending.first().map_or(piece.end, |(part, _)| part.end);
                    pending.clear();
                    let gap = row.saturating_sub(since);
                    parts_around(piece.start..end, row, savepoint_part(gap))
                }
                None => refused_parts(piece, None),
            };
            pending.extend(parts.into_iter().rev().map(|part| (part, None)));
        } else if limits.take() {
            let reject = RejectedRow::refused(target, batch, piece.start, &refusal);
            set_aside.refused.push((piece.start, reject));
            set_aside.committed.end = piece.end;
            since = piece.end;
        } else {
            set_aside.stopped = Some(refusal.at_row(piece.start));
            break;
        }
    }
    set_aside.limits = limits;
    Ok(set_aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_written_back_as_one_csv_record() {
        let mut batch = RowBatch::new(5, 0);
        let fields: [&[u8]; 5] = [b"1", b"", b"a,b", b"say \"hi\"", b""];
        batch.push_row(2, 0, fields).unwrap();
        // The last field is an empty string, the second NULL.
        batch.set_empty_text(4);
        assert_eq!(
            csv_record(batch.row(0)),
            b"1,,\"a,b\",\"say \"\"hi\"\"\",\"\"".to_vec()
        );
    }

    /// Refuses, naming it as PostgreSQL's COPY does, the first row of a part whose field is
    /// `bad`; counts the rows sent.
    struct Refusing {
        sent: usize,
    }

    #[async_trait::async_trait]
    impl PartWriter for Refusing {
        async fn write_part(
            &mut self,
            batch: &RowBatch,
            rows: Range<usize>,
        ) -> Result<(), SinkError> {
            self.sent += rows.len();
            match rows.clone().find(|&row| batch.field(row, 0) == b"bad") {
                Some(row) => Err(SinkError::new(crate::SinkErrorKind::Data, "refused").at_row(row)),
                None => Ok(()),
            }
        }
    }

    #[test]
    fn parts_in_savepoints_set_each_refused_row_aside_sending_each_row_about_twice() {
        let rows = 20_000;
        let mut batch = RowBatch::new(1, 0);
        for row in 0..rows {
            let field: &[u8] = if row % 1000 == 999 { b"bad" } else { b"ok" };
            batch
                .push_row(row as u64 + 2, row as u64 * 3, [field])
                .unwrap();
        }
        let target = LoadTarget::new(
            "t",
            std::sync::Arc::new(crate::Schema::from_pairs([("v", crate::ColumnType::Text)])),
            "t.csv",
        );
        let limits = SetAsideLimits {
            allowed: u64::MAX,
            in_a_row: 0,
            most_in_a_row: 1000,
        };
        let first = SinkError::new(crate::SinkErrorKind::Data, "refused").at_row(999);
        let mut writer = Refusing { sent: 0 };
        let set_aside = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(write_in_parts(
                &mut writer,
                &target,
                &batch,
                0..rows,
                &first,
                limits,
            ))
            .unwrap();
        assert_eq!(set_aside.committed, 0..rows);
        assert!(set_aside.stopped.is_none());
        let refused: Vec<usize> = set_aside.refused.iter().map(|(row, _)| *row).collect();
        let expected: Vec<usize> = (0..rows).filter(|row| row % 1000 == 999).collect();
        assert_eq!(refused, expected);
        assert_eq!(set_aside.limits.allowed, u64::MAX - 20);
        // Doubling parts from twice the gap, as between writes, sent each row three times.
        assert!(
            writer.sent < 2 * rows,
            "{} rows sent for {rows}",
            writer.sent
        );
    }

    #[test]
    fn limits_stop_at_the_allowance_or_at_a_run_and_stored_rows_end_a_run() {
        let mut limits = SetAsideLimits {
            allowed: 10,
            in_a_row: 1,
            most_in_a_row: 4,
        };
        assert!(limits.take() && limits.take());
        assert!(!limits.take() && limits.run_ended(), "the fourth in a row");
        limits.stored();
        assert!(limits.take() && !limits.run_ended());
        assert_eq!((limits.allowed, limits.in_a_row), (7, 1));
    }
}
