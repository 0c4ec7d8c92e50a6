//! Standard output for reports and listings. When the reader goes away (`loader plan | head
//! -1`), the pipe closes and `println!` would panic; here the rest of the output is dropped
//! and the command goes on to its own exit code, as Unix tools do. Any other write error
//! (a full disk under a redirect) is reported once and fails the command at exit.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Output stopped: nothing more is written.
static STOPPED: AtomicBool = AtomicBool::new(false);
/// Output stopped for a reason other than a closed pipe.
static FAILED: AtomicBool = AtomicBool::new(false);

/// Writes one line to standard output (see [`outln!`](crate::outln)).
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    if STOPPED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(error) = written {
        STOPPED.store(true, Ordering::Relaxed);
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            FAILED.store(true, Ordering::Relaxed);
            eprintln!("error: writing to standard output: {error}");
        }
    }
}

/// Whether some output was lost to an error other than a closed pipe.
pub(crate) fn failed() -> bool {
    FAILED.load(Ordering::Relaxed)
}

/// `println!` for standard output that never panics (see the module documentation).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
