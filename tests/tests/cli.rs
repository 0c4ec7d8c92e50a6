//! The operator's side of the binary: settings precedence, the JSON report's documented
//! shape, `schema`, `completions`, `report --html` (looked at in a real headless browser),
//! `--quiet` and metrics for Prometheus.

use loader_tests::{assert_succeeded, loader_bin, root, run_loader};
use std::path::Path;
use std::process::{Command, Output};

fn run_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(loader_bin());
    command.current_dir(dir).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("loader runs")
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success() || output.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

#[test]
fn flags_win_over_environment_which_wins_over_the_settings_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "id\n1\n").unwrap();
    let table = |env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["plan", "in.csv", "--json"];
        args.extend(extra);
        let plan = stdout_json(&run_with_env(dir.path(), &args, env));
        plan["files"][0]["table"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        table(&[], &[]),
        "in",
        "built-in default: named after the file"
    );
    std::fs::write(
        dir.path().join("loader.toml"),
        "table = \"from_file\"\nbatch-rows = 5000\n",
    )
    .unwrap();
    assert_eq!(table(&[], &[]), "from_file");
    assert_eq!(table(&[("LOADER_TABLE", "from_env")], &[]), "from_env");
    assert_eq!(
        table(&[("LOADER_TABLE", "from_env")], &["--table", "from_flag"]),
        "from_flag"
    );
    // --config names another file; a key that is no flag is a usage error.
    std::fs::write(dir.path().join("other.toml"), "tabel = \"typo\"\n").unwrap();
    let output = run_loader(dir.path(), &["--config", "other.toml", "plan", "in.csv"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"tabel\" is not a setting"));
    // The documented example file is valid.
    let example = root().join("examples/loader.toml");
    let output = run_loader(
        dir.path(),
        &["--config", example.to_str().unwrap(), "plan", "in.csv"],
    );
    assert_succeeded(&output);
}

/// The shape documented in docs/user-guide.md ("JSON report"): every key, with its type.
const REPORT_KEYS: &[(&str, &str)] = &[
    ("files", "array"),
    ("duration", "number"),
    ("memory_limit", "number"),
    ("memory_limit_source", "string"),
    ("budget", "number"),
    ("peak_reserved", "number"),
    ("peak_rss", "number"),
    ("workers", "number"),
    ("fallback", "null|string"),
    ("pressure_changes", "array"),
    ("cleanups", "array"),
    ("run_id", "string"),
];

const FILE_KEYS: &[(&str, &str)] = &[
    ("path", "string"),
    ("table", "string"),
    ("state", "string"),
    ("size", "number"),
    ("rows_read", "number"),
    ("rows_loaded", "number"),
    ("rows_rejected", "number"),
    ("rows_skipped", "number"),
    ("bytes_loaded", "number"),
    ("batches", "number"),
    ("retries", "number"),
    ("duration", "number"),
    ("estimated_peak", "number"),
    ("measured_peak", "number"),
    ("fell_back", "boolean"),
    ("error", "null|string"),
    ("note", "null|string"),
    ("rejected_by_kind", "array"),
    ("first_reject", "null|object"),
];

fn type_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn assert_shape(value: &serde_json::Value, keys: &[(&str, &str)], what: &str) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object"));
    let mut found: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    found.sort_unstable();
    expected.sort_unstable();
    assert_eq!(found, expected, "{what}: keys");
    for (key, types) in keys {
        let ty = type_of(&object[*key]);
        assert!(
            types.split('|').any(|t| t == ty),
            "{what}.{key}: {ty}, expected {types}"
        );
    }
}

