//! Rows the database refuses, set aside rather than failing their file.
//!
//! A database names at most the first row it refuses, and sometimes not even that (SQLite's
//! multi-row INSERT, a constraint checked at commit), so the refused sub-batch is written
//! again in parts: split at the row the sink named, else in halves, until a refused part is
//! one row. Only a row refused alone is set aside, so a wrong hint costs a write, never a
//! good row. It is quarantined in a write of its own that covers its byte range, keeping
//! every part of the file in the ledger in order: each row is stored or quarantined once.

use super::{BatchProcessor, SubBatchFailure};
use crate::{
    AuditScope, ContextId, EventKind, LoadTarget, PreviousWrite, RejectKind, RejectedRow, RowBatch,
    SinkError, SinkErrorKind,
};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rows the database refused one after another, with no row stored between them, past
/// which the file stops: the table, not the rows, is then at fault (a trigger refusing every
/// row, a column the input never fills), and setting each row aside alone would take hours.
pub(super) const REFUSED_IN_A_ROW: u64 = 1000;

/// What one batch may still set aside, shared by its sub-batches.
pub(super) struct Refusals {
    /// Rows that may still be set aside.
    allowance: AtomicU64,
    /// Rows refused one after another so far, with no row stored between them.
    in_a_row: AtomicU64,
}

impl Refusals {
    pub(super) fn new(allowed: u64) -> Self {
        Refusals {
            allowance: AtomicU64::new(allowed),
            in_a_row: AtomicU64::new(0),
        }
    }

    /// A write stored rows: the refused rows before it were not the whole story.
    pub(super) fn stored(&self) {
        self.in_a_row.store(0, Ordering::SeqCst);
    }
}

/// What a sub-batch's write came to.
#[derive(Debug, Default)]
pub(super) struct Written {
    pub retries: u32,
    /// Rows set aside, in source order.
    pub refused: Vec<RejectedRow>,
    /// Their field bytes, which were not stored.
    pub refused_bytes: u64,
}

/// A sub-batch's write failed; `handled` rows of the batch (from its start) are committed,
/// `written` says how, when parts of it committed before the failure.
pub(super) struct Failed {
    pub failure: SubBatchFailure,
    pub written: Written,
    pub handled: usize,
}

/// Where the parts of one refused sub-batch go.
pub(super) struct Part<'a> {
    pub target: &'a LoadTarget,
    pub batch: &'a RowBatch,
    pub parent: ContextId,
    /// The write before the sub-batch, when writes overlap: every part commits after it.
    pub previous: Option<PreviousWrite>,
    /// The batch's audit scope.
    pub scope: &'a AuditScope,
    /// What the batch may still set aside.
    pub refusals: &'a Refusals,
}

impl BatchProcessor {
    /// Writes `rows`, which the database refused as one write, in parts, and sets aside each
    /// row refused alone while the allowance of `refusals` lasts. The first row past it fails
    /// the write, named by the error ([`SinkError::row`]), with the rows before it committed.
    pub(super) async fn set_aside_refused(
        &self,
        part: &Part<'_>,
        rows: Range<usize>,
        refusal: SinkError,
    ) -> Result<Written, Failed> {
        let mut written = Written::default();
        let mut handled = rows.start;
        let result = self
            .write_parts(part, rows, refusal, &mut written, &mut handled)
            .await;
        match result {
            Ok(()) => Ok(written),
            Err(failure) => Err(Failed {
                failure,
                written,
                handled,
            }),
        }
    }

    /// The work of [`set_aside_refused`](Self::set_aside_refused): `written` and `handled`
    /// (the end of the rows committed) follow each part committed.
    async fn write_parts(
        &self,
        part: &Part<'_>,
        rows: Range<usize>,
        refusal: SinkError,
        written: &mut Written,
        handled: &mut usize,
    ) -> Result<(), SubBatchFailure> {
        let lines = part.batch.line_range(rows.clone());
        let split = part.scope.event(EventKind::Split).with_reason(format!(
            "rows {}..{} (lines {}..{}): the database refused a row ({refusal}); writing them \
             in parts to set refused rows aside",
            rows.start, rows.end, lines.start, lines.end
        ));
        part.scope.note(split).await?;
        // Parts still to write, the next one last; a part already known to be refused
        // carries its error.
        let mut pending = vec![(rows, Some(refusal))];
        while let Some((piece, known)) = pending.pop() {
            let refusal = match known {
                Some(refusal) => refusal,
                None => {
                    let previous = part.previous.clone();
                    let write = self.write_sub_batch(
                        part.target,
                        part.batch,
                        piece.clone(),
                        part.parent,
                        previous,
                    );
                    match write.await {
                        Ok(retries) => {
                            written.retries += retries;
                            *handled = piece.end;
                            part.refusals.stored();
                            continue;
                        }
                        Err(SubBatchFailure::Sink(e)) if e.kind == SinkErrorKind::Data => e,
                        Err(failure) => return Err(failure),
                    }
                }
            };
            match piece.len() {
                // Only rejects, which the database does not check: nothing to set aside.
                0 => return Err(SubBatchFailure::Sink(refusal)),
                1 => {
                    let reject = self.quarantine_refused(part, piece.start, refusal).await?;
                    written.refused.push(reject);
                    written.refused_bytes += part.batch.data_bytes(piece.clone()) as u64;
                    *handled = piece.end;
                }
                _ => {
                    let parts = parts_of(piece, refusal.row).into_iter().rev();
                    pending.extend(parts.map(|part| (part, None)));
                }
            }
        }
        Ok(())
    }

