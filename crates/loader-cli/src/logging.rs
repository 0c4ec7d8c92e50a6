//! Log output: `tracing` events to stderr, filtered by `RUST_LOG` or else by `-v`/`--quiet`,
//! in colour only on a terminal and never when `NO_COLOR` is set.

use std::io::IsTerminal;

/// Whether colour may be used on stderr.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Installs the subscriber. Without `RUST_LOG`: warnings by default, errors only with
/// `--quiet`, each file's start and end with `-v`, everything with `-vv`.
pub fn init(verbose: u8, quiet: bool) {
    // deadpool warns when a connection it pooled has ended in error, which follows every
    // failed COPY (the server aborts the copy and the client drops the connection): the
    // failure itself is reported once, with its file and line, so the pool's echo of it is
    // kept for -vv.
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,deadpool.postgres=error",
        (false, 1) => "info,deadpool.postgres=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // A second initialisation (tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .with_target(false)
        .try_init();
}
