//! `cargo xtask bench --section postgres`: loader against `psql \copy` on the same file, and
//! loader with 1 worker against 2 on several files, in the same run.

use crate::bench::{Measure, generated, mib, timed};
use std::path::Path;
use std::process::{Command, Stdio};

const TYPED: &str = "(id BIGINT, customer TEXT, email TEXT, amount DOUBLE PRECISION, \
    quantity BIGINT, paid BOOLEAN, order_date DATE, created_at TIMESTAMP, country TEXT, note TEXT)";

fn psql(url: &str, sql: &str) -> Result<String, String> {
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

fn count(url: &str, table: &str) -> Result<u64, String> {
    psql(url, &format!("SELECT count(*) FROM {table}"))?
        .parse()
        .map_err(|_| format!("cannot count {table}"))
}

fn fresh_schema(url: &str, schema: &str) -> Result<(), String> {
    psql(
        url,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    )
    .map(|_| ())
}

fn loader_run(
    loader: &Path,
    url: &str,
    input: &Path,
    schema: &str,
    workers: &str,
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
    timed(&mut command, None, None, dir)
}

pub fn run(
    loader: &Path,
    dir: &Path,
    rows: u64,
    runs: usize,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let url = std::env::var("LOADER_BENCH_PG_URL")
        .or_else(|_| std::env::var("LOADER_TEST_PG_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if psql(&url, "SELECT 1").is_err() {
        println!("\npostgres: skipped, no server at {url} (set LOADER_BENCH_PG_URL)");
        return Ok(());
    }
    let input = generated(dir, rows)?;
    let size = std::fs::metadata(&input).map_err(|e| e.to_string())?.len();
    let (mut copies, mut loads) = (Vec::new(), Vec::new());
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
        loads.push(loader_run(loader, &url, &input, "bench_loader", "2", dir)?);
        if count(&url, "bench_loader.orders")? != rows {
            return Err("loader loaded the wrong number of rows into PostgreSQL".into());
        }
    }
    let copy = crate::bench::median(copies);
    let load = crate::bench::median(loads);
    println!(
        "\npostgres: {rows} rows, {:.1} MB, median of {runs}",
        size as f64 / 1e6
    );
    for (name, m) in [
        ("psql \\copy (typed table)", &copy),
        ("loader load (COPY binary, ledger)", &load),
    ] {
        let secs = m.wall.as_secs_f64();
        println!(
            "{name:<36} {secs:>9.2} {:>12.0} rows/s {:>7.1} MB/s {:>7.1} MiB rss {:>6.2}x time",
            rows as f64 / secs,
            size as f64 / 1e6 / secs,
            mib(m.peak_rss_kib),
            secs / copy.wall.as_secs_f64()
        );
    }
    println!(
        "ratio: loader is {:.2}x the speed of psql \\copy",
        copy.wall.as_secs_f64() / load.wall.as_secs_f64()
    );
    if load.wall >= copy.wall {
        failures.push(format!(
            "PostgreSQL: loader ({:.2}s) is not faster than psql \\copy ({:.2}s)",
            load.wall.as_secs_f64(),
            copy.wall.as_secs_f64()
        ));
    }

    // Several files: does a second worker (a second connection) pay?
    let multi = dir.join("multi");
    if !multi.exists() {
        std::fs::create_dir_all(&multi).map_err(|e| e.to_string())?;
        loader_gen::write_files(&multi, rows, 4, 7).map_err(|e| e.to_string())?;
    }
    let one = loader_run(loader, &url, &multi, "bench_w1", "1", dir)?;
    let two = loader_run(loader, &url, &multi, "bench_w2", "2", dir)?;
    println!(
        "workers: 4 files, {rows} rows: 1 worker {:.2}s, 2 workers {:.2}s -> 2 workers are {:.2}x the speed of 1",
        one.wall.as_secs_f64(),
        two.wall.as_secs_f64(),
        one.wall.as_secs_f64() / two.wall.as_secs_f64()
    );
    for schema in ["bench_psql", "bench_loader", "bench_w1", "bench_w2"] {
        psql(&url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    }
    Ok(())
}
