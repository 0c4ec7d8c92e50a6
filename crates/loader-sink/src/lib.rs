//! Database sinks for loader: where [`RowBatch`](loader_batch::RowBatch)es end up.
//!
//! # What is here
//!
//! - [`Target`] parses where a load goes (`sqlite:FILE`, a bare `.db` path; PostgreSQL URLs
//!   are recognised and their passwords redacted in every display).
//! - [`SqliteSink`] (feature `sqlite`) implements [`BatchSink`](loader_batch::BatchSink) on
//!   one rusqlite connection: it creates the target table from the schema when missing, and
//!   writes each sub-batch in one transaction with prepared multi-row `INSERT`s, binding typed
//!   values (an empty field is NULL).
//! - [`quote_identifier`] is the one way identifiers from input reach SQL.
//!
//! # Design decisions
//!
//! SQLite has one writer, so the sink holds one connection behind a mutex; parallelism lives
//! in parsing, upstream. Statements insert 64 rows at a time (fewer for wide tables, to stay
//! under SQLite's 32,766 bound parameters), which measured fastest on this project's machines.
//! The database runs in WAL mode with `synchronous=NORMAL`: a commit is durable against a
//! process crash and the file is never corrupted by a power loss, which with the ledger is what
//! exactly-once needs.
//!
//! # Invariants
//!
//! - Every identifier that reaches SQL goes through [`quote_identifier`].
//! - A `write` is one transaction: all its rows or none.
//! - Error messages never carry SQL text longer than a line, nor credentials.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod audit_columns;
mod error;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
mod inspect;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod ledger_queries;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_copy;
#[cfg(feature = "postgres")]
mod postgres_ledger;
#[cfg(feature = "postgres")]
mod postgres_parts;
#[cfg(feature = "postgres")]
mod postgres_tls;
#[cfg(feature = "postgres")]
mod postgres_upsert;
#[cfg(feature = "postgres")]
mod postgres_write;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_checkpoint;
#[cfg(feature = "sqlite")]
mod sqlite_insert;
#[cfg(feature = "sqlite")]
mod sqlite_ledger;
#[cfg(feature = "sqlite")]
mod sqlite_write;
mod target;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod upsert;

pub use error::{Error, Result};
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub use inspect::ReadOnlyTables;
#[cfg(feature = "postgres")]
pub use postgres::{PgSink, pg_config};
#[cfg(feature = "postgres")]
pub use postgres_copy::encode_binary_copy;
#[cfg(feature = "postgres")]
pub use postgres_ledger::PgAudit;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteSink;
#[cfg(feature = "sqlite")]
pub use sqlite_ledger::SqliteAudit;
#[cfg(feature = "postgres")]
pub use target::postgres_create_table;
#[cfg(feature = "sqlite")]
pub use target::sqlite_create_table;
pub use target::{Target, quote_identifier};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use target::{add_column_sql, check_width, create_table_sql, quoted_list};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use upsert::{no_unique_key, on_conflict_sql};

/// With the `mock` feature: mocks of the traits this crate implements, so a service that
/// depends only on `loader-sink` can stand in for a database in its tests.
#[cfg(feature = "mock")]
pub use loader_batch::{MockAuditSink, MockBatchSink, MockLedger};
