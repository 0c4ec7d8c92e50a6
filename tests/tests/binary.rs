//! Loads through the `loader` binary, as an operator would.

use loader_tests::{
    ORDERS, assert_succeeded, assert_table_matches, assert_table_trail_matches_jsonl,
    files_in_three_column_orders, run_loader, test_rows,
};

#[test]
fn loader_binary_loads_generated_files_value_by_value() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let rows = test_rows(50_000);
    let files = loader_gen::write_files(&input, rows, 3, 2024).unwrap();
    let output = run_loader(
        dir.path(),
        &[
            "load",
            "in",
            "--into",
            "sqlite:out.db",
            "--table",
            "orders",
            "--audit",
            "audit.jsonl",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let thousands = loader_tests::thousands(rows);
    assert!(
        stdout.contains(&format!("loaded {thousands} rows from 3 of 3 files")),
        "{stdout}"
    );
    assert_eq!(
        assert_table_matches(&dir.path().join("out.db"), "orders", &files, &ORDERS),
        rows as usize
    );
    let events = assert_table_trail_matches_jsonl(
        dir.path(),
        &["--into", "sqlite:out.db"],
        &dir.path().join("audit.jsonl"),
    );
    assert!(events > 20, "{events} events");
}

#[test]
fn memory_limit_is_honoured_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let rows = test_rows(50_000);
    loader_gen::write_file(&path, rows, 3, 1).unwrap();
    let output = run_loader(
        dir.path(),
        &[
            "load",
            "big.csv",
            "--into",
            "out.db",
            "--memory-limit",
            "64MiB",
            "--json",
        ],
    );
    assert_succeeded(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["memory_limit"], 64 << 20);
    assert_eq!(report["memory_limit_source"], "explicit");
    // Half of what is left of 64 MiB once the process is resident (a debug build holds 14
    // to 17 MiB by then, more as the code grows) and 8 MiB are set aside for the engine.
    let budget = report["budget"].as_u64().unwrap();
    assert!(budget < 28 << 20 && budget > 16 << 20, "{budget}");
    let peak_reserved = report["peak_reserved"].as_u64().unwrap();
    assert!(
        peak_reserved > 0 && peak_reserved <= budget,
        "{peak_reserved}"
    );
    assert_eq!(report["files"][0]["rows_loaded"], rows);
    assert_eq!(report["files"][0]["table"], "big");
    assert_eq!(
        assert_table_matches(&dir.path().join("out.db"), "big", &[path], &ORDERS),
        rows as usize
    );
}

