//! Rows ragged the way exports make them (trailing empty fields left out, or a trailing
//! delimiter): through the binary, a bad row that names its line and the flag that reads
//! it; with `--ragged-rows`, loaded with NULL for what is missing, into a real SQLite file
//! and the real PostgreSQL alike. And the lines below a report's table that are no rows at
//! all (`--skip-footer`).

use loader_tests::pg::{ScratchSchema, pg_url, query_text};
use loader_tests::{assert_stopped_advising, assert_succeeded, run_loader, sqlite_rows};

const RAGGED: &str = "id,name,city,zip\n1,ann,oslo,0150\n2,bob\n3,cy,rome,\n4,dee,lima,1500,\n";

/// Loads `ragged.csv` into `into` without the flag (it stops at line 3, saying which flag
/// reads it) and with it; returns the second run's stdout.
fn load_ragged(dir: &std::path::Path, into: &[&str]) -> String {
    std::fs::write(dir.join("ragged.csv"), RAGGED).unwrap();
    let without = run_loader(dir, &[&["load", "ragged.csv"][..], into].concat());
    assert_eq!(without.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&without.stdout);
    assert!(
        stdout.contains("--ragged-rows reads the missing fields as NULL"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        stderr.contains("ragged.csv:3: expected 4 fields, found 2"),
        "{stderr}"
    );
    let with = run_loader(
        dir,
        &[&["load", "ragged.csv", "--ragged-rows"][..], into].concat(),
    );
    let stdout = String::from_utf8_lossy(&with.stdout).into_owned();
    assert_eq!(with.status.code(), Some(0), "{stdout}");
    // The first run committed row 1 before it stopped; the second resumes after it.
    assert!(
        stdout.contains("4 rows read, 3 loaded, 0 rejected, 1 skipped"),
        "{stdout}"
    );
    stdout
}

/// Rows as `id|name|city|zip`, NULL as `-`.
const EXPECTED: [&str; 4] = [
    "1|ann|oslo|0150",
    "2|bob|-|-",
    "3|cy|rome|-",
    "4|dee|lima|1500",
];

#[test]
fn ragged_rows_load_into_sqlite_with_null_for_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    load_ragged(dir.path(), &["--into", "out.db"]);
    let db = rusqlite::Connection::open(dir.path().join("out.db")).unwrap();
    let mut statement = db
        .prepare(
            "SELECT id || '|' || name || '|' || coalesce(city, '-') || '|' || \
             coalesce(zip, '-') FROM ragged ORDER BY id",
        )
        .unwrap();
    let rows: Vec<String> = statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, EXPECTED);
}

#[test]
fn ragged_rows_load_into_postgres_with_null_for_what_is_missing() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "ragged");
    let dir = tempfile::tempdir().unwrap();
    load_ragged(dir.path(), &["--into", &url, "--schema", &schema.name]);
    let rows = query_text(
        &url,
        &format!(
            "SELECT id || '|' || name || '|' || coalesce(city, '-') || '|' || \
             coalesce(zip, '-') FROM \"{}\".ragged ORDER BY id",
            schema.name
        ),
    );
    let rows: Vec<&str> = rows.iter().map(|r| r[0].as_deref().unwrap()).collect();
    assert_eq!(rows, EXPECTED);
}

/// A report's totals and the note below them (`--skip-footer 2`) are never read: not as
/// rows, and not in the sample, where "Total" would have made the id column text and
/// loaded the total as a row; a gzip copy the same. Without the flag the file stops at the
/// note, advising the flag.
#[test]
fn a_reports_footer_is_left_out_and_types_no_column() {
    let dir = tempfile::tempdir().unwrap();
    let report =
        "id,amount,paid\n1,5,2024-01-02\n2,7,2024-01-03\n\nTotal,12,\nExported 2026-11-30 by ERP\n";
    std::fs::write(dir.path().join("report.csv"), report).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, report.as_bytes()).unwrap();
    std::fs::write(dir.path().join("copy.csv.gz"), gzip.finish().unwrap()).unwrap();
    let without = run_loader(dir.path(), &["load", "report.csv", "--into", "plain.db"]);
    assert_stopped_advising(&without, "--skip-footer N below it");
    for file in ["report.csv", "copy.csv.gz"] {
        let output = run_loader(
            dir.path(),
            &[
                "load",
                file,
                "--into",
                "out.db",
                "--table",
                "t",
                "--force",
                "--skip-footer",
                "2",
            ],
        );
        assert_succeeded(&output);
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("2 rows read, 2 loaded"),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    assert_eq!(
        sqlite_rows(
            &dir.path().join("out.db"),
            "SELECT typeof(id), count(*), sum(amount) FROM t GROUP BY 1"
        ),
        [[
            Some("integer".to_owned()),
            Some("4".to_owned()),
            Some("24".to_owned())
        ]]
    );
}
