//! `cargo xtask bench --section postgres`: loader against `psql \copy` on the same file, and
//! loader with 1 worker against 2 on several files, in the same run.

use crate::bench::{Measure, generated, timed};
use crate::bench_pg_server::{self, BinaryFiles};
use std::path::Path;
use std::process::{Command, Stdio};

pub(crate) const TYPED: &str = "(id BIGINT, customer TEXT, email TEXT, amount DOUBLE PRECISION, \
    quantity BIGINT, paid BOOLEAN, order_date DATE, created_at TIMESTAMP, country TEXT, note TEXT)";

pub(crate) fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "psql: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn count(url: &str, table: &str) -> Result<u64, String> {
    psql(url, &format!("SELECT count(*) FROM {table}"))?
        .parse()
        .map_err(|_| format!("cannot count {table}"))
}

pub(crate) fn fresh_schema(url: &str, schema: &str) -> Result<(), String> {
    psql(
        url,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    )
    .map(|_| ())
}

/// The server to measure against (`LOADER_BENCH_PG_URL`, else `LOADER_TEST_PG_URL`, else the
/// local one), or `None`, said, when it does not answer.
pub(crate) fn server_url() -> Option<String> {
    // An empty variable is an unset one (psql would take "" for its own defaults).
    let set = |name: &str| std::env::var(name).ok().filter(|url| !url.is_empty());
    let url = set("LOADER_BENCH_PG_URL")
        .or_else(|| set("LOADER_TEST_PG_URL"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    if psql(&url, "SELECT 1").is_err() {
        println!("\npostgres: skipped, no server at {url} (set LOADER_BENCH_PG_URL)");
        return None;
    }
    Some(url)
}

fn loader_run(
    loader: &Path,
    url: &str,
    input: &Path,
    schema: &str,
    workers: &str,
    extra: &[&str],
    dir: &Path,
) -> Result<Measure, String> {
    fresh_schema(url, schema)?;
    let mut command = Command::new(loader);
    command.arg("load").arg(input).args([
        "--into",
        url,
        "--schema",
        schema,
        "--table",
        "orders",
        "--workers",
        workers,
    ]);
    command.args(extra);
    timed(&mut command, None, None, dir)
}

pub fn run(
    loader: &Path,
    dir: &Path,
    rows: u64,
    runs: usize,
    report: &mut crate::bench_report::Report,
) -> Result<(), String> {
    let Some(url) = server_url() else {
        return Ok(());
    };
    let input = generated(dir, rows)?;
    let size = std::fs::metadata(&input).map_err(|e| e.to_string())?.len();
    let (mut copies, mut loads, mut single_stream) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        fresh_schema(&url, "bench_psql")?;
        psql(&url, &format!("CREATE TABLE bench_psql.orders {TYPED}"))?;
        let copy = format!(
            "\\copy bench_psql.orders FROM '{}' WITH (FORMAT csv, HEADER true)",
            input.display()
        );
        let mut command = Command::new("psql");
        command.args([
            url.as_str(),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &copy,
        ]);
        copies.push(timed(&mut command, None, None, dir)?);
        if count(&url, "bench_psql.orders")? != rows {
            return Err("psql \\copy loaded the wrong number of rows".into());
        }
        // Default settings: one file on two workers writes two COPY streams.
        loads.push(loader_run(
            loader,
            &url,
            &input,
            "bench_loader",
            "2",
            &[],
            dir,
        )?);
        if count(&url, "bench_loader.orders")? != rows {
            return Err("loader loaded the wrong number of rows into PostgreSQL".into());
        }
        let one = ["--streams", "1"];
        single_stream.push(loader_run(
            loader,
            &url,
            &input,
            "bench_loader",
            "2",
            &one,
            dir,
        )?);
        if count(&url, "bench_loader.orders")? != rows {
            return Err("loader --streams 1 loaded the wrong number of rows".into());
        }
    }
    let copy = crate::bench::median(copies);
    let load = crate::bench::median(loads);
    let single_stream = crate::bench::median(single_stream);
    let ratio = load.wall.as_secs_f64() / copy.wall.as_secs_f64();
    report.row(
        "postgres",
        "psql \\copy (typed table)",
        rows,
        size,
        &copy,
        "1.00x",
    );
    report.row(
        "postgres",
        "loader load (binary COPY, ledger on; 2 streams)",
        rows,
        size,
        &load,
        &format!("{ratio:.2}x psql time"),
    );
    report.row(
        "postgres",
        "loader load --streams 1 (one COPY stream)",
        rows,
        size,
        &single_stream,
        &format!(
            "{:.2}x psql time",
            single_stream.wall.as_secs_f64() / copy.wall.as_secs_f64()
        ),
    );
    report.target(
        "PostgreSQL: loader wall <= 0.80x psql \\copy wall (1M rows, ledger on)",
        format!(
            "{ratio:.2}x ({:.2}s vs {:.2}s)",
            load.wall.as_secs_f64(),
            copy.wall.as_secs_f64()
        ),
        ratio <= 0.80,
    );

    // 16 files of uneven sizes: does a second worker (a second connection) pay?
    let multi = dir.join("multi16");
    if !multi.exists() {
        std::fs::create_dir_all(&multi).map_err(|e| e.to_string())?;
        loader_gen::write_files(&multi, rows, 16, 7).map_err(|e| e.to_string())?;
    }
    // A load of 16 files takes about a second: five rounds at least, since a shared host's
    // noise moves one second more than it moves three.
    let binary = BinaryFiles::prepare(&url, &multi, dir, TYPED)?;
    let (mut ones, mut twos, mut fours) = (Vec::new(), Vec::new(), Vec::new());
    let (mut server_ones, mut server_twos) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(5) {
        ones.push(loader_run(loader, &url, &multi, "bench_w1", "1", &[], dir)?);
        twos.push(loader_run(loader, &url, &multi, "bench_w2", "2", &[], dir)?);
        fours.push(loader_run(loader, &url, &multi, "bench_w4", "4", &[], dir)?);
        for (sessions, measures) in [(1, &mut server_ones), (2, &mut server_twos)] {
            measures.push(binary.load(&url, sessions, TYPED, dir)?);
            if count(&url, &format!("{}.orders", bench_pg_server::SCHEMA))? != rows {
                return Err(
                    "psql \\copy of the binary files loaded the wrong number of rows".into(),
                );
            }
        }
    }
    let one = crate::bench::median(ones);
    let two = crate::bench::median(twos);
    let four = crate::bench::median(fours);
    let (server_one, server_two) = (
        crate::bench::median(server_ones),
        crate::bench::median(server_twos),
    );
    let speedup = one.wall.as_secs_f64() / two.wall.as_secs_f64();
    let server_speedup = server_one.wall.as_secs_f64() / server_two.wall.as_secs_f64();
    let speedup_four = one.wall.as_secs_f64() / four.wall.as_secs_f64();
    // How far any number of workers could go here: one worker's load takes `busy` CPU time
    // of the whole machine (loader and server); spread perfectly over every CPU it would
    // take busy / cpus, so no pool beats one worker by more than wall * cpus / busy.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ceiling = one.machine_busy.map(|busy| {
        let busy = busy.as_secs_f64();
        (
            busy / one.wall.as_secs_f64(),
            one.wall.as_secs_f64() * cpus as f64 / busy,
        )
    });
    report.row(
        "postgres",
        "loader, 16 files, 1 worker",
        rows,
        size,
        &one,
        "1.00x",
    );
    report.row(
        "postgres",
        "loader, 16 files, 2 workers",
        rows,
        size,
        &two,
        &format!("{speedup:.2}x the speed of 1 worker"),
    );
    report.row(
        "postgres",
        "loader, 16 files, 4 workers (reference)",
        rows,
        size,
        &four,
        &format!("{speedup_four:.2}x the speed of 1 worker"),
    );
    report.row(
        "postgres",
        "server alone: psql \\copy of the 16 files pre-encoded as binary, 1 session",
        rows,
        size,
        &server_one,
        "1.00x",
    );
    report.row(
        "postgres",
        "server alone: the same, 2 sessions",
        rows,
        size,
        &server_two,
        &format!("{server_speedup:.2}x the speed of 1 session"),
    );
    // Where the backends' time went, in one more load of each that is not timed: with two
    // workers both backends extend the same table, and PostgreSQL 15 and older serialise
    // that on the table's extension lock.
    let sampled = |workers: &str, schema: &str| -> Result<crate::bench_waits::Waits, String> {
        let sampler = crate::bench_waits::WaitSampler::start(&url)?;
        let load = loader_run(loader, &url, &multi, schema, workers, &[], dir);
        let waits = sampler.stop()?;
        load.map(|_| waits)
    };
    let (waits_one, waits_two) = (sampled("1", "bench_w1")?, sampled("2", "bench_w2")?);
    println!(
        "postgres backends, 16 files (one untimed load each, pg_stat_activity every 10 ms): \
         1 worker: {}; 2 workers: {}",
        waits_one.summary(4),
        waits_two.summary(4)
    );
    let extension_lock = format!(
        "; 2 workers' backends waited on the table's extension lock in {:.0}% of samples \
         (1 worker: {:.0}%)",
        100.0 * waits_two.share("Lock:extend"),
        100.0 * waits_one.share("Lock:extend")
    );
    let server_alone = format!(
        "; PostgreSQL alone, fed the same rows pre-encoded by psql (no parsing on the \
         client), goes {server_speedup:.2}x from 1 session to 2"
    );
    // Three decimals: near the target, two printed 1.50x beside "no" for 1.497.
    let measured = match ceiling {
        Some((used, ceiling)) => format!(
            "{speedup:.3}x; 1 worker keeps {used:.2} of {cpus} CPUs busy, so no pool here \
             can pass {ceiling:.2}x (4 workers: {speedup_four:.2}x); of the {:.2} CPU-s a \
             load takes, loader's own are {:.2}{extension_lock}{server_alone}",
            one.machine_busy.unwrap_or_default().as_secs_f64(),
            one.own_cpu.as_secs_f64()
        ),
        None => {
            format!("{speedup:.3}x (4 workers: {speedup_four:.2}x){extension_lock}{server_alone}")
        }
    };
    report.target(
        "PostgreSQL, 16 files: 2 workers >= 1.5x the speed of 1",
        measured,
        speedup >= 1.5,
    );
    small_files(loader, &url, dir, runs, report)?;
    for schema in [
        "bench_psql",
        "bench_loader",
        "bench_w1",
        "bench_w2",
        "bench_w4",
        "bench_small",
        bench_pg_server::SCHEMA,
    ] {
        psql(&url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    }
    Ok(())
}

