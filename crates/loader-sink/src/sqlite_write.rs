//! One write into SQLite: its rows in multi-row `INSERT`s in one transaction, with the
//! batch's rejects and the ledger record.
//!
//! Rows SQLite refuses are set aside inside that transaction when the processor asks for it
//! (`write_setting_aside`). A refused statement is undone alone (a savepoint around each
//! statement, as a constraint declared `ON CONFLICT FAIL` would keep its rows before the
//! refused one), and only its rows are inserted again, one at a time: nothing else is sent
//! twice. A constraint declared `ON CONFLICT ROLLBACK` undoes the whole transaction; the
//! write then fails, nothing stored, and the processor writes the parts itself.

use crate::ledger_queries::Rows;
use crate::sqlite::{
    InsertKey, SqliteSink, bind_and_run, columns_key, database_error, insert_statement,
};
use crate::sqlite_insert::InsertStatement;
use crate::{Error, Result};
use loader_batch::{LoadTarget, RejectedRow, RowBatch, SetAside, SinkError, SinkErrorKind};
use rusqlite::Connection;
use std::collections::HashMap;
use std::ops::Range;

/// Rows per multi-row `INSERT` (fewer when the table is too wide for SQLite's parameter limit).
const ROWS_PER_STATEMENT: usize = 64;

/// SQLite's default limit on bound parameters per statement (since 3.32).
const MAX_PARAMETERS: usize = 32_766;

/// Around each statement of a write setting refused rows aside.
const STATEMENT_SAVEPOINT: &str = "SAVEPOINT loader_statement";
const STATEMENT_DONE: &str = "RELEASE loader_statement";
const STATEMENT_UNDONE: &str = "ROLLBACK TO loader_statement; RELEASE loader_statement";

impl SqliteSink {
    /// One write, in one transaction: the rows stored, and what setting refused rows aside
    /// came to when `how` asked for it.
    pub(crate) fn insert(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        how: &Rows<'_>,
    ) -> Result<(u64, Option<SetAside>)> {
        let columns = target.schema.columns();
        let per_statement = (MAX_PARAMETERS / columns.len().max(1)).clamp(1, ROWS_PER_STATEMENT);
        let mut guard = self.lock();
        let state = &mut *guard;
        let fail = |e: rusqlite::Error| database_error(&target.table, &e);
        let transaction = state.connection.transaction().map_err(fail)?;
        let replacing = target
            .ledger
            .as_ref()
            .and_then(|key| key.replace.as_ref())
            .filter(|replace| replace.is_pending());
        if let (Some(key), Some(_)) = (&target.ledger, replacing) {
            crate::sqlite_ledger::empty_table(&transaction, &target.table, &key.run_id)
                .map_err(fail)?;
        }
        let mut setting_aside = match how {
            Rows::Whole => None,
            Rows::SettingAside { limits, .. } => Some(SetAside {
                committed: rows.clone(),
                refused: Vec::new(),
                limits: *limits,
                stopped: None,
                parts_refused: 0,
            }),
        };
        let mut written = 0u64;
        let mut start = rows.start;
        let columns_key = columns_key(target);
        while start < rows.end {
            let count = per_statement.min(rows.end - start);
            let statement = insert_statement(
                &mut state.inserts,
                &transaction,
                target,
                &columns_key,
                count,
            )
            .map_err(|e| statement_error(target, &e))?;
            // Setting rows aside, each statement has a savepoint: a constraint declared
            // `ON CONFLICT FAIL` keeps the rows a refused statement inserted before the
            // refused one, which would otherwise go in again.
            if setting_aside.is_some() {
                transaction
                    .execute_batch(STATEMENT_SAVEPOINT)
                    .map_err(fail)?;
            }
            match bind_and_run(statement, target, batch, start..start + count) {
                Ok(rows) => {
                    written += rows;
                    if let Some(set_aside) = &mut setting_aside {
                        set_aside.limits.stored();
                        transaction.execute_batch(STATEMENT_DONE).map_err(fail)?;
                    }
                }
                Err(
                    refused @ Error::Database {
                        kind: SinkErrorKind::Data,
                        ..
                    },
                ) => {
                    let rows = start..start + count;
                    let Some(set_aside) = &mut setting_aside else {
                        return Err(name_refused_row(
                            &mut state.inserts,
                            &transaction,
                            target,
                            batch,
                            rows,
                            refused,
                        ));
                    };
                    if transaction.is_autocommit() {
                        // `ON CONFLICT ROLLBACK` undid the whole transaction: nothing to go
                        // on with; the processor's own way writes the parts one by one.
                        return Err(refused);
                    }
                    // That statement undone, its rows go again one at a time.
                    transaction.execute_batch(STATEMENT_UNDONE).map_err(fail)?;
                    set_aside.parts_refused += 1;
                    let (inserts, key) = (&mut state.inserts, columns_key.as_str());
                    written +=
                        rows_alone(inserts, &transaction, target, batch, rows, key, set_aside)?;
                    if set_aside.stopped.is_some() {
                        break;
                    }
                }
                Err(other) => return Err(other),
            }
            start += count;
        }
        let (handled, rejects) =
            crate::ledger_queries::handled_and_rejects(batch, rows.clone(), setting_aside.as_ref());
        // The ledger's own tables refusing a row (another run recorded the range) is no
        // fault of the data: setting rows aside would not help.
        let ledger_fail = |e: rusqlite::Error| match database_error(&target.table, &e) {
            Error::Database {
                kind: SinkErrorKind::Data,
                table,
                message,
            } => Error::Database {
                kind: SinkErrorKind::Terminal,
                message: crate::ledger_queries::recorded_by_another_run(
                    &table,
                    batch.line_range(rows.clone()),
                    &message,
                ),
                table,
            },
            other => other,
        };
        crate::sqlite_ledger::quarantine(&transaction, target, &rejects).map_err(ledger_fail)?;
        if let Some(key) = &target.ledger
            && !(handled.is_empty() && rejects.is_empty())
        {
            let recorded = crate::ledger_queries::Recorded {
                stored: written,
                rejected: rejects.len() as u64,
                rows: handled,
            };
            crate::sqlite_ledger::record_batch(&transaction, target, key, batch, recorded)
                .map_err(ledger_fail)?;
        }
        if !how.keeps(setting_aside.as_ref()) {
            // Not under the limits as the writes before left them: rolled back as the
            // transaction drops.
            return Ok((0, None));
        }
        transaction.commit().map_err(fail)?;
        if let Some(replace) = replacing {
            replace.done();
        }
        Ok((written, setting_aside))
    }
}

