//! The exactly-once ledger and the audit table, in the SQLite database being loaded.
//!
//! Tables (all prefixed `_loader_`, schema version in `_loader_meta`):
//! - `_loader_runs`: one row per run (id, start, end, settings, outcome, error);
//! - `_loader_files`: one row per file per run (table, content hash, generation, path, size,
//!   state, rows read, loaded, rejected, skipped, error);
//! - `_loader_batches`: one row per committed sub-batch (table, content hash, generation, byte
//!   range, first line and the line after, rows, run, commit time), written in the same
//!   transaction as the rows. Its primary key includes the start byte, so committing the same
//!   range twice is refused by the database itself;
//! - `_loader_quarantine`: one row per rejected input row (table, source file, content hash,
//!   generation, run, line, byte offset, column, error kind, message and the raw bytes),
//!   written in the same transaction as the sub-batch whose byte range covers it;
//! - `_loader_audit`: the audit events, joinable to the others by run, file and byte range.

use crate::quote_identifier;
use crate::sqlite::{SqliteSink, blocking, database_error};
use async_trait::async_trait;
use loader_batch::{
    AuditError, AuditEvent, AuditSink, FileLedgerState, FileRecord, LEDGER_VERSION, Ledger,
    LedgerKey, LedgerStatus, LoadTarget, PathHistory, RejectedRow, RowBatch, RunRecord, SinkError,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::sync::{Arc, Weak};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS "_loader_meta" (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS "_loader_runs" (
    run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT,
    settings TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT);
CREATE TABLE IF NOT EXISTS "_loader_files" (
    run_id TEXT NOT NULL, table_name TEXT NOT NULL, file_hash TEXT NOT NULL,
    generation INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, state TEXT NOT NULL,
    rows_read INTEGER NOT NULL, rows_loaded INTEGER NOT NULL, rows_rejected INTEGER NOT NULL,
    rows_skipped INTEGER NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, error TEXT,
    PRIMARY KEY (run_id, table_name, file_hash, generation));
CREATE INDEX IF NOT EXISTS "_loader_files_by_content" ON "_loader_files" (table_name, file_hash, generation);
CREATE INDEX IF NOT EXISTS "_loader_files_by_path" ON "_loader_files" (table_name, path);
CREATE TABLE IF NOT EXISTS "_loader_batches" (
    table_name TEXT NOT NULL, file_hash TEXT NOT NULL, generation INTEGER NOT NULL,
    byte_start INTEGER NOT NULL, byte_end INTEGER NOT NULL,
    first_line INTEGER NOT NULL, end_line INTEGER NOT NULL, rows INTEGER NOT NULL,
    run_id TEXT NOT NULL, committed_at TEXT NOT NULL, rejected INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (table_name, file_hash, generation, byte_start));
CREATE TABLE IF NOT EXISTS "_loader_audit" (
    run_id TEXT, at TEXT NOT NULL, scope TEXT NOT NULL, context INTEGER NOT NULL,
    parent INTEGER, kind TEXT NOT NULL, file TEXT, table_name TEXT, batch INTEGER,
    rows INTEGER, bytes INTEGER, first_line INTEGER, end_line INTEGER,
    byte_start INTEGER, byte_end INTEGER, duration_ms REAL, attempt INTEGER, reason TEXT,
    memory_used INTEGER, memory_reserved INTEGER, memory_budget INTEGER, memory_limit INTEGER);
CREATE INDEX IF NOT EXISTS "_loader_audit_by_run" ON "_loader_audit" (run_id);
"#;

/// Ledger version 1 had no rejects: its batches gain a count (the quarantine table is new).
const UPGRADE_FROM_1: &str = r#"
ALTER TABLE "_loader_batches" ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "_loader_audit" ADD COLUMN memory_used INTEGER;
ALTER TABLE "_loader_audit" ADD COLUMN memory_reserved INTEGER;
ALTER TABLE "_loader_audit" ADD COLUMN memory_budget INTEGER;
ALTER TABLE "_loader_audit" ADD COLUMN memory_limit INTEGER;
UPDATE "_loader_meta" SET value = '2' WHERE key = 'schema_version';
"#;

/// Made on the first write with rejects, with or without a ledger. With a ledger, the unique
/// key refuses quarantining the same input row twice.
const QUARANTINE: &str = r#"
CREATE TABLE IF NOT EXISTS "_loader_quarantine" (
    table_name TEXT NOT NULL, file TEXT NOT NULL, file_hash TEXT, generation INTEGER,
    run_id TEXT, line INTEGER NOT NULL, byte INTEGER NOT NULL, column_number INTEGER,
    column_name TEXT, kind TEXT NOT NULL, message TEXT NOT NULL, raw BLOB NOT NULL,
    quarantined_at TEXT NOT NULL,
    UNIQUE (table_name, file_hash, generation, byte));
"#;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ledger_error(error: &rusqlite::Error) -> SinkError {
    SinkError::from(database_error("_loader ledger", error))
}

/// Creates the ledger tables on first use and checks the schema version.
pub(crate) fn ensure_schema(connection: &Connection) -> Result<(), SinkError> {
    let existing: Option<String> = connection
        .query_row(
            "SELECT value FROM _loader_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .ok()
        .flatten();
    connection
        .execute_batch(SCHEMA)
        .map_err(|e| ledger_error(&e))?;
    if existing.as_deref() == Some("1") {
        connection
            .execute_batch(UPGRADE_FROM_1)
            .map_err(|e| ledger_error(&e))?;
    }
    connection
        .execute(
            "INSERT OR IGNORE INTO _loader_meta (key, value) VALUES ('schema_version', ?1)",
            [LEDGER_VERSION.to_string()],
        )
        .map_err(|e| ledger_error(&e))?;
    let version: String = connection
        .query_row(
            "SELECT value FROM _loader_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| ledger_error(&e))?;
    match version.parse::<u32>() {
        Ok(v) if v <= LEDGER_VERSION => Ok(()),
        _ => Err(SinkError::terminal(format!(
            "the ledger in this database has schema version {version}, newer than this loader \
             supports ({LEDGER_VERSION}); upgrade loader"
        ))),
    }
}

/// Empties `table` for a replace, with the ledger entries of other runs for it, inside the
/// transaction of the run's first write to the table.
pub(crate) fn empty_table(
    transaction: &Transaction<'_>,
    table: &str,
    run_id: &str,
) -> rusqlite::Result<()> {
    transaction.execute(&format!("DELETE FROM {}", quote_identifier(table)), [])?;
    transaction.execute(
        "DELETE FROM _loader_batches WHERE table_name = ?1 AND run_id <> ?2",
        params![table, run_id],
    )?;
    transaction.execute(
        "DELETE FROM _loader_files WHERE table_name = ?1 AND run_id <> ?2",
        params![table, run_id],
    )?;
    let quarantined: bool = transaction.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE name = '_loader_quarantine'",
        [],
        |r| r.get(0),
    )?;
    if quarantined {
        transaction.execute(
            "DELETE FROM _loader_quarantine WHERE table_name = ?1 AND run_id IS NOT ?2",
            params![table, run_id],
        )?;
    }
    Ok(())
}

/// Quarantines the rejects that belong with `rows`, in the transaction that commits them.
pub(crate) fn quarantine(
    transaction: &Transaction<'_>,
    target: &LoadTarget,
    rejects: &[RejectedRow],
) -> rusqlite::Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    transaction.execute_batch(QUARANTINE)?;
    let key = target.ledger.as_deref();
    let mut insert = transaction.prepare_cached(
        "INSERT INTO _loader_quarantine (table_name, file, file_hash, generation, run_id, line, \
         byte, column_number, column_name, kind, message, raw, quarantined_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    let at = now();
    for reject in rejects {
        insert.execute(params![
            target.table,
            target.source.display().to_string(),
            key.map(|k| &k.file_hash),
            key.map(|k| k.generation),
            key.map(|k| &k.run_id),
            reject.line as i64,
            reject.byte as i64,
            reject.column,
            reject.column_name,
            reject.kind.as_str(),
            reject.message,
            reject.raw,
            at,
        ])?;
    }
    Ok(())
}

/// Records a committed sub-batch in the transaction that commits its rows.
pub(crate) fn record_batch(
    transaction: &Transaction<'_>,
    target: &LoadTarget,
    key: &LedgerKey,
    batch: &RowBatch,
    recorded: crate::ledger_queries::Recorded,
) -> rusqlite::Result<()> {
    let bytes = batch.byte_range(recorded.rows.clone());
    let lines = batch.line_range(recorded.rows);
    transaction
        .prepare_cached(
            "INSERT INTO _loader_batches (table_name, file_hash, generation, byte_start, byte_end, \
             first_line, end_line, rows, run_id, committed_at, rejected) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            target.table,
            key.file_hash,
            key.generation,
            bytes.start as i64,
            bytes.end as i64,
            lines.start as i64,
            lines.end as i64,
            recorded.stored as i64,
            key.run_id,
            now(),
            recorded.rejected as i64,
        ])?;
    Ok(())
}

fn read_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        run_id: row.get(0)?,
        started_at: row.get(1)?,
        ended_at: row.get(2)?,
        settings: row.get(3)?,
        outcome: row.get(4)?,
        error: row.get(5)?,
    })
}

