//! `loader load` and `loader plan`.

use crate::args::{Cli, Command, CommonArgs, Escape, LoadArgs, Mode, OnError, Order, TextEncoding};
use crate::format::{bytes, count, counted, rate, seconds};
use anyhow::{Context, Result};
use loader_batch::{AuditSink, BatchSink, BufferedAudit, JsonlAudit, Ledger, NullAudit, TeeAudit};
use loader_file::{BadRowPolicy, CsvOptions, Encoding, FileOrder};
use loader_memory::{CleanupHooks, MemoryProbe, SysinfoProbe};
use loader_sink::{PgSink, ReadOnlyTables, SqliteSink, Target};
use loader_strategy::{
    DataLoadingService, FileState, LiveProgress, LoadMode, LoadPlan, LoadReport, LoadSettings,
    StopSignal, Streams,
};
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Load(args) => load(args, cli.quiet).await,
        Command::Plan(args) => plan(args),
        Command::History(args) => crate::history::run(args).await,
        Command::Schema(args) => crate::schema::run(&args, settings(&args.common)?),
        Command::Report(args) => crate::report::run(args).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            // Made in memory, then written as any other output: a closed pipe is no panic.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "loader", &mut script);
            crate::outln!("{}", String::from_utf8_lossy(&script).trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A schema file: `[columns]` mapping names to types.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    columns: std::collections::BTreeMap<String, String>,
}

/// Column types from `--schema-file`, then `--column` (which wins).
fn column_types(args: &CommonArgs) -> Result<Vec<(String, loader_batch::ColumnType)>> {
    let mut columns = Vec::new();
    if let Some(path) = &args.schema_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading schema file {}", path.display()))?;
        let file: SchemaFile = toml::from_str(&text).with_context(|| {
            format!(
                "{}: expected a [columns] table of name = \"type\"",
                path.display()
            )
        })?;
        for (name, ty) in file.columns {
            let Some(ty) = loader_batch::ColumnType::from_name(&ty) else {
                anyhow::bail!(
                    "{}: column {name:?}: unknown type {ty:?} (integer, real, boolean, date, timestamp, text)",
                    path.display()
                );
            };
            columns.push((name, ty));
        }
    }
    for (name, ty) in &args.columns {
        columns.retain(|(n, _)| n != name);
        columns.push((name.clone(), *ty));
    }
    Ok(columns)
}

pub(crate) fn settings(args: &CommonArgs) -> Result<LoadSettings> {
    let defaults = LoadSettings::default();
    let decimal_mark = if args.decimal_comma { b',' } else { b'.' };
    if args.thousands == Some(decimal_mark) {
        return Err(crate::UsageError(format!(
            "--thousands {}: that is the decimal mark{}; thousands are grouped by another \
             character",
            char::from(decimal_mark),
            if args.decimal_comma {
                " with --decimal-comma"
            } else {
                " (--decimal-comma makes it a comma)"
            }
        ))
        .into());
    }
    Ok(LoadSettings {
        workers: args.workers.map_or(defaults.workers, usize::from),
        read_threads: args.read_threads.map(usize::from),
        memory_limit: args.memory_limit,
        budget_share: args.budget_share,
        csv: csv_options(args),
        sub_batch_rows: args.sub_batch_rows as usize,
        order: match args.order.unwrap_or(Order::Largest) {
            Order::Largest => FileOrder::LargestFirst,
            Order::Smallest => FileOrder::SmallestFirst,
            Order::Given => FileOrder::AsGiven,
        },
        table: args.table.clone(),
        columns: column_types(args)?,
        renames: args.renames.clone(),
        skip_columns: args.skip_columns.clone(),
        thresholds: match args.pressure_thresholds {
            Some([elevated, high, critical]) => loader_memory::PressureThresholds {
                elevated,
                high,
                critical,
                ..defaults.thresholds
            },
            None => defaults.thresholds,
        },
        ..defaults
    })
}

/// `--mode upsert` and `--key` go together: a usage error (exit 2) before anything is opened.
fn check_upsert_key(args: &LoadArgs) -> Result<()> {
    match loader_strategy::upsert_key_problem(load_mode(args.mode), &args.key) {
        Some(problem) => Err(crate::UsageError(problem.to_owned()).into()),
        None => Ok(()),
    }
}

