//! How many rows of a batch the database may refuse, under the file's bad-row policy, and
//! the error for the one past the limit.

use crate::PlannedFile;
use crate::file_task::{Progress, lock};
use loader_batch::RowBatch;
use std::sync::Mutex;

/// How many rows of a batch the database may refuse and have them set aside, under the
/// file's bad-row policy.
///
/// Refused rows count against `--max-errors` and `--max-error-ratio` with the rejects read,
/// every reject of their batch included; the reader checks the limits on rejects read alone,
/// so once the database has refused rows, a batch whose own rejects then cross a limit stops
/// the file at its first line, not loaded.
pub(crate) struct RejectRoom {
    /// Rows that may be set aside (`None` when failing: none, and the file stops).
    pub room: Option<u64>,
    /// Rejects of the file counted so far, this batch's included.
    rejected: u64,
    /// Rows of the file read, through this batch.
    read: u64,
}

impl RejectRoom {
    pub(crate) fn for_batch(
        file: &PlannedFile,
        progress: &Mutex<Progress>,
        batch: &RowBatch,
    ) -> std::result::Result<RejectRoom, loader_file::Error> {
        let policy = file.csv.get_bad_rows();
        let p = lock(progress);
        let batch_rejects = batch.rejects().len() as u64;
        let rejected = p.rows_rejected + batch_rejects;
        let read = p.rows_loaded + p.rows_rejected + batch.len() as u64 + batch_rejects;
        let room = policy.room_left(p.rows_rejected, read);
        match room {
            Some(room) if p.rows_refused > 0 && batch_rejects > room => {
                let all = 0..batch.len();
                Err(loader_file::Error::TooManyRejects {
                    path: file.path.clone(),
                    line: batch.line_range(all.clone()).start,
                    byte: batch.byte_range(all).start,
                    rejected,
                    read,
                    limit: crossed_limit(policy, rejected),
                })
            }
            _ => Ok(RejectRoom {
                room: room.map(|room| room.saturating_sub(batch_rejects)),
                rejected,
                read,
            }),
        }
    }

    /// The error for a row the database refused, found alone, that the policy does not let
    /// it set aside: past the limits, or failing. The processor committed the rows before it.
    pub(crate) fn refused(
        &self,
        file: &PlannedFile,
        batch: &RowBatch,
        error: &loader_batch::Error,
    ) -> Option<crate::Error> {
        let loader_batch::Error::Sink {
            committed_rows,
            refused,
            source,
            ..
        } = error
        else {
            return None;
        };
        let row = source
            .row
            .filter(|row| row == committed_rows && *row < batch.len())?;
        let Some(_) = self.room else {
            return Some(crate::Error::Refused {
                path: file.path.display().to_string(),
                line: batch.line(row),
                message: source.message.clone(),
            });
        };
        let rejected = self.rejected + refused.len() as u64 + 1;
        // Read up to the refused row, itself included: the rows after it were read ahead
        // with their batch, but the file stops before them.
        let through = 0..row + 1;
        let batch_read = (batch.len() + batch.rejects().len()) as u64;
        let read_before = self.read - batch_read;
        let read = read_before + (row + 1 + batch.rejects_in(through).len()) as u64;
        Some(crate::Error::File(loader_file::Error::TooManyRejects {
            path: file.path.clone(),
            line: batch.line(row),
            byte: batch.offset(row),
            rejected,
            read: read.min(self.read),
            limit: crossed_limit(file.csv.get_bad_rows(), rejected),
        }))
    }
}

/// The limit `rejected` rows crossed, as given on the command line.
fn crossed_limit(policy: loader_file::BadRowPolicy, rejected: u64) -> String {
    match (policy.get_max_errors(), policy.get_max_error_ratio()) {
        (Some(max), _) if rejected > max => format!("--max-errors {max}"),
        (_, Some(ratio)) => format!("--max-error-ratio {ratio}"),
        (max, _) => format!("--max-errors {}", max.unwrap_or_default()),
    }
}
