//! Ctrl-C and SIGTERM through the binary: the first stops the load between batches, with
//! exit code 130, the file reported `STOPPED` and the line it stopped at; a second quits at
//! once. Either way the same command run again completes the input exactly once.

use loader_tests::{ORDERS, assert_table_matches, loader_bin};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn load_command(dir: &Path) -> Command {
    let mut command = Command::new(loader_bin());
    command.current_dir(dir).args([
        "load",
        "in",
        "--into",
        "sqlite:out.db",
        "--table",
        "orders",
        "--workers",
        "1",
        "--batch-rows",
        "300",
        "--sub-batch-rows",
        "150",
    ]);
    command
}

fn committed(db: &Path, sql: &str) -> i64 {
    let Ok(c) = rusqlite::Connection::open(db) else {
        return 0;
    };
    c.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// Starts a load of `files` into a fresh `out.db` and sends it `signals` SIGTERMs once its
/// first rows are committed; `None` when it finished before that.
fn signalled_load(dir: &Path, signals: usize) -> Option<std::process::Output> {
    let _ = std::fs::remove_file(dir.join("out.db"));
    let child: Child = load_command(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let db = dir.join("out.db");
    let started = Instant::now();
    while committed(&db, "SELECT count(*) FROM orders") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no row committed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..signals {
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        if !status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.code() != Some(0)).then_some(output)
}

fn inputs(dir: &Path, rows: u64) -> Vec<PathBuf> {
    let input = dir.join("in");
    let _ = std::fs::remove_dir_all(&input);
    std::fs::create_dir(&input).unwrap();
    loader_gen::write_files(&input, rows, 3, 41).unwrap()
}

/// Runs the load again and checks that every row of `files` is in the table once, and that
/// the ledger agrees.
fn rerun_completes_exactly(dir: &Path, files: &[PathBuf], rows: u64) {
    let status = load_command(dir).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "the re-run failed ({status})");
    let db = dir.join("out.db");
    assert_eq!(
        assert_table_matches(&db, "orders", files, &ORDERS) as u64,
        rows
    );
    assert_eq!(
        committed(&db, "SELECT sum(rows) FROM _loader_batches") as u64,
        rows
    );
}

#[test]
fn a_signal_stops_the_load_between_batches_and_a_rerun_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    // More rows until the load is still going when its first rows are committed.
    for rows in [60_000, 240_000, 960_000] {
        let files = inputs(dir.path(), rows);
        let Some(output) = signalled_load(dir.path(), 1) else {
            continue;
        };
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert_eq!(output.status.code(), Some(130), "{stdout}{stderr}");
        assert!(stdout.contains("STOPPED"), "{stdout}");
        assert!(
            stderr.contains("stopping: the batches being written are committed first")
                && stderr.contains("stopped on request; rows before line"),
            "{stderr}"
        );
        // What is in the table is what the ledger says, short of the input.
        let db = dir.path().join("out.db");
        let stored = committed(&db, "SELECT count(*) FROM orders");
        assert_eq!(
            stored,
            committed(&db, "SELECT sum(rows) FROM _loader_batches")
        );
        assert!(stored > 0 && (stored as u64) < rows, "{stored} of {rows}");
        let outcome: String = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT outcome FROM _loader_runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(outcome, "stopped", "the ledger records the run as stopped");
        rerun_completes_exactly(dir.path(), &files, rows);

        // A second signal quits at once; nothing is lost or doubled either.
        if let Some(output) = signalled_load(dir.path(), 2) {
            assert_eq!(output.status.code(), Some(130));
        }
        rerun_completes_exactly(dir.path(), &files, rows);
        return;
    }
    panic!("every load finished before its first commit was seen");
}