fn load_mode(mode: Mode) -> LoadMode {
    match mode {
        Mode::Append => LoadMode::Append,
        Mode::Replace => LoadMode::Replace,
        Mode::Upsert => LoadMode::Upsert,
    }
}

fn csv_options(args: &CommonArgs) -> CsvOptions {
    let mut csv = CsvOptions::default()
        .quote(args.quote)
        .backslash_escape(args.escape == Escape::Backslash)
        .comment(args.comment)
        .null_markers(args.null.iter().map(|m| m.as_bytes().to_vec()))
        .quoted_empty_is_null(args.quoted_empty_is_null)
        .ragged_rows(args.ragged_rows)
        .skip_lines(args.skip_lines)
        .skip_footer(args.skip_footer)
        .snake_case_names(args.snake_case_names)
        .decimal_comma(args.decimal_comma)
        .thousands(args.thousands)
        .currency(args.currency)
        .date_format(args.date_format.clone())
        .timestamp_format(args.timestamp_format.clone())
        .encoding(match args.encoding {
            TextEncoding::Utf8 => Encoding::Utf8,
            TextEncoding::Latin1 => Encoding::Latin1,
            TextEncoding::Windows1252 => Encoding::Windows1252,
        })
        .has_headers(!args.no_header)
        .batch_rows(args.batch_rows as usize)
        .batch_bytes(args.batch_bytes as usize)
        .max_row_bytes(usize::try_from(args.max_row_bytes).unwrap_or(usize::MAX));
    if let Some(delimiter) = args.delimiter {
        csv = csv.delimiter(delimiter);
    }
    csv
}

fn probe() -> Result<Arc<dyn MemoryProbe>> {
    Ok(Arc::new(
        SysinfoProbe::new().context("reading memory figures")?,
    ))
}

/// Freed batch buffers stay in the allocator for the next batch, up to a thirty-second of
/// the memory limit and at most 32 MiB: without this, glibc faults every batch's pages in
/// afresh, a tenth of loader's CPU time. Pressure still returns them (`malloc_trim`).
fn keep_freed_memory(probe: &dyn MemoryProbe, explicit_limit: Option<u64>) {
    if let Ok(reading) = probe.read() {
        let limit = reading.effective_limit(explicit_limit).bytes;
        loader_memory::keep_freed_memory((limit / 32).clamp(1 << 20, 32 << 20));
    }
}

/// A service that can plan but never load.
pub(crate) fn planner(settings: LoadSettings) -> Result<DataLoadingService> {
    Ok(DataLoadingService::new(
        Arc::new(NoSink),
        Arc::new(NullAudit),
        probe()?,
        settings,
    ))
}

fn plan(args: CommonArgs) -> Result<ExitCode> {
    // The plan names the streams a load into PostgreSQL would use by default.
    let settings = LoadSettings {
        streams: Streams::IdleWorkers,
        ..settings(&args)?
    };
    let plan = planner(settings)?.plan(&args.paths)?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&plan_json(&plan))?);
    } else {
        print_plan(&plan);
    }
    Ok(plan_exit(&plan))
}

