//! The real PostgreSQL (`LOADER_TEST_PG_URL`): loads compared value by value, re-runs, backends
//! terminated mid-load, and the binary killed mid-load. Each test has its own schema.

use loader_memory::SysinfoProbe;
use loader_sink::PgSink;
use loader_strategy::{DataLoadingService, FileState, LoadMode, LoadSettings, Streams};
use loader_tests::pg::{ScratchSchema, assert_pg_matches, pg_url, query_text};
use loader_tests::{
    ORDERS, assert_succeeded, assert_table_trail_matches_jsonl, files_in_three_column_orders,
    loader_bin, run_loader, test_rows,
};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn settings(workers: usize) -> LoadSettings {
    LoadSettings {
        workers,
        table: Some("orders".into()),
        csv: loader_file::CsvOptions::default().batch_rows(4_000),
        sub_batch_rows: 1_000,
        ..LoadSettings::default()
    }
}

async fn service(url: &str, schema: &str, settings: LoadSettings) -> DataLoadingService {
    // A connection per stream of every worker, and two for the ledger and the trail.
    let connections = settings.workers * settings.streams.for_load(settings.workers, 1) + 2;
    let sink = Arc::new(
        PgSink::connect(url, Some(schema), connections)
            .await
            .unwrap(),
    );
    DataLoadingService::new(
        sink.clone(),
        sink.audit_table(),
        Arc::new(SysinfoProbe::new().unwrap()),
        settings,
    )
    .with_ledger(sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_load_into_postgres_matches_every_value_and_reruns_skip() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "library");
    let dir = tempfile::tempdir().unwrap();
    let rows = test_rows(30_000);
    let files = loader_gen::write_files(dir.path(), rows, 3, 31).unwrap();

    let report = service(&url, &schema.name, settings(2))
        .await
        .load(&[dir.path().to_path_buf()])
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(report.rows_loaded(), rows);
    assert_eq!(
        assert_pg_matches(&url, &schema.name, "orders", &files, &ORDERS),
        rows as usize
    );

    let again = service(&url, &schema.name, settings(2))
        .await
        .load(&[dir.path().to_path_buf()])
        .await
        .unwrap();
    assert!(again.files.iter().all(|f| f.state == FileState::Skipped));
    assert_eq!(again.rows_loaded(), 0);
    let count = query_text(
        &url,
        &format!("SELECT count(*) FROM \"{}\".orders", schema.name),
    );
    assert_eq!(count[0][0].as_deref(), Some(rows.to_string().as_str()));
    let events = query_text(
        &url,
        &format!(
            "SELECT count(*) FROM \"{}\"._loader_audit WHERE run_id = '{}'",
            schema.name, report.run_id
        ),
    );
    assert!(
        events[0][0].as_deref().unwrap().parse::<u64>().unwrap() > 10,
        "the audit table holds the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_on_three_streams_loads_exactly_and_replaces_without_deadlock() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "streams");
    let dir = tempfile::tempdir().unwrap();
    let rows = test_rows(40_000);
    let files = loader_gen::write_files(dir.path(), rows, 1, 37).unwrap();
    let streams = LoadSettings {
        streams: Streams::PerFile(3),
        sub_batch_rows: 500,
        ..settings(1)
    };
    let report = service(&url, &schema.name, streams.clone())
        .await
        .load(&[dir.path().to_path_buf()])
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(
        assert_pg_matches(&url, &schema.name, "orders", &files, &ORDERS),
        rows as usize
    );
    // The ledger holds one range per sub-batch, and together they cover the file once.
    let ranges = query_text(
        &url,
        &format!(
            "SELECT count(*), sum(rows), count(*) FILTER (WHERE byte_start <> prev_end) FROM \
             (SELECT byte_start, rows, lag(byte_end) OVER (ORDER BY byte_start) AS prev_end \
              FROM \"{}\"._loader_batches) t",
            schema.name
        ),
    );
    let sub_batches: u64 = ranges[0][0].as_deref().unwrap().parse().unwrap();
    assert!(sub_batches >= rows / 500, "{ranges:?}");
    assert_eq!(ranges[0][1].as_deref(), Some(rows.to_string().as_str()));
    assert_eq!(
        ranges[0][2].as_deref(),
        Some("0"),
        "gaps or overlaps: {ranges:?}"
    );

    // A replace's first write empties the table: it must not overlap, nor hang the others.
    let replace = LoadSettings {
        mode: LoadMode::Replace,
        force: true,
        ..streams
    };
    let again = tokio::time::timeout(
        Duration::from_secs(120),
        service(&url, &schema.name, replace)
            .await
            .load(&[dir.path().to_path_buf()]),
    )
    .await
    .expect("a replace on three streams finishes")
    .unwrap();
    assert!(again.is_success(), "{:?}", again.first_error());
    assert_eq!(
        assert_pg_matches(&url, &schema.name, "orders", &files, &ORDERS),
        rows as usize
    );
}

#[test]
fn binary_load_into_postgres_matches_every_value() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "binary");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let rows = test_rows(20_000);
    let files = loader_gen::write_files(&input, rows, 2, 41).unwrap();
    let args = [
        "load",
        "in",
        "--into",
        &url,
        "--schema",
        &schema.name,
        "--table",
        "orders",
        "--json",
        "--audit",
        "audit.jsonl",
    ];
    let output = run_loader(dir.path(), &args);
    assert_succeeded(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
    assert_eq!(
        assert_pg_matches(&url, &schema.name, "orders", &files, &ORDERS),
        rows as usize
    );
    let history = run_loader(
        dir.path(),
        &["history", "--into", &url, "--schema", &schema.name],
    );
    assert!(String::from_utf8_lossy(&history.stdout).contains(report["run_id"].as_str().unwrap()));
    // Every event reached the audit table, written there in groups.
    let events = assert_table_trail_matches_jsonl(
        dir.path(),
        &["--into", &url, "--schema", &schema.name],
        &dir.path().join("audit.jsonl"),
    );
    assert!(events > 10, "{events} events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_are_retried_and_every_row_lands_once() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "fault");
    let app = format!("loader_fault_{}", std::process::id());
    let separator = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{separator}application_name={app}");
    let dir = tempfile::tempdir().unwrap();
    let rows = test_rows(120_000);
    loader_gen::write_files(dir.path(), rows, 3, 51).unwrap();
    // Two streams per file: a terminated backend mid-COPY, or one waiting for the write
    // before it to commit, must still leave every row exactly once.
    let settings = LoadSettings {
        sub_batch_rows: 500,
        streams: Streams::PerFile(2),
        ..settings(2)
    };
    let service = service(&tagged, &schema.name, settings).await;
    let input = dir.path().to_path_buf();
    let load = tokio::spawn(async move { service.load(&[input]).await });

    let mut terminated = 0;
    let started = Instant::now();
    while !load.is_finished() && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let killed = query_text(
            &url,
            &format!(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{app}') t"
            ),
        );
        terminated += killed[0][0].as_deref().unwrap().parse::<u64>().unwrap();
    }
    let report = load.await.unwrap().unwrap();
    println!(
        "terminated {terminated} backends during the load; retries {}",
        report.files.iter().map(|f| f.retries).sum::<u32>()
    );
    assert!(
        terminated >= 3,
        "the fault must actually happen: {terminated}"
    );
    assert!(report.is_success(), "{:?}", report.first_error());
    let check = query_text(
        &url,
        &format!(
            "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM \"{}\".orders",
            schema.name
        ),
    );
    let n = rows.to_string();
    assert_eq!(
        check[0],
        [Some(n.clone()), Some(n.clone()), Some("1".into()), Some(n)]
    );
}

