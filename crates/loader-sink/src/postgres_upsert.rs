//! Upserts into PostgreSQL: COPY cannot take `ON CONFLICT`, so an upsert's rows are
//! copied into a temporary table and inserted from there; and the catalog check that the
//! table has a unique index on the key.

use crate::postgres::{PgSink, pg_error};
use crate::quote_identifier;
use loader_batch::{LoadTarget, RowBatch, SinkError};
use std::ops::Range;

impl PgSink {
    /// An upsert of `rows`: COPY cannot take `ON CONFLICT`, so they are copied into a
    /// temporary table of the file's columns and inserted from there. Of two rows with one
    /// key the later wins: only the last of each key is inserted (it is in the temporary
    /// table after the other, so at a higher `ctid`), as one `INSERT` may not touch a row
    /// twice. A row with a NULL in its key stands alone, as it conflicts with none. The
    /// temporary table is dropped before returning, so that the next part of a write set
    /// aside in savepoints makes it again.
    pub(crate) async fn upsert_rows(
        &self,
        target: &LoadTarget,
        transaction: &deadpool_postgres::Transaction<'_>,
        batch: &RowBatch,
        rows: Range<usize>,
        on_conflict: &str,
    ) -> std::result::Result<u64, SinkError> {
        let table = self.qualified(&target.table);
        let fail = |e: tokio_postgres::Error| upsert_error(target, &table, &e);
        let names: Vec<&str> = target
            .schema
            .columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let columns = crate::quoted_list(&names);
        let key = target.upsert_key_names();
        let keys = crate::quoted_list(&key);
        let null_key: Vec<String> = key
            .iter()
            .map(|name| format!("{} IS NULL", quote_identifier(name)))
            .collect();
        let alone = format!("CASE WHEN {} THEN ctid END", null_key.join(" OR "));
        let stage = format!("pg_temp.{}", quote_identifier(UPSERT_STAGE));
        // Typed as the table's columns are, so the rows travel as they would into it.
        transaction
            .batch_execute(&format!(
                "CREATE TABLE {stage} AS SELECT {columns} FROM {table} WITH NO DATA"
            ))
            .await
            .map_err(fail)?;
        self.copy_into(Some(UPSERT_STAGE), target, transaction, batch, rows.clone())
            .await?;
        transaction
            .batch_execute(&format!(
                "INSERT INTO {table} ({columns}) SELECT {columns} FROM \
                 (SELECT DISTINCT ON ({keys}, {alone}) * FROM {stage} \
                  ORDER BY {keys}, {alone}, ctid DESC) AS latest{on_conflict}; \
                 DROP TABLE {stage}"
            ))
            .await
            .map_err(fail)?;
        Ok(rows.len() as u64)
    }

    /// [`BatchSink::check_upsert_key`](loader_batch::BatchSink::check_upsert_key): whether
    /// the table has a valid, immediate unique index, without a predicate or expressions,
    /// on exactly the key's columns, as PostgreSQL needs to infer `ON CONFLICT (key)`. A
    /// table not there yet is fine: the load makes it with the key.
    pub(crate) async fn check_upsert_key(&self, target: &LoadTarget) -> Result<(), SinkError> {
        if self.columns_of(&target.table).await?.is_none() {
            return Ok(());
        }
        let table = self.qualified(&target.table);
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT i.indexrelid::bigint, a.attname::text FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indisvalid \
                 AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL \
                 ORDER BY 1",
                &[&table],
            )
            .await
            .map_err(|e| pg_error(&target.table, &e))?;
        let unique = crate::upsert::by_index(
            rows.iter()
                .map(|row| (row.get::<_, i64>(0), Some(row.get::<_, String>(1)))),
        );
        if crate::upsert::covers_key(&unique, &target.upsert_key_names(), |a, b| a == b) {
            return Ok(());
        }
        Err(crate::upsert::no_unique_key_error(target, &table))
    }
}

/// The temporary table an upsert's rows are copied into first (see `PgSink::upsert_rows`).
const UPSERT_STAGE: &str = "_loader_upsert";

/// A failure of an upsert's statements: without a unique index on the key, PostgreSQL
/// cannot tell a conflict, and says so in its own terms; the rest as [`pg_error`].
fn upsert_error(target: &LoadTarget, table: &str, e: &tokio_postgres::Error) -> SinkError {
    // invalid_column_reference: no unique index or constraint matches ON CONFLICT.
    if e.code().is_some_and(|c| c.code() == "42P10") {
        return crate::upsert::no_unique_key_error(target, table);
    }
    pg_error(&target.table, e)
}
