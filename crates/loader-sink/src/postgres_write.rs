//! One write into PostgreSQL: its transaction (the rows by COPY, or an upsert's, the
//! quarantined rows and the ledger record, committed after the write before it in the
//! file), and the COPY itself.

use crate::ledger_queries::Rows;
use crate::postgres::{PgSink, describe, pg_error};
use crate::postgres_copy::{BINARY_HEADER, CopyFormat, holds_nul, write_binary_row, write_csv_row};
use crate::quote_identifier;
use bytes::Bytes;
use futures_util::SinkExt;
use loader_batch::{
    LoadTarget, PreviousWrite, RowBatch, SetAside, SinkError, SinkErrorKind, write_in_parts,
};
use std::ops::Range;
use std::time::Duration;

/// Bytes of CSV sent to the server at a time: bounds the memory a write needs beyond its
/// batch, which the budget already counts.
const CHUNK_BYTES: usize = 256 << 10;

impl PgSink {
    /// One write, in one transaction; with `previous`, committed only after it. Returns the
    /// rows stored, and what setting refused rows aside came to when `how` asked for it.
    pub(crate) async fn copy(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        previous: &PreviousWrite,
        how: &Rows<'_>,
    ) -> std::result::Result<(u64, Option<SetAside>), SinkError> {
        let fail = |e: tokio_postgres::Error| pg_error(&target.table, &e);
        // A replace must empty the table before any other write to it commits: writes that
        // may be the first take the lock, and look again once they hold it.
        let replace = target.ledger.as_ref().and_then(|k| k.replace.as_ref());
        if replace.is_some_and(|r| r.is_pending()) {
            // Not overlapped: a later write holding the lock while it waits for this
            // file's earlier one, which waits for the lock, would wait forever.
            previous.committed().await?;
        }
        let _guard = match replace {
            Some(r) if r.is_pending() => Some(self.replace_lock.lock().await),
            _ => None,
        };
        let replacing = replace.filter(|r| r.is_pending());
        let mut client = self.client().await?;
        let mut transaction = client.transaction().await.map_err(fail)?;
        if let (Some(key), Some(_)) = (&target.ledger, replacing) {
            crate::postgres_ledger::empty_table(self, &transaction, &target.table, &key.run_id)
                .await
                .map_err(fail)?;
        }
        let (written, set_aside) = match how {
            Rows::Whole if rows.is_empty() => (0, None),
            Rows::Whole => {
                let written = self
                    .copy_rows(target, &transaction, batch, rows.clone())
                    .await?;
                (written, None)
            }
            Rows::SettingAside {
                refusal, limits, ..
            } => {
                let mut parts = crate::postgres_parts::Savepoints {
                    sink: self,
                    target,
                    transaction: &mut transaction,
                };
                let set_aside =
                    write_in_parts(&mut parts, target, batch, rows.clone(), refusal, *limits)
                        .await?;
                let stored = set_aside.committed.len() - set_aside.refused.len();
                (stored as u64, Some(set_aside))
            }
        };
        let (handled, rejects) =
            crate::ledger_queries::handled_and_rejects(batch, rows.clone(), set_aside.as_ref());
        // The ledger's own tables refusing a row (another run recorded the range) is no
        // fault of the data: setting rows aside would not help.
        let ledger_fail = |e: tokio_postgres::Error| match fail(e) {
            refused if refused.kind == SinkErrorKind::Data => {
                SinkError::terminal(crate::ledger_queries::recorded_by_another_run(
                    &target.table,
                    batch.line_range(rows.clone()),
                    &refused.message,
                ))
            }
            other => other,
        };
        crate::postgres_ledger::quarantine(self, &transaction, target, &rejects)
            .await
            .map_err(ledger_fail)?;
        if let Some(key) = &target.ledger
            && !(handled.is_empty() && rejects.is_empty())
        {
            let recorded = crate::ledger_queries::Recorded {
                rows: handled,
                stored: written,
                rejected: rejects.len() as u64,
            };
            crate::postgres_ledger::record_batch(self, &transaction, target, key, batch, recorded)
                .await
                .map_err(ledger_fail)?;
        }
        // Everything but the commit is done; rows of one file commit in their order.
        if !wait_unblocking(&transaction, previous, &target.table).await? {
            // This write holds a key that a write of the file before it waits for (a value
            // repeated in both, under a unique index): each would wait for the other forever,
            // unseen by PostgreSQL's deadlock detector, which knows nothing of the order.
            // Roll back, let the earlier write commit, then write these rows again.
            drop(transaction);
            drop(client);
            previous.committed().await?;
            return Box::pin(self.copy(target, batch, rows, &PreviousWrite::none(), how)).await;
        }
        if !how.keeps(set_aside.as_ref()) {
            // The writes before set rows aside meanwhile: not under these limits. Rolled
            // back as the transaction drops.
            return Ok((0, None));
        }
        transaction.commit().await.map_err(fail)?;
        if let Some(replace) = replacing {
            replace.done();
        }
        Ok((written, set_aside))
    }

    /// Sends `rows` through COPY in `transaction`: into the target's table, or, for an upsert,
    /// into a table of its own from which they are merged (see [`Self::upsert_rows`]).
    pub(crate) async fn copy_rows(
        &self,
        target: &LoadTarget,
        transaction: &deadpool_postgres::Transaction<'_>,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> std::result::Result<u64, SinkError> {
        match crate::on_conflict_sql(target) {
            Some(on_conflict) => {
                self.upsert_rows(target, transaction, batch, rows, &on_conflict)
                    .await
            }
            None => self.copy_into(None, target, transaction, batch, rows).await,
        }
    }

