//! The machine's real PostgreSQL for tests: where it is, a scratch schema per test, and a
//! value-by-value comparison of a loaded table with its CSV input.

use crate::Expect;
use loader_batch::ColumnType;
use std::path::PathBuf;

/// The test server's URL from `LOADER_TEST_PG_URL`. Without it the test is skipped with a
/// notice, except in CI (`CI=true`), where a missing server is a failure.
pub fn pg_url() -> Option<String> {
    match std::env::var("LOADER_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI=true but LOADER_TEST_PG_URL is not set: .ci/run must start PostgreSQL and export it"
            )
        }
        _ => {
            println!(
                "skipped: LOADER_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            None
        }
    }
}

/// Runs `sql` on a fresh connection in its own thread and runtime (so it can be called from
/// sync tests, async tests and destructors alike); every value comes back as text.
pub fn query_text(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("the test server accepts connections");
            tokio::spawn(connection);
            let messages = client.simple_query(&sql).await.expect("query runs");
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect()
        })
    })
    .join()
    .expect("query thread")
}

/// A schema name for one test, dropped with everything in it when the guard goes.
pub struct ScratchSchema {
    url: String,
    /// The schema's name.
    pub name: String,
}

impl ScratchSchema {
    /// `loader_test_<tag>_<pid>`, dropped first in case an earlier run left it.
    pub fn new(url: &str, tag: &str) -> Self {
        let name = format!("loader_test_{tag}_{}", std::process::id());
        query_text(url, &format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"));
        ScratchSchema {
            url: url.to_owned(),
            name,
        }
    }
}

impl ScratchSchema {
    /// [`new`](Self::new), with the schema created, for tests that make tables in it.
    pub fn created(url: &str, tag: &str) -> Self {
        let schema = ScratchSchema::new(url, tag);
        query_text(url, &format!("CREATE SCHEMA \"{}\"", schema.name));
        schema
    }

    /// Creates `name` (with `columns`, as in `CREATE TABLE`) in the schema.
    pub fn create_table(&self, name: &str, columns: &str) {
        query_text(
            &self.url,
            &format!("CREATE TABLE \"{}\".{name} ({columns})", self.name),
        );
    }

    /// The rows `sql` gives with the schema first on the search path, as [`query_text`].
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        query_text(
            &self.url,
            &format!("SET search_path TO \"{}\"; {sql}", self.name),
        )
    }

    /// Runs `loader load PATH --into URL --schema NAME` and `extra` in `dir`.
    pub fn load(&self, dir: &std::path::Path, path: &str, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["load", path, "--into", &self.url, "--schema", &self.name];
        args.extend_from_slice(extra);
        crate::run_loader(dir, &args)
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        query_text(
            &self.url,
            &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name),
        );
    }
}

/// Compares `schema.table`, ordered by its first column, with the records of `inputs` value
/// by value (empty fields must be NULL; reals, timestamps compared as values). Returns the
/// number of rows compared.
///
/// # Panics
///
/// On the first difference.
pub fn assert_pg_matches(
    url: &str,
    schema: &str,
    table: &str,
    inputs: &[PathBuf],
    kinds: &[Expect],
) -> usize {
    let mut expected: Vec<csv::StringRecord> = Vec::new();
    for input in inputs {
        let mut reader = csv::Reader::from_path(input).expect("input readable");
        expected.extend(reader.records().map(|r| r.expect("valid CSV")));
    }
    expected.sort_by_key(|r| r[0].parse::<i64>().expect("integer id"));
    let columns: Vec<String> = (0..kinds.len()).map(|i| format!("c{i}")).collect();
    let rows = query_text(
        url,
        &format!(
            "SELECT * FROM \"{schema}\".\"{table}\" AS t({}) ORDER BY 1",
            columns.join(", ")
        ),
    );
    assert_eq!(rows.len(), expected.len(), "row count");
    for (index, (row, record)) in rows.iter().zip(&expected).enumerate() {
        for (column, kind) in kinds.iter().enumerate() {
            let field = &record[column];
            let ok = match (&row[column], kind) {
                (None, _) => field.is_empty(),
                (Some(v), Expect::Integer) => v.parse::<i64>().ok() == field.parse().ok(),
                (Some(v), Expect::Real) => v.parse::<f64>().ok() == field.parse().ok(),
                (Some(v), Expect::Boolean) => (v == "t" || v == "true") == (field == "true"),
                (Some(v), Expect::Timestamp) => {
                    ColumnType::Timestamp.parse(v.as_bytes())
                        == ColumnType::Timestamp.parse(field.as_bytes())
                }
                (Some(v), Expect::Text) => v == field,
            };
            assert!(
                ok,
                "row {index} (id {}), column {column}: table has {:?}, input has {field:?}",
                &record[0], row[column]
            );
        }
    }
    rows.len()
}
