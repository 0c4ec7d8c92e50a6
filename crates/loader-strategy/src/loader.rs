//! The [`Loader`] trait: what a service needs from loader, as one mockable seam.

use crate::{DataLoadingService, LoadPlan, LoadReport, Result};
use async_trait::async_trait;
use std::path::PathBuf;

/// Plans and runs loads. [`DataLoadingService`] is the implementation; a service that
/// depends on `Arc<dyn Loader>` can test its own behaviour with `MockLoader` (feature
/// `mock`) instead of real files and a real database.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use loader_batch::{InMemoryAudit, MockBatchSink};
/// use loader_memory::{FixedProbe, MemoryReading};
/// use loader_strategy::{DataLoadingService, LoadSettings, Loader};
///
/// let probe = FixedProbe(MemoryReading {
///     total: 8 << 30, available: 6 << 30, process_rss: 10 << 20, cgroup: None, psi: None,
/// });
/// let loader: Arc<dyn Loader> = Arc::new(DataLoadingService::new(
///     Arc::new(MockBatchSink::new()),
///     Arc::new(InMemoryAudit::new()),
///     Arc::new(probe),
///     LoadSettings::default(),
/// ));
/// // A missing input is an error before anything is written.
/// assert!(loader.load(&["no/such/dir".into()]).await.is_err());
/// # });
/// ```
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Loader: Send + Sync {
    /// Discovers, samples, estimates and orders `inputs` without loading anything.
    ///
    /// # Errors
    ///
    /// As [`DataLoadingService::plan`].
    async fn plan(&self, inputs: &[PathBuf]) -> Result<LoadPlan>;

    /// Plans and runs `inputs`; file failures are in the report, not errors.
    ///
    /// # Errors
    ///
    /// As [`DataLoadingService::load`].
    async fn load(&self, inputs: &[PathBuf]) -> Result<LoadReport>;
}

#[async_trait]
impl Loader for DataLoadingService {
    async fn plan(&self, inputs: &[PathBuf]) -> Result<LoadPlan> {
        DataLoadingService::plan(self, inputs)
    }

    async fn load(&self, inputs: &[PathBuf]) -> Result<LoadReport> {
        DataLoadingService::load(self, inputs).await
    }
}
