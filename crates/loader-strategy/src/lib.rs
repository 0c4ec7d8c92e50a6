//! Planning and running a load: the [`DataLoadingService`] facade that the `loader` command
//! and embedding services call.
//!
//! # What is here
//!
//! - [`DataLoadingService::plan`] discovers files, samples each (columns, types, row width),
//!   estimates the memory each needs, and orders them. It reads only samples.
//! - [`DataLoadingService::run`] loads a [`LoadPlan`]: files run on a tokio pool bounded by
//!   [`LoadSettings::workers`] and by the [`MemoryBudget`](loader_memory::MemoryBudget);
//!   parsing runs on blocking threads, writing is async. If the pool fails (a task panics, a
//!   reader thread dies, the sink keeps failing transiently), admission stops, running files
//!   finish or stop, and every file not yet complete continues sequentially from its last
//!   committed row. The audit trail records the fallback and its reason.
//! - [`LoadReport`] says per file what was read, loaded, rejected and skipped, how long it
//!   took and what went wrong, and per run the totals, memory figures and fallbacks.
//!
//! # Design decisions
//!
//! The budget is fixed at plan time as a share ([`LoadSettings::budget_share`], 50% by
//! default) of the room left under the effective limit (the smallest of physical memory, the
//! cgroup limit and an explicit limit, less what is already in use); pressure reactions shrink
//! it while a run goes on. Batch sizes are then cut so that every worker's batches in flight (three:
//! one being filled, one queued, one being written) fit in the budget together; the budget's
//! blocking reservations make that a hard bound, not a hope.
//!
//! Progress is tracked per file as the resume point after the last committed sub-batch, so
//! that a fallback never redoes committed rows.
//!
//! # Invariants
//!
//! - A file's rows are committed in file order; its resume point only moves forward.
//! - Every file of the plan ends in the report as loaded or failed, with its counts.
//! - This crate never prints; it reports through the audit sink and [`LoadReport`].

mod error;
mod file_task;
mod grown;
mod hash_ahead;
mod ledger;
mod live;
mod loader;
mod monitor;
mod plan;
mod reaction;
mod reject_room;
mod rejects;
mod remedy;
mod report;
mod run;
mod settings;
mod stop;

pub use error::{Error, Result};
pub use ledger::LoadMode;
pub use live::{FileSnapshot, LiveProgress, LiveSnapshot, LiveState};
pub use loader::Loader;
#[cfg(any(test, feature = "mock"))]
pub use loader::MockLoader;
pub use plan::{EmptyFile, LoadPlan, MemoryEstimate, PlannedFile, UnreadFile, table_name_for};
pub use reaction::{Baseline, MIN_SUB_BATCH_BYTES, MIN_SUB_BATCH_ROWS, Reaction, reaction_for};
pub use rejects::REJECTS_HEADER;
pub use report::{CleanupReport, FileReport, FileState, FirstReject, LoadReport, RejectedKind};
pub use run::DataLoadingService;
pub use settings::{LoadSettings, Streams, upsert_key_problem};
pub use stop::StopSignal;
