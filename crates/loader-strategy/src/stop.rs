//! Asking a run to stop: what an operator's Ctrl-C or a service's shutdown does. No file
//! starts after the request; a file being loaded stops once the batch it is writing has
//! committed, with every row before the next batch's first line loaded and recorded in the
//! ledger, so that running the same load again resumes there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// A handle that asks runs to stop ([`DataLoadingService::with_stop`](crate::DataLoadingService::with_stop));
/// clones share the request.
///
/// # Example
///
/// ```
/// let stop = loader_strategy::StopSignal::new();
/// let handle = stop.clone();
/// assert!(!stop.is_stopped());
/// handle.stop();
/// assert!(stop.is_stopped());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    /// A signal nobody has raised yet.
    pub fn new() -> Self {
        StopSignal::default()
    }

    /// Asks every run using this signal to stop.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Waits until a stop is asked for (at once if it was).
    pub async fn stopped(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}