/// A statement SQLite would not prepare: for an upsert into a table without a unique index on
/// its key, the remedy; else as [`database_error`].
pub(crate) fn statement_error(target: &LoadTarget, error: &rusqlite::Error) -> Error {
    let unmatched = error
        .to_string()
        .contains("does not match any PRIMARY KEY or UNIQUE constraint");
    if target.upsert_key.is_some() && unmatched {
        return Error::Database {
            kind: SinkErrorKind::Terminal,
            table: target.table.clone(),
            message: crate::no_unique_key(target, &crate::quote_identifier(&target.table)),
        };
    }
    database_error(&target.table, error)
}

/// The error for a multi-row INSERT of `rows` that SQLite refused, naming the row it refused:
/// SQLite does not say which, so each row is inserted alone, in the transaction the failed
/// statement left as it was, until one is refused. The caller rolls all of it back.
fn name_refused_row(
    inserts: &mut HashMap<InsertKey, InsertStatement>,
    transaction: &Connection,
    target: &LoadTarget,
    batch: &RowBatch,
    rows: Range<usize>,
    refused: Error,
) -> Error {
    let named = |row: usize, refused: Error| Error::RefusedRow {
        row,
        column: refused_column(&refused, &target.table),
        source: Box::new(refused),
    };
    // `ON CONFLICT ROLLBACK` undid the transaction: a row inserted now would commit alone.
    if rows.len() == 1 || transaction.is_autocommit() {
        return named(rows.start, refused);
    }
    let columns_key = columns_key(target);
    for row in rows {
        let Ok(statement) = insert_statement(inserts, transaction, target, &columns_key, 1) else {
            break;
        };
        if let Err(
            alone @ Error::Database {
                kind: SinkErrorKind::Data,
                ..
            },
        ) = bind_and_run(statement, target, batch, row..row + 1)
        {
            return named(row, alone);
        }
    }
    refused
}

/// The one column a constraint failure names (`NOT NULL constraint failed: t.name`), if it
/// names one column of `table`.
fn refused_column(error: &Error, table: &str) -> Option<String> {
    let Error::Database { message, .. } = error else {
        return None;
    };
    let (_, columns) = message.split_once(" constraint failed: ")?;
    let column = columns.strip_prefix(table)?.strip_prefix('.')?;
    (!column.contains(", ")).then(|| column.to_owned())
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
    columns_key: &str,
    set_aside: &mut SetAside,
) -> Result<u64> {
    let mut stored = 0;
    for row in rows {
        let statement = insert_statement(inserts, transaction, target, columns_key, 1)
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
