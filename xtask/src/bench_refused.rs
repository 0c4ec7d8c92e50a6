//! `cargo xtask bench --section refused`: what rows the database refuses cost. The same rows
//! loaded into a table whose id is unique, once as generated and once with every 1000th
//! row repeating the id before it, under `--on-error skip`, alternating, into SQLite and
//! PostgreSQL. No target: the figures back what the README says refused rows cost.

use crate::bench::{
    Measure, SQLITE_SCHEMA, check, count_sqlite, fresh_db, generated, median, timed_exiting,
};
use crate::bench_pg::{TYPED, count, fresh_schema, psql, server_url};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `EVERY`th row repeats an id.
const EVERY: u64 = 1000;

pub fn run(
    loader: &Path,
    dir: &Path,
    rows: u64,
    runs: usize,
    report: &mut crate::bench_report::Report,
) -> Result<(), String> {
    let clean = generated(dir, rows)?;
    let repeating = dir.join(format!("orders-{rows}-repeating-ids.csv"));
    if !repeating.exists() {
        loader_gen::write_file_repeating_ids(&repeating, rows, 42, EVERY)
            .map_err(|e| e.to_string())?;
    }
    let size = std::fs::metadata(&repeating)
        .map_err(|e| e.to_string())?
        .len();
    let refused = rows / EVERY;
    println!("\nrefused: {rows} rows, {refused} of them repeating an id, into a unique id");
    type Load<'a> = Box<dyn Fn(&Path, u64) -> Result<Measure, String> + 'a>;
    let mut targets: Vec<(&str, Load)> = vec![(
        "sqlite",
        Box::new(|input, stored| sqlite(loader, dir, input, stored)),
    )];
    if let Some(url) = server_url() {
        targets.push((
            "postgres",
            Box::new(move |input, stored| postgres(loader, dir, &url, input, stored)),
        ));
    }
    for (section, load) in &targets {
        let (mut clean_runs, mut refused_runs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            clean_runs.push(load(&clean, rows)?);
            refused_runs.push(load(&repeating, rows - refused)?);
        }
        let (clean_run, refused_run) = (median(clean_runs), median(refused_runs));
        let slower = refused_run.wall.as_secs_f64() / clean_run.wall.as_secs_f64();
        report.row(
            section,
            "loader --on-error skip, unique id, no row refused",
            rows,
            size,
            &clean_run,
            "1.00x",
        );
        report.row(
            section,
            &format!("the same, 1 row in {EVERY} refused and quarantined"),
            rows,
            size,
            &refused_run,
            &format!("{slower:.2}x the time"),
        );
    }
    Ok(())
}

fn loader_command(loader: &Path, input: &Path, into: &[&str]) -> Command {
    let mut command = Command::new(loader);
    command
        .arg("load")
        .arg(input)
        .args(into)
        .args(["--table", "orders", "--on-error", "skip"]);
    command
}

fn unique(columns: &str) -> String {
    columns.replacen("(id BIGINT", "(id BIGINT NOT NULL UNIQUE", 1)
}

fn sqlite(loader: &Path, dir: &Path, input: &Path, stored: u64) -> Result<Measure, String> {
    let db: PathBuf = fresh_db(dir, "refused.db");
    let schema = SQLITE_SCHEMA.replacen("(id INTEGER", "(id INTEGER NOT NULL UNIQUE", 1);
    let created = Command::new("sqlite3")
        .arg(&db)
        .arg(schema)
        .status()
        .map_err(|e| e.to_string())?;
    check(
        u64::from(created.success()),
        1,
        "sqlite3 (creating the table)",
    )?;
    let into = format!("sqlite:{}", db.display());
    let mut command = loader_command(loader, input, &["--into", &into]);
    let measure = timed_exiting(&mut command, None, None, dir, &[0, 3])?;
    check(count_sqlite(&db, "orders")?, stored, "loader")?;
    Ok(measure)
}

fn postgres(
    loader: &Path,
    dir: &Path,
    url: &str,
    input: &Path,
    stored: u64,
) -> Result<Measure, String> {
    let schema = "bench_refused";
    fresh_schema(url, schema)?;
    psql(
        url,
        &format!("CREATE TABLE {schema}.orders {}", unique(TYPED)),
    )?;
    let into = ["--into", url, "--schema", schema];
    let mut command = loader_command(loader, input, &into);
    let measure = timed_exiting(&mut command, None, None, dir, &[0, 3])?;
    check(count(url, &format!("{schema}.orders"))?, stored, "loader")?;
    Ok(measure)
}
