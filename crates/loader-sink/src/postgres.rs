//! PostgreSQL sink: a pool of connections, each sub-batch one transaction of
//! `COPY ... FROM STDIN (FORMAT binary)` plus its ledger row.
//!
//! Binary COPY was chosen over CSV after measuring both on the same 1M-row file: the server,
//! not loader, is the bottleneck on these machines, and binary spares it all text parsing
//! (loader has parsed and validated every value already). See the bench's postgres section.

use crate::error::shorten;
use crate::ledger_queries::Rows;
use crate::postgres_copy::{
    BINARY_HEADER, CopyFormat, TableCopy, TableTypes, holds_nul, write_binary_row, write_csv_row,
};
use crate::{Error, Result, quote_identifier};
use async_trait::async_trait;
use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::SinkExt;
use loader_batch::{
    BatchSink, ColumnType, LoadTarget, PreviousWrite, RowBatch, SetAside, SetAsideTurn, SinkError,
    SinkErrorKind, TableColumn, write_in_parts,
};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::Config;

/// Bytes of CSV sent to the server at a time: bounds the memory a write needs beyond its
/// batch, which the budget already counts.
const CHUNK_BYTES: usize = 256 << 10;

/// A PostgreSQL database (optionally one schema in it) as a [`BatchSink`].
///
/// # Example
///
/// ```no_run
/// # async fn example() -> Result<(), loader_sink::Error> {
/// use loader_sink::PgSink;
/// let sink = PgSink::connect("postgres://loader@127.0.0.1:5432/test", Some("staging"), 4).await?;
/// # Ok(()) }
/// ```
pub struct PgSink {
    pool: Pool,
    schema: Option<String>,
    /// Held while a replace empties its table, so that no other connection writes to the
    /// table in between (see [`LedgerKey::replace`](loader_batch::LedgerKey)).
    replace_lock: tokio::sync::Mutex<()>,
    /// Held while a table is created, so that this sink's connections never race each other's
    /// `CREATE TABLE IF NOT EXISTS` (files of one table start together on a pool).
    create_lock: tokio::sync::Mutex<()>,
    /// Each table's column types, read from the catalog on first use. How a file's rows are
    /// sent is made from them for that file's columns: files of one table may name their
    /// columns in different orders, and a format kept per table sent the second file's
    /// values into the first file's columns.
    table_types: Mutex<HashMap<String, Arc<TableTypes>>>,
    display: String,
}

impl std::fmt::Debug for PgSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSink")
            .field("target", &self.display)
            .field("schema", &self.schema)
            .finish()
    }
}

/// How long a connection attempt may take unless the URL says (`connect_timeout=SECONDS`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a connection config from a URL, filling what it leaves out from the standard
/// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` and `PGDATABASE` variables.
///
/// # Errors
///
/// [`Error::BadTarget`] for a URL that does not parse (the message never shows a password).
pub fn pg_config(url: &str) -> Result<Config> {
    pg_settings(url).map(|(config, _)| config)
}