#[test]
fn json_report_has_the_documented_shape_and_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "id,n\n1,2\n2,x\n3,4\n").unwrap();
    std::fs::write(dir.path().join("b.csv"), "id,n\n1,2\n2,3\n").unwrap();
    let output = run_loader(
        dir.path(),
        &[
            "load",
            "a.csv",
            "b.csv",
            "--into",
            "t.db",
            "--json",
            "--on-error",
            "skip",
            "--column",
            "n:integer",
        ],
    );
    assert_eq!(output.status.code(), Some(3), "a row was rejected");
    let report = stdout_json(&output);
    assert_shape(&report, REPORT_KEYS, "report");
    for file in report["files"].as_array().unwrap() {
        assert_shape(file, FILE_KEYS, "file");
        let n = |k: &str| file[k].as_u64().unwrap();
        assert_eq!(
            n("rows_read"),
            n("rows_loaded") + n("rows_rejected") + n("rows_skipped")
        );
    }
}

/// The summary says what the rejected rows were, the first of them, and where they are kept.
#[test]
fn the_summary_names_the_rejected_rows_and_where_they_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "id,n\n1,2\n2,x\n3,4,5\n4,y\n").unwrap();
    let args = ["load", "a.csv", "--into", "t.db", "--on-error", "skip"];
    let args = [&args[..], &["--column", "n:integer", "--rejects", "r.csv"]].concat();
    let output = run_loader(dir.path(), &args);
    assert_eq!(output.status.code(), Some(3));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(
            "rejected: 2 type, 1 field_count; first at line 3 (type): column 2 (\"n\"): \
             expected integer, found \"x\""
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "rejected rows are kept with their raw text in the _loader_quarantine table of \
             sqlite:t.db, and in r.csv as CSV"
        ),
        "{text}"
    );
}

/// A value the sample did not show stops the file; the summary says which flags get past it,
/// and each of them does.
#[test]
fn a_stopped_file_names_the_flags_that_get_past_its_row() {
    let dir = tempfile::tempdir().unwrap();
    // Past the 1000 rows sampled, so the column is inferred integer.
    let mut csv = String::from("id,score\n");
    for id in 1..=3000 {
        let score = if id == 2500 {
            "N/A".to_owned()
        } else {
            (id % 97).to_string()
        };
        csv.push_str(&format!("{id},{score}\n"));
    }
    std::fs::write(dir.path().join("late.csv"), csv).unwrap();
    let output = run_loader(dir.path(), &["load", "late.csv", "--into", "t.db"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "to get past it: --on-error skip sets such rows aside in the quarantine, with their \
             text, and loads the rest; --null N/A reads \"N/A\" as NULL; --column score:text \
             types the column when the table is made"
        ),
        "{stdout}"
    );
    // Following the advice: each flag loads every row, once.
    for (database, flags, exit) in [
        ("null.db", &["--null", "N/A"][..], 0),
        ("skip.db", &["--on-error", "skip"][..], 3),
        ("text.db", &["--column", "score:text"][..], 0),
    ] {
        let args = [&["load", "late.csv", "--into", database][..], flags].concat();
        let output = run_loader(dir.path(), &args);
        assert_eq!(output.status.code(), Some(exit), "{flags:?}");
        let rows: i64 = rusqlite::Connection::open(dir.path().join(database))
            .unwrap()
            .query_row("SELECT count(*) FROM late", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, if exit == 3 { 2999 } else { 3000 }, "{flags:?}");
    }
    // A file in Windows-1252 read as UTF-8: the bytes are shown, the encoding named, and
    // following the advice loads the text as written.
    std::fs::write(
        dir.path().join("latin.csv"),
        b"id,name\n1,Jos\xe9\n2,\x80 5\n",
    )
    .unwrap();
    let output = run_loader(dir.path(), &["load", "latin.csv", "--into", "l.db"]);
    assert_eq!(output.status.code(), Some(1));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        stderr.contains("latin.csv:2: column 2 (\"name\"): expected text, found \"Jos\\xE9\", which is not UTF-8"),
        "{stderr}"
    );
    assert!(
        stdout.contains("to get past it: --encoding windows-1252"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("--encoding windows-1252").count(),
        1,
        "{stdout}"
    );
    // Said before loading, and beside rows set aside.
    let output = run_loader(dir.path(), &["schema", "latin.csv"]);
    let note = "line 2 is not UTF-8: if the file is Windows-1252 (Excel on Windows) or Latin-1, \
                --encoding windows-1252 or --encoding latin1 reads it";
    assert!(String::from_utf8_lossy(&output.stdout).contains(note));
    let args = ["load", "latin.csv", "--into", "s.db", "--on-error", "skip"];
    let output = run_loader(dir.path(), &args);
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stdout).contains(note));
    let args = [
        "load",
        "latin.csv",
        "--into",
        "l.db",
        "--encoding",
        "windows-1252",
    ];
    assert_eq!(run_loader(dir.path(), &args).status.code(), Some(0));
    let names: Vec<String> = rusqlite::Connection::open(dir.path().join("l.db"))
        .unwrap()
        .prepare("SELECT name FROM latin ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(names, ["José", "€ 5"]);
}

