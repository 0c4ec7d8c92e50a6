//! `cargo xtask bench --section upsert`: `--mode upsert` against what one does with the
//! standard tools, which cannot upsert from a file by themselves: import into a temporary
//! table, then `INSERT ... ON CONFLICT (id) DO UPDATE` from it (`sqlite3 .import`, `psql
//! \copy`). Both replace every row of a table that holds the same rows already, in
//! alternating rounds. No target: the figures back what the docs say an upsert costs.

use crate::bench::{Measure, check, count_sqlite, fresh_db, generated, median, timed};
use crate::bench_pg::{count, fresh_schema, psql, server_url};
use std::path::Path;
use std::process::Command;

/// The generated file's columns other than the key, as the update sets them.
const UPDATED: [&str; 9] = [
    "customer",
    "email",
    "amount",
    "quantity",
    "paid",
    "order_date",
    "created_at",
    "country",
    "note",
];

fn on_conflict() -> String {
    let set: Vec<String> = UPDATED
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!("ON CONFLICT (id) DO UPDATE SET {}", set.join(", "))
}

pub fn run(
    loader: &Path,
    dir: &Path,
    rows: u64,
    runs: usize,
    report: &mut crate::bench_report::Report,
) -> Result<(), String> {
    let input = generated(dir, rows)?;
    let size = std::fs::metadata(&input).map_err(|e| e.to_string())?.len();
    println!("\nupsert: {rows} rows, each replacing the row with its id");
    let db = fresh_db(dir, "upsert.db");
    let sqlite_into = vec!["--into".to_owned(), format!("sqlite:{}", db.display())];
    let sqlite3 = dir.join("upsert-sqlite3.sql");
    std::fs::write(
        &sqlite3,
        format!(
            "CREATE TEMP TABLE s AS SELECT * FROM orders WHERE 0;\n\
             .import --csv --skip 1 {} s\n\
             INSERT INTO orders SELECT * FROM s WHERE true {};\n",
            input.display(),
            on_conflict()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut targets = vec![(
        "sqlite",
        "sqlite3 .import into a temporary table, INSERT ... ON CONFLICT from it",
        sqlite_into,
        {
            let mut command = Command::new("sqlite3");
            command.arg(&db);
            command
        },
        Some(sqlite3),
    )];
    let server = server_url();
    if let Some(url) = &server {
        let schema = "bench_upsert";
        fresh_schema(url, schema)?;
        let script = dir.join("upsert-psql.sql");
        std::fs::write(
            &script,
            format!(
                "BEGIN;\n\
                 CREATE TEMP TABLE s (LIKE {schema}.orders);\n\
                 \\copy s FROM '{}' WITH (FORMAT csv, HEADER true)\n\
                 INSERT INTO {schema}.orders SELECT * FROM s {};\n\
                 COMMIT;\n",
                input.display(),
                on_conflict()
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut command = Command::new("psql");
        command.args([url.as_str(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"]);
        command.arg(&script);
        targets.push((
            "postgres",
            "psql \\copy into a temporary table, INSERT ... ON CONFLICT from it",
            vec![
                "--into".to_owned(),
                url.clone(),
                "--schema".to_owned(),
                schema.to_owned(),
            ],
            command,
            None,
        ));
    }
    for (section, standard, into, mut tool, stdin) in targets {
        let counted = || match &server {
            Some(url) if section == "postgres" => count(url, "bench_upsert.orders"),
            _ => count_sqlite(&db, "orders"),
        };
        let upsert = |extra: &[&str]| {
            let mut load = Command::new(loader);
            load.arg("load")
                .arg(&input)
                .args(&into)
                .args(["--table", "orders", "--mode", "upsert", "--key", "id"])
                .args(extra);
            load
        };
        // The table loader makes for an upsert (its key unique), holding every row once.
        timed(&mut upsert(&[]), None, None, dir)?;
        check(counted()?, rows, "loader --mode upsert")?;
        let (mut standard_runs, mut loader_runs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            standard_runs.push(timed(&mut tool, stdin.as_deref(), None, dir)?);
            check(counted()?, rows, standard)?;
            loader_runs.push(timed(&mut upsert(&["--force"]), None, None, dir)?);
            check(counted()?, rows, "loader --mode upsert --force")?;
        }
        let (standard_run, loader_run): (Measure, Measure) =
            (median(standard_runs), median(loader_runs));
        report.row(section, standard, rows, size, &standard_run, "1.00x");
        report.row(
            section,
            "loader --mode upsert --key id (every row replacing one)",
            rows,
            size,
            &loader_run,
            &format!(
                "{:.2}x the time",
                loader_run.wall.as_secs_f64() / standard_run.wall.as_secs_f64()
            ),
        );
    }
    if let Some(url) = &server {
        psql(url, "DROP SCHEMA IF EXISTS bench_upsert CASCADE")?;
    }
    Ok(())
}
