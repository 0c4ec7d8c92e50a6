//! Ctrl-C and SIGTERM during a load: the first asks the run to stop (files finish the batch
//! they are writing, and the report and the ledger say where each stopped, for a new run to
//! resume there); a second ends the process at once, which loses nothing either: what was
//! committed is in the ledger, and the rest is written again by the next run.

use loader_strategy::StopSignal;

/// Exit code of a load stopped by a signal before every file finished (128 + SIGINT, as
/// shells report an interrupted command).
pub(crate) const EXIT_STOPPED: u8 = 130;

/// Raises `stop` at the first SIGINT or SIGTERM, and exits at the second.
pub(crate) fn stop_on_signals(stop: StopSignal) {
    tokio::spawn(async move {
        let mut first = true;
        while received().await {
            if first {
                eprintln!(
                    "stopping: the batches being written are committed first (signal again to quit at once)"
                );
                stop.stop();
                first = false;
            } else {
                eprintln!("quitting at once: a new run resumes after the last committed rows");
                std::process::exit(i32::from(EXIT_STOPPED));
            }
        }
    });
}

/// Waits for SIGINT or SIGTERM; false when they cannot be listened for.
#[cfg(unix)]
async fn received() -> bool {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return false;
    };
    tokio::select! {
        got = interrupt.recv() => got.is_some(),
        got = terminate.recv() => got.is_some(),
    }
}

#[cfg(not(unix))]
async fn received() -> bool {
    tokio::signal::ctrl_c().await.is_ok()
}
