//! Loads through the `loader` binary, as an operator would.

use loader_tests::{ORDERS, assert_table_matches, run_loader, test_rows};

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
    let thousands = loader_tests_format(rows);
    assert!(
        stdout.contains(&format!("loaded {thousands} rows from 3 of 3 files")),
        "{stdout}"
    );
    assert_eq!(
        assert_table_matches(&dir.path().join("out.db"), "orders", &files, &ORDERS),
        rows as usize
    );
    assert!(dir.path().join("audit.jsonl").metadata().unwrap().len() > 0);
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
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["memory_limit"], 64 << 20);
    assert_eq!(report["memory_limit_source"], "explicit");
    // Half of what is left of 64 MiB once the process itself is resident.
    let budget = report["budget"].as_u64().unwrap();
    assert!(budget < 32 << 20 && budget > 24 << 20, "{budget}");
    let peak_reserved = report["peak_reserved"].as_u64().unwrap();
    assert!(
        peak_reserved > 0 && peak_reserved <= 32 << 20,
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
    let output = run_loader(dir.path(), &["load", "missing.csv"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("missing.csv: no such file or directory")
    );
}

fn loader_tests_format(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
