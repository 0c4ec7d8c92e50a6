//! Where a file's batches come from: a reader thread in the pool, or the reader itself when
//! sequential (which must not depend on spawning anything).

use super::{Mode, panic_text};
use crate::{Error, PlannedFile, Result};
use loader_file::{BatchReader, ParallelReader, ReservedBatch, ResumePoint};
use loader_memory::MemoryBudget;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Batches come from a reader thread (pool mode) or straight from the reader (sequential
/// mode, which must not depend on spawning anything).
pub(crate) enum BatchSource {
    Thread {
        receiver: mpsc::Receiver<loader_file::Result<ReservedBatch>>,
        thread: tokio::task::JoinHandle<loader_file::Result<ReadCount>>,
    },
    Inline(Box<BatchReader>),
}

impl BatchSource {
    pub(super) async fn open(
        mode: Mode,
        file: &PlannedFile,
        csv: loader_file::CsvOptions,
        schema: Arc<loader_batch::Schema>,
        budget: &MemoryBudget,
        resume: Option<ResumePoint>,
    ) -> Result<BatchSource> {
        let (path, mean) = (file.path.clone(), file.sample.mean_field_bytes);
        let budget = budget.clone();
        match mode {
            Mode::Sequential => Ok(BatchSource::Inline(Box::new(BatchReader::open(
                &path, &csv, schema, mean, budget, resume,
            )?))),
            Mode::Pool => {
                let (sender, receiver) = mpsc::channel(1);
                let parallelism = file.parallelism;
                let thread = tokio::task::spawn_blocking(move || {
                    let mut reader = ParallelReader::open(
                        &path,
                        &csv,
                        schema,
                        mean,
                        budget,
                        resume,
                        parallelism,
                    )?;
                    tracing::debug!(file = %path.display(), parts = reader.parts(), "reading");
                    for batch in reader.by_ref() {
                        if sender.blocking_send(batch).is_err() {
                            break;
                        }
                    }
                    Ok(ReadCount {
                        rows: reader.rows_read(),
                        rejected: reader.rows_rejected(),
                    })
                });
                Ok(BatchSource::Thread { receiver, thread })
            }
        }
    }

    pub(super) async fn next(&mut self) -> Option<loader_file::Result<ReservedBatch>> {
        match self {
            BatchSource::Thread { receiver, .. } => receiver.recv().await,
            BatchSource::Inline(reader) => reader.next(),
        }
    }

    /// Rows the reader handed out.
    pub(super) async fn finish(self) -> Result<ReadCount> {
        match self {
            BatchSource::Inline(reader) => Ok(ReadCount::of(&reader)),
            BatchSource::Thread { receiver, thread } => {
                drop(receiver);
                match thread.await {
                    Ok(result) => Ok(result?),
                    Err(e) if e.is_panic() => Err(Error::Worker(format!(
                        "reader thread panicked: {}",
                        panic_text(e.into_panic())
                    ))),
                    Err(_) => Err(Error::Worker("reader thread cancelled".into())),
                }
            }
        }
    }
}

/// Records one attempt's reader handed out: good rows and rejects.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadCount {
    pub(super) rows: u64,
    pub(super) rejected: u64,
}

impl ReadCount {
    pub(super) fn of(reader: &BatchReader) -> Self {
        ReadCount {
            rows: reader.rows_read(),
            rejected: reader.rows_rejected(),
        }
    }
}