fn read_file(row: &rusqlite::Row<'_>) -> rusqlite::Result<FileRecord> {
    let state: String = row.get(6)?;
    Ok(FileRecord {
        run_id: row.get(0)?,
        table: row.get(1)?,
        file_hash: row.get(2)?,
        generation: row.get(3)?,
        path: row.get(4)?,
        size: row.get::<_, i64>(5)? as u64,
        state: FileLedgerState::from_name(&state).unwrap_or(FileLedgerState::Failed),
        rows_read: row.get::<_, i64>(7)? as u64,
        rows_loaded: row.get::<_, i64>(8)? as u64,
        rows_rejected: row.get::<_, i64>(9)? as u64,
        rows_skipped: row.get::<_, i64>(10)? as u64,
        started_at: row.get(11)?,
        ended_at: row.get(12)?,
        error: row.get(13)?,
    })
}

impl SqliteSink {
    fn ledger_op<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, SinkError> {
        blocking(|| op(&self.lock().connection)).map_err(|e| ledger_error(&e))
    }

    /// An audit sink writing events to the `_loader_audit` table of this database. Wrap it
    /// in a [`BufferedAudit`](loader_batch::BufferedAudit) to write a load's events in groups.
    pub fn audit_table(self: &Arc<Self>) -> Arc<dyn AuditSink> {
        Arc::new(SqliteAudit(Arc::downgrade(self)))
    }
}

