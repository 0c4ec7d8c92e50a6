//! The exactly-once ledger and the audit table in PostgreSQL: the same tables as in SQLite
//! (see `sqlite_ledger.rs`), in the sink's schema, written in the same transactions.

use crate::postgres::{PgSink, pg_error};
use async_trait::async_trait;
use loader_batch::{
    AuditError, AuditEvent, AuditSink, ContextId, EventKind, FileLedgerState, FileRecord,
    LEDGER_VERSION, Ledger, LedgerKey, LedgerStatus, LoadTarget, PathHistory, RejectedRow,
    RowBatch, RunRecord, Scope, SinkError,
};
use std::sync::{Arc, Weak};
use tokio_postgres::{GenericClient, Row, Transaction};

/// Makes `transaction` commit only once the server's write-ahead log is on disk up to its
/// commit record, and with it every commit before it, of any session.
///
/// Loader's sessions commit with `synchronous_commit=off` (see `pg_settings`): a commit that
/// a crash of the server loses takes its ledger row with it, so the next run loads those rows
/// again and exactly-once holds. But a run that has said it ended may have its files
/// archived or deleted by then, leaving no next run to load them: the run's end record, and
/// the trail's last events, commit through this, and so everything the run committed before
/// them is on disk once it says it ended. A session whose URL's `options=` chose a level of
/// its own (`local`, `remote_apply`) keeps it.
pub(crate) async fn commit_durably(
    transaction: &Transaction<'_>,
) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(
            "SELECT set_config('synchronous_commit', 'on', true) \
             WHERE current_setting('synchronous_commit') = 'off'",
        )
        .await
}

/// Whether `event` is a run's last (its commit or failure): see [`commit_durably`].
fn ends_a_run(event: &AuditEvent) -> bool {
    event.scope == Scope::Run && matches!(event.kind, EventKind::Committed | EventKind::Failed)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn schema_sql(sink: &PgSink) -> String {
    let t = |name: &str| sink.qualified(name);
    format!(
        r#"
CREATE TABLE IF NOT EXISTS {meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {runs} (
    run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT,
    settings TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT);
CREATE TABLE IF NOT EXISTS {files} (
    run_id TEXT NOT NULL, table_name TEXT NOT NULL, file_hash TEXT NOT NULL,
    generation INTEGER NOT NULL, path TEXT NOT NULL, size BIGINT NOT NULL, state TEXT NOT NULL,
    rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL, rows_rejected BIGINT NOT NULL,
    rows_skipped BIGINT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, error TEXT,
    PRIMARY KEY (run_id, table_name, file_hash, generation));
CREATE TABLE IF NOT EXISTS {batches} (
    table_name TEXT NOT NULL, file_hash TEXT NOT NULL, generation INTEGER NOT NULL,
    byte_start BIGINT NOT NULL, byte_end BIGINT NOT NULL,
    first_line BIGINT NOT NULL, end_line BIGINT NOT NULL, rows BIGINT NOT NULL,
    run_id TEXT NOT NULL, committed_at TEXT NOT NULL, rejected BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (table_name, file_hash, generation, byte_start));
ALTER TABLE {batches} ADD COLUMN IF NOT EXISTS rejected BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS "_loader_files_by_path" ON {files} (table_name, path);
UPDATE {meta} SET value = '2' WHERE key = 'schema_version' AND value = '1';
CREATE TABLE IF NOT EXISTS {audit} (
    id BIGSERIAL PRIMARY KEY, run_id TEXT, at TEXT NOT NULL, scope TEXT NOT NULL,
    context BIGINT NOT NULL, parent BIGINT, kind TEXT NOT NULL, file TEXT, table_name TEXT,
    batch BIGINT, rows BIGINT, bytes BIGINT, first_line BIGINT, end_line BIGINT,
    byte_start BIGINT, byte_end BIGINT, duration_ms DOUBLE PRECISION, attempt INTEGER, reason TEXT,
    memory_used BIGINT, memory_reserved BIGINT, memory_budget BIGINT, memory_limit BIGINT);
ALTER TABLE {audit} ADD COLUMN IF NOT EXISTS memory_used BIGINT;
ALTER TABLE {audit} ADD COLUMN IF NOT EXISTS memory_reserved BIGINT;
ALTER TABLE {audit} ADD COLUMN IF NOT EXISTS memory_budget BIGINT;
ALTER TABLE {audit} ADD COLUMN IF NOT EXISTS memory_limit BIGINT;
"#,
        meta = t("_loader_meta"),
        runs = t("_loader_runs"),
        files = t("_loader_files"),
        batches = t("_loader_batches"),
        audit = t("_loader_audit"),
    )
}

/// The quarantine table (see `sqlite_ledger.rs`), made when a file is prepared.
pub(crate) fn quarantine_sql(sink: &PgSink) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (
    table_name TEXT NOT NULL, file TEXT NOT NULL, file_hash TEXT, generation INTEGER,
    run_id TEXT, line BIGINT NOT NULL, byte BIGINT NOT NULL, column_number INTEGER,
    column_name TEXT, kind TEXT NOT NULL, message TEXT NOT NULL, raw BYTEA NOT NULL,
    quarantined_at TEXT NOT NULL,
    UNIQUE (table_name, file_hash, generation, byte))",
        sink.qualified("_loader_quarantine")
    )
}

