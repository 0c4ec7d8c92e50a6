//! The unit of work of loader: a [`RowBatch`] of CSV rows, the [`Schema`] that types it, the
//! [`BatchSink`] that stores it and the [`AuditSink`] that remembers what happened to it.
//!
//! # What is here
//!
//! - [`RowBatch`] keeps the field bytes of many rows in one contiguous buffer with an offset
//!   per field, plus the source line and byte offset of each row. Its
//!   [`heap_size`](RowBatch::heap_size) is exact, so a memory budget can account for it.
//! - [`Schema`], [`Column`] and [`ColumnType`] type the fields; [`ColumnType::parse`] turns
//!   bytes into a [`Value`] (integer, real, boolean, date, timestamp, text, or null).
//! - [`BatchSink`] and [`AuditSink`] are the two traits the layers above implement. Both are
//!   async, dyn-compatible and, with the `mock` feature, mocked by mockall.
//! - [`BatchProcessor`] cuts a batch into sub-batches by rows and bytes, hands each to the
//!   sink, retries transient errors with backoff under a deadline, and wraps the batch and
//!   each sub-batch in an [`AuditScope`] that always ends: committed, or failed with the
//!   reason, even when the sink errors or panics or the future is dropped. Rows the
//!   database refuses are set aside, under an allowance, by writing the refused sub-batch
//!   again in parts: in one transaction by a sink that can
//!   ([`BatchSink::write_setting_aside`], [`write_in_parts`]), else a write per part.
//! - [`JsonlAudit`] writes audit events as JSON lines; [`InMemoryAudit`] keeps them for tests;
//!   [`BufferedAudit`] hands them to a slow sink (a database table) in groups, off the
//!   caller's path.
//!
//! # Design decisions
//!
//! Rows are kept as validated bytes, not as typed values: a row is parsed once to check it
//! (in the file layer, on a blocking thread) and once more by the sink as it binds
//! parameters, which costs less than holding boxed values and keeps the batch a few flat
//! vectors. An empty field is NULL.
//!
//! A sub-batch is a row range of its batch, never a copy, so splitting costs nothing.
//! Sub-batch limits live in shared atomics ([`SubBatchLimits`]) so that a memory-pressure
//! controller can shrink them while a load runs.
//!
//! # Invariants
//!
//! - The sub-batches of a batch partition its rows exactly, in order.
//! - Every audit scope that starts also ends.
//! - This crate knows nothing about CSV syntax, files on disk or any particular database.

mod audit;
mod audit_buffer;
mod batch;
mod csv_text;
mod error;
mod ledger;
mod processor;
mod reject;
mod schema;
mod set_aside;
mod sink;
mod value;

pub use audit::{
    AuditEvent, AuditScope, AuditSink, ContextId, EventKind, InMemoryAudit, JsonlAudit,
    MemoryFigures, NullAudit, RunTagged, Scope, TeeAudit,
};
pub use audit_buffer::{BufferedAudit, DEFAULT_GROUP_DELAY, DEFAULT_GROUP_EVENTS};
pub use batch::{RowBatch, RowRef};
pub use csv_text::push_csv_field;
pub use error::{AuditError, Error, Result, SinkError, SinkErrorKind, ValueError};
pub use ledger::{
    FileLedgerState, FileRecord, LEDGER_PREFIX, LEDGER_VERSION, Ledger, LedgerKey, LedgerStatus,
    PathHistory, PendingReplace, RunRecord,
};
pub use processor::{
    BatchOutcome, BatchProcessor, DEFAULT_SUB_BATCH_BYTES, DEFAULT_SUB_BATCH_ROWS, RetryPolicy,
    SubBatchLimits, split_rows,
};
pub use reject::{RejectKind, RejectedRow};
pub use schema::{Column, POSTGRES_NAME_BYTES, Schema, name_key, postgres_name, snake_case};
pub use set_aside::{
    PartWriter, SetAside, SetAsideLimits, SetAsideTurn, refused_parts, write_in_parts,
};
pub use sink::{BatchSink, LoadTarget, PreviousWrite, TableColumn, WriteDone};
pub use value::{ColumnType, Value, real_f32, unix_days, unix_micros};

#[cfg(any(test, feature = "mock"))]
pub use audit::MockAuditSink;
#[cfg(any(test, feature = "mock"))]
pub use ledger::MockLedger;
#[cfg(any(test, feature = "mock"))]
pub use sink::MockBatchSink;
