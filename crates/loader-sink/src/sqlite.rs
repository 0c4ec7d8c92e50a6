use crate::error::shorten;
use crate::ledger_queries::Rows;
use crate::sqlite_checkpoint::Checkpointer;
use crate::sqlite_insert::InsertStatement;
use crate::{Error, Result, quote_identifier};
use async_trait::async_trait;
use loader_batch::{
    BatchSink, ColumnType, LoadTarget, RowBatch, SetAside, SetAsideTurn, SinkError, SinkErrorKind,
    TableColumn, Value,
};
use rusqlite::{Connection, ErrorCode};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// An SQLite database as a [`BatchSink`].
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use loader_batch::{BatchSink, ColumnType, LoadTarget, RowBatch, Schema};
/// use loader_sink::SqliteSink;
///
/// let dir = tempfile::tempdir().unwrap();
/// let sink = SqliteSink::open(dir.path().join("t.db")).unwrap();
/// let schema = Arc::new(Schema::from_pairs([("id", ColumnType::Integer), ("name", ColumnType::Text)]));
/// let target = LoadTarget::new("people", schema, "people.csv");
/// sink.prepare(&target).await.unwrap();
/// let mut batch = RowBatch::new(2, 0);
/// batch.push_row(2, 8, [&b"1"[..], b"ann"]).unwrap();
/// batch.push_row(3, 14, [&b"2"[..], b""]).unwrap();
/// assert_eq!(sink.write(&target, &batch, 0..2).await.unwrap(), 2);
/// let nulls: i64 = sink.with_connection(|c| c.query_row("SELECT count(*) FROM people WHERE name IS NULL", [], |r| r.get(0))).unwrap();
/// assert_eq!(nulls, 1);
/// # });
/// ```
pub struct SqliteSink {
    path: PathBuf,
    /// Declared before the writer's state so that it stops before the writer closes.
    _checkpointer: Checkpointer,
    state: Mutex<State>,
}

pub(crate) struct State {
    /// INSERT statements per (table, its columns in the file's order, rows per statement):
    /// files of one table may name their columns in different orders, and a statement kept
    /// per table put the second file's values into the first file's columns. Declared
    /// before the connection so that they are finalized before it closes.
    pub(crate) inserts: HashMap<InsertKey, InsertStatement>,
    pub(crate) connection: Connection,
}

