use std::path::PathBuf;

/// Errors of the memory layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reservation asked for more than the whole budget; waiting would never end.
    #[error("reservation of {requested} bytes exceeds the whole memory budget of {capacity} bytes")]
    ExceedsBudget {
        /// Bytes asked for.
        requested: u64,
        /// Capacity of the budget at the time of the request.
        capacity: u64,
    },
    /// `try_reserve` found the budget short right now.
    #[error("memory budget short: {requested} bytes requested, {available} bytes available")]
    Insufficient {
        /// Bytes asked for.
        requested: u64,
        /// Bytes free at the time of the request.
        available: u64,
    },
    /// A size such as `64MiB` could not be parsed.
    #[error("invalid size {input:?}: {reason}")]
    InvalidSize {
        /// The text given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A file of the cgroup or proc filesystem could not be read or parsed.
    #[error("cannot read {path}: {reason}")]
    Probe {
        /// The file that failed.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A scripted probe ran out of readings.
    #[error("scripted probe has no more readings")]
    ScriptExhausted,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
