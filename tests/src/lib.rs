//! Helpers for loader's cross-stack tests: generated inputs, the `loader` binary, and a
//! value-by-value comparison of a loaded SQLite table with the CSV it came from.

// Tests report what they measured and why they skipped; printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod pg;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Rows for the larger generated inputs: `LOADER_TEST_ROWS` or `default`. CI keeps the
/// default small; `LOADER_TEST_ROWS=1000000 cargo test --release -p loader-tests` runs the
/// full-size acceptance load.
pub fn test_rows(default: u64) -> u64 {
    std::env::var("LOADER_TEST_ROWS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// The `loader` binary of the profile this test runs in, built first if needed (the binary
/// lives in another package, so cargo does not build it for this crate's tests).
pub fn loader_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let release = cfg!(not(debug_assertions));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(root())
            .args(["build", "--quiet", "-p", "loader-cli", "--bin", "loader"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the loader binary failed");
        let target =
            std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), PathBuf::from);
        target
            .join(if release { "release" } else { "debug" })
            .join("loader")
    })
}

/// Runs `loader` with `args` in `dir`.
pub fn run_loader(dir: &Path, args: &[&str]) -> Output {
    Command::new(loader_bin())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("loader runs")
}

/// Asserts that the target's audit table (read back by `loader history RUN --json`) holds
/// every event of the one run in the JSON-lines trail `jsonl`, field for field, and nothing
/// else; returns how many. `target` is the `--into` (and `--schema`) arguments.
pub fn assert_table_trail_matches_jsonl(dir: &Path, target: &[&str], jsonl: &Path) -> usize {
    let key = |e: &serde_json::Value| {
        [
            "context",
            "kind",
            "scope",
            "at",
            "rows",
            "bytes",
            "reason",
            "batch",
            "duration_ms",
        ]
        .map(|field| e[field].to_string())
        .join(" ")
    };
    let text = std::fs::read_to_string(jsonl).expect("the trail file");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let run = events[0]["run"].as_str().expect("events carry their run");
    assert!(
        events.iter().all(|e| e["run"] == run),
        "one run in {jsonl:?}"
    );
    let mut args = vec!["history", run];
    args.extend_from_slice(target);
    args.push("--json");
    let output = run_loader(dir, &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let history: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut in_table: Vec<String> = history["events"]
        .as_array()
        .expect("history lists the run's events")
        .iter()
        .map(key)
        .collect();
    let mut in_file: Vec<String> = events.iter().map(key).collect();
    in_table.sort();
    in_file.sort();
    assert_eq!(
        in_table, in_file,
        "the audit table and the trail file differ"
    );
    in_file.len()
}

/// What the generated orders columns hold, for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Integer.
    Integer,
    /// Real.
    Real,
    /// Boolean stored as 0/1.
    Boolean,
    /// Text stored as is (dates included).
    Text,
    /// A timestamp: SQLite stores canonical text as read; PostgreSQL's own text form may
    /// drop a zero fraction, so there it is compared as a value.
    Timestamp,
}

/// Column kinds of `loader_gen::HEADER`.
pub const ORDERS: [Expect; loader_gen::COLUMNS] = [
    Expect::Integer,
    Expect::Text,
    Expect::Text,
    Expect::Real,
    Expect::Integer,
    Expect::Boolean,
    Expect::Text,
    Expect::Timestamp,
    Expect::Text,
    Expect::Text,
];