/// Quarantines `rejects`, in the transaction that commits the rows they belong with.
pub(crate) async fn quarantine(
    sink: &PgSink,
    transaction: &deadpool_postgres::Transaction<'_>,
    target: &LoadTarget,
    rejects: &[RejectedRow],
) -> Result<(), tokio_postgres::Error> {
    if rejects.is_empty() {
        return Ok(());
    }
    // Prepared once per connection: a file with rows set aside writes many of these.
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (table_name, file, file_hash, generation, run_id, line, byte, \
             column_number, column_name, kind, message, raw, quarantined_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            sink.qualified("_loader_quarantine")
        ))
        .await?;
    let key = target.ledger.as_deref();
    let file = target.source.display().to_string();
    let at = now();
    for reject in rejects {
        transaction
            .execute(
                &statement,
                &[
                    &target.table,
                    &file,
                    &key.map(|k| &k.file_hash),
                    &key.map(|k| k.generation as i32),
                    &key.map(|k| &k.run_id),
                    &(reject.line as i64),
                    &(reject.byte as i64),
                    &reject.column.map(|c| c as i32),
                    &reject.column_name,
                    &reject.kind.as_str(),
                    &reject.message,
                    &reject.raw,
                    &at,
                ],
            )
            .await?;
    }
    Ok(())
}

/// Empties `table` and drops other runs' ledger rows for it, inside the first write's
/// transaction of a replace run.
pub(crate) async fn empty_table(
    sink: &PgSink,
    transaction: &Transaction<'_>,
    table: &str,
    run_id: &str,
) -> Result<(), tokio_postgres::Error> {
    transaction
        .batch_execute(&format!("DELETE FROM {}", sink.qualified(table)))
        .await?;
    for ledger in ["_loader_batches", "_loader_files", "_loader_quarantine"] {
        transaction
            .execute(
                &format!(
                    "DELETE FROM {} WHERE table_name = $1 AND run_id IS DISTINCT FROM $2",
                    sink.qualified(ledger)
                ),
                &[&table, &run_id],
            )
            .await?;
    }
    Ok(())
}