#[async_trait]
impl Ledger for SqliteSink {
    async fn begin_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        blocking(|| ensure_schema(&self.lock().connection))?;
        self.ledger_op(|c| {
            c.execute(
                "INSERT INTO _loader_runs (run_id, started_at, ended_at, settings, outcome, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    run.run_id,
                    run.started_at,
                    run.ended_at,
                    run.settings,
                    run.outcome,
                    run.error
                ],
            )
        })
        .map(|_| ())
    }

    async fn status(&self, table: &str, file_hash: &str) -> Result<LedgerStatus, SinkError> {
        self.ledger_op(|c| {
            // The complete record's rows, not its batches': a file that grew since an earlier
            // load holds batches only for its new rows.
            let complete: Option<(String, u32, i64)> = c
                .query_row(
                    "SELECT run_id, generation, rows_read FROM _loader_files WHERE table_name = ?1 \
                     AND file_hash = ?2 AND state = 'complete' ORDER BY generation DESC LIMIT 1",
                    params![table, file_hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let latest: Option<u32> = c.query_row(
                "SELECT max(generation) FROM _loader_files WHERE table_name = ?1 AND file_hash = ?2",
                params![table, file_hash],
                |r| r.get(0),
            )?;
            let committed = |generation: u32| -> rusqlite::Result<(u64, Option<(u64, u64)>)> {
                let rows: i64 = c.query_row(
                    "SELECT coalesce(sum(rows + rejected), 0) FROM _loader_batches WHERE table_name = ?1 \
                     AND file_hash = ?2 AND generation = ?3",
                    params![table, file_hash, generation],
                    |r| r.get(0),
                )?;
                let resume: Option<(i64, i64)> = c
                    .query_row(
                        "SELECT byte_end, end_line FROM _loader_batches WHERE table_name = ?1 \
                         AND file_hash = ?2 AND generation = ?3 ORDER BY byte_end DESC LIMIT 1",
                        params![table, file_hash, generation],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                Ok((rows as u64, resume.map(|(b, l)| (b as u64, l as u64))))
            };
            Ok(match (complete, latest) {
                (Some((_, done, _)), Some(latest)) if latest > done => {
                    let (rows, resume) = committed(latest)?;
                    LedgerStatus::Partial { generation: latest, resume, rows, earlier_complete: true }
                }
                (Some((run_id, generation, rows)), latest) => {
                    let latest_generation = latest.unwrap_or(generation);
                    let settled: i64 = c.query_row(
                        "SELECT count(*) FROM _loader_files f JOIN _loader_runs r ON r.run_id = f.run_id \
                         WHERE f.table_name = ?1 AND f.file_hash = ?2 AND f.generation = ?3 \
                         AND r.outcome <> 'running'",
                        params![table, file_hash, latest_generation],
                        |r| r.get(0),
                    )?;
                    LedgerStatus::Complete {
                        rows: rows as u64,
                        run_id,
                        generation,
                        latest_generation,
                        latest_settled: settled > 0,
                    }
                }
                (None, Some(latest)) => {
                    let (rows, resume) = committed(latest)?;
                    LedgerStatus::Partial { generation: latest, resume, rows, earlier_complete: false }
                }
                (None, None) => LedgerStatus::New,
            })
        })
    }

    async fn last_load_at(
        &self,
        table: &str,
        path: &str,
        other_than: &str,
    ) -> Result<Option<PathHistory>, SinkError> {
        self.ledger_op(|c| {
            let sql = crate::ledger_queries::last_load_at(
                "_loader_files",
                "_loader_batches",
                ["?1", "?2", "?3"],
            );
            c.query_row(&sql, params![table, path, other_than], |r| {
                Ok(PathHistory {
                    run_id: r.get(0)?,
                    file_hash: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    rows: r.get::<_, i64>(3)? as u64,
                    end: (r.get::<_, i64>(4)? as u64, r.get::<_, i64>(5)? as u64),
                })
            })
            .optional()
        })
    }

    async fn record_file(&self, file: &FileRecord) -> Result<(), SinkError> {
        self.ledger_op(|c| {
            c.execute(
                "INSERT INTO _loader_files (run_id, table_name, file_hash, generation, path, size, state, \
                 rows_read, rows_loaded, rows_rejected, rows_skipped, started_at, ended_at, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                 ON CONFLICT (run_id, table_name, file_hash, generation) DO UPDATE SET \
                 path = excluded.path, state = excluded.state, rows_read = excluded.rows_read, \
                 rows_loaded = excluded.rows_loaded, rows_rejected = excluded.rows_rejected, \
                 rows_skipped = excluded.rows_skipped, ended_at = excluded.ended_at, error = excluded.error",
                params![
                    file.run_id,
                    file.table,
                    file.file_hash,
                    file.generation,
                    file.path,
                    file.size as i64,
                    file.state.as_str(),
                    file.rows_read as i64,
                    file.rows_loaded as i64,
                    file.rows_rejected as i64,
                    file.rows_skipped as i64,
                    file.started_at,
                    file.ended_at,
                    file.error,
                ],
            )
        })
        .map(|_| ())
    }

    async fn end_run(&self, run: &RunRecord) -> Result<(), SinkError> {
        self.ledger_op(|c| {
            // Commits sync nothing under `synchronous = NORMAL` (a power loss may undo the
            // last of them; checkpoints sync). The run's end record syncs the log, and with
            // it every commit before it: once a run says it ended, its rows are on disk,
            // whatever is done with its files then.
            c.pragma_update(None, "synchronous", "FULL")?;
            let ended = c.execute(
                "UPDATE _loader_runs SET ended_at = ?2, outcome = ?3, error = ?4 WHERE run_id = ?1",
                params![run.run_id, run.ended_at, run.outcome, run.error],
            );
            c.pragma_update(None, "synchronous", "NORMAL")?;
            ended
        })
        .map(|_| ())
    }

    async fn runs(&self) -> Result<Vec<RunRecord>, SinkError> {
        self.ledger_op(|c| {
            if !has_ledger(c)? {
                return Ok(Vec::new());
            }
            let mut statement = c.prepare(
                "SELECT run_id, started_at, ended_at, settings, outcome, error FROM _loader_runs \
                 ORDER BY started_at DESC, run_id DESC",
            )?;
            statement.query_map([], read_run)?.collect()
        })
    }

    async fn files(&self, run_id: &str) -> Result<Vec<FileRecord>, SinkError> {
        self.ledger_op(|c| {
            if !has_ledger(c)? {
                return Ok(Vec::new());
            }
            let mut statement = c.prepare(
                "SELECT run_id, table_name, file_hash, generation, path, size, state, rows_read, \
                 rows_loaded, rows_rejected, rows_skipped, started_at, ended_at, error \
                 FROM _loader_files WHERE run_id = ?1 ORDER BY started_at, path",
            )?;
            statement.query_map([run_id], read_file)?.collect()
        })
    }

    async fn events(&self, run_id: &str) -> Result<Vec<AuditEvent>, SinkError> {
        self.ledger_op(|c| {
            if !has_ledger(c)? {
                return Ok(Vec::new());
            }
            let mut statement = c.prepare(
                "SELECT run_id, at, scope, context, parent, kind, file, table_name, batch, rows, bytes, \
                 first_line, end_line, byte_start, byte_end, duration_ms, attempt, reason, \
                 memory_used, memory_reserved, memory_budget, memory_limit \
                 FROM _loader_audit WHERE run_id = ?1 ORDER BY rowid",
            )?;
            statement.query_map([run_id], read_event)?.collect()
        })
    }
}

fn has_ledger(c: &Connection) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_loader_runs'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn pair(a: Option<i64>, b: Option<i64>) -> Option<[u64; 2]> {
    Some([a? as u64, b? as u64])
}

fn read_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEvent> {
    let text = |i: usize| -> rusqlite::Result<String> { row.get(i) };
    let json = |s: String| serde_json::Value::String(s);
    let scope = serde_json::from_value(json(text(2)?))
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let kind = serde_json::from_value(json(text(5)?))
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let mut event = AuditEvent::new(
        scope,
        kind,
        loader_batch::ContextId(row.get::<_, i64>(3)? as u64),
    );
    event.run = row.get(0)?;
    event.at = row.get(1)?;
    event.parent = row
        .get::<_, Option<i64>>(4)?
        .map(|p| loader_batch::ContextId(p as u64));
    event.file = row.get(6)?;
    event.table = row.get(7)?;
    event.batch = row.get::<_, Option<i64>>(8)?.map(|v| v as u64);
    event.rows = row.get::<_, Option<i64>>(9)?.map(|v| v as u64);
    event.bytes = row.get::<_, Option<i64>>(10)?.map(|v| v as u64);
    event.lines = pair(row.get(11)?, row.get(12)?);
    event.byte_range = pair(row.get(13)?, row.get(14)?);
    event.duration_ms = row.get(15)?;
    event.attempt = row.get::<_, Option<i64>>(16)?.map(|v| v as u32);
    event.reason = row.get(17)?;
    event.memory =
        crate::audit_columns::memory_of([row.get(18)?, row.get(19)?, row.get(20)?, row.get(21)?]);
    Ok(event)
}

fn as_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// Audit events into the `_loader_audit` table of an SQLite database: each
/// [`record`](AuditSink::record) in a small transaction of its own, each
/// [`record_many`](AuditSink::record_many) in one for the group. Holds the sink weakly: a
/// dropped database is not kept open by its trail.
pub struct SqliteAudit(Weak<SqliteSink>);

#[async_trait]
impl AuditSink for SqliteAudit {
    async fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.record_many(std::slice::from_ref(event)).await
    }

    async fn record_many(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        let fail = |message: String| AuditError {
            target: "_loader_audit".into(),
            message,
        };
        let Some(sink) = self.0.upgrade() else {
            return Err(fail("the database was closed".into()));
        };
        blocking(|| {
            let mut state = sink.lock();
            let transaction = state.connection.transaction()?;
            {
                let mut insert = transaction.prepare_cached(
                    "INSERT INTO _loader_audit (run_id, at, scope, context, parent, kind, file, table_name, \
                     batch, rows, bytes, first_line, end_line, byte_start, byte_end, duration_ms, attempt, reason, \
                     memory_used, memory_reserved, memory_budget, memory_limit) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
                )?;
                for event in events {
                    insert_event(&mut insert, event)?;
                }
            }
            transaction.commit()
        })
        .map_err(|e: rusqlite::Error| fail(crate::error::shorten(&e.to_string())))
    }
}

fn insert_event(
    insert: &mut rusqlite::CachedStatement<'_>,
    event: &AuditEvent,
) -> rusqlite::Result<()> {
    let lines = event.lines.map(|[a, b]| (a as i64, b as i64));
    let bytes = event.byte_range.map(|[a, b]| (a as i64, b as i64));
    let memory = crate::audit_columns::memory_columns(event);
    insert.execute(params![
        event.run,
        event.at,
        as_text(&event.scope),
        event.context.0 as i64,
        event.parent.map(|p| p.0 as i64),
        as_text(&event.kind),
        event.file,
        event.table,
        event.batch.map(|v| v as i64),
        event.rows.map(|v| v as i64),
        event.bytes.map(|v| v as i64),
        lines.map(|l| l.0),
        lines.map(|l| l.1),
        bytes.map(|b| b.0),
        bytes.map(|b| b.1),
        event.duration_ms,
        event.attempt.map(i64::from),
        event.reason,
        memory[0],
        memory[1],
        memory[2],
        memory[3],
    ])?;
    Ok(())
}