#[test]
fn sigkill_mid_load_then_rerun_gives_exactly_the_input_in_postgres() {
    // At least TRIALS kills, and more, up to MAX_TRIALS, while fewer than MID_LOAD of them
    // landed mid-load: on a busy machine the start of a process jitters by more than a
    // small load takes, and the kill window below can close on it.
    const TRIALS: usize = 15;
    const MAX_TRIALS: usize = 30;
    const MID_LOAD: usize = 4;
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "crash");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let rows = test_rows(20_000);
    let files = loader_gen::write_files(&input, rows, 3, 61).unwrap();
    let command = |table: &str, batch_rows: &str, streams: &str| {
        let mut c = Command::new(loader_bin());
        c.current_dir(dir.path())
            .args([
                "load",
                "in",
                "--into",
                &url,
                "--schema",
                &schema.name,
                "--table",
                table,
            ])
            // Small transactions keep the load going long enough, against the jitter of the
            // process's start, for kills to land in it (300 rows a transaction gave 2 of 15
            // once its audit events stopped costing a commit each).
            .args(["--sub-batch-rows", "100", "--batch-rows", batch_rows])
            .args(["--streams", streams])
            .stdout(std::process::Stdio::null());
        c
    };
    let started = Instant::now();
    assert!(
        command("calibrate", "1000", "1")
            .status()
            .unwrap()
            .success()
    );
    let span = started.elapsed().as_millis() as u64;
    let mut rng = loader_gen::Rng::new(0xC0FFEE);
    let mut mid_load = 0;
    // As in crash.rs: the kill window narrows as kills land too early or too late.
    let (mut earliest, mut latest) = (0u64, span + 1);
    let mut trials = 0;
    for trial in 0..MAX_TRIALS {
        if trial >= TRIALS && mid_load >= MID_LOAD {
            break;
        }
        trials += 1;
        let table = format!("orders_{trial}");
        let delay =
            Duration::from_millis(earliest + rng.below(latest.saturating_sub(earliest) + 1));
        // Every other trial writes three sub-batches of a file at once: a kill must still
        // leave a prefix of each file committed, which the re-run completes.
        let mut child = command(&table, ["1000", "2500"][trial % 2], ["1", "3"][trial % 2])
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let killed = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        child.wait().unwrap();
        // A kill before the table was created leaves nothing to count.
        let qualified = format!("\"{}\".\"{table}\"", schema.name);
        let exists = query_text(
            &url,
            &format!("SELECT to_regclass('{qualified}') IS NOT NULL"),
        );
        let before: u64 = if exists[0][0].as_deref() == Some("t") {
            let count = query_text(&url, &format!("SELECT count(*) FROM {qualified}"));
            count[0][0].as_deref().unwrap().parse().unwrap()
        } else {
            0
        };
        let ms = delay.as_millis() as u64;
        if !killed || before == rows {
            latest = latest.min(ms).max(earliest + 1);
        } else if before == 0 {
            earliest = earliest.max(ms).min(latest.saturating_sub(1));
        } else {
            mid_load += 1;
        }
        assert!(
            command(&table, ["700", "3000"][trial % 2], ["3", "1"][trial % 2])
                .status()
                .unwrap()
                .success(),
            "trial {trial}"
        );
        assert_eq!(
            assert_pg_matches(&url, &schema.name, &table, &files, &ORDERS),
            rows as usize,
            "trial {trial}"
        );
        println!(
            "trial {trial}: killed after {delay:?} with {before} rows committed; re-run exact"
        );
    }
    println!("{mid_load} of {trials} kills landed mid-load");
    assert!(
        mid_load >= MID_LOAD,
        "too few kills landed mid-load: {mid_load} of {trials}"
    );
}