/// A plan with a file that cannot be loaded fails (1), as a load of it would.
pub(crate) fn plan_exit(plan: &LoadPlan) -> ExitCode {
    if plan.unread_files.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn load(args: LoadArgs, quiet: bool) -> Result<ExitCode> {
    // Arguments first: a usage error must not leave a database file behind.
    let policy = bad_row_policy(&args)?;
    check_upsert_key(&args)?;
    if let Some(address) = args.metrics_listen {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(address)
            .install()
            .with_context(|| format!("serving metrics on {address}"))?;
    }
    let target = Target::parse(&args.into)?;
    let hooks = CleanupHooks::new();
    let mut audits: Vec<Arc<dyn AuditSink>> = Vec::new();
    // The target's audit table takes events in groups, a transaction each instead of one per
    // event; the run ends by writing what it still holds.
    let mut table_trail: Option<Arc<BufferedAudit>> = None;
    if let Some(path) = &args.audit {
        audits.push(Arc::new(JsonlAudit::create(path)?));
    }
    let (sink, ledger): (Arc<dyn BatchSink>, Option<Arc<dyn Ledger>>) = match &target {
        _ if args.dry_run => (Arc::new(ValidateOnly::new(&target, &args).await), None),
        Target::Sqlite(path) => {
            let sink = Arc::new(SqliteSink::open(path)?);
            hooks.register(sink.cleanup_hook());
            if !args.no_audit_table {
                table_trail = Some(Arc::new(BufferedAudit::new(sink.audit_table())));
            }
            (sink.clone(), Some(sink))
        }
        Target::Postgres(url) => {
            // Each stream writes on its own connection; two more for the ledger and trail.
            // Automatic streams only use workers that files leave idle.
            let connections = args
                .common
                .workers
                .map_or(LoadSettings::default().workers, usize::from)
                * args.streams.map_or(1, usize::from)
                + 2;
            let sink = Arc::new(PgSink::connect(url, args.schema.as_deref(), connections).await?);
            if !args.no_audit_table {
                table_trail = Some(Arc::new(BufferedAudit::new(sink.audit_table())));
            }
            (sink.clone(), Some(sink))
        }
    };
    if let Some(trail) = &table_trail {
        audits.push(Arc::clone(trail) as Arc<dyn AuditSink>);
    }
    let audit: Arc<dyn AuditSink> = match audits.len() {
        0 => Arc::new(NullAudit),
        1 => audits.remove(0),
        _ => Arc::new(TeeAudit(audits)),
    };
    let json = args.common.json;
    let mut settings = settings(&args.common)?;
    settings.mode = load_mode(args.mode);
    settings.upsert_key.clone_from(&args.key);
    if settings.mode == LoadMode::Upsert {
        // A key in several files ends with the row of the file written last: one file at a
        // time, in the order given, makes that the last file named unless asked otherwise.
        if args.common.workers.is_none() {
            settings.workers = 1;
        }
        if args.common.order.is_none() {
            settings.order = loader_file::FileOrder::AsGiven;
        }
    }
    settings.force = args.force;
    settings.add_columns = args.add_columns;
    // Only PostgreSQL overlaps the writes of one file; SQLite's single writer and a dry run
    // take them one at a time, so they are given one stream whatever the workers.
    let overlaps = matches!(target, Target::Postgres(_)) && !args.dry_run;
    settings.streams = match args.streams {
        Some(streams) => Streams::PerFile(usize::from(streams)),
        // An upsert's files go one at a time; the writes of one file commit in order
        // whatever their streams, so each file takes two (1M rows into PostgreSQL: 3.0 s on
        // two streams against 3.7 s on one). Not more: writes at once that repeat a key
        // take turns (20,000 rows over 1,500 keys in 1,000-row sub-batches: 0.2 s on one
        // or two streams, 1.2 s on three).
        None if overlaps && settings.mode == LoadMode::Upsert => {
            Streams::PerFile(LoadSettings::default().workers.min(2))
        }
        None if overlaps => Streams::IdleWorkers,
        None => Streams::PerFile(1),
    };
    settings.csv = settings
        .csv
        .bad_rows(policy)
        // PostgreSQL text cannot hold NUL: such rows are bad rows, named before any write.
        .allow_nul(!matches!(target, Target::Postgres(_)));
    settings.rejects_file = args.rejects.clone();
    if args.dry_run {
        // Nothing is written: every CPU may read.
        settings.sink_cpus = 0;
    }
    let probe = probe()?;
    keep_freed_memory(probe.as_ref(), settings.memory_limit);
    let live = Arc::new(LiveProgress::new());
    let mut service = DataLoadingService::new(sink, audit, probe, settings)
        .with_cleanup_hooks(hooks)
        .with_live(Arc::clone(&live));
    if let Some(ledger) = ledger {
        service = service.with_ledger(ledger);
    }
    let stop = StopSignal::new();
    crate::signals::stop_on_signals(stop.clone());
    service = service.with_stop(stop.clone());
    let display = crate::progress::Display::start(live, crate::progress::Mode::choose(quiet));
    let report = service.load(&args.common.paths).await;
    display.finish();
    let trail_written = match &table_trail {
        Some(trail) => trail.flush().await,
        None => Ok(()),
    };
    let report = report?;
    trail_written.context("writing the audit table")?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else if !quiet {
        print_report(&report, &target, args.dry_run);
        if args.dry_run {
            crate::outln!(
                "dry run: every row was read and checked; nothing was written to {target}"
            );
        } else if report.rows_rejected() > 0 {
            let also = match &args.rejects {
                Some(file) => format!(", and in {} as CSV", file.display()),
                None => String::new(),
            };
            crate::outln!(
                "rejected rows are kept with their raw text in the _loader_quarantine table of \
                 {target}{also}"
            );
        }
    }
    if !report.is_success() {
        if let Some(error) = report.first_error() {
            eprintln!("error: {error}");
        }
        if stop.is_stopped() {
            return Ok(ExitCode::from(crate::signals::EXIT_STOPPED));
        }
        return Ok(ExitCode::FAILURE);
    }
    if report.rows_rejected() > 0 {
        return Ok(ExitCode::from(crate::EXIT_REJECTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--on-error` and the limits: a limit implies skip; a limit with fail is a usage error.
fn bad_row_policy(args: &LoadArgs) -> Result<BadRowPolicy> {
    let limited = args.max_errors.is_some() || args.max_error_ratio.is_some();
    let mut policy = match (args.on_error, limited) {
        (Some(OnError::Fail), true) => {
            return Err(crate::UsageError(
                "--max-errors and --max-error-ratio need --on-error skip".into(),
            )
            .into());
        }
        (Some(OnError::Fail), false) | (None, false) => return Ok(BadRowPolicy::fail()),
        (Some(OnError::Skip), _) | (None, true) => BadRowPolicy::skip(),
    };
    if let Some(n) = args.max_errors {
        policy = policy.max_errors(n);
    }
    if let Some(ratio) = args.max_error_ratio {
        policy = policy.max_error_ratio(ratio).map_err(crate::UsageError)?;
    }
    Ok(policy)
}

fn print_report(report: &LoadReport, target: &Target, dry_run: bool) {
    let loaded = report
        .files
        .iter()
        .filter(|f| f.state == FileState::Loaded)
        .count();
    let skipped = report
        .files
        .iter()
        .filter(|f| f.state == FileState::Skipped)
        .count();
    let empty = report
        .files
        .iter()
        .filter(|f| f.state == FileState::Empty)
        .count();
    let skipped = match (skipped, empty) {
        (0, 0) => String::new(),
        (skipped, 0) => format!(", {skipped} skipped as already loaded"),
        (0, empty) => format!(", {empty} empty"),
        (skipped, empty) => format!(", {skipped} skipped as already loaded, {empty} empty"),
    };
    // A dry run writes nothing: its rows were checked against the target, not loaded into it.
    let (done, into) = if dry_run {
        ("checked (dry run)", "against")
    } else {
        ("loaded", "into")
    };
    crate::outln!(
        "{done} {} from {} of {}{skipped} ({}) {into} {target} in {} ({} rows/s, {}/s), run {}",
        counted(report.rows_loaded(), "row"),
        loaded,
        counted(report.files.len() as u64, "file"),
        bytes(report.input_bytes()),
        seconds(report.duration),
        rate(report.rows_loaded(), report.duration),
        bytes((report.input_bytes() as f64 / report.duration.as_secs_f64().max(1e-9)) as u64),
        report.run_id,
    );
    // The first error closes the report; when several files failed, each one's stands under
    // its line too.
    let failed = report.files.iter().filter(|f| f.error.is_some()).count();
    for file in &report.files {
        let state = match file.state {
            FileState::Loaded => "ok",
            FileState::Failed => "FAILED",
            FileState::NotStarted => "not started",
            FileState::Stopped => "STOPPED",
            FileState::Skipped => "skip",
            // Nothing was read: the line is only what the note says.
            FileState::Empty => {
                let note = file.note.as_deref().unwrap_or_default();
                crate::outln!("  empty  {}: {note}", file.path.display());
                continue;
            }
        };
        crate::outln!(
            "  {state:<6} {} -> {:?}: {} read, {} {}, {} rejected, {} skipped, {}, memory {} estimated / {} measured{}",
            file.path.display(),
            file.table,
            counted(file.rows_read, "row"),
            count(file.rows_loaded),
            if dry_run { "accepted" } else { "loaded" },
            count(file.rows_rejected),
            count(file.rows_skipped),
            seconds(file.duration),
            bytes(file.estimated_peak),
            bytes(file.measured_peak),
            if file.fell_back {
                ", finished sequentially"
            } else {
                ""
            },
        );
        if let Some(error) = file.error.as_ref().filter(|_| failed > 1) {
            crate::outln!("         error: {error}");
        }
        if let Some(note) = &file.note {
            crate::outln!("         {note}");
        }
        if let Some(rejected) = rejected_line(file) {
            crate::outln!("         {rejected}");
        }
    }
    crate::outln!(
        "memory: limit {} ({}), budget {}, peak reserved {}, peak rss {}",
        bytes(report.memory_limit),
        report.memory_limit_source,
        bytes(report.budget),
        bytes(report.peak_reserved),
        bytes(report.peak_rss),
    );
    if let Some(reason) = &report.fallback {
        crate::outln!(
            "fallback: the concurrent pool failed ({reason}); remaining files ran sequentially"
        );
    }
    if !report.pressure_changes.is_empty() {
        crate::outln!("pressure: {}", report.pressure_changes.join(", "));
    }
    for cleanup in &report.cleanups {
        crate::outln!(
            "cleanup: {} freed {} (rss {} -> {})",
            cleanup.name,
            bytes(
                cleanup
                    .rss_before
                    .saturating_sub(cleanup.rss_after)
                    .max(cleanup.reported)
            ),
            bytes(cleanup.rss_before),
            bytes(cleanup.rss_after),
        );
    }
}

/// What a file's rejected rows were: how many of each kind, and the first of them
/// (`rejected: 2 refused, 1 field_count; first at line 4 (refused): t: UNIQUE constraint
/// failed: t.id`).
fn rejected_line(file: &loader_strategy::FileReport) -> Option<String> {
    let first = file.first_reject.as_ref()?;
    let kinds: Vec<String> = file
        .rejected_by_kind
        .iter()
        .map(|counted| format!("{} {}", count(counted.rows), counted.kind))
        .collect();
    // The message names the column where one is to blame.
    Some(format!(
        "rejected: {}; first at line {} ({}): {}",
        kinds.join(", "),
        first.line,
        first.kind,
        first.message
    ))
}

fn print_plan(plan: &LoadPlan) {
    let total: u64 = plan.files.iter().map(|f| f.size).sum();
    crate::outln!(
        "{}, {}, {}, {} per file if loaded into PostgreSQL; memory limit {} ({}), budget {}",
        counted(plan.files.len() as u64, "file"),
        bytes(total),
        counted(plan.workers as u64, "worker"),
        counted(plan.streams_per_file as u64, "COPY stream"),
        bytes(plan.limit.bytes),
        plan.limit.source.as_str(),
        bytes(plan.budget),
    );
    crate::outln!(
        "{:>3}  {:<40} {:>10} {:>12} {:>4} {:>10} {:>10}  table",
        "#",
        "file",
        "size",
        "rows (est)",
        "cols",
        "batch",
        "est. peak"
    );
    for (i, file) in plan.files.iter().enumerate() {
        crate::outln!(
            "{:>3}  {:<40} {:>10} {:>12} {:>4} {:>10} {:>10}  {}",
            i + 1,
            file.path.display(),
            bytes(file.size),
            count(file.sample.estimated_rows()),
            file.sample.schema.len(),
            bytes(file.estimate.batch_heap),
            bytes(file.estimate.peak),
            file.table,
        );
    }
    for file in &plan.files {
        let columns: Vec<String> = file
            .sample
            .schema
            .columns()
            .iter()
            .map(|c| format!("{} {}", c.name, c.ty))
            .collect();
        crate::outln!("{}: {}", file.path.display(), columns.join(", "));
        for (column, from, to) in &file.sample.renamed {
            crate::outln!("  column {column}: header {from:?} renamed to {to:?}");
        }
        for note in file.sample_notes() {
            crate::outln!("  {note}");
        }
    }
    for file in &plan.empty_files {
        crate::outln!(
            "{}: empty, no header and no rows: nothing to load",
            file.path.display()
        );
    }
    print_unread(plan);
}

/// The files a plan could not sample, each with its error and what gets past it.
pub(crate) fn print_unread(plan: &LoadPlan) {
    for file in &plan.unread_files {
        crate::outln!("{}: cannot be loaded: {}", file.path.display(), file.error);
        if let Some(remedy) = &file.remedy {
            crate::outln!("  {remedy}");
        }
    }
}

fn plan_json(plan: &LoadPlan) -> serde_json::Value {
    serde_json::json!({
        "memory_limit": plan.limit.bytes,
        "memory_limit_source": plan.limit.source.as_str(),
        "budget": plan.budget,
        "workers": plan.workers,
        "streams_per_file": plan.streams_per_file,
        "files": plan.files.iter().map(|f| serde_json::json!({
            "path": f.path,
            "size": f.size,
            "table": f.table,
            "estimated_rows": f.sample.estimated_rows(),
            "columns": f.sample.schema.columns(),
            "batch_heap": f.estimate.batch_heap,
            "estimated_peak": f.estimate.peak,
        })).collect::<Vec<_>>(),
        "empty_files": plan.empty_files.iter().map(|f| serde_json::json!({
            "path": f.path,
            "size": f.size,
            "table": f.table,
        })).collect::<Vec<_>>(),
        "unread_files": plan.unread_files.iter().map(|f| serde_json::json!({
            "path": f.path,
            "size": f.size,
            "table": f.table,
            "error": f.error,
            "remedy": f.remedy,
        })).collect::<Vec<_>>(),
    })
}

/// `load --dry-run`: rows are read and checked, and accepted here without going anywhere.
struct ValidateOnly {
    /// The target's existing tables, read only: fields are checked against their types as a
    /// load would check them.
    tables: Option<ReadOnlyTables>,
}

impl ValidateOnly {
    async fn new(target: &Target, args: &LoadArgs) -> Self {
        match ReadOnlyTables::open(target, args.schema.as_deref()).await {
            Ok(tables) => ValidateOnly {
                tables: Some(tables),
            },
            Err(error) => {
                eprintln!(
                    "note: dry run: cannot look at {target} ({error}); fields are checked \
                     against the types sampled from the files, not those of existing tables"
                );
                ValidateOnly { tables: None }
            }
        }
    }
}

#[async_trait::async_trait]
impl BatchSink for ValidateOnly {
    async fn prepare(&self, _: &loader_batch::LoadTarget) -> Result<(), loader_batch::SinkError> {
        Ok(())
    }

    async fn table_columns(
        &self,
        target: &loader_batch::LoadTarget,
    ) -> Result<Option<Vec<loader_batch::TableColumn>>, loader_batch::SinkError> {
        match &self.tables {
            Some(tables) => tables.columns_of(&target.table).await,
            None => Ok(None),
        }
    }

    async fn check_upsert_key(
        &self,
        target: &loader_batch::LoadTarget,
    ) -> Result<(), loader_batch::SinkError> {
        match &self.tables {
            Some(tables) => tables.check_upsert_key(target).await,
            None => Ok(()),
        }
    }

    /// A dry run changes no table: the file's rows are checked as if its columns were added.
    async fn add_columns(
        &self,
        _: &loader_batch::LoadTarget,
        _: &[loader_batch::Column],
    ) -> Result<bool, loader_batch::SinkError> {
        Ok(false)
    }

    async fn write(
        &self,
        _: &loader_batch::LoadTarget,
        _: &loader_batch::RowBatch,
        rows: std::ops::Range<usize>,
    ) -> Result<u64, loader_batch::SinkError> {
        Ok(rows.len() as u64)
    }
}

/// `plan` never writes; this sink makes that a type-level fact.
struct NoSink;

#[async_trait::async_trait]
impl BatchSink for NoSink {
    async fn prepare(&self, _: &loader_batch::LoadTarget) -> Result<(), loader_batch::SinkError> {
        Err(loader_batch::SinkError::terminal("plan does not load"))
    }

    async fn write(
        &self,
        _: &loader_batch::LoadTarget,
        _: &loader_batch::RowBatch,
        _: std::ops::Range<usize>,
    ) -> Result<u64, loader_batch::SinkError> {
        Err(loader_batch::SinkError::terminal("plan does not load"))
    }
}
