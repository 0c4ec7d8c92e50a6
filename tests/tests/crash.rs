//! Exactly-once through the binary: `loader` killed with SIGKILL at random moments, then the
//! same command run again (with another batch size), must leave exactly the input.

use loader_tests::{ORDERS, assert_table_matches, loader_bin, test_rows};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Trials in all, and how many of them at least must kill a load between two commits.
const TRIALS: u64 = 30;
const MID_LOAD_NEEDED: u64 = 10;
const SEED: u64 = 0x5EED_C0DE;

fn load_command(dir: &Path, db: &str, batch_rows: u64) -> Command {
    let mut command = Command::new(loader_bin());
    command.current_dir(dir).args([
        "load",
        "in",
        "--into",
        db,
        "--table",
        "orders",
        "--sub-batch-rows",
        "300",
        "--batch-rows",
        &batch_rows.to_string(),
    ]);
    command.stdout(std::process::Stdio::null());
    command
}

fn committed_rows(db: &Path) -> i64 {
    let Ok(c) = rusqlite::Connection::open(db) else {
        return 0;
    };
    c.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap_or(0)
}

#[test]
fn sigkill_at_random_moments_then_rerun_gives_exactly_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let rows = test_rows(20_000);
    let files = loader_gen::write_files(&input, rows, 3, 77).unwrap();

    // Calibrate: how long a whole load takes in this build, so kills land across all of it.
    let started = Instant::now();
    assert!(
        load_command(dir.path(), "sqlite:calibrate.db", 1000)
            .status()
            .unwrap()
            .success()
    );
    let full = started.elapsed();

    let mut rng = loader_gen::Rng::new(SEED);
    let mut mid_load = 0;
    // Kill moments are drawn from a window that starts as the calibrated load and narrows as
    // trials land before the first commit or after the end: a busy machine shifts both.
    let (mut earliest, mut latest) = (0u64, full.as_millis() as u64 + 1);
    for trial in 0..TRIALS {
        let db = format!("trial-{trial}.db");
        let (first, second) = [(1000, 2500), (2500, 700), (700, 1000)][trial as usize % 3];
        let delay =
            Duration::from_millis(earliest + rng.below(latest.saturating_sub(earliest) + 1));
        let mut child = load_command(dir.path(), &format!("sqlite:{db}"), first)
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let killed = child.try_wait().unwrap().is_none();
        // Child::kill sends SIGKILL on Unix: no destructor, no flush, no goodbye.
        let _ = child.kill();
        child.wait().unwrap();
        let db_path = dir.path().join(&db);
        let before = committed_rows(&db_path);
        let ms = delay.as_millis() as u64;
        if !killed || before as u64 == rows {
            latest = latest.min(ms).max(earliest + 1);
        } else if before == 0 {
            earliest = earliest.max(ms).min(latest.saturating_sub(1));
        } else {
            mid_load += 1;
        }

        let status = load_command(dir.path(), &format!("sqlite:{db}"), second)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "trial {trial}: the re-run failed ({status})"
        );
        let compared = assert_table_matches(&db_path, "orders", &files, &ORDERS);
        assert_eq!(compared as u64, rows, "trial {trial}");
        let ledger_rows: i64 = rusqlite::Connection::open(&db_path)
            .unwrap()
            .query_row("SELECT sum(rows) FROM _loader_batches", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            ledger_rows as u64, rows,
            "trial {trial}: ledger and table agree"
        );
        println!(
            "trial {trial}: killed after {delay:?} (batch rows {first}), {before} rows committed; re-run (batch rows {second}) completed, {rows} rows exact"
        );
    }
    println!("{mid_load} of {TRIALS} kills landed mid-load (full load {full:?})");
    // The others land before the first or after the last commit, which must also work.
    assert!(
        mid_load >= MID_LOAD_NEEDED,
        "too few kills landed mid-load to mean anything: {mid_load}"
    );
}