/// Records a committed sub-batch in the transaction that commits its rows.
pub(crate) async fn record_batch(
    sink: &PgSink,
    transaction: &deadpool_postgres::Transaction<'_>,
    target: &LoadTarget,
    key: &LedgerKey,
    batch: &RowBatch,
    recorded: crate::ledger_queries::Recorded,
) -> Result<(), tokio_postgres::Error> {
    let bytes = batch.byte_range(recorded.rows.clone());
    let lines = batch.line_range(recorded.rows);
    // Prepared once per connection: this runs for every sub-batch.
    let statement = transaction
        .prepare_cached(&format!(
            "INSERT INTO {} (table_name, file_hash, generation, byte_start, byte_end, first_line, \
             end_line, rows, run_id, committed_at, rejected) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            sink.qualified("_loader_batches")
        ))
        .await?;
    transaction
        .execute(
            &statement,
            &[
                &target.table,
                &key.file_hash,
                &(key.generation as i32),
                &(bytes.start as i64),
                &(bytes.end as i64),
                &(lines.start as i64),
                &(lines.end as i64),
                &(recorded.stored as i64),
                &key.run_id,
                &now(),
                &(recorded.rejected as i64),
            ],
        )
        .await?;
    Ok(())
}

fn ledger_error(e: &tokio_postgres::Error) -> SinkError {
    pg_error("_loader ledger", e)
}

async fn has_ledger(
    sink: &PgSink,
    client: &impl GenericClient,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&sink.qualified("_loader_runs")],
        )
        .await?;
    row.try_get(0)
}

impl PgSink {
    /// Runs a history query, or returns nothing when this schema has no ledger yet.
    async fn ledger_rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, SinkError> {
        let client = self.client().await?;
        if !has_ledger(self, &**client)
            .await
            .map_err(|e| ledger_error(&e))?
        {
            return Ok(Vec::new());
        }
        client
            .query(sql, params)
            .await
            .map_err(|e| ledger_error(&e))
    }
}

fn read_run(row: &Row) -> RunRecord {
    RunRecord {
        run_id: row.get(0),
        started_at: row.get(1),
        ended_at: row.get(2),
        settings: row.get(3),
        outcome: row.get(4),
        error: row.get(5),
    }
}

fn read_file(row: &Row) -> FileRecord {
    let state: String = row.get(6);
    FileRecord {
        run_id: row.get(0),
        table: row.get(1),
        file_hash: row.get(2),
        generation: row.get::<_, i32>(3) as u32,
        path: row.get(4),
        size: row.get::<_, i64>(5) as u64,
        state: FileLedgerState::from_name(&state).unwrap_or(FileLedgerState::Failed),
        rows_read: row.get::<_, i64>(7) as u64,
        rows_loaded: row.get::<_, i64>(8) as u64,
        rows_rejected: row.get::<_, i64>(9) as u64,
        rows_skipped: row.get::<_, i64>(10) as u64,
        started_at: row.get(11),
        ended_at: row.get(12),
        error: row.get(13),
    }
}

fn text_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

fn parse_as<T: serde::de::DeserializeOwned>(text: String) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text)).ok()
}

