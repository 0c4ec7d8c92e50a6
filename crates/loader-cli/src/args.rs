use clap::{Args, Parser, Subcommand, ValueEnum};
use loader_batch::ColumnType;
use loader_memory::parse_byte_size;
use std::path::PathBuf;

/// Load CSV files into SQLite or PostgreSQL within a memory budget, with an audit trail.
#[derive(Debug, Parser)]
#[command(
    name = "loader",
    version,
    about,
    propagate_version = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Settings file (TOML, keys named like the long flags: `memory-limit = "512MiB"`);
    /// default: ./loader.toml when it exists. Flags win over LOADER_* environment variables,
    /// which win over the file, which wins over the defaults.
    #[arg(long, global = true, value_name = "FILE", env = "LOADER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print only errors: no progress, no summary (the exit code tells the outcome).
    #[arg(short, long, global = true, env = "LOADER_QUIET")]
    pub quiet: bool,
    /// More log output on stderr: -v for each file's start and end, -vv for batches (RUST_LOG,
    /// when set, wins).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

const AFTER_HELP: &str = "\
Exit codes:
  0  every file loaded
  1  a file or the run failed (the message names file, line and column where it can)
  2  usage error
  3  every file loaded, but some rows were rejected into the quarantine (--on-error skip)

Environment: every long option can be set as LOADER_<NAME> (LOADER_MEMORY_LIMIT=512MiB);
NO_COLOR turns colour off; RUST_LOG filters log output.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load CSV files (files, directories, glob patterns) into a database.
    #[command(
        after_help = "Example:\n  loader load data/ --into sqlite:orders.db --memory-limit 256MiB --audit audit.jsonl"
    )]
    Load(LoadArgs),
    /// Show the files, their order, sizes, columns and memory estimates without loading.
    #[command(after_help = "Example:\n  loader plan 'exports/*.csv' --memory-limit 64MiB")]
    Plan(CommonArgs),
    /// List past runs from the target's ledger, or show one run with its files and events.
    #[command(
        after_help = "Examples:\n  loader history --into sqlite:orders.db\n  loader history 20261128141500123-1f2a00 --into sqlite:orders.db"
    )]
    History(HistoryArgs),
    /// Show a file's dialect (delimiter, quote, header, encoding, compression) and the schema
    /// inferred from a sample, with the types --column or --schema-file would override.
    #[command(
        after_help = "Examples:\n  loader schema exports/orders.csv.gz --null NA\n  loader schema exports/orders.csv --ddl postgres > orders.sql"
    )]
    Schema(SchemaArgs),
    /// Write the report of a past run: an HTML page with charts from its audit trail
    /// (throughput, memory against the budget and the limit, per-file bars, events), or JSON.
    #[command(
        after_help = "Example:\n  loader report 20261128141500123-1f2a00 --into sqlite:orders.db --html run.html"
    )]
    Report(ReportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Example:\n  loader completions bash > /etc/bash_completion.d/loader")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `loader schema`'s arguments.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Print instead the CREATE TABLE statement loader would run for each table, in this
    /// database's types: to make the table first (with constraints of your own) and load
    /// into it. A table several files go to (--table) is shown once, from the first file
    /// planned for it (the largest, in the default order).
    #[arg(long, value_enum, value_name = "DATABASE")]
    pub ddl: Option<Ddl>,
}

/// The database a `CREATE TABLE` statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ddl {
    Sqlite,
    Postgres,
}