#[test]
fn bad_value_fails_with_file_line_and_column_and_exit_code_1() {
    // The bad value sits after the 1,000-row sample, so the column is inferred as a date.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,when\n");
    for i in 0..1500 {
        text.push_str(&format!("{i},2024-01-{:02}\n", i % 28 + 1));
    }
    text.push_str("1500,2024-13-01\n");
    std::fs::write(dir.path().join("bad.csv"), text).unwrap();
    let output = run_loader(dir.path(), &["load", "bad.csv", "--into", "out.db"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.csv:1502: column 2 (\"when\"): expected date, found \"2024-13-01\""),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1,500 loaded"),
        "rows before the bad one are committed: {stdout}"
    );
}

#[test]
fn usage_errors_exit_2_and_missing_input_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_loader(dir.path(), &["load", "--memory-limit", "lots", "x.csv"]);
    assert_eq!(output.status.code(), Some(2));
    for limit in [&["--max-errors", "3"][..], &["--max-error-ratio", "0.1"]] {
        let mut args = vec!["load", "x.csv", "--on-error", "fail"];
        args.extend(limit);
        let output = run_loader(dir.path(), &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("need --on-error skip"));
    }
    let output = run_loader(dir.path(), &["load", "x.csv", "--max-error-ratio", "2"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run_loader(dir.path(), &["load", "missing.csv"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("missing.csv: no such file or directory")
    );
}

#[test]
fn rerunning_a_finished_load_adds_nothing_and_reports_every_file_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    loader_gen::write_files(&input, 3000, 3, 8).unwrap();
    let args = ["load", "in", "--into", "out.db", "--json"];
    let first = run_loader(dir.path(), &args);
    assert!(first.status.success());
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let again = run_loader(dir.path(), &args);
    assert!(again.status.success());
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    for file in again["files"].as_array().unwrap() {
        assert_eq!(file["state"], "skipped", "{file}");
        assert_eq!(file["rows_loaded"], 0);
        assert_eq!(file["rows_read"], file["rows_skipped"]);
        let note = file["note"].as_str().unwrap();
        assert!(note.contains(first["run_id"].as_str().unwrap()), "{note}");
    }
    let db = rusqlite::Connection::open(dir.path().join("out.db")).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'part%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let total: i64 = tables
        .iter()
        .map(|t| {
            db.query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap()
        })
        .sum();
    assert_eq!(total, 3000, "no row added by the re-run");

    let history = run_loader(dir.path(), &["history", "--into", "out.db"]);
    let text = String::from_utf8_lossy(&history.stdout);
    assert!(
        text.contains(first["run_id"].as_str().unwrap())
            && text.contains(again["run_id"].as_str().unwrap()),
        "{text}"
    );
    let detail = run_loader(
        dir.path(),
        &[
            "history",
            first["run_id"].as_str().unwrap(),
            "--into",
            "out.db",
            "--json",
        ],
    );
    let detail: serde_json::Value = serde_json::from_slice(&detail.stdout).unwrap();
    assert_eq!(detail["files"].as_array().unwrap().len(), 3);
    assert!(
        detail["events"].as_array().unwrap().len() > 6,
        "the audit table holds the run's events"
    );
}

#[test]
fn gzip_and_zstd_copies_load_the_same_table_as_the_plain_file() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let rows = test_rows(50_000);
    let plain = dir.path().join("orders.csv");
    loader_gen::write_file(&plain, rows, 9, 1).unwrap();
    let text = std::fs::read(&plain).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).unwrap();
    std::fs::write(dir.path().join("orders.csv.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        dir.path().join("orders.csv.zst"),
        zstd::encode_all(&text[..], 3).unwrap(),
    )
    .unwrap();
    for (name, db) in [
        ("orders.csv", "plain.db"),
        ("orders.csv.gz", "gzip.db"),
        ("orders.csv.zst", "zstd.db"),
    ] {
        let output = run_loader(
            dir.path(),
            &["load", name, "--into", db, "--table", "orders"],
        );
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let compared = assert_table_matches(
            &dir.path().join(db),
            "orders",
            std::slice::from_ref(&plain),
            &ORDERS,
        );
        assert_eq!(compared as u64, rows, "{name}");
    }
}

#[test]
fn files_naming_their_columns_in_different_orders_fill_the_right_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let expected = files_in_three_column_orders(&input);
    // One worker: the three files share the writer's prepared statements.
    let output = run_loader(
        dir.path(),
        &[
            "load",
            "in",
            "--into",
            "sqlite:out.db",
            "--table",
            "t",
            "--workers",
            "1",
        ],
    );
    assert_succeeded(&output);
    let db = rusqlite::Connection::open(dir.path().join("out.db")).unwrap();
    let mut statement = db
        .prepare("SELECT id, first, coalesce(last, '') FROM t ORDER BY id")
        .unwrap();
    let found: Vec<(String, String, String)> = statement
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)?.to_string(), r.get(1)?, r.get(2)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn an_empty_file_among_others_is_reported_empty_and_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("exports");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("orders.csv"), "id,amount\n1,2.5\n2,3.5\n").unwrap();
    // An export that found nothing: no header, no rows.
    std::fs::write(data.join("refunds.csv"), "").unwrap();
    let output = run_loader(dir.path(), &["load", "exports", "--into", "out.db"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("loaded 2 rows from 1 of 2 files, 1 empty"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  empty  exports/refunds.csv: the file is empty (no header, no rows)"),
        "{stdout}"
    );
    let tables: Vec<String> = rusqlite::Connection::open(dir.path().join("out.db"))
        .unwrap()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["orders"]);

    let plan = run_loader(dir.path(), &["plan", "exports", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["files"].as_array().unwrap().len(), 1);
    assert_eq!(plan["empty_files"][0]["path"], "exports/refunds.csv");
    assert_eq!(plan["empty_files"][0]["table"], "refunds");

    let json = run_loader(
        dir.path(),
        &["load", "exports", "--into", "again.db", "--json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let states: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["loaded", "empty"]);
}