/// [`pg_config`], and what the URL asks of TLS (see `postgres_tls`).
fn pg_settings(url: &str) -> Result<(Config, crate::postgres_tls::TlsSettings)> {
    let redacted = crate::Target::Postgres(url.to_owned()).to_string();
    let bad = |reason: String| Error::BadTarget {
        target: redacted.clone(),
        reason,
    };
    let (url, tls) = crate::postgres_tls::split_tls(url).map_err(bad)?;
    // The parser's reason names an option, never a value: no password can show.
    let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| {
        let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
        bad(format!(
            "not a valid PostgreSQL URL (postgres://USER[:PASSWORD]@HOST[:PORT]/DB): {why}"
        ))
    })?;
    config.ssl_mode(tls.mode.ssl_mode());
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if config.get_hosts().is_empty() {
        config.host(env("PGHOST").unwrap_or_else(|| "localhost".into()));
    }
    if config.get_ports().is_empty()
        && let Some(port) = env("PGPORT").and_then(|p| p.parse().ok())
    {
        config.port(port);
    }
    if config.get_user().is_none() {
        config.user(
            env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into()),
        );
    }
    if config.get_password().is_none()
        && let Some(password) = env("PGPASSWORD")
    {
        config.password(password);
    }
    if config.get_dbname().is_none()
        && let Some(db) = env("PGDATABASE")
    {
        config.dbname(&db);
    }
    if config.get_application_name().is_none() {
        config.application_name("loader");
    }
    // A host that drops packets would otherwise hold a load (and each reconnection of a
    // retry) for the system's TCP timeout, two minutes here; `connect_timeout` in the URL
    // says otherwise.
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // Each sub-batch commits with its ledger row, so a commit that a server crash loses takes
    // its ledger row with it and the next run loads those rows again: exactly-once does not
    // need every commit flushed before the next batch starts. Without this, a load waits for
    // a WAL flush per sub-batch and per audit event.
    //
    // And, as pg_dump and pg_restore do, no statement or idle-in-transaction timeout: a role's
    // `statement_timeout` cancelled every COPY longer than it, each retry the same, and a
    // write waiting its turn to commit holds its transaction open for as long as that takes.
    if config.get_options().is_none() {
        config.options(
            "-c synchronous_commit=off -c statement_timeout=0 \
             -c idle_in_transaction_session_timeout=0",
        );
    }
    Ok((config, tls))
}

impl PgSink {
    /// Connects a pool of up to `connections` connections to `url`, creating `schema` when
    /// it is given and missing.
    ///
    /// Each write in flight holds one connection, and a write overlapped through
    /// [`BatchSink::write_after`] holds it while it waits for its predecessor: give the pool
    /// one connection per stream of every worker, and two more for the ledger and the
    /// audit trail (with the default streams, `workers + 2`).
    ///
    /// # Errors
    ///
    /// [`Error::BadTarget`] for a bad URL, [`Error::Open`] when the server cannot be reached
    /// or refuses (bad credentials, missing database), with no password in the message.
    pub async fn connect(url: &str, schema: Option<&str>, connections: usize) -> Result<Self> {
        Self::open(url, schema, connections, true).await
    }