#[test]
fn existing_tables_are_used_as_they_are_and_their_types_drive_the_conversion() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::created(&url, "existing");
    let s = &schema.name;
    // Binary path with narrower and other types than loader would create.
    schema.create_table(
        "orders",
        "id int4, customer varchar(200), email text, amount float8, quantity int2, paid bool, \
         order_date date, created_at timestamptz, country text, note text",
    );
    // numeric has no binary encoder here: this table goes by CSV.
    schema.create_table(
        "products",
        "sku varchar(10), name text, price numeric(10,2), in_stock bool, launched date, \
         updated_at timestamp, description text",
    );
    let dir = tempfile::tempdir().unwrap();
    let rows = test_rows(5_000);
    let orders = dir.path().join("orders.csv");
    loader_gen::write_file(&orders, rows, 71, 1).unwrap();
    let products = loader_tests::root().join("examples/data/products.csv");
    std::fs::copy(&products, dir.path().join("products.csv")).unwrap();
    let output = run_loader(dir.path(), &["load", ".", "--into", &url, "--schema", s]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // timestamptz comes back with its offset, which the comparison applies.
    assert_eq!(
        assert_pg_matches(&url, s, "orders", &[orders], &ORDERS),
        rows as usize
    );
    let prices = query_text(
        &url,
        &format!("SELECT sku, price::text FROM \"{s}\".products ORDER BY sku"),
    );
    let prices: Vec<(String, Option<String>)> = prices
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone()))
        .collect();
    assert_eq!(
        prices,
        [
            ("A-100".into(), Some("4.99".into())),
            ("A-200".into(), Some("9.50".into())),
            ("B-310".into(), Some("19.00".into())),
            ("C-001".into(), Some("0.75".into())),
            ("C-002".into(), None),
        ]
    );
}