impl PgSink {
    async fn ledger_begin_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        let client = self.client().await?;
        if let Err(e) = client.batch_execute(&schema_sql(self)).await {
            // Another loader creating the tables at the same moment: they exist now.
            if !e
                .code()
                .is_some_and(|c| crate::postgres::is_created_concurrently(c.code()))
            {
                return Err(ledger_error(&e));
            }
        }
        let meta = self.qualified("_loader_meta");
        client
            .execute(
                &format!("INSERT INTO {meta} (key, value) VALUES ('schema_version', $1) ON CONFLICT DO NOTHING"),
                &[&LEDGER_VERSION.to_string()],
            )
            .await
            .map_err(|e| ledger_error(&e))?;
        let version: String = client
            .query_one(
                &format!("SELECT value FROM {meta} WHERE key = 'schema_version'"),
                &[],
            )
            .await
            .map_err(|e| ledger_error(&e))?
            .get(0);
        if version.parse::<u32>().map_or(true, |v| v > LEDGER_VERSION) {
            return Err(SinkError::terminal(format!(
                "the ledger in schema {} has version {version}, newer than this loader supports \
                 ({LEDGER_VERSION}); upgrade loader",
                self.schema_name()
            )));
        }
        client
            .execute(
                &format!(
                    "INSERT INTO {} (run_id, started_at, ended_at, settings, outcome, error) VALUES ($1, $2, $3, $4, $5, $6)",
                    self.qualified("_loader_runs")
                ),
                &[&run.run_id, &run.started_at, &run.ended_at, &run.settings, &run.outcome, &run.error],
            )
            .await
            .map_err(|e| ledger_error(&e))?;
        Ok(())
    }

    async fn ledger_last_load_at(
        &self,
        client: &deadpool_postgres::Object,
        table: &str,
        path: &str,
        other_than: &str,
    ) -> Result<Option<PathHistory>, SinkError> {
        let sql = crate::ledger_queries::last_load_at(
            &self.qualified("_loader_files"),
            &self.qualified("_loader_batches"),
            ["$1", "$2", "$3"],
        );
        // Asked for every file that may have grown: prepared once per connection.
        let statement = client
            .prepare_cached(&sql)
            .await
            .map_err(|e| ledger_error(&e))?;
        let row = client
            .query_opt(&statement, &[&table, &path, &other_than])
            .await
            .map_err(|e| ledger_error(&e))?;
        Ok(row.map(|r| PathHistory {
            run_id: r.get(0),
            file_hash: r.get(1),
            size: r.get::<_, i64>(2) as u64,
            rows: r.get::<_, i64>(3) as u64,
            end: (r.get::<_, i64>(4) as u64, r.get::<_, i64>(5) as u64),
        }))
    }

    /// `status` and `last_load_at` at once on one connection: tokio-postgres pipelines
    /// their queries, so a file's second question costs no round trip of its own (asked on
    /// a second connection, it cost 0.2-0.3 ms a file on a directory of small files).
    async fn ledger_status_at(
        &self,
        table: &str,
        file_hash: &str,
        path: Option<&str>,
    ) -> Result<(LedgerStatus, Option<PathHistory>), SinkError> {
        let client = self.client().await?;
        let history = async {
            match path {
                Some(path) => {
                    self.ledger_last_load_at(&client, table, path, file_hash)
                        .await
                }
                None => Ok(None),
            }
        };
        tokio::try_join!(self.ledger_status(&client, table, file_hash), history)
    }

    async fn ledger_status(
        &self,
        client: &deadpool_postgres::Object,
        table: &str,
        file_hash: &str,
    ) -> Result<LedgerStatus, SinkError> {
        let files = self.qualified("_loader_files");
        let batches = self.qualified("_loader_batches");
        let runs = self.qualified("_loader_runs");
        let fail = |e: tokio_postgres::Error| ledger_error(&e);
        // Asked for every file: prepared once per connection, and the two sent together
        // (tokio-postgres pipelines queries made at once on one connection), a round trip
        // each less.
        let complete_sql = format!(
            "SELECT run_id, generation, rows_read FROM {files} WHERE table_name = $1 \
             AND file_hash = $2 AND state = 'complete' ORDER BY generation DESC LIMIT 1"
        );
        let latest_sql =
            format!("SELECT max(generation) FROM {files} WHERE table_name = $1 AND file_hash = $2");
        let (complete, latest) = tokio::try_join!(
            client.prepare_cached(&complete_sql),
            client.prepare_cached(&latest_sql)
        )
        .map_err(fail)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&table, &file_hash];
        let (complete, latest) = tokio::try_join!(
            client.query_opt(&complete, &params),
            client.query_one(&latest, &params)
        )
        .map_err(fail)?;
        // The complete record's rows, not its batches': a file that grew since an earlier
        // load holds batches only for its new rows.
        let complete = complete.map(|r| {
            let rows = r.get::<_, i64>(2) as u64;
            (r.get::<_, String>(0), r.get::<_, i32>(1) as u32, rows)
        });
        let latest: Option<i32> = latest.get(0);
        let latest = latest.map(|g| g as u32);
        let committed = async |generation: u32| -> Result<(u64, Option<(u64, u64)>), SinkError> {
            let generation = generation as i32;
            let rows: i64 = client
                .query_one(
                    &format!(
                        "SELECT coalesce(sum(rows + rejected), 0)::BIGINT FROM {batches} WHERE table_name = $1 \
                         AND file_hash = $2 AND generation = $3"
                    ),
                    &[&table, &file_hash, &generation],
                )
                .await
                .map_err(fail)?
                .get(0);
            let resume = client
                .query_opt(
                    &format!(
                        "SELECT byte_end, end_line FROM {batches} WHERE table_name = $1 AND file_hash = $2 \
                         AND generation = $3 ORDER BY byte_end DESC LIMIT 1"
                    ),
                    &[&table, &file_hash, &generation],
                )
                .await
                .map_err(fail)?
                .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64));
            Ok((rows as u64, resume))
        };
        Ok(match (complete, latest) {
            (Some((_, done, _)), Some(latest)) if latest > done => {
                let (rows, resume) = committed(latest).await?;
                LedgerStatus::Partial {
                    generation: latest,
                    resume,
                    rows,
                    earlier_complete: true,
                }
            }
            (Some((run_id, generation, rows)), latest) => {
                let latest_generation = latest.unwrap_or(generation);
                let settled: i64 = client
                    .query_one(
                        &format!(
                            "SELECT count(*) FROM {files} f JOIN {runs} r ON r.run_id = f.run_id \
                             WHERE f.table_name = $1 AND f.file_hash = $2 AND f.generation = $3 \
                             AND r.outcome <> 'running'"
                        ),
                        &[&table, &file_hash, &(latest_generation as i32)],
                    )
                    .await
                    .map_err(fail)?
                    .get(0);
                LedgerStatus::Complete {
                    rows,
                    run_id,
                    generation,
                    latest_generation,
                    latest_settled: settled > 0,
                }
            }
            (None, Some(latest)) => {
                let (rows, resume) = committed(latest).await?;
                LedgerStatus::Partial {
                    generation: latest,
                    resume,
                    rows,
                    earlier_complete: false,
                }
            }
            (None, None) => LedgerStatus::New,
        })
    }

    async fn ledger_record_file(&self, file: &FileRecord) -> Result<(), SinkError> {
        let client = self.client().await?;
        // Twice for every file (start and end): prepared once per connection.
        let statement = client
            .prepare_cached(&format!(
                "INSERT INTO {} (run_id, table_name, file_hash, generation, path, size, state, rows_read, \
                 rows_loaded, rows_rejected, rows_skipped, started_at, ended_at, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (run_id, table_name, file_hash, generation) DO UPDATE SET \
                 path = excluded.path, state = excluded.state, rows_read = excluded.rows_read, \
                 rows_loaded = excluded.rows_loaded, rows_rejected = excluded.rows_rejected, \
                 rows_skipped = excluded.rows_skipped, ended_at = excluded.ended_at, error = excluded.error",
                self.qualified("_loader_files")
            ))
            .await
            .map_err(|e| ledger_error(&e))?;
        client
            .execute(
                &statement,
                &[
                    &file.run_id,
                    &file.table,
                    &file.file_hash,
                    &(file.generation as i32),
                    &file.path,
                    &(file.size as i64),
                    &file.state.as_str(),
                    &(file.rows_read as i64),
                    &(file.rows_loaded as i64),
                    &(file.rows_rejected as i64),
                    &(file.rows_skipped as i64),
                    &file.started_at,
                    &file.ended_at,
                    &file.error,
                ],
            )
            .await
            .map_err(|e| ledger_error(&e))?;
        Ok(())
    }

    async fn ledger_end_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        let fail = |e: tokio_postgres::Error| ledger_error(&e);
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(fail)?;
        commit_durably(&transaction).await.map_err(fail)?;
        transaction
            .execute(
                &format!(
                    "UPDATE {} SET ended_at = $2, outcome = $3, error = $4 WHERE run_id = $1",
                    self.qualified("_loader_runs")
                ),
                &[&run.run_id, &run.ended_at, &run.outcome, &run.error],
            )
            .await
            .map_err(fail)?;
        transaction.commit().await.map_err(fail)
    }

    async fn ledger_runs(&self) -> Result<Vec<RunRecord>, SinkError> {
        let rows = self
            .ledger_rows(
                &format!(
                    "SELECT run_id, started_at, ended_at, settings, outcome, error FROM {} \
                     ORDER BY started_at DESC, run_id DESC",
                    self.qualified("_loader_runs")
                ),
                &[],
            )
            .await?;
        Ok(rows.iter().map(read_run).collect())
    }

    async fn ledger_files(&self, run_id: &str) -> Result<Vec<FileRecord>, SinkError> {
        let rows = self
            .ledger_rows(
                &format!(
                    "SELECT run_id, table_name, file_hash, generation, path, size, state, rows_read, \
                     rows_loaded, rows_rejected, rows_skipped, started_at, ended_at, error FROM {} \
                     WHERE run_id = $1 ORDER BY started_at, path",
                    self.qualified("_loader_files")
                ),
                &[&run_id],
            )
            .await?;
        Ok(rows.iter().map(read_file).collect())
    }

    async fn ledger_events(&self, run_id: &str) -> Result<Vec<AuditEvent>, SinkError> {
        let rows = self
            .ledger_rows(
                &format!(
                    "SELECT run_id, at, scope, context, parent, kind, file, table_name, batch, rows, bytes, \
                     first_line, end_line, byte_start, byte_end, duration_ms, attempt, reason, \
                     memory_used, memory_reserved, memory_budget, memory_limit FROM {} \
                     WHERE run_id = $1 ORDER BY id",
                    self.qualified("_loader_audit")
                ),
                &[&run_id],
            )
            .await?;
        Ok(rows.iter().filter_map(read_event).collect())
    }
}

