//! `cargo xtask bench`: loader against `sqlite3 .import`, `psql \copy` and a plain csv-crate
//! parse on the same generated files, alternating tools round by round, medians reported, as
//! ratios because absolute times on a shared machine are not stable. Writes
//! `target/bench/report.md`.

use crate::bench_report::Report;
use crate::shell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const SQLITE_SCHEMA: &str = "CREATE TABLE orders (id INTEGER, customer TEXT, email TEXT, \
    amount REAL, quantity INTEGER, paid BOOLEAN, order_date DATE, created_at TIMESTAMP, \
    country TEXT, note TEXT);";

pub(crate) struct Measure {
    pub(crate) wall: Duration,
    pub(crate) peak_rss_kib: u64,
    /// CPU time the whole machine spent while the command ran (every process: the database
    /// server's too, and other tenants' on a shared host), from `/proc/stat`.
    pub(crate) machine_busy: Option<Duration>,
    /// CPU time of the command itself (user and system), from `/usr/bin/time`.
    pub(crate) own_cpu: Duration,
}

/// CPU time every CPU of the machine has spent busy since boot (user, nice, system, irq and
/// softirq; not idle, iowait or time stolen by a hypervisor), or `None` off Linux.
fn machine_busy_since_boot() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...; clock ticks of 1/100 s (USER_HZ).
    let busy: u64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum();
    Some(Duration::from_millis(busy * 10))
}