#[test]
fn files_naming_their_columns_in_different_orders_fill_the_right_columns_in_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "column_order");
    let dir = tempfile::tempdir().unwrap();
    let expected = files_in_three_column_orders(dir.path());
    // One worker: the three files share the sink's knowledge of the table.
    let output = run_loader(
        dir.path(),
        &[
            "load",
            ".",
            "--into",
            &url,
            "--schema",
            &schema.name,
            "--table",
            "t",
            "--workers",
            "1",
        ],
    );
    assert_succeeded(&output);
    // Ordered by the number: `ORDER BY id` would sort the text the cast makes.
    let found: Vec<(String, String, String)> = query_text(
        &url,
        &format!(
            "SELECT id::text, first, coalesce(last, '') FROM \"{}\".t AS t ORDER BY t.id",
            schema.name
        ),
    )
    .into_iter()
    .map(|r| {
        let mut r = r.into_iter().map(Option::unwrap);
        (r.next().unwrap(), r.next().unwrap(), r.next().unwrap())
    })
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn reals_beyond_a_columns_range_are_refused_never_stored_as_infinity_or_zero() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::created(&url, "real_range");
    let s = &schema.name;
    schema.create_table("t", "id int8, small real, big float8");
    let dir = tempfile::tempdir().unwrap();
    let load = |name: &str, text: &str, extra: &[&str]| {
        std::fs::write(dir.path().join(name), text).unwrap();
        let mut args = vec!["load", name, "--into", &url, "--schema", s, "--table", "t"];
        args.extend_from_slice(extra);
        let output = run_loader(dir.path(), &args);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // Too large for a `real` but not for a double: the table's type refuses it, as
    // PostgreSQL's own input does, where it used to be stored as Infinity (and 1e-50 as 0).
    for (name, value) in [("over.csv", "1e39"), ("under.csv", "1e-50")] {
        let (code, stderr) = load(
            name,
            &format!("id,small,big\n1,1.5,2.5\n2,{value},1\n"),
            &[],
        );
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "line 3: column 2 (\"small\"): {value} is out of range"
            )),
            "{stderr}"
        );
    }
    // Too large for any double: not a real, so a bad row of a file whose column is real
    // (declared here: inferred, the column would be text), quarantined under skip.
    let (code, stderr) = load(
        "double.csv",
        "id,small,big\n1,1.5,2.5\n2,1e-40,1e400\n3,3.4e38,1e-310\n",
        &["--on-error", "skip", "--column", "big:real"],
    );
    assert_eq!(code, Some(3), "{stderr}");
    let stored = query_text(
        &url,
        &format!("SELECT id::text, small::text, big::text FROM \"{s}\".t ORDER BY id"),
    );
    let stored: Vec<Vec<String>> = stored
        .into_iter()
        .map(|row| row.into_iter().map(Option::unwrap).collect())
        .collect();
    // The first row of each file, before the bad one, is loaded, as after a bad row read.
    let first = ["1", "1.5", "2.5"];
    assert_eq!(
        stored,
        [first, first, first, ["3", "3.4e+38", "1e-310"]].map(|r| r.map(String::from).to_vec())
    );
    let quarantined = query_text(
        &url,
        &format!("SELECT line::text, kind, message FROM \"{s}\"._loader_quarantine"),
    );
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let row = &quarantined[0];
    assert_eq!(row[0].as_deref(), Some("3"));
    assert_eq!(row[1].as_deref(), Some("type"));
    assert!(
        row[2]
            .as_deref()
            .is_some_and(|m| m.contains("\"1e400\" is out of range for real")),
        "{row:?}"
    );
}