/// Where a ledger is read from (`history`, `report`).
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// The database whose ledger to read: sqlite:FILE, a .db/.sqlite path or a postgres:// URL.
    #[arg(
        long,
        value_name = "TARGET",
        default_value = "sqlite:loader.db",
        env = "LOADER_INTO"
    )]
    pub into: String,
    /// PostgreSQL schema of the ledger.
    #[arg(long, value_name = "NAME", env = "LOADER_SCHEMA")]
    pub schema: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run (see `loader history`); the latest run when left out.
    #[arg(value_name = "RUN_ID")]
    pub run: Option<String>,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// Write the report as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the run, its files and its events as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The run to show (from the list); without it, every run is listed.
    #[arg(value_name = "RUN_ID")]
    pub run: Option<String>,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// Print JSON instead of text.
    #[arg(long, env = "LOADER_JSON")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where to load: sqlite:FILE, a .db/.sqlite path, or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (also postgresql://; parts left out come from PGHOST, PGPORT, PGUSER, PGPASSWORD,
    /// PGDATABASE). TLS as libpq: `?sslmode=prefer` (default), require, verify-ca or
    /// verify-full with `&sslrootcert=FILE`, or disable; `&sslcert=FILE&sslkey=FILE` for a client
    /// certificate. Passwords are never printed.
    #[arg(
        long,
        value_name = "TARGET",
        default_value = "sqlite:loader.db",
        env = "LOADER_INTO"
    )]
    pub into: String,
    /// PostgreSQL schema for the tables and the ledger (created when missing).
    #[arg(long, value_name = "NAME", env = "LOADER_SCHEMA")]
    pub schema: Option<String>,
    /// COPY streams per file into PostgreSQL, each on its own connection, committed in row
    /// order [default: the workers fewer files leave idle, so one file on 2 workers gets 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64), env = "LOADER_STREAMS")]
    pub streams: Option<u16>,
    /// Write audit events (batches, sub-batches, retries, fallbacks) as JSON lines to FILE,
    /// besides the audit table in the target.
    #[arg(long, value_name = "FILE", env = "LOADER_AUDIT")]
    pub audit: Option<PathBuf>,
    /// Do not write audit events to the target's `_loader_audit` table.
    #[arg(long, env = "LOADER_NO_AUDIT_TABLE")]
    pub no_audit_table: bool,
    /// append: add rows, skipping content already loaded and resuming a load that died;
    /// replace: empty each target table first (in the same transaction as the first write);
    /// upsert: as append, but a row whose --key the table holds replaces that row (files then
    /// load one at a time, in the order given, so the last file's row wins).
    #[arg(long, value_enum, default_value_t = Mode::Append, env = "LOADER_MODE")]
    pub mode: Mode,
    /// The column(s) that identify a row, for --mode upsert (comma-separated or repeated:
    /// `--key region,id`). A new table gets them as its key (unique, NOT NULL); an existing
    /// table needs a unique index on exactly them.
    #[arg(long, value_name = "COLUMN", value_delimiter = ',', env = "LOADER_KEY")]
    pub key: Vec<String>,
    /// Load content again even if the ledger holds it as complete.
    #[arg(long, env = "LOADER_FORCE")]
    pub force: bool,
    /// Add the columns a file's header names and its existing table lacks (nullable, typed
    /// as sampled), as exports gain columns over time. Without this such a file stops before
    /// a row is read, naming the column.
    #[arg(long, env = "LOADER_ADD_COLUMNS")]
    pub add_columns: bool,
    /// What to do with a row that does not fit its columns (wrong field count, a value not of
    /// the column's type, invalid UTF-8, a NUL byte PostgreSQL cannot store, a last row whose
    /// quoted field never closes): fail stops the
    /// file at the first one with its line and column; skip quarantines it in the target's
    /// `_loader_quarantine` table (with its raw text) and goes on. Default: fail, or skip
    /// when a limit below is given.
    #[arg(long, value_enum, value_name = "POLICY", env = "LOADER_ON_ERROR")]
    pub on_error: Option<OnError>,
    /// With skip: stop a file when more than N of its rows are rejected; rows before the
    /// N+1th bad row are loaded.
    #[arg(long, value_name = "N", env = "LOADER_MAX_ERRORS")]
    pub max_errors: Option<u64>,
    /// With skip: stop a file when more than this share of its rows (0 to 1) are rejected,
    /// checked as each batch is read; the batch that crosses it is not loaded.
    #[arg(long, value_name = "RATIO", value_parser = ratio, env = "LOADER_MAX_ERROR_RATIO")]
    pub max_error_ratio: Option<f64>,
    /// Also write the quarantined rows to FILE as CSV: file, line, byte, column, column_name,
    /// kind, message and raw (the row exactly as read).
    #[arg(long, value_name = "FILE", env = "LOADER_REJECTS")]
    pub rejects: Option<PathBuf>,
    /// Serve metrics for Prometheus at http://ADDR/metrics while the load runs (rows, bytes,
    /// batches, retries, rejects, sub-batch latency, memory in use, pressure level).
    #[arg(long, value_name = "ADDR", env = "LOADER_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Read and check every row (field counts, types, encoding, the bad-row policy) against
    /// the target's existing tables, which are only read (when the target cannot be reached,
    /// against the sampled types, with a note): nothing is written, no ledger is kept.
    #[arg(long, env = "LOADER_DRY_RUN")]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    Fail,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Append,
    Replace,
    Upsert,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Input files, directories (searched recursively for .csv/.tsv/.txt), glob patterns, or
    /// `-` for standard input (copied to a file under $TMPDIR first).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Load every file into this one table (default: one table per file, named after it).
    #[arg(long, value_name = "NAME", env = "LOADER_TABLE")]
    pub table: Option<String>,
    /// Files loaded at once (default: number of CPUs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), env = "LOADER_WORKERS")]
    pub workers: Option<u16>,
    /// Threads reading one large plain file in parts (default: the CPUs left to each file
    /// after one for the database; every CPU for --dry-run).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), env = "LOADER_READ_THREADS")]
    pub read_threads: Option<u16>,
    /// Memory limit for the whole process, e.g. 64MiB or 2GB (default: physical or cgroup limit).
    #[arg(long, value_name = "SIZE", value_parser = size, env = "LOADER_MEMORY_LIMIT")]
    pub memory_limit: Option<u64>,
    /// Share of the effective memory limit given to row batches; the rest is left to the
    /// database engine, buffers and the program.
    #[arg(long, value_name = "SHARE", default_value_t = 0.5, value_parser = share, env = "LOADER_BUDGET_SHARE")]
    pub budget_share: f64,
    /// Shares of the memory limit at which pressure becomes elevated, high and critical
    /// (default 0.70,0.85,0.95); lower them to react earlier.
    #[arg(long, value_name = "E,H,C", value_parser = thresholds, env = "LOADER_PRESSURE_THRESHOLDS")]
    pub pressure_thresholds: Option<[f64; 3]>,
    /// Most rows in one batch read from a file.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..), env = "LOADER_BATCH_ROWS")]
    pub batch_rows: u64,
    /// Most field bytes in one batch (cut further to fit the memory budget).
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = size, env = "LOADER_BATCH_BYTES")]
    pub batch_bytes: u64,
    /// Most rows in one sub-batch, i.e. one transaction.
    #[arg(long, value_name = "N", default_value_t = loader_batch::DEFAULT_SUB_BATCH_ROWS as u64, value_parser = clap::value_parser!(u64).range(1..), env = "LOADER_SUB_BATCH_ROWS")]
    pub sub_batch_rows: u64,
    /// File order: largest first (best on a pool), smallest first, or as given (paths in the
    /// order named, a directory's files by name) [default: largest; given with --mode upsert].
    #[arg(long, value_enum, env = "LOADER_ORDER")]
    pub order: Option<Order>,
    /// Field delimiter, one ASCII character ('\t' or tab for tab). Sniffed from each file
    /// (comma, semicolon, tab, pipe) when not given.
    #[arg(long, value_name = "CHAR", value_parser = one_char, env = "LOADER_DELIMITER")]
    pub delimiter: Option<u8>,
    /// Quote character.
    #[arg(long, value_name = "CHAR", default_value = "\"", value_parser = one_char, env = "LOADER_QUOTE")]
    pub quote: u8,
    /// How a quote is written inside quotes: doubled ("") or with a backslash (\").
    #[arg(long, value_enum, default_value_t = Escape::Double, env = "LOADER_ESCAPE")]
    pub escape: Escape,
    /// Skip lines starting with this character.
    #[arg(long, value_name = "CHAR", value_parser = one_char, env = "LOADER_COMMENT")]
    pub comment: Option<u8>,
    /// A field equal to MARKER is NULL, like an empty one (repeat for several: --null NA --null '\N').
    #[arg(long = "null", value_name = "MARKER")]
    pub null: Vec<String>,
    /// A quoted empty field ("") is NULL too. Without this it is an empty string in a text
    /// column, as PostgreSQL's COPY reads it; use it for files that quote every field,
    /// NULLs included.
    #[arg(long, env = "LOADER_QUOTED_EMPTY_IS_NULL")]
    pub quoted_empty_is_null: bool,
    /// Read rows ragged the way exports make them: a row with fewer fields than the header
    /// has the missing ones NULL, and empty fields past the header's count (a trailing
    /// delimiter) are dropped. Without this such rows are bad rows; a row with more fields
    /// that are not all empty is one either way.
    #[arg(long, env = "LOADER_RAGGED_ROWS")]
    pub ragged_rows: bool,
    /// Lines to pass over at the start of each file, whatever they hold, before its header:
    /// the title and blank lines a report puts above its table. Line numbers stay the file's.
    #[arg(long, value_name = "N", default_value_t = 0, env = "LOADER_SKIP_LINES")]
    pub skip_lines: u64,
    /// Lines at the end of each file that are not rows: the totals and notes a report puts
    /// below its table (blank lines after them go with them). Never read, in the sample
    /// either; such a file is read by one thread, and a load that died reads it again up to
    /// where it resumes.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "LOADER_SKIP_FOOTER"
    )]
    pub skip_footer: u64,
    /// Numbers are written with a decimal comma, as spreadsheets in most of Europe export
    /// them: 1.234,5 is 1234.5 in integer, real and PostgreSQL numeric columns (and when
    /// types are inferred), a point only groups thousands, and a point that groups none
    /// (1.5) is a bad row.
    #[arg(long, env = "LOADER_DECIMAL_COMMA")]
    pub decimal_comma: bool,
    /// The character that groups the digits of numbers in thousands: , for 1,234.5, or a
    /// space (' ') for 1 234,5 with --decimal-comma (whose own is a point). Read in integer
    /// and real columns and when types are inferred; one that groups no thousands is a bad
    /// row.
    #[arg(long, value_name = "CHAR", value_parser = one_char, env = "LOADER_THOUSANDS")]
    pub thousands: Option<u8>,
    /// The currency sign amounts carry, before or after the number ($1,234.50, 12,50 €,
    /// -$5 or ($5.00) for -5): read as numbers in integer, real and PostgreSQL numeric
    /// columns and when types are inferred, in the notation --decimal-comma and --thousands
    /// say (a value without the sign reads as a number too).
    #[arg(long, value_name = "SIGN", value_parser = loader_file::Currency::new, env = "LOADER_CURRENCY")]
    pub currency: Option<loader_file::Currency>,
    /// The format dates are written in when not as 2024-01-31, in chrono's strftime terms:
    /// %d.%m.%Y (31.01.2024), %m/%d/%Y (1/31/2024). Such values are dates, inferred and
    /// loaded as such; ISO dates are read too.
    #[arg(long, value_name = "FORMAT", value_parser = date_format, env = "LOADER_DATE_FORMAT")]
    pub date_format: Option<String>,
    /// The format timestamps are written in when not as 2024-01-31 13:45:00, as for
    /// --date-format: "%d.%m.%Y %H:%M", "%m/%d/%Y %I:%M %p"; with %z, an offset.
    #[arg(long, value_name = "FORMAT", value_parser = timestamp_format, env = "LOADER_TIMESTAMP_FORMAT")]
    pub timestamp_format: Option<String>,
    /// Text encoding of the files, converted to UTF-8.
    #[arg(long, value_enum, default_value_t = TextEncoding::Utf8, env = "LOADER_ENCODING")]
    pub encoding: TextEncoding,
    /// A column type that wins over inference, as NAME:TYPE (integer, real, boolean, date,
    /// timestamp, text); repeat for several.
    #[arg(long = "column", value_name = "NAME:TYPE", value_parser = column_type)]
    pub columns: Vec<(String, ColumnType)>,
    /// Load a column under another name, as FROM=TO: FROM as the header names it (as
    /// `loader schema` shows it; column_N without a header), TO the table's column. Repeat
    /// for several; they apply together (a=b with b=a swaps). `--column` takes either name.
    #[arg(long = "rename", value_name = "FROM=TO", value_parser = rename)]
    pub renames: Vec<(String, String)>,
    /// A column not to load, by the header's name (or the name it is loaded under): the
    /// files that have it load their other columns. Repeat for several.
    #[arg(long = "skip-column", value_name = "NAME")]
    pub skip_columns: Vec<String>,
    /// Name columns and the tables made from file names in snake case, as queries can give
    /// them without quotes: header `Order ID` makes column order_id, `Sales Report.csv`
    /// table sales_report. --rename and --column take the header's name or this one.
    #[arg(long, env = "LOADER_SNAKE_CASE_NAMES")]
    pub snake_case_names: bool,
    /// Column types from a TOML file with a `[columns]` table (`amount = "real"`); `--column`
    /// wins over the file, and both win over inference.
    #[arg(long, value_name = "FILE", env = "LOADER_SCHEMA_FILE")]
    pub schema_file: Option<PathBuf>,
    /// Longest row accepted, in bytes as read; a longer one stops its file before it is held
    /// in memory (at most a quarter of the memory budget either way).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = size, env = "LOADER_MAX_ROW_BYTES")]
    pub max_row_bytes: u64,
    /// The first line is data, not a header (columns are then column_1, column_2, ...).
    #[arg(long, env = "LOADER_NO_HEADER")]
    pub no_header: bool,
    /// Print the result as one JSON document instead of text.
    #[arg(long, env = "LOADER_JSON")]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Escape {
    Double,
    Backslash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextEncoding {
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    #[value(name = "latin1", alias = "iso-8859-1")]
    Latin1,
    #[value(name = "windows-1252", alias = "cp1252")]
    Windows1252,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Order {
    Largest,
    Smallest,
    Given,
}

fn size(text: &str) -> Result<u64, String> {
    parse_byte_size(text).map_err(|e| e.to_string())
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err("expected a share between 0 (excluded) and 1, e.g. 0.5".to_owned()),
    }
}