struct Options {
    rows: u64,
    runs: usize,
    speed: bool,
    memory: bool,
    postgres: bool,
    validate: bool,
    refused: bool,
    upsert: bool,
    memory_rows: Vec<u64>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rows: 1_000_000,
        runs: 3,
        speed: true,
        memory: true,
        postgres: true,
        validate: true,
        refused: true,
        upsert: true,
        memory_rows: vec![1_000_000, 5_000_000, 10_000_000],
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .replace('_', "");
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: expected a number, got {value:?}"))
        };
        match flag.as_str() {
            "--rows" => options.rows = number()?,
            "--runs" => options.runs = number()?.max(1) as usize,
            "--section" => {
                options.speed = value == "speed" || value == "all";
                options.memory = value == "memory" || value == "all";
                options.postgres = value == "postgres" || value == "all";
                options.validate = value == "validate" || value == "all";
                options.refused = value == "refused" || value == "all";
                options.upsert = value == "upsert" || value == "all";
                let sections = [
                    options.speed,
                    options.memory,
                    options.postgres,
                    options.validate,
                    options.refused,
                    options.upsert,
                ];
                if !sections.contains(&true) {
                    return Err(
                        "--section: expected speed, memory, postgres, validate, refused, upsert or all"
                            .into(),
                    );
                }
            }
            "--memory-rows" => {
                options.memory_rows = value
                    .split(',')
                    .map(|v| {
                        v.parse()
                            .map_err(|_| format!("--memory-rows: bad number {v:?}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
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
    shell::cargo(
        &[
            "build",
            "--release",
            "-p",
            "loader-file",
            "--example",
            "csv_baseline",
        ],
        &[],
    )?;
    let loader = shell::root().join("target/release/loader");
    let dir = shell::root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let tiny = dir.join("tiny.csv");
    loader_gen::write_file(&tiny, 10, 1, 1).map_err(|e| e.to_string())?;
    let (baseline, _) = measure_loader(&loader, &tiny, &dir, &[], 10)?;
    let mut report = Report::default();
    if options.speed {
        speed(&options, &loader, &dir, &baseline, &mut report)?;
    }
    if options.validate {
        crate::bench_validate::run(&loader, &dir, options.rows, options.runs, &mut report)?;
    }
    if options.memory {
        memory(&options, &loader, &dir, &baseline, &mut report)?;
    }
    if options.postgres {
        crate::bench_pg::run(&loader, &dir, options.rows, options.runs, &mut report)?;
    }
    if options.refused {
        crate::bench_refused::run(&loader, &dir, options.rows, options.runs, &mut report)?;
    }
    if options.upsert {
        crate::bench_upsert::run(&loader, &dir, options.rows, options.runs, &mut report)?;
    }
    let header = format!(
        "{} rows per speed file, median of {} alternating rounds, release build; \
         loader baseline rss {:.1} MiB (10-row file).",
        options.rows,
        options.runs,
        mib(baseline.peak_rss_kib)
    );
    let text = report.write(&dir.join("report.md"), &header)?;
    println!("\n{text}");
    let failures = report.missed();
    if failures.is_empty() {
        println!("bench: every target met");
        Ok(())
    } else {
        Err(format!(
            "bench: targets missed:\n  {}",
            failures.join("\n  ")
        ))
    }
}

pub(crate) fn generated(dir: &Path, rows: u64) -> Result<PathBuf, String> {
    let input = dir.join(format!("orders-{rows}.csv"));
    if !input.exists() {
        println!("bench: generating {}", input.display());
        loader_gen::write_file(&input, rows, 42, 1).map_err(|e| e.to_string())?;
    }
    Ok(input)
}

/// Peak RSS must not grow with the input: a 64 MiB limit holds for 1 M and 10 M rows alike.
fn memory(
    options: &Options,
    loader: &Path,
    dir: &Path,
    baseline: &Measure,
    report: &mut Report,
) -> Result<(), String> {
    println!(
        "\nmemory: --memory-limit 64MiB, peak rss by input size (baseline {:.1} MiB)",
        mib(baseline.peak_rss_kib)
    );
    println!(
        "{:>12} {:>10} {:>9} {:>11} {:>14} {:>14}",
        "rows", "MB", "seconds", "peak rss", "est. peak", "measured peak"
    );
    let mut peaks = Vec::new();
    for &rows in &options.memory_rows {
        let input = generated(dir, rows)?;
        let size = std::fs::metadata(&input).map_err(|e| e.to_string())?.len();
        let (measure, stdout) =
            measure_loader(loader, &input, dir, &["--memory-limit", "64MiB"], rows)?;
        let (estimated, measured) = memory_figures(&stdout);
        println!(
            "{rows:>12} {:>10.1} {:>9.2} {:>7.1} MiB {estimated:>14} {measured:>14}",
            size as f64 / 1e6,
            measure.wall.as_secs_f64(),
            mib(measure.peak_rss_kib),
        );
        report.row(
            "memory",
            &format!("loader --memory-limit 64MiB, {rows} rows"),
            rows,
            size,
            &measure,
            &format!("est. {estimated} / measured {measured}"),
        );
        peaks.push((rows, measure.peak_rss_kib));
    }
    let limit_kib = 64 * 1024 + baseline.peak_rss_kib;
    for &(rows, peak) in &peaks {
        report.target(
            &format!("{rows} rows under --memory-limit 64MiB: peak rss <= 64 MiB + baseline"),
            format!("{:.1} MiB", mib(peak)),
            peak <= limit_kib,
        );
    }
    if let (Some(first), Some(last)) = (peaks.first(), peaks.last()) {
        let ratio = last.1 as f64 / first.1 as f64;
        report.target(
            &format!(
                "peak rss at {} rows <= 1.10x at {} rows (64 MiB limit)",
                last.0, first.0
            ),
            format!("{ratio:.3}x"),
            ratio <= 1.10,
        );
    }
    // Default settings (no limit): the budget then comes from the machine, and the peak
    // must still not grow with the input.
    let mut defaults = Vec::new();
    for rows in [1_000_000, 5_000_000] {
        let input = generated(dir, rows)?;
        let size = std::fs::metadata(&input).map_err(|e| e.to_string())?.len();
        let (measure, _) = measure_loader(loader, &input, dir, &[], rows)?;
        report.row(
            "memory",
            &format!("loader, default settings, {rows} rows"),
            rows,
            size,
            &measure,
            "",
        );
        defaults.push(measure.peak_rss_kib);
    }
    let ratio = defaults[1] as f64 / defaults[0] as f64;
    report.target(
        "peak rss at 5M rows <= 1.10x at 1M rows, default settings",
        format!(
            "{ratio:.3}x ({:.1} vs {:.1} MiB)",
            mib(defaults[1]),
            mib(defaults[0])
        ),
        ratio <= 1.10,
    );
    Ok(())
}

/// The per-file `memory X estimated / Y measured` figures of loader's summary.
fn memory_figures(stdout: &str) -> (String, String) {
    let Some(line) = stdout.lines().find(|l| l.contains(" estimated / ")) else {
        return ("?".into(), "?".into());
    };
    let figures = line.rsplit("memory ").next().unwrap_or_default();
    let mut parts = figures.split(" estimated / ");
    let estimated = parts.next().unwrap_or("?").to_owned();
    let measured = parts
        .next()
        .unwrap_or("?")
        .trim_end_matches(" measured")
        .to_owned();
    (estimated, measured)
}

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn speed(
    options: &Options,
    loader: &Path,
    dir: &Path,
    baseline: &Measure,
    report: &mut Report,
) -> Result<(), String> {
    let input = generated(dir, options.rows)?;
    let size = std::fs::metadata(&input).map_err(|e| e.to_string())?.len();
    let gzip = gzip_copy(&input)?;
    println!(
        "bench: {} rows, {:.1} MB, median of {} runs",
        options.rows,
        size as f64 / 1e6,
        options.runs,
    );
    let (mut sqlite_runs, mut loader_runs, mut limited_runs, mut gzip_runs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Alternating rounds: a slow moment of the machine hits every tool alike.
    for _ in 0..options.runs {
        sqlite_runs.push(measure_sqlite3(&input, dir, options.rows)?);
        loader_runs.push(measure_loader(loader, &input, dir, &[], options.rows)?.0);
        let limit = ["--memory-limit", "64MiB"];
        limited_runs.push(measure_loader(loader, &input, dir, &limit, options.rows)?.0);
        gzip_runs.push(measure_loader(loader, &gzip, dir, &[], options.rows)?.0);
    }
    let sqlite = median(sqlite_runs);
    let plain = median(loader_runs);
    let limited = median(limited_runs);
    let gzipped = median(gzip_runs);
    let versus = |m: &Measure| {
        format!(
            "{:.2}x sqlite3 time",
            m.wall.as_secs_f64() / sqlite.wall.as_secs_f64()
        )
    };
    report.row(
        "sqlite",
        "sqlite3 .import (typed table)",
        options.rows,
        size,
        &sqlite,
        "1.00x",
    );
    report.row(
        "sqlite",
        "loader load (ledger on)",
        options.rows,
        size,
        &plain,
        &versus(&plain),
    );
    report.row(
        "sqlite",
        "loader load --memory-limit 64MiB",
        options.rows,
        size,
        &limited,
        &versus(&limited),
    );
    report.row(
        "sqlite",
        "loader load (gzip copy)",
        options.rows,
        size,
        &gzipped,
        &versus(&gzipped),
    );
    let ratio = plain.wall.as_secs_f64() / sqlite.wall.as_secs_f64();
    report.target(
        "SQLite: loader wall <= 0.40x sqlite3 .import wall (1M rows, ledger on)",
        format!(
            "{ratio:.2}x ({:.2}s vs {:.2}s)",
            plain.wall.as_secs_f64(),
            sqlite.wall.as_secs_f64()
        ),
        ratio <= 0.40,
    );
    report.target(
        "--memory-limit 64MiB: peak rss <= 64 MiB + baseline",
        format!(
            "{:.1} MiB (baseline {:.1} MiB)",
            mib(limited.peak_rss_kib),
            mib(baseline.peak_rss_kib)
        ),
        limited.peak_rss_kib <= 64 * 1024 + baseline.peak_rss_kib,
    );
    Ok(())
}

/// A gzip copy of `input`, made once.
fn gzip_copy(input: &Path) -> Result<PathBuf, String> {
    let gzip = input.with_extension("csv.gz");
    if !gzip.exists() {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -c {} > {}", input.display(), gzip.display()))
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("gzip failed".into());
        }
    }
    Ok(gzip)
}

pub(crate) fn median(mut runs: Vec<Measure>) -> Measure {
    runs.sort_by_key(|m| m.wall);
    runs.swap_remove(runs.len() / 2)
}

/// Runs `command` under `/usr/bin/time -v`, feeding it `stdin` and writing its output to
/// `stdout` (discarded when `None`).
pub(crate) fn timed(
    command: &mut Command,
    stdin: Option<&Path>,
    stdout: Option<&Path>,
    dir: &Path,
) -> Result<Measure, String> {
    timed_exiting(command, stdin, stdout, dir, &[0])
}

/// [`timed`], for a command that succeeds with any of the exit codes `ok`.
pub(crate) fn timed_exiting(
    command: &mut Command,
    stdin: Option<&Path>,
    stdout: Option<&Path>,
    dir: &Path,
    ok: &[i32],
) -> Result<Measure, String> {
    let report = dir.join("time.txt");
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(command.get_program())
        .args(command.get_args());
    match stdout {
        Some(path) => timed.stdout(Stdio::from(
            std::fs::File::create(path).map_err(|e| e.to_string())?,
        )),
        None => timed.stdout(Stdio::null()),
    };
    if let Some(stdin) = stdin {
        timed.stdin(Stdio::from(
            std::fs::File::open(stdin).map_err(|e| e.to_string())?,
        ));
    }
    let busy_before = machine_busy_since_boot();
    let started = Instant::now();
    let status = timed.status().map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    let machine_busy = machine_busy_since_boot()
        .zip(busy_before)
        .map(|(after, before)| after.saturating_sub(before));
    if !status.code().is_some_and(|code| ok.contains(&code)) {
        return Err(format!("{command:?} failed with {status}"));
    }
    let text = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
    let figure = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(str::trim)
            .ok_or_else(|| format!("no `{label}` in /usr/bin/time output"))
    };
    let seconds = |label: &str| -> Result<f64, String> {
        figure(label)?
            .parse()
            .map_err(|_| format!("`{label}` is not a number of seconds"))
    };
    let peak_rss_kib = figure("Maximum resident set size (kbytes): ")?
        .parse()
        .map_err(|_| "peak rss is not a number")?;
    let own_cpu = Duration::from_secs_f64(
        seconds("User time (seconds): ")? + seconds("System time (seconds): ")?,
    );
    Ok(Measure {
        wall,
        peak_rss_kib,
        machine_busy,
        own_cpu,
    })
}

pub(crate) fn count_rows(db: &Path) -> Result<u64, String> {
    count_sqlite(db, "orders")
}

/// Rows of `table` in the SQLite database `db`.
pub(crate) fn count_sqlite(db: &Path, table: &str) -> Result<u64, String> {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg(format!("SELECT count(*) FROM {table};"))
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("cannot count rows of {table} in {}", db.display()))
}

pub(crate) fn fresh_db(dir: &Path, name: &str) -> PathBuf {
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
    let measure = timed(Command::new("sqlite3").arg(&db), Some(&script), None, dir)?;
    check(count_rows(&db)?, rows, "sqlite3")?;
    Ok(measure)
}

/// Loads `input` with loader (and `extra` flags) into a fresh database, checks the row count,
/// and returns the measure and loader's summary.
fn measure_loader(
    loader: &Path,
    input: &Path,
    dir: &Path,
    extra: &[&str],
    rows: u64,
) -> Result<(Measure, String), String> {
    let db = fresh_db(dir, "loader.db");
    let summary = dir.join("summary.txt");
    let mut command = Command::new(loader);
    command
        .arg("load")
        .arg(input)
        .arg("--into")
        .arg(format!("sqlite:{}", db.display()))
        .args(["--table", "orders"])
        .args(extra);
    let measure = timed(&mut command, None, Some(&summary), dir)?;
    check(count_rows(&db)?, rows, "loader")?;
    Ok((
        measure,
        std::fs::read_to_string(&summary).unwrap_or_default(),
    ))
}

pub(crate) fn check(found: u64, expected: u64, tool: &str) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{tool} loaded {found} rows, expected {expected}"))
    }
}