#[test]
fn terminal_errors_fail_at_once_with_a_clear_message() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::created(&url, "terminal");
    let s = &schema.name;
    let role = format!("loader_noperm_{}", std::process::id());
    query_text(
        &url,
        &format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN"),
    );
    schema.create_table("typed", "id int4, name text");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("typed.csv"), "id,name\n1,ann\nx2,bob\n").unwrap();

    // A role without rights on the schema: permission denied, no retries.
    let no_rights = url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    let started = Instant::now();
    let output = run_loader(
        dir.path(),
        &["load", "typed.csv", "--into", &no_rights, "--schema", s],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "terminal errors are not retried"
    );

    // A value that does not fit the existing column's type: the file fails naming the line,
    // found as it is read, since the table's type (not the sample's text) is checked.
    let output = run_loader(
        dir.path(),
        &["load", "typed.csv", "--into", &url, "--schema", s],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("typed.csv:3: column 1 (\"id\"): expected integer, found \"x2\""),
        "{stderr}"
    );
    // An integer past the int4 column's range: refused before it is sent, naming the column.
    std::fs::write(
        dir.path().join("typed.csv"),
        "id,name\n1,ann\n99999999999,bob\n",
    )
    .unwrap();
    let output = run_loader(
        dir.path(),
        &["load", "typed.csv", "--into", &url, "--schema", s],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 3: column 1 (\"id\"): 99999999999 is out of range"),
        "{stderr}"
    );
    query_text(
        &url,
        &format!("DROP SCHEMA \"{s}\" CASCADE; DROP ROLE {role}"),
    );
}

/// Many files of one table start at once, each creating the table if it is missing: every
/// one must find it made, whichever connection won (PostgreSQL reports the loser's
/// `CREATE TABLE IF NOT EXISTS` as a duplicate table, key or row type, depending on timing).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_of_one_table_prepared_at_once_all_find_it_made() {
    use loader_batch::{BatchSink, ColumnType, LoadTarget, Schema};
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "prepare_race");
    let sink = Arc::new(PgSink::connect(&url, Some(&schema.name), 8).await.unwrap());
    let columns = Arc::new(Schema::from_pairs([
        ("id", ColumnType::Integer),
        ("name", ColumnType::Text),
    ]));
    for round in 0..100 {
        let target = LoadTarget::new(format!("orders_{round}"), columns.clone(), "a.csv");
        let start = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (sink, target, start) = (sink.clone(), target.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    sink.prepare(&target).await
                })
            })
            .collect();
        for task in tasks {
            let result = task.await.unwrap();
            assert!(result.is_ok(), "round {round}: {result:?}");
        }
    }
}