fn ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a share between 0 and 1, e.g. 0.01".to_owned()),
    }
}

fn thresholds(text: &str) -> Result<[f64; 3], String> {
    let values: Vec<f64> = text
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| format!("{v:?} is not a number"))
        })
        .collect::<Result<_, _>>()?;
    match values[..] {
        [e, h, c] if 0.0 < e && e < h && h < c && c <= 1.0 => Ok([e, h, c]),
        _ => Err("expected three rising shares in (0, 1], e.g. 0.7,0.85,0.95".to_owned()),
    }
}

fn column_type(text: &str) -> Result<(String, ColumnType), String> {
    let (name, ty) = text
        .rsplit_once(':')
        .ok_or_else(|| "expected NAME:TYPE, e.g. amount:real".to_owned())?;
    let ty = ColumnType::from_name(ty).ok_or_else(|| {
        format!("unknown type {ty:?} (integer, real, boolean, date, timestamp, text)")
    })?;
    Ok((name.to_owned(), ty))
}

fn rename(text: &str) -> Result<(String, String), String> {
    // At the last `=`: a header may hold one, and a table column named with one is rarer.
    // Trimmed, as header names are.
    match text
        .rsplit_once('=')
        .map(|(from, to)| (from.trim(), to.trim()))
    {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => {
            Ok((from.to_owned(), to.to_owned()))
        }
        _ => Err("expected FROM=TO, e.g. \"Order ID=order_id\"".to_owned()),
    }
}

fn date_format(text: &str) -> Result<String, String> {
    loader_file::check_format(text, false).map(|()| text.to_owned())
}

fn timestamp_format(text: &str) -> Result<String, String> {
    loader_file::check_format(text, true).map(|()| text.to_owned())
}

fn one_char(text: &str) -> Result<u8, String> {
    match text {
        "\\t" | "tab" => Ok(b'\t'),
        _ if text.len() == 1 && text.is_ascii() => Ok(text.as_bytes()[0]),
        _ => Err("expected one ASCII character, or \\t".to_owned()),
    }
}
