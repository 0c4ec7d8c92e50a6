//! The `loader` binary inside a real memory cgroup: it must find the limit without being
//! told, stay under it, and react when pressure is forced. Needs a writable cgroup v1 memory
//! controller or a cgroup v2 hierarchy with the memory controller (as root on these
//! machines); elsewhere each test prints why it skipped.

use loader_tests::{MemoryCgroup, run_in_cgroup, test_rows};

const MIB: u64 = 1 << 20;

#[test]
fn loader_detects_a_256mib_cgroup_limit_and_completes_without_oom() {
    let Some(cgroup) = MemoryCgroup::create("detect", 256 * MIB) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.csv");
    let rows = test_rows_for_cgroup();
    let bytes = loader_gen::write_file(&input, rows, 17, 1).unwrap();
    let (status, report) = run_in_cgroup(
        &cgroup,
        dir.path(),
        &["load", "big.csv", "--into", "out.db", "--json"],
    );
    assert!(
        status.success(),
        "loader exited with {status} inside the cgroup"
    );
    assert_eq!(cgroup.oom_kills(), 0);
    assert_eq!(report["memory_limit_source"], "cgroup", "{report:#}");
    assert_eq!(report["memory_limit"], 256 * MIB);
    let budget = report["budget"].as_u64().unwrap();
    assert!(
        budget <= 128 * MIB && budget > 120 * MIB,
        "half of the room left: {budget}"
    );
    assert_eq!(report["files"][0]["rows_loaded"], rows);
    let peak_rss = report["peak_rss"].as_u64().unwrap();
    assert!(peak_rss < 256 * MIB, "peak rss {peak_rss}");
    println!(
        "cgroup 256 MiB: loaded {rows} rows ({bytes} bytes), peak rss {:.1} MiB, cgroup max usage {:.1} MiB",
        peak_rss as f64 / MIB as f64,
        cgroup.max_usage() as f64 / MIB as f64
    );
}

/// Pressure is forced in a real 64 MiB cgroup by lowering the levels
/// (`--pressure-thresholds 0.05,0.10,0.99`): loader's own footprint is already above 10% of
/// the limit, so pressure is high from the first sample, whatever the machine's load. The
/// reactions (smaller sub-batches, paused admission with one file still let through when
/// none runs, a smaller budget) and the cleanup hooks must run, and the load must complete.
/// (Driving the cgroup itself to 85% depends on the reader outpacing the writer, which a
/// loaded CI machine does not guarantee.)
#[test]
fn forced_pressure_in_a_small_cgroup_shows_reactions_and_cleanup() {
    let limit = 64 * MIB;
    let Some(cgroup) = MemoryCgroup::create("pressure", limit) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rows = test_rows(300_000);
    loader_gen::write_files(dir.path(), rows, 3, 23).unwrap();
    let (status, report) = run_in_cgroup(
        &cgroup,
        dir.path(),
        &[
            "load",
            ".",
            "--into",
            "out.db",
            "--table",
            "orders",
            "--json",
            "--audit",
            "audit.jsonl",
            "--pressure-thresholds",
            "0.05,0.10,0.99",
        ],
    );
    assert!(
        status.success(),
        "loader exited with {status} inside the cgroup"
    );
    assert_eq!(cgroup.oom_kills(), 0);
    assert_eq!(report["memory_limit_source"], "cgroup");
    let loaded: u64 = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows_loaded"].as_u64().unwrap())
        .sum();
    assert_eq!(loaded, rows);
    let changes = report["pressure_changes"].as_array().unwrap();
    assert!(
        !changes.is_empty(),
        "pressure must be seen in a {} MiB cgroup: {report:#}",
        limit / MIB
    );
    let cleanups = report["cleanups"].as_array().unwrap();
    assert!(
        cleanups.iter().any(|c| c["name"] == "malloc_trim"),
        "{report:#}"
    );
    assert!(
        cleanups.iter().any(|c| c["name"] == "sqlite shrink_memory"),
        "{report:#}"
    );
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"kind\":\"pressure\"") && audit.contains("reactions: "),
        "audit records the reactions"
    );
    println!("forced pressure: changes {changes:?}, cleanups {cleanups:?}");
}

/// 2 M rows (about 200 MB) in CI's debug build; `LOADER_CGROUP_ROWS=10000000` (about 1 GB)
/// with `--release` for the full acceptance run.
fn test_rows_for_cgroup() -> u64 {
    std::env::var("LOADER_CGROUP_ROWS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(2_000_000)
}
