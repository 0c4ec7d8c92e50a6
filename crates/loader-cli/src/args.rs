use clap::{Args, Parser, Subcommand, ValueEnum};
use loader_batch::ColumnType;
use loader_memory::parse_byte_size;
use std::path::PathBuf;

/// Load CSV files into SQLite or PostgreSQL within a memory budget, with an audit trail.
#[derive(Debug, Parser)]
#[command(name = "loader", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

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
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The run to show (from the list); without it, every run is listed.
    #[arg(value_name = "RUN_ID")]
    pub run: Option<String>,
    /// The database whose ledger to read: sqlite:FILE, a .db/.sqlite path or a postgres:// URL.
    #[arg(long, value_name = "TARGET", default_value = "sqlite:loader.db")]
    pub into: String,
    /// PostgreSQL schema of the ledger.
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where to load: sqlite:FILE, a .db/.sqlite path, or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (also postgresql://; parts left out come from PGHOST, PGPORT, PGUSER, PGPASSWORD,
    /// PGDATABASE). Passwords are never printed.
    #[arg(long, value_name = "TARGET", default_value = "sqlite:loader.db")]
    pub into: String,
    /// PostgreSQL schema for the tables and the ledger (created when missing).
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Write audit events (batches, sub-batches, retries, fallbacks) as JSON lines to FILE,
    /// besides the audit table in the target.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Do not write audit events to the target's `_loader_audit` table.
    #[arg(long)]
    pub no_audit_table: bool,
    /// append: add rows, skipping content already loaded and resuming a load that died;
    /// replace: empty each target table first (in the same transaction as the first write).
    #[arg(long, value_enum, default_value_t = Mode::Append)]
    pub mode: Mode,
    /// Load content again even if the ledger holds it as complete.
    #[arg(long)]
    pub force: bool,
    /// What to do with a row that does not fit its columns (wrong field count, a value not of
    /// the column's type, invalid UTF-8, a NUL byte PostgreSQL cannot store): fail stops the
    /// file at the first one with its line and column; skip quarantines it in the target's
    /// `_loader_quarantine` table (with its raw text) and goes on. Default: fail, or skip
    /// when a limit below is given.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub on_error: Option<OnError>,
    /// With skip: stop a file when more than N of its rows are rejected; rows before the
    /// N+1th bad row are loaded.
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,
    /// With skip: stop a file when more than this share of its rows (0 to 1) are rejected,
    /// checked as each batch is read; the batch that crosses it is not loaded.
    #[arg(long, value_name = "RATIO", value_parser = ratio)]
    pub max_error_ratio: Option<f64>,
    /// Also write the quarantined rows to FILE as CSV: file, line, byte, column, column_name,
    /// kind, message and raw (the row exactly as read).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
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
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Input files, directories (searched recursively for .csv/.tsv/.txt) or glob patterns.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Load every file into this one table (default: one table per file, named after it).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Files loaded at once (default: number of CPUs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// Memory limit for the whole process, e.g. 64MiB or 2GB (default: physical or cgroup limit).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub memory_limit: Option<u64>,
    /// Share of the effective memory limit given to row batches; the rest is left to the
    /// database engine, buffers and the program.
    #[arg(long, value_name = "SHARE", default_value_t = 0.5, value_parser = share)]
    pub budget_share: f64,
    /// Shares of the memory limit at which pressure becomes elevated, high and critical
    /// (default 0.70,0.85,0.95); lower them to react earlier.
    #[arg(long, value_name = "E,H,C", value_parser = thresholds)]
    pub pressure_thresholds: Option<[f64; 3]>,
    /// Most rows in one batch read from a file.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_rows: u64,
    /// Most field bytes in one batch (cut further to fit the memory budget).
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = size)]
    pub batch_bytes: u64,
    /// Most rows in one sub-batch, i.e. one transaction.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub sub_batch_rows: u64,
    /// File order: largest first (best on a pool), smallest first, or as given.
    #[arg(long, value_enum, default_value_t = Order::Largest)]
    pub order: Order,
    /// Field delimiter, one ASCII character ('\t' or tab for tab). Sniffed from each file
    /// (comma, semicolon, tab, pipe) when not given.
    #[arg(long, value_name = "CHAR", value_parser = one_char)]
    pub delimiter: Option<u8>,
    /// Quote character.
    #[arg(long, value_name = "CHAR", default_value = "\"", value_parser = one_char)]
    pub quote: u8,
    /// How a quote is written inside quotes: doubled ("") or with a backslash (\").
    #[arg(long, value_enum, default_value_t = Escape::Double)]
    pub escape: Escape,
    /// Skip lines starting with this character.
    #[arg(long, value_name = "CHAR", value_parser = one_char)]
    pub comment: Option<u8>,
    /// A field equal to MARKER is NULL, like an empty one (repeat for several: --null NA --null '\N').
    #[arg(long = "null", value_name = "MARKER")]
    pub null: Vec<String>,
    /// Text encoding of the files, converted to UTF-8.
    #[arg(long, value_enum, default_value_t = TextEncoding::Utf8)]
    pub encoding: TextEncoding,
    /// A column type that wins over inference, as NAME:TYPE (integer, real, boolean, date,
    /// timestamp, text); repeat for several.
    #[arg(long = "column", value_name = "NAME:TYPE", value_parser = column_type)]
    pub columns: Vec<(String, ColumnType)>,
    /// Column types from a TOML file with a `[columns]` table (`amount = "real"`); `--column`
    /// wins over the file, and both win over inference.
    #[arg(long, value_name = "FILE")]
    pub schema_file: Option<PathBuf>,
    /// Longest row accepted, in bytes as read; a longer one stops its file before it is held
    /// in memory (at most a quarter of the memory budget either way).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = size)]
    pub max_row_bytes: u64,
    /// The first line is data, not a header (columns are then column_1, column_2, ...).
    #[arg(long)]
    pub no_header: bool,
    /// Print the result as one JSON document instead of text.
    #[arg(long)]
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

fn one_char(text: &str) -> Result<u8, String> {
    match text {
        "\\t" | "tab" => Ok(b'\t'),
        _ if text.len() == 1 && text.is_ascii() => Ok(text.as_bytes()[0]),
        _ => Err("expected one ASCII character, or \\t".to_owned()),
    }
}