/// Compares `table` in `db`, ordered by its first column, with the records of `inputs`
/// (header skipped, sorted by the first column as an integer), value by value. Empty fields
/// must be NULL. Returns the number of rows compared.
///
/// # Panics
///
/// On the first difference, naming the row and column.
pub fn assert_table_matches(db: &Path, table: &str, inputs: &[PathBuf], kinds: &[Expect]) -> usize {
    let mut expected: Vec<csv::StringRecord> = Vec::new();
    for input in inputs {
        let mut reader = csv::Reader::from_path(input).expect("input readable");
        for record in reader.records() {
            expected.push(record.expect("generated input is valid CSV"));
        }
    }
    expected.sort_by_key(|r| r[0].parse::<i64>().expect("integer id"));
    let connection = Connection::open(db).expect("database opens");
    let sql = format!("SELECT * FROM \"{table}\" ORDER BY 1");
    let mut statement = connection.prepare(&sql).expect("select prepares");
    let mut rows = statement.query([]).expect("select runs");
    let mut compared = 0;
    while let Some(row) = rows.next().expect("row reads") {
        let record = expected
            .get(compared)
            .unwrap_or_else(|| panic!("table has more rows than the input ({compared}+)"));
        for (column, kind) in kinds.iter().enumerate() {
            let field = &record[column];
            let value = row.get_ref(column).expect("column exists");
            let ok = match (value, kind) {
                (ValueRef::Null, _) => field.is_empty(),
                (ValueRef::Integer(v), Expect::Integer) => field.parse::<i64>() == Ok(v),
                (ValueRef::Integer(v), Expect::Boolean) => {
                    (field == "true") == (v == 1) && (v == 0 || v == 1)
                }
                (ValueRef::Real(v), Expect::Real) => field.parse::<f64>() == Ok(v),
                (ValueRef::Text(v), Expect::Text | Expect::Timestamp) => v == field.as_bytes(),
                _ => false,
            };
            assert!(
                ok,
                "row {compared} (id {}), column {column}: table has {value:?}, input has {field:?}",
                &record[0]
            );
        }
        compared += 1;
    }
    assert_eq!(
        compared,
        expected.len(),
        "table has fewer rows than the input"
    );
    compared
}

/// A memory cgroup made for one test and removed when dropped.
pub struct MemoryCgroup {
    path: PathBuf,
    version: u8,
}