/// A replace run's first write empties the table under a lock. A later write of the same
/// file that got going first must not take that lock and then wait for the earlier write to
/// commit, which would wait for the lock forever: while a replace is pending, writes do not
/// overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_stream_never_holds_the_replace_lock_its_predecessor_needs() {
    use loader_batch::{
        BatchSink, ColumnType, Ledger, LedgerKey, LoadTarget, PendingReplace, PreviousWrite, Schema,
    };
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "replace_order");
    let sink = Arc::new(PgSink::connect(&url, Some(&schema.name), 4).await.unwrap());
    sink.begin_run(&loader_tests::running("r1")).await.unwrap();
    let columns = Arc::new(Schema::from_pairs([("id", ColumnType::Integer)]));
    let mut target = LoadTarget::new("orders", columns, "a.csv");
    target.ledger = Some(Arc::new(LedgerKey {
        run_id: "r1".into(),
        file_hash: "ab".into(),
        generation: 1,
        replace: Some(Arc::new(PendingReplace::new())),
    }));
    sink.prepare(&target).await.unwrap();
    let batch = loader_tests::id_batch(4);

    // The second half starts first and must wait for the first before anything else.
    let (first_done, after_first) = PreviousWrite::chain();
    let second = tokio::spawn({
        let (sink, target, batch) = (sink.clone(), target.clone(), batch.clone());
        async move { sink.write_after(&target, &batch, 2..4, after_first).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = tokio::time::timeout(
        Duration::from_secs(20),
        sink.write_after(&target, &batch, 0..2, PreviousWrite::none()),
    )
    .await
    .expect("the first write is not locked out by the second");
    assert_eq!(first.unwrap(), 2);
    first_done.committed();
    let second = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the second write commits after the first")
        .unwrap();
    assert_eq!(second.unwrap(), 2);
    let count = query_text(
        &url,
        &format!("SELECT count(*) FROM \"{}\".orders", schema.name),
    );
    assert_eq!(
        count[0][0].as_deref(),
        Some("4"),
        "the replace emptied once"
    );
}

#[test]
fn headers_find_existing_columns_that_differ_only_in_case() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::created(&url, "header_case");
    let s = &schema.name;
    schema.create_table(
        "people",
        "id int8, full_name text, seen date DEFAULT '2000-01-01'",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("people.csv"), "ID,Full_Name\n1,Ann\n2,Bo\n").unwrap();
    let output = run_loader(
        dir.path(),
        &["load", "people.csv", "--into", &url, "--schema", s],
    );
    assert_succeeded(&output);
    let rows = query_text(
        &url,
        &format!("SELECT id::text, full_name, seen::text FROM \"{s}\".people ORDER BY id"),
    );
    assert_eq!(
        rows,
        [
            [
                Some("1".into()),
                Some("Ann".into()),
                Some("2000-01-01".into())
            ],
            [
                Some("2".into()),
                Some("Bo".into()),
                Some("2000-01-01".into())
            ],
        ]
    );
}

#[test]
fn headers_longer_than_postgresql_names_load_and_load_again() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::created(&url, "long_names");
    let s = &schema.name;
    let dir = tempfile::tempdir().unwrap();
    // Survey exports: long questions that differ only past the 63 bytes PostgreSQL keeps.
    let question = "How satisfied were you with the delivery of your most recent order";
    let csv = format!("{question} (1-5),{question} (comment),id\n4,fast,1\n2,late,2\n");
    std::fs::write(dir.path().join("survey.csv"), csv).unwrap();
    for attempt in ["first", "again, into the table the first made"] {
        let output = run_loader(
            dir.path(),
            &[
                "load",
                "survey.csv",
                "--into",
                &url,
                "--schema",
                s,
                "--force",
            ],
        );
        assert_succeeded(&output);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("2 loaded"), "{attempt}: {stdout}");
    }
    let columns = query_text(
        &url,
        &format!(
            "SELECT string_agg(attname, '|' ORDER BY attnum) FROM pg_attribute \
             WHERE attrelid = '\"{s}\".survey'::regclass AND attnum > 0"
        ),
    );
    let cut = &question[..63];
    assert_eq!(
        columns[0][0].as_deref(),
        Some(format!("{cut}|{}_2|id", &question[..61]).as_str())
    );
    let rows = query_text(
        &url,
        &format!("SELECT count(*)::text, sum(\"{cut}\")::text FROM \"{s}\".survey"),
    );
    assert_eq!(rows, [[Some("4".into()), Some("12".into())]]);
}

#[test]
fn file_names_alike_in_their_first_63_bytes_load_into_tables_of_their_own() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::created(&url, "long_tables");
    let s = &schema.name;
    let dir = tempfile::tempdir().unwrap();
    // Two exports whose names differ only past the 63 bytes PostgreSQL keeps, with
    // different columns: they used to meet in one cut table, and the second failed.
    let stem = "quarterly_reconciliation_of_customer_accounts_for_the_finance_team";
    std::fs::write(
        dir.path().join(format!("{stem}_orders.csv")),
        "id,name\n1,x\n2,y\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join(format!("{stem}_refunds.csv")),
        "code,amount\nA,3.5\n",
    )
    .unwrap();
    let output = run_loader(dir.path(), &["load", ".", "--into", &url, "--schema", s]);
    assert_succeeded(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut tables = Vec::new();
    for (file, rows) in [("orders", "2"), ("refunds", "1")] {
        let table = loader_strategy::table_name_for(format!("{stem}_{file}.csv").as_ref());
        let count = query_text(
            &url,
            &format!("SELECT count(*)::text FROM \"{s}\".\"{table}\""),
        );
        assert_eq!(count, [[Some(rows.into())]], "{table}");
        // The summary names the table the rows went to.
        assert!(stdout.contains(&format!("-> \"{table}\"")), "{stdout}");
        tables.push(table);
    }
    assert_ne!(tables[0], tables[1]);
}

