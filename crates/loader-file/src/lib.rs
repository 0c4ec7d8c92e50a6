//! CSV files in, memory-budgeted [`RowBatch`](loader_batch::RowBatch)es out.
//!
//! # What is here
//!
//! - [`discover`] expands files, directories and glob patterns into [`InputFile`]s and orders
//!   them by size ([`FileOrder`]): largest first by default, which shortens a run on a pool
//!   because the longest file starts first.
//! - [`sample_file`] reads the header and a sample of rows: column names, an inferred
//!   [`Schema`](loader_batch::Schema), and the mean row width that memory estimates use.
//! - [`BatchReader`] streams a file into [`ReservedBatch`]es: batches closed by rows or
//!   bytes, whichever comes first, each holding a [`Reservation`](loader_memory::Reservation)
//!   from the [`MemoryBudget`](loader_memory::MemoryBudget) for exactly the heap it uses.
//!   Every field is checked against its column type on the way in, so a bad value is reported
//!   with file, line and column before anything reaches a database.
//!
//! # Design decisions
//!
//! Parsing uses loader's own record reader, which gives the csv crate's fields and positions
//! at a fraction of its cost (structural bytes found 64 at a time; csv-core for the rare
//! records that need it), and copies fields straight into the batch's contiguous buffer. A batch's
//! buffers are allocated once at their final size after the budget grants them, and the batch
//! closes when one more row would not fit, so memory never grows behind the budget's back.
//! The row capacity is sized from the sampled mean row width.
//!
//! A reader can start at a [`ResumePoint`] (a byte offset and line of a row start), which is
//! how a load continues after a crash or a pool failure without re-reading committed rows.
//!
//! # Invariants
//!
//! - Every record read is either in a batch or the cause of an error that names its file, line
//!   and column; none is dropped.
//! - This crate never writes to a database and never prints.

mod dialect;
mod discover;
mod error;
mod formats;
#[cfg(test)]
mod fuzz;
mod hash;
mod infer;
mod input;
mod notation;
mod options;
mod parallel;
mod quoted;
mod reader;
mod records;

pub use discover::{FileOrder, InputFile, discover};
pub use error::{Error, Result};
pub use formats::{DATE_FORMATS, TIMESTAMP_FORMATS, check_format};
pub use hash::{content_hash, content_hash_upto, decompressed_from, decompressed_hash, grew_from};
pub use infer::{FileSample, WrittenHint, sample_file};
pub use input::{Compression, decoder_bytes};
pub use notation::{AMOUNT_NOTATIONS, CURRENCY_SIGNS, Currency, Notation};
pub use options::{BadRowPolicy, CsvOptions, Encoding, OnError};
pub use parallel::{ParallelReader, Parallelism};
pub use reader::{BatchReader, ReservedBatch, ResumePoint};
