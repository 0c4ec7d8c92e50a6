//! Names a load makes, through the binary on a real SQLite file: `--snake-case-names` makes
//! a table and columns a query names without quotes, and its runs find them again.

use loader_tests::{assert_succeeded, run_loader};

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
