//! A nightly import job, written the way a service embedding loader would write it, to show
//! (and test) how the crates are used from outside: it depends on `loader-strategy`'s
//! [`Loader`] trait, `loader-memory`'s [`MemoryProbe`] and `loader-batch`'s [`AuditSink`], so
//! its tests can mock each of them.
//!
//! Its own behaviour, which its tests check:
//! - it does not start when the machine has less memory available than it was told to keep
//!   free, and says so in its audit trail;
//! - it turns loader's report into an outcome for its scheduler: done (with rows and rejects),
//!   or partial (with the files that failed and the first error).

use loader_batch::{AuditEvent, AuditSink, ContextId, EventKind, Scope};
use loader_memory::MemoryProbe;
use loader_strategy::Loader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a night's import came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not started: too little memory available.
    Postponed {
        /// Why.
        reason: String,
    },
    /// Every file loaded (some rows may be in quarantine).
    Done {
        /// Rows loaded.
        rows: u64,
        /// Rows quarantined.
        rejected: u64,
    },
    /// Some files failed; the others loaded.
    Partial {
        /// The files that failed.
        failed: Vec<PathBuf>,
        /// The first error.
        error: String,
    },
}

/// Errors of the job itself.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Memory could not be read.
    #[error("reading memory: {0}")]
    Memory(#[from] loader_memory::Error),
    /// The load could not run at all.
    #[error("loading: {0}")]
    Load(#[from] loader_strategy::Error),
    /// The job's own audit trail failed.
    #[error(transparent)]
    Audit(#[from] loader_batch::AuditError),
}

/// The job.
pub struct NightlyImport {
    loader: Arc<dyn Loader>,
    probe: Arc<dyn MemoryProbe>,
    audit: Arc<dyn AuditSink>,
    keep_free: u64,
}

impl NightlyImport {
    /// A job loading with `loader`, checking memory with `probe`, auditing to `audit`, and
    /// postponing itself when less than `keep_free` bytes are available.
    pub fn new(
        loader: Arc<dyn Loader>,
        probe: Arc<dyn MemoryProbe>,
        audit: Arc<dyn AuditSink>,
        keep_free: u64,
    ) -> Self {
        NightlyImport {
            loader,
            probe,
            audit,
            keep_free,
        }
    }

    /// Imports `dir`.
    ///
    /// # Errors
    ///
    /// When memory cannot be read, the load cannot start, or the audit trail fails.
    pub async fn run(&self, dir: &Path) -> Result<Outcome, ImportError> {
        let reading = self.probe.read()?;
        let context = ContextId::next();
        if reading.available < self.keep_free {
            let reason = format!(
                "{} bytes available, {} to keep free: postponed",
                reading.available, self.keep_free
            );
            let event = AuditEvent::new(Scope::Run, EventKind::Skipped, context)
                .with_reason(reason.clone());
            self.audit.record(&event).await?;
            return Ok(Outcome::Postponed { reason });
        }
        let report = self.loader.load(&[dir.to_path_buf()]).await?;
        let failed: Vec<PathBuf> = report
            .files
            .iter()
            .filter(|f| !f.state.is_success())
            .map(|f| f.path.clone())
            .collect();
        let mut event = AuditEvent::new(Scope::Run, EventKind::Committed, context).with_reason(
            format!("nightly import of {}, run {}", dir.display(), report.run_id),
        );
        event.rows = Some(report.rows_loaded());
        self.audit.record(&event).await?;
        Ok(match report.first_error() {
            Some(error) => Outcome::Partial { failed, error },
            None => Outcome::Done {
                rows: report.rows_loaded(),
                rejected: report.rows_rejected(),
            },
        })
    }
}