impl std::fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSink")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteSink {
    /// Opens (creating when missing) the database at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Open`] when the file cannot be opened or set to WAL mode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let open_error = |e: rusqlite::Error| Error::Open {
            path: path.clone(),
            message: shorten(&e.to_string()),
        };
        let mut connection = Connection::open(&path).map_err(open_error)?;
        // 16 KiB pages (for a new database; an existing one keeps its size) took a tenth off
        // the system time of a bulk load against 4 KiB: fewer, larger WAL writes.
        connection
            .execute_batch(&format!(
                "PRAGMA page_size = 16384;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = {};",
                BUSY_TIMEOUT.as_millis()
            ))
            .map_err(open_error)?;
        connection.set_prepared_statement_cache_capacity(64);
        let checkpointer = Checkpointer::start(&path, &mut connection).map_err(open_error)?;
        Ok(SqliteSink {
            path,
            _checkpointer: checkpointer,
            state: Mutex::new(State {
                inserts: HashMap::new(),
                connection,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock happens outside any open transaction (rusqlite
        // rolls back on drop), so the connection is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection, for reading results or for maintenance.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns.
    pub fn with_connection<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        f(&self.lock().connection)
    }

    /// A cleanup hook that makes SQLite give back its page cache and other freeable memory
    /// (`PRAGMA shrink_memory`), for [`CleanupHooks`](loader_memory::CleanupHooks).
    pub fn cleanup_hook(self: &Arc<Self>) -> Arc<dyn loader_memory::CleanupHook> {
        Arc::new(ShrinkMemory(Arc::downgrade(self)))
    }

    fn create_table(&self, target: &LoadTarget) -> Result<()> {
        // SQLITE_MAX_COLUMN as the bundled SQLite is built.
        crate::check_width(&target.table, target.schema.len(), 2000, "SQLite")?;
        let sql = crate::create_table_sql(
            &quote_identifier(&target.table),
            &target.schema,
            sql_type,
            &target.upsert_key_names(),
            // Not `PRIMARY KEY`: a primary key of one `INTEGER` column is the rowid, which
            // takes a NULL as "the next number" where a row without its key must be refused.
            "UNIQUE",
        );
        let state = self.lock();
        state
            .connection
            .execute_batch(&sql)
            .map_err(|e| database_error(&target.table, &e))
    }
}

/// Holds the sink weakly: a hook registered for a run must not keep the database open after.
struct ShrinkMemory(std::sync::Weak<SqliteSink>);

impl loader_memory::CleanupHook for ShrinkMemory {
    fn name(&self) -> &str {
        "sqlite shrink_memory"
    }

    fn run(&self) -> u64 {
        let Some(sink) = self.0.upgrade() else {
            return 0;
        };
        // Between transactions this frees the page cache; a failure only means less freed.
        let _ = sink.lock().connection.execute_batch("PRAGMA shrink_memory");
        0
    }
}

pub(crate) fn sql_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Integer => "INTEGER",
        ColumnType::Real => "REAL",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Date => "DATE",
        ColumnType::Timestamp => "TIMESTAMP",
        ColumnType::Text => "TEXT",
    }
}

/// The columns of `table` in order, each type read as [`declared_type`] reads it; none when
/// there is no such table.
pub(crate) fn columns_in(connection: &Connection, table: &str) -> Result<Option<Vec<TableColumn>>> {
    let fail = |e: rusqlite::Error| database_error(table, &e);
    let mut statement = connection
        .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
        .map_err(fail)?;
    let columns: Vec<TableColumn> = statement
        .query_map([table], |row| {
            Ok(TableColumn {
                name: row.get(0)?,
                ty: declared_type(&row.get::<_, String>(1)?),
                // NUMERIC and DECIMAL are reals here, checked as such.
                decimal_text: false,
            })
        })
        .and_then(Iterator::collect)
        .map_err(fail)?;
    Ok((!columns.is_empty()).then_some(columns))
}

/// The type a column declared as `declared` holds, as loader reads the file's values for
/// it: the names loader gives its own columns first, then SQLite's affinity rules, with
/// NUMERIC and DECIMAL read as reals. `None` for a column that stores any value as given
/// (no type, BLOB) or whose type says nothing loader can check (JSON, UUID, ...): there the
/// file's type stands.
fn declared_type(declared: &str) -> Option<ColumnType> {
    let upper = declared.to_ascii_uppercase();
    let holds = |names: &[&str]| names.iter().any(|name| upper.contains(name));
    Some(match upper.trim() {
        "BOOLEAN" | "BOOL" => ColumnType::Boolean,
        "DATE" => ColumnType::Date,
        "TIMESTAMP" | "DATETIME" => ColumnType::Timestamp,
        _ if holds(&["INT"]) => ColumnType::Integer,
        _ if holds(&["CHAR", "CLOB", "TEXT"]) => ColumnType::Text,
        _ if holds(&["REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL"]) => ColumnType::Real,
        _ => return None,
    })
}

/// What an INSERT statement is kept by: table, column names (see [`columns_key`]), rows.
pub(crate) type InsertKey = (String, String, usize);

/// The target's column names in order, each after its length, so that no two lists of
/// names make the same key whatever characters the names hold.
pub(crate) fn columns_key(target: &LoadTarget) -> String {
    let mut key = String::new();
    for column in target.schema.columns() {
        let _ = write!(key, "{}:{}", column.name.len(), column.name);
    }
    // An upsert's statement differs from an insert's of the same columns.
    for index in target.upsert_key.iter().flat_map(|k| k.iter()) {
        let _ = write!(key, "/key{index}");
    }
    key
}

/// Statements kept at most: one full-size statement per table in use and the tails of the
/// last sub-batches; past it the cache starts over rather than grow with every table.
const MAX_STATEMENTS: usize = 32;

/// The INSERT of `rows` rows into the target's table, prepared once and then reused.
pub(crate) fn insert_statement<'c>(
    cache: &'c mut HashMap<InsertKey, InsertStatement>,
    connection: &Connection,
    target: &LoadTarget,
    columns: &str,
    rows: usize,
) -> rusqlite::Result<&'c mut InsertStatement> {
    let key = (target.table.clone(), columns.to_owned(), rows);
    if cache.len() >= MAX_STATEMENTS && !cache.contains_key(&key) {
        cache.clear();
    }
    match cache.entry(key) {
        Entry::Occupied(entry) => Ok(entry.into_mut()),
        Entry::Vacant(entry) => Ok(entry.insert(InsertStatement::prepare(
            connection,
            &insert_sql(target, rows),
        )?)),
    }
}