#[async_trait]
impl Ledger for PgSink {
    async fn begin_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        self.retrying(|| Box::pin(self.ledger_begin_run(run))).await
    }
    async fn status(&self, table: &str, file_hash: &str) -> Result<LedgerStatus, SinkError> {
        self.retrying(|| Box::pin(self.ledger_status_at(table, file_hash, None)))
            .await
            .map(|(status, _)| status)
    }
    async fn last_load_at(
        &self,
        table: &str,
        path: &str,
        other_than: &str,
    ) -> Result<Option<PathHistory>, SinkError> {
        self.retrying(|| {
            Box::pin(async {
                let client = self.client().await?;
                self.ledger_last_load_at(&client, table, path, other_than)
                    .await
            })
        })
        .await
    }
    async fn status_at(
        &self,
        table: &str,
        file_hash: &str,
        path: &str,
    ) -> Result<(LedgerStatus, Option<PathHistory>), SinkError> {
        self.retrying(|| Box::pin(self.ledger_status_at(table, file_hash, Some(path))))
            .await
    }
    async fn record_file(&self, file: &FileRecord) -> Result<(), SinkError> {
        self.retrying(|| Box::pin(self.ledger_record_file(file)))
            .await
    }
    async fn end_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        self.retrying(|| Box::pin(self.ledger_end_run(run))).await
    }
    async fn runs(&self) -> Result<Vec<RunRecord>, SinkError> {
        self.retrying(|| Box::pin(self.ledger_runs())).await
    }
    async fn files(&self, run_id: &str) -> Result<Vec<FileRecord>, SinkError> {
        self.retrying(|| Box::pin(self.ledger_files(run_id))).await
    }
    async fn events(&self, run_id: &str) -> Result<Vec<AuditEvent>, SinkError> {
        self.retrying(|| Box::pin(self.ledger_events(run_id))).await
    }
}