/// `sslmode` as libpq reads it, against the real server: `prefer` (the default) and
/// `require` encrypt without checking the certificate; `verify-ca` checks it against
/// `sslrootcert`, and refuses a server whose certificate another authority signed;
/// `verify-full` without certificates to trust is refused before connecting.
#[test]
fn tls_modes_mean_what_they_mean_to_libpq() {
    let Some(url) = pg_url() else { return };
    let text = |sql: &str| query_text(&url, sql)[0][0].clone().unwrap_or_default();
    let schema = ScratchSchema::new(&url, "tls");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "id\n1\n").unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let load = |params: &str| {
        let into = format!("{url}{separator}{params}");
        let output = run_loader(
            dir.path(),
            &[
                "load",
                "t.csv",
                "--into",
                &into,
                "--schema",
                &schema.name,
                "--force",
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stderr)
    };
    if text("SHOW ssl") != "on" {
        println!("the server has ssl off: only sslmode=require's refusal is checked");
        let (code, stderr) = load("sslmode=require");
        assert_eq!(code, Some(1), "{stderr}");
        return;
    }
    let (code, stderr) = load("sslmode=require");
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = load("sslmode=verify-full");
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("need the certificates to trust"),
        "{stderr}"
    );
    let (code, stderr) = load("sslmode=on");
    assert_ne!(code, Some(0));
    assert!(stderr.contains("sslmode=on is not one of"), "{stderr}");
    // The server's own certificate as the one to trust (self-signed, as Debian makes it).
    let own = std::path::PathBuf::from(text("SHOW ssl_cert_file"));
    if std::fs::read(&own).is_ok() && text("SHOW ssl_ca_file").is_empty() {
        let (code, stderr) = load(&format!("sslmode=verify-ca&sslrootcert={}", own.display()));
        assert_eq!(code, Some(0), "{stderr}");
    }
    // An authority that did not sign the server's certificate.
    let stranger = std::fs::read_dir("/etc/ssl/certs")
        .ok()
        .and_then(|entries| {
            entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
                p.extension().is_some_and(|e| e == "pem")
                    && p.canonicalize().ok() != own.canonicalize().ok()
            })
        });
    match stranger {
        Some(stranger) => {
            let params = format!("sslmode=verify-ca&sslrootcert={}", stranger.display());
            let (code, stderr) = load(&params);
            assert_eq!(code, Some(1), "{stderr}");
            assert!(stderr.contains("invalid peer certificate"), "{stderr}");
        }
        None => println!("no other certificate in /etc/ssl/certs: verify-ca's refusal not checked"),
    }
}

/// A role whose `statement_timeout` is shorter than a COPY (as DBAs set for applications)
/// still loads: loader's sessions set no statement timeout, as pg_dump's do. Every COPY was
/// cancelled before, and the retries the same.
#[test]
fn a_roles_statement_timeout_does_not_cancel_the_load() {
    let Some(url) = pg_url() else { return };
    let role = format!("loader_test_timeout_{}", std::process::id());
    query_text(&url, &format!("DROP ROLE IF EXISTS {role}"));
    query_text(&url, &format!("CREATE ROLE {role} LOGIN SUPERUSER"));
    query_text(
        &url,
        &format!("ALTER ROLE {role} SET statement_timeout = '1ms'"),
    );
    /// Drops the role, after the schema it owns.
    struct Role<'a>(&'a str, &'a str);
    impl Drop for Role<'_> {
        fn drop(&mut self) {
            query_text(self.0, &format!("DROP ROLE IF EXISTS {}", self.1));
        }
    }
    let _role = Role(&url, &role);
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let as_role = format!("{scheme}://{role}@{host}");
    let schema = ScratchSchema::new(&url, "timeout");
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..200_000).map(|i| format!("{i},row {i}\n")).collect();
    std::fs::write(dir.path().join("t.csv"), format!("id,note\n{rows}")).unwrap();
    let args = [
        "load",
        "t.csv",
        "--into",
        &as_role,
        "--schema",
        &schema.name,
    ];
    let output = run_loader(dir.path(), &args);
    assert_succeeded(&output);
    let count = query_text(
        &url,
        &format!("SELECT count(DISTINCT id)::text FROM \"{}\".t", schema.name),
    );
    assert_eq!(count, [[Some("200000".into())]]);
}