    /// Sends `rows` through COPY in `transaction`, into the target's table or into the
    /// temporary table named `stage`.
    pub(crate) async fn copy_into(
        &self,
        stage: Option<&str>,
        target: &LoadTarget,
        transaction: &deadpool_postgres::Transaction<'_>,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> std::result::Result<u64, SinkError> {
        let copied = stage.unwrap_or(&target.table);
        let fail =
            |e: tokio_postgres::Error| copy_error(&target.table, copied, &e, batch, rows.start);
        let table_copy = self.format_for(target).await?;
        let format = &table_copy.format;
        let columns: Vec<String> = table_copy
            .columns
            .iter()
            .map(|name| quote_identifier(name))
            .collect();
        let statement = format!(
            "COPY {} ({}) FROM STDIN (FORMAT {})",
            stage.map_or_else(
                || self.qualified(&target.table),
                |name| format!("pg_temp.{}", quote_identifier(name))
            ),
            columns.join(", "),
            format.sql()
        );
        // Prepared once per connection: a refused sub-batch is written again in many parts.
        // Not a temporary table's, made again by each write.
        let statement = match stage {
            Some(_) => transaction.prepare(&statement).await,
            None => transaction.prepare_cached(&statement).await,
        }
        .map_err(fail)?;
        let copy = transaction
            .copy_in::<_, Bytes>(&statement)
            .await
            .map_err(fail)?;
        futures_util::pin_mut!(copy);
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 4096);
        if let CopyFormat::Binary(_) = format {
            chunk.extend_from_slice(BINARY_HEADER);
        }
        let nul = holds_nul(batch, rows.clone());
        for row in rows.clone() {
            match format {
                CopyFormat::Binary(wires) => write_binary_row(&mut chunk, wires, batch, row, nul)
                    .map_err(|e| {
                    let name = table_copy.columns.get(e.column).map_or("", String::as_str);
                    SinkError::new(
                        SinkErrorKind::Data,
                        format!(
                            "{}: line {}: column {} ({name:?}): {}",
                            target.table,
                            batch.line(row),
                            e.column + 1,
                            e.message
                        ),
                    )
                    .at_row(row)
                })?,
                CopyFormat::Csv => write_csv_row(&mut chunk, target, batch, row),
            }
            if chunk.len() >= CHUNK_BYTES {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 4096));
                copy.send(Bytes::from(full)).await.map_err(fail)?;
            }
        }
        if let CopyFormat::Binary(_) = format {
            chunk.extend_from_slice(&(-1i16).to_be_bytes());
        }
        if !chunk.is_empty() {
            copy.send(Bytes::from(chunk)).await.map_err(fail)?;
        }
        copy.finish().await.map_err(fail)
    }
}

/// How long a write waits for the one before it before asking, and asking again, whether it
/// blocks another session meanwhile. Upserts of a file that repeats keys in nearby rows give
/// way often: 20,000 rows over 1,500 keys on three streams took 2.7 s with 200 ms, 1.2 s with
/// 50 ms; a load that never blocks asks a few times a second per stream.
const BLOCKING_CHECK: Duration = Duration::from_millis(50);

/// Waits for `previous` to commit, holding `transaction` open: `true` once it has, `false`
/// as soon as `transaction` is found to block another session (which may be `previous`).
async fn wait_unblocking(
    transaction: &tokio_postgres::Transaction<'_>,
    previous: &PreviousWrite,
    table: &str,
) -> std::result::Result<bool, SinkError> {
    let committed = previous.committed();
    tokio::pin!(committed);
    loop {
        tokio::select! {
            result = &mut committed => return result.map(|()| true),
            () = tokio::time::sleep(BLOCKING_CHECK) => {
                let blocking = transaction
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                         WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid)))",
                        &[],
                    )
                    .await
                    .map_err(|e| pg_error(table, &e))?;
                if blocking.get::<_, bool>(0) {
                    return Ok(false);
                }
            }
        }
    }
}

/// A failure of a COPY of rows from `first` of `batch` on (into `copied`, the target's
/// table or an upsert's temporary one): when the server says which row
/// of the COPY it refused (`COPY t, line 3`, counting rows in binary format too), the error
/// names that row of the batch, and its message the row's line in the file.
fn copy_error(
    table: &str,
    copied: &str,
    e: &tokio_postgres::Error,
    batch: &RowBatch,
    first: usize,
) -> SinkError {
    let error = pg_error(table, e);
    let Some(row) = e
        .as_db_error()
        .and_then(|db| db.where_())
        .and_then(|context| copy_row(context, copied))
        .map(|copied| first + copied)
        .filter(|row| *row < batch.len())
    else {
        return error;
    };
    let message = format!("{table}: line {}: {}", batch.line(row), describe(e));
    SinkError { message, ..error }.at_row(row)
}

/// The row of a COPY into `table` (from 0) named in an error's context,
/// `COPY t, line 3[, column ...]`.
fn copy_row(context: &str, table: &str) -> Option<usize> {
    let prefix = format!("COPY {table}, line ");
    let after = context
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))?;
    let digits = after.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse::<usize>().ok()?.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_a_copy_error_names_is_read_from_its_context() {
        assert_eq!(copy_row("COPY orders, line 3", "orders"), Some(2));
        assert_eq!(
            copy_row("COPY orders, line 12, column id: \"x, line 9\"", "orders"),
            Some(11)
        );
        assert_eq!(copy_row("COPY other, line 3", "orders"), None);
        assert_eq!(copy_row("SQL statement \"...\"", "orders"), None);
        assert_eq!(copy_row("COPY orders, line 0", "orders"), None);
    }
}