fn read_event(row: &Row) -> Option<AuditEvent> {
    let scope = parse_as(row.get(2))?;
    let kind = parse_as(row.get(5))?;
    let pair = |a: Option<i64>, b: Option<i64>| Some([a? as u64, b? as u64]);
    let mut event = AuditEvent::new(scope, kind, ContextId(row.get::<_, i64>(3) as u64));
    event.run = row.get(0);
    event.at = row.get(1);
    event.parent = row.get::<_, Option<i64>>(4).map(|p| ContextId(p as u64));
    event.file = row.get(6);
    event.table = row.get(7);
    event.batch = row.get::<_, Option<i64>>(8).map(|v| v as u64);
    event.rows = row.get::<_, Option<i64>>(9).map(|v| v as u64);
    event.bytes = row.get::<_, Option<i64>>(10).map(|v| v as u64);
    event.lines = pair(row.get(11), row.get(12));
    event.byte_range = pair(row.get(13), row.get(14));
    event.duration_ms = row.get(15);
    event.attempt = row.get::<_, Option<i32>>(16).map(|v| v as u32);
    event.reason = row.get(17);
    event.memory =
        crate::audit_columns::memory_of([row.get(18), row.get(19), row.get(20), row.get(21)]);
    Some(event)
}

impl PgSink {
    /// An audit sink writing events to the `_loader_audit` table of this database, each
    /// [`record`](AuditSink::record) in a transaction of its own and each
    /// [`record_many`](AuditSink::record_many) in one for the group. Wrap it in a
    /// [`BufferedAudit`](loader_batch::BufferedAudit) to write a load's events in groups.
    pub fn audit_table(self: &Arc<Self>) -> Arc<dyn AuditSink> {
        Arc::new(PgAudit(Arc::downgrade(self)))
    }
}

