//! Rows the database refuses, set aside rather than failing their file.
//!
//! A database names at most the first row it refuses, and sometimes not even that (SQLite's
//! multi-row INSERT, a constraint checked at commit), so the refused sub-batch is written
//! again in parts: split at the row the sink named, else in halves, until a refused part is
//! one row ([`refused_parts`]). Only a row refused alone is set aside, so a wrong hint costs a
//! write, never a good row.
//!
//! A sink that can undo part of a transaction does all of it in one transaction
//! ([`BatchSink::write_setting_aside`](crate::BatchSink::write_setting_aside)). Otherwise
//! each part is a write of its own, and a refused row is quarantined in a write of its own
//! that covers its byte range, keeping every part of the file in the ledger in order. Either
//! way each row is stored or quarantined once.

use super::{BatchProcessor, SubBatchFailure};
use crate::{
    AuditScope, ContextId, EventKind, LoadTarget, PreviousWrite, RejectedRow, RowBatch, Scope,
    SetAside, SetAsideLimits, SetAsideTurn, SinkError, SinkErrorKind, refused_parts,
};
use futures_util::FutureExt;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

    /// What a sink setting rows aside itself may still set aside.
    fn limits(&self) -> SetAsideLimits {
        SetAsideLimits {
            allowed: self.allowance.load(Ordering::SeqCst),
            in_a_row: self.in_a_row.load(Ordering::SeqCst),
            most_in_a_row: REFUSED_IN_A_ROW,
        }
    }

    /// Whether what a sink's write came to, working under limits read before the writes
    /// before it were done, stands under the limits they left: it stopped nowhere, the
    /// allowance covers its refused rows, and the run the writes before it ended with,
    /// continued by its leading refused rows, stays short of [`REFUSED_IN_A_ROW`]. Runs
    /// inside it the sink checked itself.
    fn admits(&self, set_aside: &SetAside) -> bool {
        let now = self.limits();
        set_aside.stopped.is_none()
            && set_aside.refused.len() as u64 <= now.allowed
            && now.in_a_row + set_aside.leading_refused() < now.most_in_a_row
    }

    /// A sink set rows aside: they are spent, and the run goes on from them.
    fn spent(&self, set_aside: &SetAside) {
        let spent = set_aside.refused.len() as u64;
        let _ = self
            .allowance
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                Some(left.saturating_sub(spent))
            });
        if set_aside.stored_any() {
            self.in_a_row
                .store(set_aside.limits.in_a_row, Ordering::SeqCst);
        } else {
            self.in_a_row.fetch_add(spent, Ordering::SeqCst);
        }
    }
}

/// The error that stops a file once the database has refused `in_a_row` rows one after
/// another, the last of them row `row`.
fn refused_run(batch: &RowBatch, row: usize, in_a_row: u64, refusal: &SinkError) -> SinkError {
    let first = batch.line((row + 1).saturating_sub(in_a_row as usize));
    SinkError::terminal(format!(
        "the database refused {in_a_row} rows in a row (lines {first} to {}), the last with: \
         {refusal}; that is the table, not the rows: mend it and load again",
        batch.line(row)
    ))
}

/// What asking a sink to set refused rows aside came to.
enum Attempt {
    /// It did, in the open context.
    Done(AuditScope, SetAside),
    /// It cannot, or did not keep what it came to; the context is still open.
    Declined(AuditScope),
    /// It failed in a way a write per part may get past; the context has ended.
    FellBack,
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
    pub refusals: &'a Arc<Refusals>,
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
        let failed = |failure| Failed {
            failure,
            written: Written::default(),
            handled: rows.start,
        };
        let lines = part.batch.line_range(rows.clone());
        let split = part.scope.event(EventKind::Split).with_reason(format!(
            "rows {}..{} (lines {}..{}): the database refused a row ({refusal}); writing them \
             in parts to set refused rows aside",
            rows.start, rows.end, lines.start, lines.end
        ));
        part.scope.note(split).await.map_err(|e| failed(e.into()))?;
        match self.set_aside_in_sink(part, rows.clone(), &refusal).await {
            Ok(Some(done)) => return done,
            Ok(None) => {}
            Err(failure) => return Err(failed(failure)),
        }
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