impl MemoryCgroup {
    /// Creates a cgroup limited to `limit` bytes, or prints why it cannot and returns `None`.
    pub fn create(name: &str, limit: u64) -> Option<MemoryCgroup> {
        let unique = format!("loader-test-{name}-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let v2 = Path::new("/sys/fs/cgroup");
        let v2_has_memory = std::fs::read_to_string(v2.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
        let (path, version, limit_file) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(&unique), 1, "memory.limit_in_bytes")
        } else if v2_has_memory {
            (v2.join(&unique), 2, "memory.max")
        } else {
            println!("skipped: no cgroup memory controller (neither v1 nor v2 with memory)");
            return None;
        };
        if let Err(e) = std::fs::create_dir(&path) {
            println!(
                "skipped: cannot create {} ({e}); these tests need root and a writable cgroup",
                path.display()
            );
            return None;
        }
        let cgroup = MemoryCgroup { path, version };
        if let Err(e) = std::fs::write(cgroup.path.join(limit_file), limit.to_string()) {
            println!("skipped: cannot set {limit_file} ({e})");
            return None;
        }
        if version == 1 {
            // Without swap accounting a v1 limit could be dodged into swap; where the file
            // exists, cap memory+swap at the same figure.
            let _ = std::fs::write(
                cgroup.path.join("memory.memsw.limit_in_bytes"),
                limit.to_string(),
            );
        } else {
            let _ = std::fs::write(cgroup.path.join("memory.swap.max"), "0");
        }
        Some(cgroup)
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Out-of-memory kills inside the cgroup so far.
    pub fn oom_kills(&self) -> u64 {
        let file = if self.version == 1 {
            "memory.oom_control"
        } else {
            "memory.events"
        };
        std::fs::read_to_string(self.path.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The most memory charged to the cgroup at once (v1), or the current charge (v2).
    pub fn max_usage(&self) -> u64 {
        let file = if self.version == 1 {
            "memory.max_usage_in_bytes"
        } else {
            "memory.peak"
        };
        std::fs::read_to_string(self.path.join(file))
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // The process inside has exited; an empty cgroup can be removed.
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Runs `loader` with `args` in `dir` inside `cgroup` (the shell moves itself in, then execs
/// loader) and parses its `--json` report.
pub fn run_in_cgroup(
    cgroup: &MemoryCgroup,
    dir: &Path,
    args: &[&str],
) -> (std::process::ExitStatus, serde_json::Value) {
    let procs = cgroup.path().join("cgroup.procs");
    let script = format!("echo $$ > '{}' && exec \"$0\" \"$@\"", procs.display());
    let output = Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(script)
        .arg(loader_bin())
        .args(args)
        .output()
        .expect("sh runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        serde_json::json!({
            "stdout": String::from_utf8_lossy(&output.stdout),
            "stderr": String::from_utf8_lossy(&output.stderr),
        })
    });
    (output.status, report)
}

/// Asserts that a run of the binary exited 0, showing its stderr when it did not.
pub fn assert_succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The load stopped a file (exit code 1) and its summary advised `advice`.
pub fn assert_stopped_advising(output: &Output, advice: &str) {
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains(advice),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Three files for one table that name its columns in different orders (`a.csv`: id, first,
/// last; `b.csv`: last, first, id; `c.csv`: first and id only), 250 rows each, written into
/// `dir`; and the rows the table must then hold as `(id, first, last)`, `last` empty where
/// the file had none. Enough rows that each file fills several INSERT statements.
pub fn files_in_three_column_orders(dir: &Path) -> Vec<(String, String, String)> {
    let mut expected = Vec::new();
    let mut a = String::from("id,first,last\n");
    let mut b = String::from("last,first,id\n");
    let mut c = String::from("first,id\n");
    for i in 0..250 {
        let (id_a, id_b, id_c) = (i, 1000 + i, 2000 + i);
        a.push_str(&format!("{id_a},fa{i},la{i}\n"));
        b.push_str(&format!("lb{i},fb{i},{id_b}\n"));
        c.push_str(&format!("fc{i},{id_c}\n"));
        expected.push((id_a.to_string(), format!("fa{i}"), format!("la{i}")));
        expected.push((id_b.to_string(), format!("fb{i}"), format!("lb{i}")));
        expected.push((id_c.to_string(), format!("fc{i}"), String::new()));
    }
    for (name, text) in [("a.csv", a), ("b.csv", b), ("c.csv", c)] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    expected.sort_by_key(|(id, _, _)| id.parse::<u32>().unwrap());
    expected
}

/// A run as the ledger records it when it starts.
pub fn running(run_id: &str) -> loader_batch::RunRecord {
    loader_batch::RunRecord {
        run_id: run_id.into(),
        started_at: "2026-11-28T00:00:00Z".into(),
        ended_at: None,
        settings: "{}".into(),
        outcome: "running".into(),
        error: None,
    }
}

/// A batch of one integer column holding `0..rows`, a row a line from line 2, each row two
/// bytes (`0\n`, `1\n`, ...).
pub fn id_batch(rows: u64) -> loader_batch::RowBatch {
    let mut batch = loader_batch::RowBatch::new(1, 0);
    for id in 0..rows {
        batch
            .push_row(id + 2, id * 2, [id.to_string().as_bytes()])
            .expect("a batch with room");
    }
    batch.set_end(rows + 2, rows * 2);
    batch
}

/// `n` as the summary writes it, with thousands separators (`1,234,567`).
pub fn thousands(n: u64) -> String {
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

/// Rows of a query, each value as text (numbers as Rust prints them), NULL as `None`.
pub type Rows = Vec<Vec<Option<String>>>;

/// The rows `sql` gives in the SQLite database at `db`, as [`Rows`].
pub fn sqlite_rows(db: &Path, sql: &str) -> Rows {
    let db = Connection::open(db).unwrap();
    let mut statement = db.prepare(sql).unwrap();
    let columns = statement.column_count();
    let rows = statement
        .query_map([], |r| {
            (0..columns)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => None,
                        ValueRef::Integer(v) => Some(v.to_string()),
                        ValueRef::Real(v) => Some(v.to_string()),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            Some(String::from_utf8_lossy(t).into_owned())
                        }
                    })
                })
                .collect()
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}