/// Audit events into the `_loader_audit` table of a PostgreSQL database.
pub struct PgAudit(Weak<PgSink>);

impl PgAudit {
    async fn insert(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        let fail = |message: String| AuditError {
            target: "_loader_audit".into(),
            message,
        };
        let Some(sink) = self.0.upgrade() else {
            return Err(fail("the database was closed".into()));
        };
        sink.retrying(|| Box::pin(sink.insert_events(events)))
            .await
            .map_err(|e| fail(e.message))
    }
}

#[async_trait]
impl AuditSink for PgAudit {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.insert(std::slice::from_ref(event)).await
    }

    async fn record_many(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        self.insert(events).await
    }
}

/// The `_loader_audit` columns of an event that are not its own fields as they are, built
/// before the group's inserts go out together.
struct EventRow<'a> {
    event: &'a AuditEvent,
    scope: String,
    kind: String,
    context: i64,
    parent: Option<i64>,
    batch: Option<i64>,
    rows: Option<i64>,
    bytes: Option<i64>,
    lines: [Option<i64>; 2],
    byte_range: [Option<i64>; 2],
    attempt: Option<i32>,
    memory: [Option<i64>; 4],
}

impl<'a> EventRow<'a> {
    fn of(event: &'a AuditEvent) -> Self {
        let int = |v: Option<u64>| v.map(|v| v as i64);
        let pair = |v: Option<[u64; 2]>| v.map_or([None; 2], |p| p.map(|x| Some(x as i64)));
        EventRow {
            event,
            scope: text_of(&event.scope),
            kind: text_of(&event.kind),
            context: event.context.0 as i64,
            parent: int(event.parent.map(|p| p.0)),
            batch: int(event.batch),
            rows: int(event.rows),
            bytes: int(event.bytes),
            lines: pair(event.lines),
            byte_range: pair(event.byte_range),
            attempt: event.attempt.map(|v| v as i32),
            memory: crate::audit_columns::memory_columns(event),
        }
    }
}

