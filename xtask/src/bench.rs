//! `cargo xtask bench`: loader against `sqlite3 .import` on the same generated file, in the
//! same run, reported as ratios because absolute times on a shared machine are not stable.

use crate::shell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SQLITE_SCHEMA: &str = "CREATE TABLE orders (id INTEGER, customer TEXT, email TEXT, \
    amount REAL, quantity INTEGER, paid BOOLEAN, order_date DATE, created_at TIMESTAMP, \
    country TEXT, note TEXT);";

struct Measure {
    wall: Duration,
    peak_rss_kib: u64,
}

struct Options {
    rows: u64,
    runs: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rows: 1_000_000,
        runs: 3,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .replace('_', "");
        let number = value
            .parse::<u64>()
            .map_err(|_| format!("{flag}: expected a number, got {value:?}"))?;
        match flag.as_str() {
            "--rows" => options.rows = number,
            "--runs" => options.runs = number.max(1) as usize,
            other => return Err(format!("bench: unknown option {other}")),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    shell::in_root()?;
    for tool in ["sqlite3", "/usr/bin/time"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map_or(true, |s| !s.success())
        {
            return Err(format!("bench needs {tool} (apt-get install sqlite3 time)"));
        }
    }
    shell::cargo(&["build", "--release", "-p", "loader-cli"], &[])?;
    let loader = shell::root().join("target/release/loader");
    let dir = shell::root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let input = dir.join(format!("orders-{}.csv", options.rows));
    if !input.exists() {
        println!("bench: generating {}", input.display());
        loader_gen::write_file(&input, options.rows, 42, 1).map_err(|e| e.to_string())?;
    }
    let size = std::fs::metadata(&input).map_err(|e| e.to_string())?.len();
    let tiny = dir.join("tiny.csv");
    loader_gen::write_file(&tiny, 10, 1, 1).map_err(|e| e.to_string())?;
    let baseline = measure_loader(&loader, &tiny, &dir, &[], 10)?;
    println!(
        "bench: {} rows, {:.1} MB, median of {} runs; loader baseline rss {:.1} MiB (10-row file)",
        options.rows,
        size as f64 / 1e6,
        options.runs,
        baseline.peak_rss_kib as f64 / 1024.0
    );

    let mut sqlite_runs = Vec::new();
    let mut loader_runs = Vec::new();
    let mut limited_runs = Vec::new();
    for _ in 0..options.runs {
        sqlite_runs.push(measure_sqlite3(&input, &dir, options.rows)?);
        loader_runs.push(measure_loader(&loader, &input, &dir, &[], options.rows)?);
        limited_runs.push(measure_loader(
            &loader,
            &input,
            &dir,
            &["--memory-limit", "64MiB"],
            options.rows,
        )?);
    }
    let sqlite = median(sqlite_runs);
    let plain = median(loader_runs);
    let limited = median(limited_runs);
    println!(
        "{:<36} {:>9} {:>12} {:>9} {:>11} {:>16}",
        "tool", "seconds", "rows/s", "MB/s", "peak rss", "time vs sqlite3"
    );
    for (name, m) in [
        ("sqlite3 .import (typed table)", &sqlite),
        ("loader load", &plain),
        ("loader load --memory-limit 64MiB", &limited),
    ] {
        let secs = m.wall.as_secs_f64();
        println!(
            "{name:<36} {secs:>9.2} {:>12.0} {:>9.1} {:>7.1} MiB {:>15.2}x",
            options.rows as f64 / secs,
            size as f64 / 1e6 / secs,
            m.peak_rss_kib as f64 / 1024.0,
            secs / sqlite.wall.as_secs_f64(),
        );
    }
    println!(
        "ratio: loader is {:.2}x the speed of sqlite3 .import; with --memory-limit 64MiB peak rss {:.1} MiB (limit 64 MiB + baseline {:.1} MiB)",
        sqlite.wall.as_secs_f64() / plain.wall.as_secs_f64(),
        limited.peak_rss_kib as f64 / 1024.0,
        baseline.peak_rss_kib as f64 / 1024.0,
    );
    Ok(())
}

fn median(mut runs: Vec<Measure>) -> Measure {
    runs.sort_by_key(|m| m.wall);
    runs.swap_remove(runs.len() / 2)
}

fn timed(command: &mut Command, stdin: Option<&Path>, dir: &Path) -> Result<Measure, String> {
    let report = dir.join("time.txt");
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(command.get_program())
        .args(command.get_args());
    timed.stdout(Stdio::null());
    if let Some(stdin) = stdin {
        timed.stdin(Stdio::from(
            std::fs::File::open(stdin).map_err(|e| e.to_string())?,
        ));
    }
    let started = Instant::now();
    let status = timed.status().map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    if !status.success() {
        return Err(format!("{command:?} failed with {status}"));
    }
    let text = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
    let peak_rss_kib = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .ok_or("no peak rss in /usr/bin/time output")?;
    Ok(Measure { wall, peak_rss_kib })
}

fn count_rows(db: &Path) -> Result<u64, String> {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg("SELECT count(*) FROM orders;")
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("cannot count rows in {}", db.display()))
}

fn fresh_db(dir: &Path, name: &str) -> PathBuf {
    let db = dir.join(name);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    db
}

fn measure_sqlite3(input: &Path, dir: &Path, rows: u64) -> Result<Measure, String> {
    let db = fresh_db(dir, "sqlite3.db");
    let script = dir.join("import.sql");
    std::fs::write(
        &script,
        format!(
            "{SQLITE_SCHEMA}\n.import --csv --skip 1 {} orders\n",
            input.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let measure = timed(Command::new("sqlite3").arg(&db), Some(&script), dir)?;
    check(count_rows(&db)?, rows, "sqlite3")?;
    Ok(measure)
}

fn measure_loader(
    loader: &Path,
    input: &Path,
    dir: &Path,
    extra: &[&str],
    rows: u64,
) -> Result<Measure, String> {
    let db = fresh_db(dir, "loader.db");
    let mut command = Command::new(loader);
    command
        .arg("load")
        .arg(input)
        .arg("--into")
        .arg(format!("sqlite:{}", db.display()))
        .args(["--table", "orders"])
        .args(extra);
    let measure = timed(&mut command, None, dir)?;
    check(count_rows(&db)?, rows, "loader")?;
    Ok(measure)
}

fn check(found: u64, expected: u64, tool: &str) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{tool} loaded {found} rows, expected {expected}"))
    }
}
