//! The `loader` command: memory-aware bulk loading of CSV files into SQLite and PostgreSQL.
//!
//! This is the only crate of the workspace that prints. Exit codes: 0 when every file
//! loaded, 1 when a file or the run failed (the message names file, line and column where it
//! can), 2 for a usage error, 3 when every file was loaded but some rows were rejected and
//! quarantined (`--on-error skip`), 130 when Ctrl-C or SIGTERM stopped a load before every
//! file finished.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod config;
mod format;
mod history;
mod load;
mod logging;
mod output;
mod progress;
mod report;
mod schema;
mod signals;
mod stdin;

use clap::FromArgMatches;
use std::process::ExitCode;

/// Exit code of a load that completed with rejected rows in quarantine.
pub(crate) const EXIT_REJECTED: u8 = 3;

/// Exit code of a usage error (clap's own).
const EXIT_USAGE: u8 = 2;

/// A combination of arguments clap cannot refuse by itself.
#[derive(Debug)]
pub(crate) struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// An error and its causes, each after a colon, leaving out a cause whose text the message
/// already holds: most of loader's errors name their cause in their own message
/// (`data.csv.gz: incomplete deflate stream`), and anyhow's `{:#}` said it twice.
fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = match config::command(&argv) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let cli = match command
        .try_get_matches_from(&argv)
        .and_then(|m| args::Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        // Help and version exit 0; usage errors exit 2.
        Err(error) => error.exit(),
    };
    logging::init(cli.verbose, cli.quiet);
    let mut cli = cli;
    // Held to the end of the command: the copy of standard input is removed with it.
    let _stdin = match stdin::spool_for(&mut cli.command) {
        Ok(spooled) => spooled,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            let usage = error.is::<UsageError>();
            return ExitCode::from(if usage { EXIT_USAGE } else { 1 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(load::run(cli)) {
        Ok(_) if output::failed() => ExitCode::FAILURE,
        Ok(code) => code,
        Err(error) if error.is::<UsageError>() => {
            eprintln!("error: {}", describe(&error));
            ExitCode::from(EXIT_USAGE)
        }
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}