    /// Quarantines row `row`, refused alone, in a write of its own.
    async fn quarantine_refused(
        &self,
        part: &Part<'_>,
        row: usize,
        refusal: SinkError,
    ) -> Result<RejectedRow, SubBatchFailure> {
        let (batch, refusals) = (part.batch, part.refusals);
        // The rows before this one commit first, so the allowance is spent in file order.
        if let Some(previous) = &part.previous {
            previous.committed().await.map_err(SubBatchFailure::Sink)?;
        }
        let in_a_row = refusals.in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
        if in_a_row >= REFUSED_IN_A_ROW {
            let first = batch.line((row + 1).saturating_sub(in_a_row as usize));
            let message = format!(
                "the database refused {in_a_row} rows in a row (lines {first} to {}), the last \
                 with: {refusal}; that is the table, not the rows: mend it and load again",
                batch.line(row)
            );
            return Err(SubBatchFailure::Sink(SinkError::terminal(message)));
        }
        if refusals
            .allowance
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_err()
        {
            return Err(SubBatchFailure::Sink(refusal.at_row(row)));
        }
        let column = refusal.column.as_deref().and_then(|name| {
            let columns = part.target.schema.columns();
            let index = columns.iter().position(|c| c.name == name)?;
            Some((index as u32 + 1, name.to_owned()))
        });
        let reject = RejectedRow {
            line: batch.line(row),
            byte: batch.offset(row),
            column: column.as_ref().map(|(number, _)| *number),
            column_name: column.map(|(_, name)| name),
            kind: RejectKind::Refused,
            message: refusal.message,
            raw: csv_record(batch.row(row)),
        };
        let carrier = carrier(batch, row, reject.clone());
        self.write_sub_batch(
            part.target,
            &carrier,
            0..0,
            part.parent,
            part.previous.clone(),
        )
        .await?;
        Ok(reject)
    }
}

/// Rows of the first part after a named row, at least: fewer make many small writes of a
/// sub-batch that holds one refused row early on.
const FIRST_PART_AFTER: usize = 256;

/// The parts a refused `piece` is written again in: the rows before the row the sink named,
/// when it is inside, that row alone, and the rows after it in parts that double, the first
/// twice the rows that went before the named one (at least [`FIRST_PART_AFTER`]); else two
/// halves.
///
/// The database stops at the first row it refuses, and a COPY's rows are all sent before its
/// error comes back: written whole, a part holding `m` refused rows would be sent `m` times.
/// Halving the rest still sent about ten times the rows of a sub-batch with one refused row
/// in a thousand (`cargo xtask bench --section refused`); parts sized from the rows between
/// refusals, growing while none comes, send each row a few times at most.
fn parts_of(piece: Range<usize>, named: Option<usize>) -> Vec<Range<usize>> {
    let halves = |part: Range<usize>| {
        let middle = part.start + part.len() / 2;
        vec![part.start..middle, middle..part.end]
    };
    let parts: Vec<Range<usize>> = match named.filter(|row| piece.contains(row)) {
        Some(row) => {
            let mut parts = vec![piece.start..row, row..row + 1];
            let mut size = (2 * (row + 1 - piece.start)).max(FIRST_PART_AFTER);
            let mut start = row + 1;
            while start < piece.end {
                let end = (start + size).min(piece.end);
                parts.push(start..end);
                start = end;
                size *= 2;
            }
            parts
        }
        None => halves(piece),
    };
    parts.into_iter().filter(|part| !part.is_empty()).collect()
}

/// A batch of no rows that covers row `row` of `batch`: its byte range, the batch's rejects
/// inside it, and `refused`, the row as a reject.
fn carrier(batch: &RowBatch, row: usize, refused: RejectedRow) -> RowBatch {
    let bytes = batch.byte_range(row..row + 1);
    let lines = batch.line_range(row..row + 1);
    let mut carrier = RowBatch::new(batch.columns(), batch.sequence());
    carrier.set_start(lines.start, bytes.start);
    carrier.set_end(lines.end, bytes.end);
    let mut rejects = batch.rejects_in(row..row + 1).to_vec();
    rejects.push(refused);
    rejects.sort_by_key(|reject| reject.byte);
    for reject in rejects {
        carrier.push_reject(reject);
    }
    carrier
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

#[cfg(test)]
mod tests;
