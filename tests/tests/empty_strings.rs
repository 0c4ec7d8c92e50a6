//! `""` is an empty string and an empty field NULL, as PostgreSQL's `COPY` reads them and
//! writes them: a table exported with `COPY ... TO ... CSV` loads back with its empty
//! strings and its NULLs apart, into SQLite and into PostgreSQL (binary and CSV `COPY`).

use loader_tests::pg::{ScratchSchema, pg_url, query_text};
use loader_tests::run_loader;
use std::path::Path;
use std::process::Command;

/// `(name, note)` of each row, in id order, `None` for NULL.
type Pairs = Vec<(Option<String>, Option<String>)>;

/// What `t.csv` below holds, row by row.
fn expected() -> Pairs {
    let s = |v: &str| Some(v.to_owned());
    vec![
        (s(""), None),
        (None, s("")),
        (s("a"), s("")),
        (s("multi\nline"), None),
    ]
}

fn write_input(dir: &Path) {
    std::fs::write(
        dir.join("t.csv"),
        "id,name,note,amount\n1,\"\",,1.5\n2,,\"\",2\n3,a,\"\",3\n4,\"multi\nline\",,4\n",
    )
    .unwrap();
}

fn load(dir: &Path, into: &[&str], extra: &[&str]) {
    let mut args = vec!["load", "t.csv", "--table", "t"];
    args.extend_from_slice(into);
    args.extend_from_slice(extra);
    let output = run_loader(dir, &args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn sqlite_pairs(db: &Path) -> Pairs {
    let db = rusqlite::Connection::open(db).unwrap();
    let mut statement = db.prepare("SELECT name, note FROM t ORDER BY id").unwrap();
    let rows = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn pg_pairs(url: &str, schema: &str) -> Pairs {
    query_text(
        url,
        &format!("SELECT name, note FROM \"{schema}\".t ORDER BY id"),
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone()))
    .collect()
}

#[test]
fn sqlite_keeps_empty_strings_and_nulls_apart() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path());
    load(dir.path(), &["--into", "out.db"], &[]);
    assert_eq!(sqlite_pairs(&dir.path().join("out.db")), expected());

    // Asked to, `""` is NULL like an empty field.
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path());
    load(
        dir.path(),
        &["--into", "out.db"],
        &["--quoted-empty-is-null"],
    );
    let all_null = vec![
        (None, None),
        (None, None),
        (Some("a".to_owned()), None),
        (Some("multi\nline".to_owned()), None),
    ];
    assert_eq!(sqlite_pairs(&dir.path().join("out.db")), all_null);
}

#[test]
fn postgres_keeps_empty_strings_and_nulls_apart_in_binary_and_csv_copy() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::created(&url, "empty_strings");
    // A table loader makes goes by binary COPY; one with a numeric column by CSV COPY.
    for (table, made) in [("binary", false), ("csv", true)] {
        let dir = tempfile::tempdir().unwrap();
        write_input(dir.path());
        let table_schema = format!("{}_{table}", schema.name);
        query_text(&url, &format!("CREATE SCHEMA \"{table_schema}\""));
        if made {
            query_text(
                &url,
                &format!(
                    "CREATE TABLE \"{table_schema}\".t \
                     (id int8, name text, note varchar(10), amount numeric)"
                ),
            );
        }
        load(
            dir.path(),
            &["--into", &url, "--schema", &table_schema],
            &[],
        );
        assert_eq!(pg_pairs(&url, &table_schema), expected(), "{table} COPY");
        query_text(&url, &format!("DROP SCHEMA \"{table_schema}\" CASCADE"));
    }
}

/// `psql \copy ... TO ... CSV` of a table with empty strings and NULLs, loaded back by loader:
/// the same values.
#[test]
fn a_table_postgres_exported_as_csv_loads_back_the_same() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::created(&url, "round_trip");
    let s = &schema.name;
    query_text(
        &url,
        &format!(
            "CREATE TABLE \"{s}\".source (id int8, name text, note text); \
             INSERT INTO \"{s}\".source VALUES (1, '', NULL), (2, NULL, ''), (3, 'a', ''), \
             (4, E'multi\\nline', NULL)"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("t.csv");
    let copy = format!(
        "\\copy (SELECT * FROM \"{s}\".source ORDER BY id) TO '{}' WITH (FORMAT csv, HEADER true)",
        exported.display()
    );
    let status = Command::new("psql")
        .args([
            url.as_str(),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &copy,
        ])
        .status()
        .expect("psql runs");
    assert!(status.success());
    load(dir.path(), &["--into", &url, "--schema", s], &[]);
    assert_eq!(pg_pairs(&url, s), expected());
}
