//! The `loader` command: memory-aware bulk loading of CSV files into SQLite and PostgreSQL.
//!
//! This is the only crate of the workspace that prints. Exit codes: 0 when every file
//! loaded, 1 when a file or the run failed (the message names file, line and column where it
//! can), 2 for a usage error.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod format;
mod history;
mod load;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
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
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