    /// Has the sink set the refused rows of `rows` aside in one transaction: `None` when it
    /// cannot, or failed in a way the processor's own way may get past (a transient error,
    /// which that way retries part by part).
    async fn set_aside_in_sink(
        &self,
        part: &Part<'_>,
        rows: Range<usize>,
        refusal: &SinkError,
    ) -> Result<Option<Result<Written, Failed>>, SubBatchFailure> {
        let batch = part.batch;
        // The sink works at once, under the limits as they are now, with the run of refusals
        // before it left to `admits` (the writes before it may not have set theirs aside
        // yet), and commits after the write before it, if what it came to still stands.
        let refused_admission = Arc::new(AtomicBool::new(false));
        let admit = {
            let (refusals, refused_admission) =
                (Arc::clone(part.refusals), refused_admission.clone());
            move |set_aside: &SetAside| {
                let admitted = refusals.admits(set_aside);
                refused_admission.store(!admitted, Ordering::SeqCst);
                admitted
            }
        };
        let turn = SetAsideTurn {
            limits: SetAsideLimits {
                in_a_row: 0,
                ..part.refusals.limits()
            },
            previous: part.previous.clone().unwrap_or_else(PreviousWrite::none),
            admit: Arc::new(admit),
        };
        let mut attempt = self
            .sink_sets_aside(part, rows.clone(), refusal, turn)
            .await?;
        if refused_admission.load(Ordering::SeqCst)
            && let Attempt::Declined(scope) = attempt
        {
            // Near a limit: again, now that the writes before have committed, under the
            // limits exactly as they left them.
            let why = "what it came to no longer stood under the limits the writes before it \
                       left (rolled back); again under those";
            scope.fail(why).await?;
            let turn = SetAsideTurn::alone(part.refusals.limits());
            attempt = self
                .sink_sets_aside(part, rows.clone(), refusal, turn)
                .await?;
        }
        let (scope, set_aside) = match attempt {
            Attempt::Done(scope, set_aside) => (scope, set_aside),
            Attempt::Declined(scope) => {
                let why = "the sink sets no rows aside in one transaction; writing the parts \
                           one write each";
                scope.fail(why).await?;
                return Ok(None);
            }
            Attempt::FellBack => return Ok(None),
        };
        part.refusals.spent(&set_aside);
        let committed = set_aside.committed.clone();
        let mut written = Written::default();
        for (row, reject) in set_aside.refused {
            written.refused_bytes += batch.data_bytes(row..row + 1) as u64;
            written.refused.push(reject);
        }
        let stored = (committed.len() - written.refused.len()) as u64;
        let bytes = batch.data_bytes(committed.clone()) as u64 - written.refused_bytes;
        let mut note = format!(
            "written again in parts in one transaction: {} part(s) refused and undone, {} \
             refused row(s) set aside",
            set_aside.parts_refused,
            written.refused.len()
        );
        if !written.refused.is_empty() {
            note.push_str(&format!(
                ", line(s) {}",
                some_lines(written.refused.iter().map(|r| r.line))
            ));
        }
        if let Some(quarantined) = super::quarantine_note(batch, committed.clone()) {
            note.push_str("; ");
            note.push_str(&quarantined);
        }
        if let Some(stopped) = &set_aside.stopped {
            let line = batch.line(committed.end);
            note.push_str(&format!(
                "; stopped at line {line}, past the limits: {stopped}"
            ));
        }
        scope.commit_with_note(stored, bytes, note).await?;
        let Some(stopped) = set_aside.stopped else {
            return Ok(Some(Ok(written)));
        };
        let failure = if set_aside.limits.run_ended() {
            let row = stopped.row.unwrap_or(committed.end);
            refused_run(batch, row, set_aside.limits.in_a_row + 1, &stopped)
        } else {
            stopped
        };
        Ok(Some(Err(Failed {
            failure: SubBatchFailure::Sink(failure),
            written,
            handled: committed.end,
        })))
    }

    /// Calls the sink's [`write_setting_aside`](crate::BatchSink::write_setting_aside) in a
    /// sub-batch context of its own, left open when the sink set rows aside or declined
    /// (`Declined`: it cannot, or did not keep what it came to), ended when it failed in a way
    /// the processor's own way may get past (`FellBack`: a transient error, which that way
    /// retries part by part, or a refusal at commit, which it finds by halving).
    async fn sink_sets_aside(
        &self,
        part: &Part<'_>,
        rows: Range<usize>,
        refusal: &SinkError,
        turn: SetAsideTurn,
    ) -> Result<Attempt, SubBatchFailure> {
        let mut template = self.template(Scope::SubBatch, part.target, part.batch, rows.clone());
        template.parent = Some(part.parent);
        let scope = AuditScope::start(Arc::clone(&self.audit), template).await?;
        let write = self
            .sink
            .write_setting_aside(part.target, part.batch, rows, refusal, turn);
        let failure = match AssertUnwindSafe(write).catch_unwind().await {
            Ok(Ok(Some(set_aside))) => return Ok(Attempt::Done(scope, set_aside)),
            Ok(Ok(None)) => return Ok(Attempt::Declined(scope)),
            // A refusal at commit (a deferred constraint) names no row: halving finds it.
            Ok(Err(e)) if e.is_transient() || e.kind == SinkErrorKind::Data => {
                let why = format!(
                    "setting refused rows aside in one transaction failed ({e}); writing the \
                     parts one write each instead"
                );
                scope.fail(why.clone()).await?;
                let fell_back = part.scope.event(EventKind::FellBack).with_reason(why);
                part.scope.note(fell_back).await?;
                return Ok(Attempt::FellBack);
            }
            Ok(Err(e)) => e,
            Err(panic) => SinkError::new(
                SinkErrorKind::Panicked,
                format!("sink panicked: {}", super::panic_message(&*panic)),
            ),
        };
        // The sink error is what the caller must see; a failure to record it must not
        // replace it.
        let _ = scope.fail(failure.to_string()).await;
        Err(SubBatchFailure::Sink(failure))
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
                    let parts = refused_parts(piece, refusal.row).into_iter().rev();
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
            return Err(SubBatchFailure::Sink(refused_run(
                batch, row, in_a_row, &refusal,
            )));
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
        let reject = RejectedRow::refused(part.target, batch, row, &refusal);
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

/// Up to ten line numbers, then `...` when there are more.
pub(super) fn some_lines(lines: impl ExactSizeIterator<Item = u64>) -> String {
    let more = lines.len() > 10;
    let mut shown: Vec<String> = lines.take(10).map(|line| line.to_string()).collect();
    if more {
        shown.push("...".into());
    }
    shown.join(", ")
}

#[cfg(test)]
mod tests;