impl PgSink {
    /// Inserts `events` in one transaction: the statements are sent together (pipelined)
    /// and the group pays one commit.
    async fn insert_events(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        let fail = |e: tokio_postgres::Error| pg_error("_loader_audit", &e);
        let mut client = self.client().await?;
        // Prepared once per connection.
        let statement = client
            .prepare_cached(&format!(
                "INSERT INTO {} (run_id, at, scope, context, parent, kind, file, table_name, batch, rows, \
                 bytes, first_line, end_line, byte_start, byte_end, duration_ms, attempt, reason, \
                 memory_used, memory_reserved, memory_budget, memory_limit) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                 $19, $20, $21, $22)",
                self.qualified("_loader_audit")
            ))
            .await
            .map_err(fail)?;
        let transaction = client.transaction().await.map_err(fail)?;
        if events.iter().any(ends_a_run) {
            // The trail's last word on a run is written after the run's end record: durable
            // as that is.
            commit_durably(&transaction).await.map_err(fail)?;
        }
        let rows: Vec<EventRow<'_>> = events.iter().map(EventRow::of).collect();
        let (sending, statement) = (&transaction, &statement);
        let inserts = rows.iter().map(|row| async move {
            let e = row.event;
            sending
                .execute(
                    statement,
                    &[
                        &e.run,
                        &e.at,
                        &row.scope,
                        &row.context,
                        &row.parent,
                        &row.kind,
                        &e.file,
                        &e.table,
                        &row.batch,
                        &row.rows,
                        &row.bytes,
                        &row.lines[0],
                        &row.lines[1],
                        &row.byte_range[0],
                        &row.byte_range[1],
                        &e.duration_ms,
                        &row.attempt,
                        &e.reason,
                        &row.memory[0],
                        &row.memory[1],
                        &row.memory[2],
                        &row.memory[3],
                    ],
                )
                .await
        });
        futures_util::future::try_join_all(inserts)
            .await
            .map_err(fail)?;
        transaction.commit().await.map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test server, as the cross-stack tests find it (`tests/src/pg.rs`): skipped with a
    /// notice without `LOADER_TEST_PG_URL`, a failure in CI.
    #[allow(clippy::print_stdout)]
    fn pg_url() -> Option<String> {
        match std::env::var("LOADER_TEST_PG_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true but LOADER_TEST_PG_URL is not set")
            }
            _ => {
                println!("skipped: LOADER_TEST_PG_URL is not set");
                None
            }
        }
    }

    async fn level(client: &impl GenericClient) -> String {
        client
            .query_one("SHOW synchronous_commit", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// A durable commit raises the session's `off` for its own transaction only, and leaves a
    /// level the URL chose as it is.
    #[tokio::test]
    async fn a_durable_commit_raises_only_the_sessions_off_and_only_for_itself() {
        let Some(url) = pg_url() else { return };
        let separator = if url.contains('?') { '&' } else { '?' };
        let chosen = format!("{url}{separator}options=-c%20synchronous_commit%3Dlocal");
        for (url, session, durable) in [(url.clone(), "off", "on"), (chosen, "local", "local")] {
            let sink = PgSink::connect(&url, None, 1).await.unwrap();
            let mut client = sink.client().await.unwrap();
            assert_eq!(level(&**client).await, session);
            let transaction = client.transaction().await.unwrap();
            commit_durably(&transaction).await.unwrap();
            assert_eq!(level(&*transaction).await, durable);
            transaction.commit().await.unwrap();
            assert_eq!(level(&**client).await, session);
        }
    }

    #[test]
    fn only_a_runs_commit_or_failure_ends_it() {
        let event = |scope, kind| AuditEvent::new(scope, kind, ContextId(1));
        assert!(ends_a_run(&event(Scope::Run, EventKind::Committed)));
        assert!(ends_a_run(&event(Scope::Run, EventKind::Failed)));
        assert!(!ends_a_run(&event(Scope::Run, EventKind::Started)));
        assert!(!ends_a_run(&event(Scope::File, EventKind::Committed)));
    }
}