fn insert_sql(target: &LoadTarget, rows: usize) -> String {
    {
        let columns = target.schema.columns();
        let names: Vec<String> = columns.iter().map(|c| quote_identifier(&c.name)).collect();
        let mut placeholders = String::with_capacity(columns.len() * 2 + 2);
        placeholders.push('(');
        for i in 0..columns.len() {
            placeholders.push_str(if i == 0 { "?" } else { ",?" });
        }
        placeholders.push(')');
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote_identifier(&target.table),
            names.join(", ")
        );
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&placeholders);
        }
        // SQLite applies the rows of one statement in order: of two with one key, the later
        // updates the row the earlier inserted.
        if let Some(on_conflict) = crate::on_conflict_sql(target) {
            sql.push_str(&on_conflict);
        }
        sql
    }
}

pub(crate) fn bind_and_run(
    statement: &mut InsertStatement,
    target: &LoadTarget,
    batch: &RowBatch,
    rows: Range<usize>,
) -> Result<u64> {
    let columns = target.schema.columns();
    let fail = |e: rusqlite::Error| database_error(&target.table, &e);
    // An upsert's row that finds its key applied all the same, updating or, in a table of
    // key columns alone, keeping the row there: each row of the statement is loaded.
    let upserted = target.upsert_key.is_some().then_some(rows.len() as u64);
    let changed = statement.run(
        |bind| {
            let mut index = 1;
            let mut timestamp_text = String::new();
            for row in rows {
                let fields = batch.row(row).fields().enumerate();
                for (spec, (column, field)) in columns.iter().zip(fields) {
                    // Fields arrive validated against their types (the `BatchSink` contract), so
                    // text, dates and canonical timestamps are bound as the bytes read, with no
                    // second UTF-8 check; only numbers and flags are parsed, to store them typed.
                    let bound = match spec.ty {
                        ColumnType::Text
                            if field.is_empty() && batch.is_empty_text(row, column) =>
                        {
                            bind.text(index, field)
                        }
                        _ if field.is_empty() => bind.null(index),
                        ColumnType::Text | ColumnType::Date => bind.text(index, field),
                        ColumnType::Timestamp if is_canonical_timestamp(field) => {
                            bind.text(index, field)
                        }
                        ty => match ty.parse(field).map_err(|e| Error::Database {
                            kind: SinkErrorKind::Data,
                            table: target.table.clone(),
                            message: format!(
                                "line {}: column {:?}: {e}",
                                batch.line(row),
                                spec.name
                            ),
                        })? {
                            Value::Integer(v) => bind.integer(index, v),
                            Value::Real(v) => bind.real(index, v),
                            Value::Boolean(v) => bind.integer(index, i64::from(v)),
                            Value::Timestamp(t) => {
                                timestamp_text.clear();
                                let _ =
                                    write!(timestamp_text, "{}", t.format("%Y-%m-%d %H:%M:%S%.f"));
                                bind.text_copied(index, &timestamp_text)
                            }
                            Value::Null => bind.null(index),
                            Value::Date(_) | Value::Text(_) => unreachable_bind(),
                        },
                    };
                    bound.map_err(fail)?;
                    index += 1;
                }
            }
            Ok(())
        },
        fail,
    )?;
    Ok(upserted.unwrap_or(changed))
}

