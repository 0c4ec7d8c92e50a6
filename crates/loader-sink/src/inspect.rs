//! Looking at a target's existing tables without writing anything: what a dry run checks
//! fields against, so that it finds what a load would find (an existing table's column
//! types win over the sample's, and a file without a header takes its column names).

use crate::{Error, PgSink, Result, Target};
use loader_batch::{SinkError, TableColumn};
use std::path::PathBuf;

/// A target's tables, read only.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.db");
/// rusqlite::Connection::open(&path).unwrap()
///     .execute_batch("CREATE TABLE t (id INTEGER, name VARCHAR(20))").unwrap();
/// let tables = loader_sink::ReadOnlyTables::open(&loader_sink::Target::Sqlite(path), None)
///     .await
///     .unwrap();
/// let columns = tables.columns_of("t").await.unwrap().unwrap();
/// assert_eq!(columns[1].name, "name");
/// assert_eq!(columns[1].ty, Some(loader_batch::ColumnType::Text));
/// assert!(tables.columns_of("missing").await.unwrap().is_none());
/// # });
/// ```
pub struct ReadOnlyTables(Kind);

enum Kind {
    Sqlite(PathBuf),
    Postgres(Box<PgSink>),
}

impl std::fmt::Debug for ReadOnlyTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Sqlite(path) => write!(f, "ReadOnlyTables(sqlite:{})", path.display()),
            Kind::Postgres(sink) => write!(f, "ReadOnlyTables({sink:?})"),
        }
    }
}

impl ReadOnlyTables {
    /// The tables of `target` (in `schema`, for PostgreSQL). An SQLite file is opened only
    /// when looked at, and never created; a PostgreSQL server is connected to at once (its
    /// schema is not created).
    ///
    /// # Errors
    ///
    /// [`Error::Open`] when the server cannot be reached.
    pub async fn open(target: &Target, schema: Option<&str>) -> Result<Self> {
        Ok(ReadOnlyTables(match target {
            Target::Sqlite(path) => Kind::Sqlite(path.clone()),
            Target::Postgres(url) => {
                Kind::Postgres(Box::new(PgSink::open(url, schema, 1, false).await?))
            }
        }))
    }

    /// The columns of `table` in order, as [`BatchSink::table_columns`](loader_batch::BatchSink::table_columns)
    /// gives them; none when there is no such table (or no database yet).
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the database cannot be read.
    pub async fn columns_of(
        &self,
        table: &str,
    ) -> std::result::Result<Option<Vec<TableColumn>>, SinkError> {
        match &self.0 {
            Kind::Sqlite(path) => sqlite_columns(path, table).map_err(SinkError::from),
            Kind::Postgres(sink) => sink.columns_of(table).await,
        }
    }

    /// As [`BatchSink::check_upsert_key`](loader_batch::BatchSink::check_upsert_key): whether
    /// `target`'s table, if there is one, has the unique index its upsert key needs.
    ///
    /// # Errors
    ///
    /// A terminal [`SinkError`] naming the index to make, or one when the database cannot
    /// be read.
    pub async fn check_upsert_key(
        &self,
        target: &loader_batch::LoadTarget,
    ) -> std::result::Result<(), SinkError> {
        match &self.0 {
            Kind::Sqlite(path) => match read_only(path).map_err(SinkError::from)? {
                Some(connection) => crate::upsert::sqlite_check(&connection, target),
                None => Ok(()),
            },
            Kind::Postgres(sink) => sink.check_upsert_key(target).await,
        }
    }
}

fn sqlite_columns(path: &std::path::Path, table: &str) -> Result<Option<Vec<TableColumn>>> {
    match read_only(path)? {
        Some(connection) => crate::sqlite::columns_in(&connection, table),
        None => Ok(None),
    }
}

/// The SQLite file at `path` opened read only; none when there is no such file yet.
fn read_only(path: &std::path::Path) -> Result<Option<rusqlite::Connection>> {
    use rusqlite::OpenFlags;
    if !path.exists() {
        return Ok(None);
    }
    rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map(Some)
    .map_err(|e| Error::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