    /// Connects as [`connect`](Self::connect) does, creating `schema` only when `create`.
    pub(crate) async fn open(
        url: &str,
        schema: Option<&str>,
        connections: usize,
        create: bool,
    ) -> Result<Self> {
        let (config, tls) = pg_settings(url)?;
        let display = crate::Target::Postgres(url.to_owned()).to_string();
        let connector =
            crate::postgres_tls::connector(&tls).map_err(|reason| Error::BadTarget {
                target: display.clone(),
                reason,
            })?;
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(connections.max(1))
            .build()
            .map_err(|e| Error::Open {
                path: display.clone().into(),
                message: e.to_string(),
            })?;
        let sink = PgSink {
            pool,
            schema: schema.map(str::to_owned),
            replace_lock: tokio::sync::Mutex::new(()),
            create_lock: tokio::sync::Mutex::new(()),
            table_types: Mutex::new(HashMap::new()),
            display,
        };
        let client = sink.client().await.map_err(|e| Error::Open {
            path: sink.display.clone().into(),
            message: e.message,
        })?;
        if let Some(schema) = sink.schema.as_ref().filter(|_| create) {
            let created = client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    quote_identifier(schema)
                ))
                .await;
            match created {
                Ok(()) => {}
                // Another loader creating it at the same moment: it exists now.
                Err(e) if e.code().is_some_and(|c| is_created_concurrently(c.code())) => {}
                Err(e) => {
                    return Err(Error::Open {
                        path: sink.display.clone().into(),
                        message: describe(&e),
                    });
                }
            }
        }
        Ok(sink)
    }

    /// Runs a short bookkeeping operation (ledger, audit), retrying transient failures
    /// (a terminated backend, a reset connection): the rows' own retries are the batch
    /// processor's, but these calls sit outside it. Each attempt takes a fresh connection.
    pub(crate) async fn retrying<'a, T>(
        &'a self,
        mut op: impl FnMut() -> futures_util::future::BoxFuture<'a, std::result::Result<T, SinkError>>,
    ) -> std::result::Result<T, SinkError> {
        let mut delay = std::time::Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if e.is_transient() && attempt < 6 => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(crate) async fn client(&self) -> std::result::Result<deadpool_postgres::Object, SinkError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => pg_error("connect", &e),
            other => SinkError::transient(format!("connection pool: {other}")),
        })
    }

    /// The COPY format for `target`'s columns, from its table's actual column types: an
    /// existing table is used as it is, and its types decide how each value is sent.
    async fn format_for(&self, target: &LoadTarget) -> std::result::Result<TableCopy, SinkError> {
        let types = self.table_types(&target.table).await?;
        Ok(TableCopy::for_table(target, &types.by_name))
    }

    /// The columns of `table`, in order, as [`BatchSink::table_columns`] gives them; none
    /// when there is no such table.
    pub(crate) async fn columns_of(
        &self,
        table: &str,
    ) -> std::result::Result<Option<Vec<TableColumn>>, SinkError> {
        let types = self.table_types(table).await?;
        Ok((!types.ordered.is_empty()).then(|| types.columns()))
    }

    /// `table`'s columns and their types, read from the catalog once per table.
    async fn table_types(&self, table: &str) -> std::result::Result<Arc<TableTypes>, SinkError> {
        if let Some(types) = self
            .table_types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
        {
            return Ok(Arc::clone(types));
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT a.attname::text, t.typname::text FROM pg_attribute a \
                 JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY a.attnum",
                &[&self.qualified(table)],
            )
            .await
            .map_err(|e| pg_error(table, &e))?;
        let types = Arc::new(TableTypes::new(
            rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        ));
        // No table is not remembered: `prepare` takes a remembered table as made.
        if !types.ordered.is_empty() {
            self.table_types
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(table.to_owned(), Arc::clone(&types));
        }
        Ok(types)
    }

    /// `"schema"."name"`, or `"name"` without a schema.
    pub(crate) fn qualified(&self, name: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote_identifier(schema), quote_identifier(name)),
            None => quote_identifier(name),
        }
    }

    /// The schema ledger tables and user tables live in (`public` by default).
    pub(crate) fn schema_name(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    /// One write, in one transaction; with `previous`, committed only after it. Returns the
    /// rows stored, and what setting refused rows aside came to when `how` asked for it.
    async fn copy(
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

    /// Sends `rows` through COPY in `transaction`, into the target's table or into `stage`.
    pub(crate) async fn copy_into(
        &self,
        stage: Option<&str>,
        target: &LoadTarget,
        transaction: &deadpool_postgres::Transaction<'_>,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> std::result::Result<u64, SinkError> {
        let copied = match stage {
            Some(stage) => stage.rsplit('.').next().unwrap_or(stage).trim_matches('"'),
            None => &target.table,
        };
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
            stage.map_or_else(|| self.qualified(&target.table), str::to_owned),
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
/// blocks another session meanwhile.
const BLOCKING_CHECK: Duration = Duration::from_millis(200);

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

/// SQLSTATEs of a `CREATE ... IF NOT EXISTS` that lost a race with another session creating
/// the same object: unique violation on a catalog, duplicate table, duplicate object (the
/// table's row type), duplicate schema.
pub(crate) fn is_created_concurrently(sqlstate: &str) -> bool {
    matches!(sqlstate, "23505" | "42P07" | "42710" | "42P06")
}

pub(crate) fn sql_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Integer => "BIGINT",
        ColumnType::Real => "DOUBLE PRECISION",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Date => "DATE",
        ColumnType::Timestamp => "TIMESTAMP",
        ColumnType::Text => "TEXT",
    }
}

/// The error's text without the `db error:` prefix, on one line.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        // An integrity violation's detail says which value broke it ("Key (id)=(7) already
        // exists."), which is what the operator needs to mend the row or the table.
        Some(db) => match db.detail().filter(|_| db.code().code().starts_with("23")) {
            Some(detail) => shorten(&format!(
                "{} ({}): {detail}",
                db.message(),
                db.code().code()
            )),
            None => shorten(&format!("{} ({})", db.message(), db.code().code())),
        },
        // tokio-postgres says only the kind ("error connecting to server"); the cause, such
        // as "Connection refused (os error 111)", is what an operator can act on.
        None => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(inner) = cause {
                text.push_str(": ");
                text.push_str(&inner.to_string());
                cause = inner.source();
            }
            shorten(&text)
        }
    }
}

