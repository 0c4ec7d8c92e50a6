//! Rows SQLite refuses, set aside inside the write's one transaction. A refused statement is
//! undone alone (a savepoint around each statement, as a constraint declared `ON CONFLICT
//! FAIL` would keep its rows before the refused one), and only its rows are inserted again,
//! one at a time: nothing else is sent twice. A constraint declared `ON CONFLICT ROLLBACK`
//! undoes the whole transaction; the write then fails, nothing stored, and the processor
//! writes the parts itself.

use crate::Error;
use crate::sqlite::{
    InsertKey, bind_and_run, columns_key, database_error, insert_statement, refused_column,
};
use crate::sqlite_insert::InsertStatement;
use loader_batch::{
    LoadTarget, RejectedRow, RowBatch, SetAside, SetAsideLimits, SinkError, SinkErrorKind,
};
use rusqlite::Connection;
use std::collections::HashMap;
use std::ops::Range;

/// What a write does with its rows.
pub(crate) enum Rows<'a> {
    /// Stores them all, or fails.
    Whole,
    /// Sets the rows SQLite refuses aside within `limits`, and commits only what `admit`
    /// keeps.
    SettingAside {
        limits: SetAsideLimits,
        admit: &'a (dyn Fn(&SetAside) -> bool + Send + Sync),
    },
}

/// Inserts rows `rows`, whose statement SQLite refused, one at a time in `transaction`: a
/// row refused alone is set aside while `set_aside.limits` allow, and the first they do not
/// stops the write there (`set_aside.stopped`, `set_aside.committed` ending before it).
/// Returns the rows stored.
pub(crate) fn rows_alone(
    inserts: &mut HashMap<InsertKey, InsertStatement>,
    transaction: &Connection,
    target: &LoadTarget,
    batch: &RowBatch,
    rows: Range<usize>,
    set_aside: &mut SetAside,
) -> Result<u64, Error> {
    let columns_key = columns_key(target);
    let mut stored = 0;
    for row in rows {
        let statement = insert_statement(inserts, transaction, target, &columns_key, 1)
            .map_err(|e| database_error(&target.table, &e))?;
        match bind_and_run(statement, target, batch, row..row + 1) {
            Ok(rows) => {
                stored += rows;
                set_aside.limits.stored();
            }
            Err(
                alone @ Error::Database {
                    kind: SinkErrorKind::Data,
                    ..
                },
            ) => {
                if transaction.is_autocommit() {
                    // `ON CONFLICT ROLLBACK` undid the whole transaction.
                    return Err(alone);
                }
                let refusal = SinkError::from(Error::RefusedRow {
                    row,
                    column: refused_column(&alone, &target.table),
                    source: Box::new(alone),
                });
                if !set_aside.limits.take() {
                    set_aside.committed.end = row;
                    set_aside.stopped = Some(refusal);
                    return Ok(stored);
                }
                let reject = RejectedRow::refused(target, batch, row, &refusal);
                set_aside.refused.push((row, reject));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(stored)
}