/// Dates and text are bound before parsing; reaching here with one is a logic error, reported
/// as an SQLite misuse rather than a panic.
fn unreachable_bind() -> rusqlite::Result<()> {
    Err(rusqlite::Error::InvalidParameterName(
        "internal: text bound through the parsed path".into(),
    ))
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.fraction` and no zone: the form timestamps are
/// stored in. The field has already parsed as a timestamp, so only the shape is checked.
fn is_canonical_timestamp(field: &[u8]) -> bool {
    field.len() >= 19
        && field[10] == b' '
        && field[13] == b':'
        && field[16] == b':'
        && match &field[19..] {
            [] => true,
            [b'.', fraction @ ..] => fraction.iter().all(u8::is_ascii_digit),
            _ => false,
        }
}

/// How long a statement waits for another connection's lock before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) fn database_error(table: &str, error: &rusqlite::Error) -> Error {
    let kind = match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SinkErrorKind::Transient,
        Some(ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig) => {
            SinkErrorKind::Data
        }
        _ => SinkErrorKind::Terminal,
    };
    let mut message = shorten(&error.to_string());
    if kind == SinkErrorKind::Transient {
        message.push_str(&format!(
            " (another connection held it for the {} s waited; run again once it is done)",
            BUSY_TIMEOUT.as_secs()
        ));
    }
    Error::Database {
        kind,
        table: table.to_owned(),
        message,
    }
}

/// Runs blocking database work without stalling other tasks on a multi-threaded runtime;
/// on a current-thread runtime (tests, embedders) it simply runs inline.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[async_trait]
impl BatchSink for SqliteSink {
    async fn prepare(&self, target: &LoadTarget) -> Result<(), SinkError> {
        blocking(|| self.create_table(target)).map_err(SinkError::from)
    }

    async fn table_columns(
        &self,
        target: &LoadTarget,
    ) -> Result<Option<Vec<TableColumn>>, SinkError> {
        blocking(|| columns_in(&self.lock().connection, &target.table)).map_err(SinkError::from)
    }

    async fn check_upsert_key(&self, target: &LoadTarget) -> Result<(), SinkError> {
        blocking(|| crate::upsert::sqlite_check(&self.lock().connection, target))
    }

    /// One `ALTER TABLE ... ADD COLUMN` for each column the table lacks by then (SQLite has
    /// no `IF NOT EXISTS` for it; the one connection makes look and change one step).
    async fn add_columns(
        &self,
        target: &LoadTarget,
        columns: &[loader_batch::Column],
    ) -> Result<bool, SinkError> {
        blocking(|| {
            let state = self.lock();
            let existing = columns_in(&state.connection, &target.table)?.unwrap_or_default();
            let table = quote_identifier(&target.table);
            for column in columns {
                // SQLite compares column names without regard to case.
                let lower = column.name.to_lowercase();
                if existing.iter().any(|c| c.name.to_lowercase() == lower) {
                    continue;
                }
                let sql = crate::add_column_sql(&table, column, sql_type, false);
                state
                    .connection
                    .execute_batch(&sql)
                    .map_err(|e| database_error(&target.table, &e))?;
            }
            Ok::<_, Error>(true)
        })
        .map_err(SinkError::from)
    }

    async fn write(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> Result<u64, SinkError> {
        blocking(|| self.insert(target, batch, rows, &Rows::Whole))
            .map(|(written, _)| written)
            .map_err(SinkError::from)
    }

    /// In one transaction: SQLite undoes a refused statement alone, so only its rows are
    /// inserted again, one at a time, and nothing else is sent twice.
    async fn write_setting_aside(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
        refusal: &SinkError,
        turn: SetAsideTurn,
    ) -> Result<Option<SetAside>, SinkError> {
        // One connection writes: the write before must be done before this one begins.
        turn.previous.committed().await?;
        let how = Rows::setting_aside(refusal, &turn);
        blocking(|| self.insert(target, batch, rows, &how))
            .map(|(_, set_aside)| set_aside)
            .map_err(SinkError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loader_batch::Schema;

    fn target(table: &str, schema: Schema) -> LoadTarget {
        LoadTarget {
            table: table.into(),
            schema: Arc::new(schema),
            source: "t.csv".into(),
            ledger: None,
            upsert_key: None,
        }
    }

    #[test]
    fn declared_types_are_read_as_loader_checks_values() {
        use ColumnType::*;
        for (declared, ty) in [
            ("INTEGER", Some(Integer)),
            ("bigint", Some(Integer)),
            ("VARCHAR(10)", Some(Text)),
            ("DECIMAL(10,2)", Some(Real)),
            ("double precision", Some(Real)),
            ("BOOLEAN", Some(Boolean)),
            ("DATE", Some(Date)),
            ("DATETIME", Some(Timestamp)),
            ("", None),
            ("BLOB", None),
            ("JSON", None),
        ] {
            assert_eq!(declared_type(declared), ty, "{declared:?}");
        }
    }

    #[tokio::test]
    async fn stores_typed_values_and_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SqliteSink::open(dir.path().join("t.db")).unwrap();
        use ColumnType::*;
        let t = target(
            "typed",
            Schema::from_pairs([
                ("i", Integer),
                ("r", Real),
                ("b", Boolean),
                ("d", Date),
                ("ts", Timestamp),
                ("s", Text),
            ]),
        );
        sink.prepare(&t).await.unwrap();
        let mut batch = RowBatch::new(6, 0);
        batch
            .push_row(
                2,
                0,
                [
                    &b"7"[..],
                    b"2.5",
                    b"yes",
                    b"2024-02-29",
                    b"2024-02-29T10:00:00+01:00",
                    b"caf\xc3\xa9",
                ],
            )
            .unwrap();
        batch
            .push_row(3, 0, [&b""[..], b"", b"", b"", b"", b""])
            .unwrap();
        assert_eq!(sink.write(&t, &batch, 0..2).await.unwrap(), 2);
        let row: (i64, f64, i64, String, String, String, String, String) = sink
            .with_connection(|c| {
                c.query_row(
                    "SELECT i, r, b, d, ts, s, typeof(i), typeof(r) FROM typed WHERE i IS NOT NULL",
                    [],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                        ))
                    },
                )
            })
            .unwrap();
        assert_eq!(
            row,
            (
                7,
                2.5,
                1,
                "2024-02-29".into(),
                "2024-02-29 09:00:00".into(),
                "café".into(),
                "integer".into(),
                "real".into()
            )
        );
        let nulls: i64 = sink
            .with_connection(|c| {
                c.query_row(
                    "SELECT count(*) FROM typed WHERE i IS NULL AND r IS NULL AND b IS NULL AND d IS NULL AND ts IS NULL AND s IS NULL",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(nulls, 1);
    }

    #[tokio::test]
    async fn cleanup_hook_shrinks_and_does_not_keep_the_sink_alive() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(SqliteSink::open(dir.path().join("t.db")).unwrap());
        let hook = sink.cleanup_hook();
        assert_eq!(hook.name(), "sqlite shrink_memory");
        hook.run();
        let weak = Arc::downgrade(&sink);
        drop(sink);
        assert!(weak.upgrade().is_none());
        assert_eq!(hook.run(), 0);
    }

    #[tokio::test]
    async fn hostile_names_are_quoted_and_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SqliteSink::open(dir.path().join("t.db")).unwrap();
        let evil = "a\"; DROP TABLE victim; --";
        sink.with_connection(|c| c.execute_batch("CREATE TABLE victim (x)"))
            .unwrap();
        let t = target(
            evil,
            Schema::from_pairs([(evil, ColumnType::Text), ("select", ColumnType::Integer)]),
        );
        sink.prepare(&t).await.unwrap();
        let mut batch = RowBatch::new(2, 0);
        batch.push_row(2, 0, [&b"v"[..], b"1"]).unwrap();
        sink.write(&t, &batch, 0..1).await.unwrap();
        let tables: i64 = sink
            .with_connection(|c| {
                c.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(tables, 2, "victim survives next to the oddly named table");
    }

    #[tokio::test]
    async fn many_rows_span_full_and_tail_statements_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SqliteSink::open(dir.path().join("t.db")).unwrap();
        let t = target("n", Schema::from_pairs([("n", ColumnType::Integer)]));
        sink.prepare(&t).await.unwrap();
        let mut batch = RowBatch::new(1, 0);
        let texts: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        for (i, text) in texts.iter().enumerate() {
            batch.push_row(i as u64 + 2, 0, [text.as_bytes()]).unwrap();
        }
        assert_eq!(sink.write(&t, &batch, 5..1000).await.unwrap(), 995);
        let (count, sum): (i64, i64) = sink
            .with_connection(|c| {
                c.query_row("SELECT count(*), sum(n) FROM n", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
            })
            .unwrap();
        assert_eq!((count, sum), (995, (5..1000).sum::<i64>()));
    }

    #[tokio::test]
    async fn a_failing_write_stores_nothing_and_is_classified() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SqliteSink::open(dir.path().join("t.db")).unwrap();
        sink.with_connection(|c| c.execute_batch("CREATE TABLE u (n INTEGER PRIMARY KEY)"))
            .unwrap();
        let t = target("u", Schema::from_pairs([("n", ColumnType::Integer)]));
        sink.prepare(&t).await.unwrap();
        let mut batch = RowBatch::new(1, 0);
        for text in ["1", "2", "1"] {
            batch.push_row(2, 0, [text.as_bytes()]).unwrap();
        }
        let err = sink.write(&t, &batch, 0..3).await.unwrap_err();
        assert_eq!(err.kind, SinkErrorKind::Data);
        // One INSERT held all three rows; the row SQLite refused is found and named, with
        // its column.
        assert_eq!(err.row, Some(2));
        assert_eq!(err.column.as_deref(), Some("n"));
        let count: i64 = sink
            .with_connection(|c| c.query_row("SELECT count(*) FROM u", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(count, 0, "the transaction rolled back");

        let t = target(
            "missing_column",
            Schema::from_pairs([("n", ColumnType::Integer)]),
        );
        sink.with_connection(|c| c.execute_batch("CREATE TABLE missing_column (other INTEGER)"))
            .unwrap();
        let err = sink.write(&t, &batch, 0..1).await.unwrap_err();
        assert_eq!(err.kind, SinkErrorKind::Terminal);
        assert!(err.message.contains("no column named n"), "{}", err.message);
    }

    #[test]
    fn a_lock_held_elsewhere_says_so_and_can_be_retried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch("CREATE TABLE t (x); BEGIN EXCLUSIVE;")
            .unwrap();
        let waiter = Connection::open(&path).unwrap();
        let refused = waiter.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        let error = database_error("_loader ledger", &refused);
        assert!(
            error.to_string().starts_with(
                "_loader ledger: database is locked (another connection held it for the 5 s waited"
            ),
            "{error}"
        );
        assert_eq!(SinkError::from(error).kind, SinkErrorKind::Transient);
    }
}