/// Classifies by SQLSTATE: connection trouble, server shutdown (as `pg_terminate_backend`
/// causes), serialization failures, deadlocks, lock and statement timeouts are transient;
/// data exceptions and integrity violations are data; the rest (permissions, missing objects,
/// bad credentials) is terminal.
pub(crate) fn pg_error(table: &str, e: &tokio_postgres::Error) -> SinkError {
    let error = SinkError::new(
        kind_of(e.code().map(|c| c.code())),
        format!("{table}: {}", describe(e)),
    );
    match e.as_db_error().and_then(|db| db.column()) {
        Some(column) => error.in_column(column),
        None => error,
    }
}

fn kind_of(sqlstate: Option<&str>) -> SinkErrorKind {
    match sqlstate {
        Some(code) if code.starts_with("08") => SinkErrorKind::Transient,
        Some("40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03" | "53300") => {
            SinkErrorKind::Transient
        }
        Some(code) if code.starts_with("22") || code.starts_with("23") => SinkErrorKind::Data,
        Some(_) => SinkErrorKind::Terminal,
        // No SQLSTATE: the connection broke (reset, refused, closed).
        None => SinkErrorKind::Transient,
    }
}

#[async_trait]
impl BatchSink for PgSink {
    async fn prepare(&self, target: &LoadTarget) -> std::result::Result<(), SinkError> {
        // A table whose COPY format is known was made (or found) by an earlier file of this
        // sink: a directory of many small files would otherwise pay two catalog statements
        // per file for nothing.
        if self
            .table_types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&target.table)
        {
            return Ok(());
        }
        // MaxHeapAttributeNumber.
        crate::check_width(&target.table, target.schema.len(), 1600, "PostgreSQL")?;
        let table = crate::create_table_sql(
            &self.qualified(&target.table),
            &target.schema,
            sql_type,
            &target.upsert_key_names(),
            "PRIMARY KEY",
        );
        let quarantine = crate::postgres_ledger::quarantine_sql(self);
        {
            let _creating = self.create_lock.lock().await;
            let client = self.client().await?;
            // One at a time, so that losing the race for the first still creates the second.
            for sql in [&table, &quarantine] {
                match client.batch_execute(sql).await {
                    Ok(()) => {}
                    // Another process created it at the same moment: the loser of that race
                    // sees a duplicate table, row type or catalog key, and finds it made.
                    Err(e) if e.code().is_some_and(|c| is_created_concurrently(c.code())) => {}
                    Err(e) => return Err(pg_error(&target.table, &e)),
                }
            }
        }
        // The connection above is back in the pool: `table_types` takes one of its own, and
        // holding two at once could exhaust a pool no larger than the number of files.
        self.table_types(&target.table).await.map(|_| ())
    }

    async fn table_columns(
        &self,
        target: &LoadTarget,
    ) -> std::result::Result<Option<Vec<TableColumn>>, SinkError> {
        self.columns_of(&target.table).await
    }

    async fn check_upsert_key(&self, target: &LoadTarget) -> std::result::Result<(), SinkError> {
        PgSink::check_upsert_key(self, target).await
    }

    /// `ADD COLUMN IF NOT EXISTS`, so that files adding the same column at once both pass;
    /// the table's remembered types are read again after.
    async fn add_columns(
        &self,
        target: &LoadTarget,
        columns: &[loader_batch::Column],
    ) -> std::result::Result<bool, SinkError> {
        let table = self.qualified(&target.table);
        let statements: Vec<String> = columns
            .iter()
            .map(|c| crate::add_column_sql(&table, c, sql_type, true) + ";")
            .collect();
        let client = self.client().await?;
        let outcome = client.batch_execute(&statements.concat()).await;
        self.table_types
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&target.table);
        outcome.map_err(|e| pg_error(&target.table, &e))?;
        Ok(true)
    }

    async fn write(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> std::result::Result<u64, SinkError> {
        let (written, _) = self
            .copy(target, batch, rows, &PreviousWrite::none(), &Rows::Whole)
            .await?;
        Ok(written)
    }

    /// The whole write on a connection of its own, waiting for `previous` only to commit:
    /// one file's COPY streams then run on as many server processes at once.
    async fn write_after(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        previous: PreviousWrite,
    ) -> std::result::Result<u64, SinkError> {
        let (written, _) = self
            .copy(target, batch, rows, &previous, &Rows::Whole)
            .await?;
        Ok(written)
    }

    /// The parts in savepoints of one transaction, which also quarantines the refused rows
    /// and records the rows handled in the ledger: one commit, however many rows are refused,
    /// made after the write before as `write_after` makes it.
    async fn write_setting_aside(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        refusal: &SinkError,
        turn: SetAsideTurn,
    ) -> std::result::Result<Option<SetAside>, SinkError> {
        let how = Rows::setting_aside(refusal, &turn);
        let (_, set_aside) = self.copy(target, batch, rows, &turn.previous, &how).await?;
        Ok(set_aside)
    }
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

    #[test]
    fn urls_parse_and_never_leak_passwords() {
        let config = pg_config("postgresql://ann:s3cret@db.example:5433/sales").unwrap();
        assert_eq!(config.get_user(), Some("ann"));
        assert_eq!(config.get_ports(), &[5433]);
        assert_eq!(config.get_dbname(), Some("sales"));
        assert_eq!(config.get_application_name(), Some("loader"));
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let patient = pg_config("postgres://ann@db.example/sales?connect_timeout=30").unwrap();
        assert_eq!(
            patient.get_connect_timeout(),
            Some(&Duration::from_secs(30))
        );
        let err = pg_config("postgres://ann:s3cret@db.example:notaport/sales").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(err.to_string().contains("ann:***@"), "{err}");
        assert!(
            err.to_string().contains("invalid value for option `port`"),
            "{err}"
        );
        let err = pg_config("postgres://ann@db.example/sales?password=s3cret&colour=red")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown option `colour`"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let tls = pg_config("postgres://ann@db.example/sales?sslmode=require").unwrap();
        assert_eq!(tls.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
    }

    #[test]
    fn sqlstates_are_classified() {
        use tokio_postgres::error::SqlState;
        let kind = |state: SqlState| kind_of(Some(state.code()));
        assert_eq!(kind(SqlState::ADMIN_SHUTDOWN), SinkErrorKind::Transient);
        assert_eq!(kind(SqlState::CONNECTION_FAILURE), SinkErrorKind::Transient);
        assert_eq!(
            kind(SqlState::T_R_SERIALIZATION_FAILURE),
            SinkErrorKind::Transient
        );
        assert_eq!(
            kind(SqlState::T_R_DEADLOCK_DETECTED),
            SinkErrorKind::Transient
        );
        assert_eq!(kind(SqlState::LOCK_NOT_AVAILABLE), SinkErrorKind::Transient);
        assert_eq!(kind(SqlState::QUERY_CANCELED), SinkErrorKind::Transient);
        assert_eq!(
            kind(SqlState::INSUFFICIENT_PRIVILEGE),
            SinkErrorKind::Terminal
        );
        assert_eq!(kind(SqlState::INVALID_PASSWORD), SinkErrorKind::Terminal);
        assert_eq!(kind(SqlState::UNDEFINED_TABLE), SinkErrorKind::Terminal);
        assert_eq!(kind(SqlState::UNIQUE_VIOLATION), SinkErrorKind::Data);
        assert_eq!(
            kind(SqlState::INVALID_TEXT_REPRESENTATION),
            SinkErrorKind::Data
        );
        assert_eq!(
            kind_of(None),
            SinkErrorKind::Transient,
            "a broken connection"
        );
    }
}