/// What a file costs beyond its rows (ledger lookups and records, table checks, audit
/// events, one transaction): 200 files of about 20 rows on one worker, against one
/// `psql \copy` per file, as a shell loop over a directory would run them.
fn small_files(
    loader: &Path,
    url: &str,
    dir: &Path,
    runs: usize,
    report: &mut crate::bench_report::Report,
) -> Result<(), String> {
    const FILES: usize = 200;
    const ROWS: u64 = 4_000;
    let small = dir.join("small200");
    if !small.exists() {
        std::fs::create_dir_all(&small).map_err(|e| e.to_string())?;
        loader_gen::write_files(&small, ROWS, FILES, 9).map_err(|e| e.to_string())?;
    }
    let size = dir_size(&small)?;
    let script = format!(
        "for f in {}/*.csv; do psql '{url}' -X -q -v ON_ERROR_STOP=1 \
         -c \"\\copy bench_psql.orders FROM '$f' WITH (FORMAT csv, HEADER true)\" || exit 1; done",
        small.display()
    );
    let (mut copies, mut loads) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        fresh_schema(url, "bench_psql")?;
        psql(url, &format!("CREATE TABLE bench_psql.orders {TYPED}"))?;
        copies.push(timed(
            Command::new("sh").args(["-c", &script]),
            None,
            None,
            dir,
        )?);
        loads.push(loader_run(
            loader,
            url,
            &small,
            "bench_small",
            "1",
            &[],
            dir,
        )?);
        if count(url, "bench_small.orders")? != ROWS {
            return Err("loader loaded the wrong number of rows from 200 files".into());
        }
    }
    let copy = crate::bench::median(copies);
    let load = crate::bench::median(loads);
    let per_file = |m: &Measure| m.wall.as_secs_f64() * 1000.0 / FILES as f64;
    report.row(
        "postgres",
        "psql \\copy, one per file (200 files of ~20 rows)",
        ROWS,
        size,
        &copy,
        &format!("1.00x; {:.1} ms a file", per_file(&copy)),
    );
    report.row(
        "postgres",
        "loader, 200 files of ~20 rows, 1 worker (ledger on)",
        ROWS,
        size,
        &load,
        &format!(
            "{:.2}x psql time; {:.1} ms a file",
            load.wall.as_secs_f64() / copy.wall.as_secs_f64(),
            per_file(&load)
        ),
    );
    Ok(())
}

fn dir_size(dir: &Path) -> Result<u64, String> {
    let mut size = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        size += entry
            .and_then(|e| e.metadata())
            .map_err(|e| e.to_string())?
            .len();
    }
    Ok(size)
}
