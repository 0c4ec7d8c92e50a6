//! PostgreSQL sink: a pool of connections, each sub-batch one transaction of
//! `COPY ... FROM STDIN (FORMAT binary)` plus its ledger row.
//!
//! Binary COPY was chosen over CSV after measuring both on the same 1M-row file: the server,
//! not loader, is the bottleneck on these machines, and binary spares it all text parsing
//! (loader has parsed and validated every value already). See the bench's postgres section.

use crate::error::shorten;
use crate::ledger_queries::Rows;
use crate::postgres_copy::{TableCopy, TableTypes};
use crate::{Error, Result, quote_identifier};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use loader_batch::{
    BatchSink, ColumnType, LoadTarget, PreviousWrite, RowBatch, SetAside, SetAsideTurn, SinkError,
    SinkErrorKind, TableColumn,
};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::Config;

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
    pub(crate) replace_lock: tokio::sync::Mutex<()>,
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
    pub(crate) async fn format_for(
        &self,
        target: &LoadTarget,
    ) -> std::result::Result<TableCopy, SinkError> {
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