#[test]
fn schema_shows_the_dialect_and_the_inferred_columns() {
    let corpus = root().join("tests/corpus");
    let dir = tempfile::tempdir().unwrap();
    let semicolon = corpus.join("semicolon.csv");
    let output = run_loader(dir.path(), &["schema", semicolon.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        text.contains("semicolon-delimited (sniffed), header, utf8"),
        "{text}"
    );
    let mac = corpus.join("cr-line-ends.csv");
    let output = run_loader(dir.path(), &["schema", mac.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("header, utf8, lines ending in CR, ~"),
        "{text}"
    );
    let excel = corpus.join("excel-sep.csv");
    let output = run_loader(dir.path(), &["schema", excel.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("semicolon-delimited (its sep= line), header, utf8"),
        "{text}"
    );
    let dup = corpus.join("dup-headers.csv");
    let output = run_loader(
        dir.path(),
        &[
            "schema",
            dup.to_str().unwrap(),
            "--column",
            "id:text",
            "--json",
        ],
    );
    let files = stdout_json(&output);
    let columns = &files[0]["columns"];
    assert_eq!(
        columns[0],
        serde_json::json!({"name": "id", "type": "text"})
    );
    assert!(!files[0]["renamed"].as_array().unwrap().is_empty());
}

#[test]
fn completions_are_generated_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let output = run_loader(dir.path(), &["completions", shell]);
        assert!(output.status.success());
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains("memory-limit"), "{shell}");
    }
    let output = run_loader(dir.path(), &["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
}

/// `loader plan | head -1` and the like: the reader closes the pipe, and the command must
/// neither panic nor lose its own exit code (Rust's `println!` panics on a closed pipe).
#[test]
fn a_closed_standard_output_is_no_panic_and_keeps_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "id,name\n1,ann\n2,bob\n").unwrap();
    std::fs::write(
        dir.path().join("b.csv"),
        "id,name\n1,ann\n2,bob,extra\n3,cy\n",
    )
    .unwrap();
    let closed = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Command::new(loader_bin())
            .current_dir(dir.path())
            .args(args)
            .stdout(writer)
            .output()
            .unwrap()
    };
    for (args, code) in [
        (&["plan", "a.csv", "b.csv"][..], 0),
        (&["completions", "bash"][..], 0),
        (&["load", "a.csv", "--into", "sqlite:out.db"][..], 0),
        // A bad row quarantined: exit code 3 still, with nobody reading the report.
        (
            &[
                "load",
                "b.csv",
                "--into",
                "sqlite:out.db",
                "--on-error",
                "skip",
            ][..],
            3,
        ),
    ] {
        let output = closed(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn quiet_prints_nothing_and_the_exit_code_tells() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "id\n1\n").unwrap();
    let output = run_loader(dir.path(), &["-q", "load", "in.csv", "--into", "t.db"]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
    let output = run_loader(dir.path(), &["load", "in.csv", "--into", "t.db"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("skipped as already loaded"), "{text}");
}

/// A run with rejects and memory samples, rendered to HTML and then to pixels by a real
/// headless Chromium. Without Chromium the page is still checked; in CI it must be there.
#[test]
fn html_report_is_self_contained_and_renders_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    loader_gen::write_files(&data, loader_tests::test_rows(60_000), 2, 7).unwrap();
    // Past the 1,000 sampled rows, so inference says integer and the row is rejected.
    let mut bad = String::from("id\n");
    for id in 1..=1100 {
        bad.push_str(if id == 1050 { "x\n" } else { "7\n" });
    }
    std::fs::write(data.join("bad.csv"), bad).unwrap();
    let output = run_loader(
        dir.path(),
        &[
            "load",
            "data",
            "--into",
            "r.db",
            "--on-error",
            "skip",
            "--memory-limit",
            "64MiB",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run_loader(
        dir.path(),
        &["report", "--into", "r.db", "--html", "run.html"],
    );
    assert_succeeded(&output);
    let page = std::fs::read_to_string(dir.path().join("run.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "throughput, memory, files");
    for needle in ["Throughput", "Memory", "bad.csv", "1 rejected", "committed"] {
        assert!(page.contains(needle), "{needle}");
    }
    assert!(page.contains("class=\"used\""), "a memory line is drawn");
    // Nothing to fetch: no scripts, stylesheets, images or fonts from anywhere.
    for forbidden in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(!page.contains(forbidden), "{forbidden}");
    }
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have chromium (.ci/run installs it)"
        );
        println!("chromium not installed: skipping the browser rendering");
        return;
    };
    let png = dir.path().join("run.png");
    let profile = dir.path().join("profile");
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--window-size=1000,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", dir.path().join("run.html").display()))
        .output()
        .expect("chromium runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let image = std::fs::read(&png).unwrap();
    assert_eq!(&image[1..4], b"PNG");
    let width = u32::from_be_bytes(image[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(image[20..24].try_into().unwrap());
    assert_eq!((width, height), (1000, 1400));
    // A blank page compresses to a few KiB; charts, bars and a table do not.
    assert!(
        image.len() > 40_000,
        "{} bytes: the page looks empty",
        image.len()
    );
    if let Ok(keep) = std::env::var("LOADER_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}

/// `--metrics-listen` serves Prometheus text while the load runs.
#[test]
fn metrics_are_served_for_prometheus_while_loading() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    loader_gen::write_files(&data, 300_000, 1, 3).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let mut child = Command::new(loader_bin())
        .current_dir(dir.path())
        .args(["load", "data", "--into", "m.db", "--sub-batch-rows", "500"])
        .arg("--metrics-listen")
        .arg(address.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut scraped = None;
    let started = std::time::Instant::now();
    while scraped.is_none() && started.elapsed() < std::time::Duration::from_secs(60) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if let Some(text) = scrape(address)
            && text.contains("loader_rows_loaded_total")
        {
            scraped = Some(text);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    assert!(status.success());
    let text = scraped.expect("metrics were served while the load ran");
    for metric in [
        "loader_rows_loaded_total",
        "loader_bytes_loaded_total",
        "loader_batches_total",
        "loader_sub_batch_seconds",
        "loader_memory_used_bytes",
        "loader_pressure_level",
    ] {
        assert!(text.contains(metric), "{metric} in\n{text}");
    }
}

fn scrape(address: std::net::SocketAddr) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn dry_run_checks_every_row_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,n\n");
    for id in 1..=1200 {
        text.push_str(&format!("{id},{}\n", if id == 1100 { "x" } else { "5" }));
    }
    std::fs::write(dir.path().join("in.csv"), text).unwrap();
    let output = run_loader(
        dir.path(),
        &["load", "in.csv", "--into", "t.db", "--dry-run"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in.csv:1101: column 2 (\"n\"): expected integer"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("checked (dry run) 1,099 rows from 0 of 1 file ")
            && stdout.contains(") against sqlite:t.db in "),
        "the summary says nothing was loaded: {stdout}"
    );
    let output = run_loader(
        dir.path(),
        &[
            "load",
            "in.csv",
            "--into",
            "t.db",
            "--dry-run",
            "--on-error",
            "skip",
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    let report = stdout_json(&output);
    assert_eq!(report["files"][0]["rows_loaded"], 1199);
    assert_eq!(report["files"][0]["rows_rejected"], 1);
    assert!(
        !dir.path().join("t.db").exists(),
        "the target was never opened"
    );
}

/// An error names its cause once, and the cause an operator can act on is there.
#[test]
fn errors_say_their_cause_once_and_keep_the_one_that_helps() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(b"id,name\n1,a\n2,b\n").unwrap();
    let mut cut = gzip.finish().unwrap();
    cut.truncate(20);
    std::fs::write(dir.path().join("cut.csv.gz"), cut).unwrap();
    let output = run_loader(dir.path(), &["load", "cut.csv.gz", "--into", "out.db"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("incomplete deflate stream").count(),
        1,
        "{stderr}"
    );

    // A port nothing listens on: the refusal is what the operator needs to read.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.path().join("ok.csv"), "id\n1\n").unwrap();
    let url = format!("postgres://loader:secret@127.0.0.1:{port}/test");
    let output = run_loader(dir.path(), &["load", "ok.csv", "--into", &url]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "credentials never reach a message: {stderr}"
    );
}

/// `-` loads standard input (`curl ... | loader load -`): copied to a file first, so the
/// same input piped again is recognised and skipped; the copy is gone after the command.
#[test]
fn standard_input_loads_once_and_leaves_nothing_behind() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("tmp");
    std::fs::create_dir(&spool).unwrap();
    let piped = |args: &[&str]| {
        let mut child = Command::new(loader_bin())
            .current_dir(dir.path())
            .env("TMPDIR", &spool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        // A command refused at once (a usage error) may exit before it reads: the pipe is
        // then closed, and what a load did with the input is checked below anyway.
        let _ = input.write_all(b"id,name\n1,ann\n2,bob\n");
        drop(input);
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, first) = piped(&["load", "-", "--into", "t.db", "--table", "people"]);
    assert_eq!(code, Some(0), "{first}");
    assert!(
        first.contains("stdin.csv -> \"people\": 2 rows read, 2 loaded"),
        "{first}"
    );
    let (code, again) = piped(&["load", "-", "--into", "t.db", "--table", "people"]);
    assert_eq!(code, Some(0), "{again}");
    assert!(again.contains("0 loaded, 0 rejected, 2 skipped"), "{again}");
    let (code, _) = piped(&["load", "-", "-", "--into", "t.db"]);
    assert_eq!(code, Some(2), "standard input twice is a usage error");
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "the copies are removed"
    );
    let rows: i64 = rusqlite::Connection::open(dir.path().join("t.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM people", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}

/// A pipe named as an input (`loader load <(zcat orders.csv.gz)`, a FIFO) is copied and
/// loaded as standard input is, under its own name; a device is refused, not read forever.
#[cfg(unix)]
#[test]
fn a_named_pipe_loads_as_standard_input_does_and_a_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("tmp");
    std::fs::create_dir(&spool).unwrap();
    let pipe = dir.path().join("people.csv");
    let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success());
    let writer = {
        let pipe = pipe.clone();
        std::thread::spawn(move || std::fs::write(pipe, "id,name\n1,ann\n2,bob\n").unwrap())
    };
    let output = Command::new(loader_bin())
        .current_dir(dir.path())
        .env("TMPDIR", &spool)
        .args(["load", "people.csv", "--into", "t.db"])
        .output()
        .unwrap();
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("people.csv -> \"people\": 2 rows read, 2 loaded"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "the copy is removed"
    );
    let output = Command::new(loader_bin())
        .args(["load", "/dev/zero", "--into"])
        .arg(dir.path().join("t.db"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/dev/zero: not a regular file"), "{stderr}");
}

/// One file cut short (a gzip download interrupted) in a directory fails alone: the others
/// load, each failed file's error stands under its line, and `plan` names it and fails.
#[test]
fn a_file_cut_short_fails_alone_and_the_rest_of_the_directory_loads() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("good.csv"), "id,name\n1,ann\n2,bob\n").unwrap();
    std::fs::write(data.join("ragged.csv"), "id,name\n1,ann\n2\n").unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Small enough that the sample's first read meets the cut.
    writeln!(gzip, "id,amount").unwrap();
    for row in 0..5_000 {
        writeln!(gzip, "{row},{}", row * 31).unwrap();
    }
    let mut packed = gzip.finish().unwrap();
    packed.truncate(packed.len() / 3);
    std::fs::write(data.join("cut.csv.gz"), packed).unwrap();
    let output = run_loader(dir.path(), &["load", "data", "--into", "t.db"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ok     data/good.csv -> \"good\": 2 rows read, 2 loaded"),
        "{stdout}"
    );
    for failed in [
        "FAILED data/cut.csv.gz -> \"cut\"",
        "error: data/cut.csv.gz: ",
        "FAILED data/ragged.csv -> \"ragged\"",
        "error: data/ragged.csv:3: expected 2 fields, found 1",
    ] {
        assert!(stdout.contains(failed), "{failed} in {stdout}");
    }
    let output = run_loader(dir.path(), &["plan", "data"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("data/cut.csv.gz: cannot be loaded: data/cut.csv.gz: "),
        "{stdout}"
    );
}

/// A memory limit too small to read a file fails at once, naming a limit that would do; that
/// limit loads every row, at a pace, where it used to stall with each reader waiting for
/// room another held.
#[test]
fn a_tight_memory_limit_names_the_least_that_does_and_that_one_loads() {
    let dir = tempfile::tempdir().unwrap();
    for (file, name) in ["a.csv", "b.csv", "c.csv", "d.csv"].iter().enumerate() {
        let rows: String = (file * 20_000..(file + 1) * 20_000)
            .map(|i| format!("{i},name number {i},{}.5\n", i % 977))
            .collect();
        std::fs::write(dir.path().join(name), format!("id,name,amount\n{rows}")).unwrap();
    }
    let too_small = run_loader(
        dir.path(),
        &["load", ".", "--into", "t.db", "--memory-limit", "1MiB"],
    );
    assert_eq!(too_small.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&too_small.stderr);
    let enough = stderr
        .split("give --memory-limit ")
        .nth(1)
        .and_then(|rest| rest.split(" or more").next())
        .unwrap_or_else(|| panic!("{stderr}"))
        .replace(' ', "");
    let mut child = Command::new(loader_bin())
        .current_dir(dir.path())
        .args([
            "load",
            ".",
            "--into",
            "t.db",
            "--table",
            "t",
            "--memory-limit",
            &enough,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("a load under --memory-limit {enough} stalled");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "--memory-limit {enough}");
    let loaded: i64 = rusqlite::Connection::open(dir.path().join("t.db"))
        .unwrap()
        .query_row("SELECT count(DISTINCT id) + count(*) FROM t", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(loaded, 80_000 + 80_000);
}

/// A file without a header, loaded without `--no-header`: its first row is taken as the
/// header, and the summary says so and how to load it as a row.
#[test]
fn a_first_row_taken_as_the_header_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let rows = "1,ann,2024-01-02,3.5\n2,bob,2024-01-03,4.5\n3,cy,2024-01-04,5\n";
    std::fs::write(dir.path().join("people.csv"), rows).unwrap();
    let output = run_loader(dir.path(), &["load", "people.csv", "--into", "a.db"]);
    assert_succeeded(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "the first line (1,ann,2024-01-02,3.5) reads as a row, not as column names: it was \
             taken as the header and is not loaded; --no-header loads it as a row"
        ),
        "{stdout}"
    );
    let output = run_loader(
        dir.path(),
        &["load", "people.csv", "--into", "b.db", "--no-header"],
    );
    assert_succeeded(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3 rows read, 3 loaded"), "{stdout}");
    assert!(!stdout.contains("reads as a row"), "{stdout}");
}

#[test]
fn a_reports_title_lines_are_named_and_skipped_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let report = "Quarterly sales\nGenerated 2026-11-29\n\nid,region,amount\n1,n,2.5\n2,s,3\n";
    std::fs::write(dir.path().join("sales.csv"), report).unwrap();
    let note = "the first 3 lines do not look like the table below (a title?): --skip-lines 3 \
                passes over them";
    for command in ["schema", "plan"] {
        let output = run_loader(dir.path(), &[command, "sales.csv"]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains(note), "{command}: {stdout}");
    }
    // Read as it is, the file is one column of lines (no delimiter on the first): the load
    // says what it likely is.
    let output = run_loader(dir.path(), &["load", "sales.csv", "--into", "a.db"]);
    assert_succeeded(&output);
    assert!(String::from_utf8_lossy(&output.stdout).contains(note));
    let args = ["load", "sales.csv", "--into", "b.db", "--skip-lines", "3"];
    let output = run_loader(dir.path(), &args);
    assert_succeeded(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("2 rows read, 2 loaded"), "{stdout}");
    assert!(!stdout.contains("--skip-lines"), "{stdout}");
    let sum: f64 = rusqlite::Connection::open(dir.path().join("b.db"))
        .unwrap()
        .query_row("SELECT sum(amount) FROM sales", [], |row| row.get(0))
        .unwrap();
    assert_eq!(sum, 5.5);
}

/// `schema --ddl` prints the CREATE TABLE loader would run: run by hand (in SQLite and in
/// PostgreSQL), it makes a table the file then loads into, types and all.
#[test]
fn schema_ddl_makes_the_table_a_load_then_fills() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "id,price,day,paid,at,note\n1,2.5,2024-01-02,yes,2024-01-02 10:00:00,\"a, b\"\n";
    std::fs::write(dir.path().join("orders.csv"), csv).unwrap();
    let ddl = |database: &str| {
        let output = run_loader(dir.path(), &["schema", "orders.csv", "--ddl", database]);
        assert_succeeded(&output);
        String::from_utf8(output.stdout).unwrap()
    };
    let sqlite = ddl("sqlite");
    assert_eq!(
        sqlite,
        "CREATE TABLE IF NOT EXISTS \"orders\" (\"id\" INTEGER, \"price\" REAL, \"day\" DATE, \
         \"paid\" BOOLEAN, \"at\" TIMESTAMP, \"note\" TEXT);\n"
    );
    let db = dir.path().join("made.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&sqlite)
        .unwrap();
    assert_succeeded(&run_loader(
        dir.path(),
        &["load", "orders.csv", "--into", "made.db"],
    ));
    let note: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT note FROM orders WHERE price = 2.5", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(note, "a, b");
    let postgres = ddl("postgres");
    assert!(
        postgres.contains("\"id\" BIGINT, \"price\" DOUBLE PRECISION"),
        "{postgres}"
    );
    let Some(url) = loader_tests::pg::pg_url() else {
        return;
    };
    let schema = loader_tests::pg::ScratchSchema::created(&url, "ddl");
    schema.query(&postgres);
    let args = [
        "load",
        "orders.csv",
        "--into",
        &url,
        "--schema",
        &schema.name,
    ];
    assert_succeeded(&run_loader(dir.path(), &args));
    let rows = loader_tests::pg::query_text(
        &url,
        &format!("SELECT note, day::text FROM \"{}\".orders", schema.name),
    );
    assert_eq!(
        rows,
        [[Some("a, b".to_owned()), Some("2024-01-02".to_owned())]]
    );
}
