//! Names a load makes, through the binary on a real SQLite file: `--snake-case-names` makes
//! a table and columns a query names without quotes, and its runs find them again.

use loader_tests::pg::{ScratchSchema, pg_url};
use loader_tests::{assert_stopped_advising, assert_succeeded, run_loader, sqlite_rows};

#[test]
fn snake_case_names_make_a_table_queries_name_without_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let file = "Sales Report.csv";
    std::fs::write(
        dir.path().join(file),
        "Order ID,customerEmail,Total ($)\n1,a@example.com,2.5\n2,b@example.com,4\n",
    )
    .unwrap();
    let load = |extra: &[&str]| {
        let mut args = vec!["load", file, "--into", "out.db", "--snake-case-names"];
        args.extend_from_slice(extra);
        run_loader(dir.path(), &args)
    };
    assert_succeeded(&load(&["--rename", "customerEmail=email"]));
    let db = rusqlite::Connection::open(dir.path().join("out.db")).unwrap();
    let (rows, total, email): (i64, f64, String) = db
        .query_row(
            "SELECT count(*), sum(total), min(email) FROM sales_report WHERE order_id > 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((rows, total, email.as_str()), (2, 6.5, "a@example.com"));
    // The same file again is skipped in the same table; a grown copy under another name,
    // snake-cased the same, goes to the same table's columns.
    let output = load(&["--rename", "customerEmail=email"]);
    assert_succeeded(&output);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("0 loaded"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    std::fs::write(
        dir.path().join("sales_report.csv"),
        "ORDER_ID,Customer Email,TOTAL\n3,c@example.com,1\n",
    )
    .unwrap();
    let output = run_loader(
        dir.path(),
        &[
            "load",
            "sales_report.csv",
            "--into",
            "out.db",
            "--snake-case-names",
            "--rename",
            "Customer Email=email",
        ],
    );
    assert_succeeded(&output);
    let rows: i64 = db
        .query_row("SELECT count(*) FROM sales_report", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 3);
}

/// A file with a column its table lacks (`ssn`) stops, advising `--skip-column`; with it the
/// other columns load, in SQLite and PostgreSQL alike, and the run's settings say so.
#[test]
fn a_skipped_column_is_not_loaded_and_the_others_are() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("people.csv"),
        "id,ssn,name\n1,123-45-6789,ann\n2,987-65-4321,\"bob, jr\"\n",
    )
    .unwrap();
    let db = dir.path().join("out.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE people (id INTEGER, name TEXT)")
        .unwrap();
    let mut targets = vec![vec!["--into".to_owned(), "out.db".to_owned()]];
    let scratch = pg_url().map(|url| {
        let schema = ScratchSchema::created(&url, "skip_column");
        schema.create_table("people", "id int8, name text");
        targets.push(vec![
            "--into".to_owned(),
            url,
            "--schema".to_owned(),
            schema.name.clone(),
        ]);
        schema
    });
    for target in &targets {
        let load = |extra: &[&str]| {
            let mut args = vec!["load", "people.csv"];
            args.extend(target.iter().map(String::as_str));
            args.extend_from_slice(extra);
            run_loader(dir.path(), &args)
        };
        assert_stopped_advising(&load(&[]), "or --skip-column ssn leaves it out");
        assert_succeeded(&load(&["--skip-column", "ssn"]));
    }
    let names = |rows: Vec<Vec<Option<String>>>| -> Vec<String> {
        rows.into_iter().flatten().flatten().collect()
    };
    let sql = "SELECT name FROM people ORDER BY id";
    assert_eq!(names(sqlite_rows(&db, sql)), ["ann", "bob, jr"]);
    let runs =
        "SELECT count(*) FROM _loader_runs WHERE settings LIKE '%\"skip_columns\":[\"ssn\"]%'";
    assert_eq!(names(sqlite_rows(&db, runs)), ["1"]);
    if let Some(schema) = scratch {
        assert_eq!(names(schema.query(sql)), ["ann", "bob, jr"]);
    }
}
