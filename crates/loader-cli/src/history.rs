//! `loader history`: runs and files from the target's ledger, and one run's audit events.

use crate::args::HistoryArgs;
use crate::format::count;
use anyhow::{Result, bail};
use loader_batch::{FileRecord, Ledger, RunRecord};
use loader_sink::{PgSink, SqliteSink, Target};
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(args: HistoryArgs) -> Result<ExitCode> {
    let (target, ledger) = open_ledger(&args.ledger.into, args.ledger.schema.as_deref()).await?;
    let runs = ledger.runs().await?;
    match &args.run {
        None => list(&*ledger, &runs, args.json).await?,
        Some(id) => {
            let Some(run) = runs.iter().find(|r| &r.run_id == id) else {
                bail!("no run {id} in {target}; `loader history --into {target}` lists the runs");
            };
            show(&*ledger, run, args.json).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The ledger of an existing target (an SQLite file that does not exist is an error, not a
/// new empty database).
pub(crate) async fn open_ledger(
    into: &str,
    schema: Option<&str>,
) -> Result<(Target, Arc<dyn Ledger>)> {
    let target = Target::parse(into)?;
    let ledger: Arc<dyn Ledger> = match &target {
        Target::Sqlite(path) => {
            if !path.exists() {
                bail!(
                    "{}: no such database (give the target with --into)",
                    path.display()
                );
            }
            Arc::new(SqliteSink::open(path)?)
        }
        Target::Postgres(url) => Arc::new(PgSink::connect(url, schema, 2).await?),
    };
    Ok((target, ledger))
}

async fn list(ledger: &dyn Ledger, runs: &[RunRecord], json: bool) -> Result<()> {
    let mut all = Vec::with_capacity(runs.len());
    for run in runs {
        all.push((run, ledger.files(&run.run_id).await?));
    }
    if json {
        let value: Vec<_> = all
            .iter()
            .map(|(run, files)| serde_json::json!({ "run": run, "files": files }))
            .collect();
        crate::outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if all.is_empty() {
        crate::outln!("no runs recorded");
        return Ok(());
    }
    crate::outln!(
        "{:<24} {:<24} {:>9} {:<10} {:>6} {:>6} {:>6} {:>12}",
        "run",
        "started",
        "duration",
        "outcome",
        "loaded",
        "skip",
        "failed",
        "rows loaded"
    );
    for (run, files) in &all {
        let state =
            |s: loader_batch::FileLedgerState| files.iter().filter(|f| f.state == s).count();
        use loader_batch::FileLedgerState::*;
        crate::outln!(
            "{:<24} {:<24} {:>9} {:<10} {:>6} {:>6} {:>6} {:>12}",
            run.run_id,
            run.started_at,
            duration(run),
            run.outcome,
            state(Complete),
            state(Skipped),
            state(Failed) + state(Loading),
            count(files.iter().map(|f| f.rows_loaded).sum()),
        );
        if let Some(error) = &run.error {
            crate::outln!("{:<24} error: {error}", "");
        }
    }
    Ok(())
}

async fn show(ledger: &dyn Ledger, run: &RunRecord, json: bool) -> Result<()> {
    let files = ledger.files(&run.run_id).await?;
    let events = ledger.events(&run.run_id).await?;
    if json {
        let value = serde_json::json!({ "run": run, "files": files, "events": events });
        crate::outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    crate::outln!(
        "run {} ({}), started {}, {}",
        run.run_id,
        run.outcome,
        run.started_at,
        duration(run)
    );
    crate::outln!("settings: {}", run.settings);
    if let Some(error) = &run.error {
        crate::outln!("error: {error}");
    }
    crate::outln!("files:");
    for file in &files {
        print_file(file);
    }
    crate::outln!("events ({}):", events.len());
    for event in &events {
        let mut line = format!(
            "  {} {:<9} {:<10} #{}",
            event.at,
            serde_json::to_value(event.scope)?
                .as_str()
                .unwrap_or_default(),
            serde_json::to_value(event.kind)?
                .as_str()
                .unwrap_or_default(),
            event.context.0
        );
        if let Some(file) = &event.file {
            line.push_str(&format!(" {file}"));
        }
        if let Some([a, b]) = event.lines {
            line.push_str(&format!(" lines {a}..{b}"));
        }
        if let Some(rows) = event.rows {
            line.push_str(&format!(" {rows} rows"));
        }
        if let Some(ms) = event.duration_ms {
            line.push_str(&format!(" {ms:.1} ms"));
        }
        if let Some(reason) = &event.reason {
            line.push_str(&format!(": {reason}"));
        }
        crate::outln!("{line}");
    }
    Ok(())
}

fn print_file(file: &FileRecord) {
    crate::outln!(
        "  {:<9} {} -> {:?} (generation {}, {}…): {} read, {} loaded, {} rejected, {} skipped{}",
        file.state.as_str(),
        file.path,
        file.table,
        file.generation,
        &file.file_hash[..file.file_hash.len().min(12)],
        count(file.rows_read),
        count(file.rows_loaded),
        count(file.rows_rejected),
        count(file.rows_skipped),
        file.error
            .as_ref()
            .map(|e| format!("; error: {e}"))
            .unwrap_or_default(),
    );
}

fn duration(run: &RunRecord) -> String {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (
        parse(&run.started_at),
        run.ended_at.as_deref().and_then(parse),
    ) {
        (Some(start), Some(end)) => {
            format!("{:.2}s", (end - start).num_milliseconds() as f64 / 1000.0)
        }
        _ => "-".into(),
    }
}
