use crate::input::{self, Input};
use crate::records::{Position, ReadError, Records};
use crate::{BadRowPolicy, CsvOptions, Error, OnError, Result};
use loader_batch::{RowBatch, Schema};
use loader_memory::{MemoryBudget, Reservation};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where to start reading a file: the start of a row that has not been loaded yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResumePoint {
    /// Byte offset of the row in the file.
    pub byte: u64,
    /// Line the row starts on (1-based; the header is line 1).
    pub line: u64,
    /// Sequence number to give the first batch read from here.
    pub sequence: u64,
}

/// A batch and the budget reservation that pays for it. Dropping it releases the bytes.
#[derive(Debug)]
pub struct ReservedBatch {
    /// The rows.
    pub batch: RowBatch,
    /// Bytes held from the budget for the batch's buffers.
    pub reservation: Reservation,
}

/// Streams one CSV file into [`ReservedBatch`]es.
///
/// Each batch is allocated at its final size once the budget grants its bytes (waiting on
/// this thread while the budget is short), and closes when one more row would not fit in
/// rows or in bytes. Every field is checked against the schema. Under the default bad-row
/// policy the first bad record ends the stream with an error naming file, line and column,
/// after the rows before it have been handed out in a last batch; under
/// [`OnError::Skip`] bad records travel in their batch as rejects, with their raw bytes,
/// until a limit of the policy is crossed (see [`BadRowPolicy`]).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use loader_file::{sample_file, BatchReader, CsvOptions};
/// use loader_memory::MemoryBudget;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.csv");
/// std::fs::write(&path, "id,name\n1,ann\n2,bob\n3,cy\n").unwrap();
/// let options = CsvOptions::default().batch_rows(2);
/// let sample = sample_file(&path, &options).unwrap();
/// let budget = MemoryBudget::new(1 << 20);
/// let reader = BatchReader::open(&path, &options, Arc::new(sample.schema.clone()), sample.mean_field_bytes, budget.clone(), None).unwrap();
/// let sizes: Vec<usize> = reader.map(|b| b.unwrap().batch.len()).collect();
/// assert_eq!(sizes, [2, 1]);
/// assert_eq!(budget.reserved(), 0, "every batch was dropped, so every byte is back");
/// ```
pub struct BatchReader {
    path: PathBuf,
    /// The parser, which holds the current record.
    records: Records<Input>,
    schema: Arc<Schema>,
    /// For the NULL markers.
    options: CsvOptions,
    budget: MemoryBudget,
    row_capacity: usize,
    mean_field_bytes: f64,
    batch_bytes: usize,
    file_size: u64,
    /// What bounds the room batches reserve: `file_size`, or a compressed file's decoded
    /// size when given (see [`CsvOptions::decoded_size`]).
    size_bound: u64,
    sequence: u64,
    /// Batches this reader handed out, for the ramp of the first sizes.
    batches_made: u32,
    pending: bool,
    done: bool,
    deferred: Option<Error>,
    rows_read: u64,
    rows_rejected: u64,
    policy: BadRowPolicy,
    max_row_bytes: u64,
    /// Where this reader's part of the file ends, when it reads one part (see
    /// [`ParallelReader`](crate::ParallelReader)): the first record starting at or after it is
    /// left to the next part.
    stop_at: Option<u64>,
    /// Set when a record crossing `stop_at` ended the reader: where that record starts.
    stopped_at: Option<u64>,
    /// A reader running ahead of the one being consumed takes memory only while half the
    /// budget stays free (see `has_room_ahead`), so that it never starves the reader the
    /// writer waits for; it waits normally once its part is being consumed.
    look_ahead: Option<LookAhead>,
    /// Which fields of the current record were quoted, when that was looked at (see
    /// `mark_empty_strings`); kept to spare an allocation per record.
    quoted: Vec<bool>,
    /// The text columns, where a quoted empty field is an empty string (none when
    /// `quoted_empty_is_null`).
    text_columns: Vec<usize>,
    /// Fields may be written otherwise than types read them (see [`crate::formats`]), or
    /// columns are left out (`--skip-column`): each record is rewritten before it is
    /// checked. Decided once, not per record.
    rewrites: bool,
    /// The file's columns (its records' width, skipped columns included) and, per column of
    /// the schema, its place among them (from 0): what errors count columns by.
    file_columns: FileColumns,
    /// Per column: whether a number its type would not store as written is a bad row (a
    /// number column the user gave no type; see [`CsvOptions::inferred_columns`]).
    guarded: Vec<bool>,
    _buffer: Reservation,
}

/// How a reader running ahead reserves its batches (see `BatchReader::look_ahead`).
#[derive(Debug, Clone)]
pub(crate) struct LookAhead {
    /// Set when this reader's part is the one being consumed.
    pub consumed: Arc<std::sync::atomic::AtomicBool>,
    /// Set when its batches are no longer wanted.
    pub cancelled: Arc<std::sync::atomic::AtomicBool>,
}

impl LookAhead {
    fn consumed(&self) -> bool {
        self.consumed.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until its part is being consumed, is cancelled, or `budget` has room ahead for
    /// `bytes` (or never can: more than its capacity).
    pub(crate) fn wait_for_room(&self, budget: &MemoryBudget, bytes: u64) {
        while !self.consumed()
            && !self.cancelled()
            && bytes <= budget.capacity()
            && !has_room_ahead(budget, bytes)
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

impl std::fmt::Debug for BatchReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReader")
            .field("path", &self.path)
            .field("sequence", &self.sequence)
            .field("rows_read", &self.rows_read)
            .finish()
    }
}

/// The margin a batch keeps over the sampled row width, both ways: room for a quarter more
/// rows than its bytes would hold (narrower rows), and for a quarter more bytes than its rows
/// would take (wider ones).
const WIDTH_SLACK: f64 = 1.25;

/// Rows a batch has room for: enough that batches close by bytes rather than rows when rows
/// are as wide as sampled (with a quarter to spare for narrower ones), capped by `batch_rows`.
fn row_capacity(options: &CsvOptions, mean_field_bytes: f64) -> usize {
    row_capacity_for(options.get_batch_bytes(), options, mean_field_bytes)
}

/// [`row_capacity`] for batches of `batch_bytes` field bytes.
fn row_capacity_for(batch_bytes: usize, options: &CsvOptions, mean_field_bytes: f64) -> usize {
    // Saturating: a stream of unknown length passes `usize::MAX` bytes, which the float
    // turns into `usize::MAX` rows (that overflowed to a 15-row batch in a release build).
    let by_bytes = ((batch_bytes as f64 / mean_field_bytes.max(1.0) * WIDTH_SLACK) as usize)
        .saturating_add(16);
    options.get_batch_rows().min(by_bytes).max(1)
}

/// Field bytes `rows` rows take when as wide as sampled, with a quarter to spare: the most a
/// batch that closes by rows (`batch_rows`) before it closes by bytes needs room for. Wider
/// rows close it by bytes first, which only makes it smaller.
fn bytes_for_rows(rows: usize, mean_field_bytes: f64) -> usize {
    ((rows as f64 * mean_field_bytes.max(1.0) * WIDTH_SLACK) as usize).saturating_add(64)
}

/// Field bytes of the largest batch read from `file_bytes` of CSV, the first batches ramping
/// up from [`FIRST_BATCH_BYTES`] to `batch_bytes` (see `BatchReader::ramped_capacity`).
fn largest_batch_bytes(batch_bytes: usize, file_bytes: usize) -> usize {
    let (mut left, mut step, mut largest) = (file_bytes, FIRST_BATCH_BYTES, 0);
    while left > 0 && step < batch_bytes {
        let take = step.min(left);
        largest = largest.max(take);
        left -= take;
        step = step.saturating_mul(2);
    }
    largest.max(batch_bytes.min(left))
}

/// Most rows `bytes` of CSV can hold: every row has at least one byte per column (a
/// delimiter after each field but the last, and a line end).
fn max_rows_in(bytes: usize, columns: usize) -> usize {
    (bytes / columns.max(1)).saturating_add(1)
}

/// The parser's read buffer (see `Records`), held for the reader's life.
const READ_BUFFER_BYTES: u64 = 256 << 10;

/// Whether a reader running ahead of the part being consumed may take `bytes`: only if half
/// the budget stays free after. The part being consumed needs at most that half (files are
/// cut only when it does, see `ParallelReader::open`), so it never waits on memory that
/// parts read ahead hold.
pub(crate) fn has_room_ahead(budget: &MemoryBudget, bytes: u64) -> bool {
    budget.available() >= bytes.saturating_add(budget.capacity() / 2)
}

/// Field bytes of a reader's first batch (see `BatchReader::ramped_capacity`).
const FIRST_BATCH_BYTES: usize = 256 << 10;

/// Whether a record's typed values are as read, or some have spaces around them to drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Padded {
    Exact,
    Trimmed,
}

impl BatchReader {
    /// Opens `path` for reading from its first row, or from `resume`.
    ///
    /// `mean_field_bytes` (from [`sample_file`](crate::sample_file)) sizes the row capacity
    /// of each batch so that batches close by bytes about when they close by rows.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be opened or seeked, [`Error::Csv`] for a broken
    /// header, [`Error::Memory`] when the budget cannot hold the read buffer.
    pub fn open(
        path: &Path,
        options: &CsvOptions,
        schema: Arc<Schema>,
        mean_field_bytes: f64,
        budget: MemoryBudget,
        resume: Option<ResumePoint>,
    ) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let input::Text {
            input, compression, ..
        } = input::open_text(path, options.get_encoding(), options.get_skip_footer())
            .map_err(io)?;
        let policy = options.get_bad_rows();
        let max_row_bytes = Self::row_limit(options, budget.capacity());
        // The read buffer (which keeps the current record's raw bytes), the parsed fields
        // and, for compressed files, the decoder's window and buffers.
        let buffer = budget
            .reserve_blocking(Self::BUFFER_BYTES + input::decoder_bytes_of(path, compression)?)
            .map_err(|source| Error::Memory {
                path: path.to_path_buf(),
                source,
            })?;
        // A plain file's size bounds what is left to read; a decoded one's (decompressed, or
        // transcoded to UTF-8) does not.
        let seekable = matches!(input, input::Input::Plain(_));
        let content = options.get_content_bytes().filter(|_| seekable);
        let file_size = if seekable {
            let size = std::fs::metadata(path).map_err(io)?.len();
            content.map_or(size, |content| size.min(content))
        } else {
            u64::MAX
        };
        // The parser keeps the current record's bytes: rejects need them, and errors need
        // its true first line (see `record_start`). A small plain file gets a buffer its size:
        // a directory of many small files should not clear 512 KiB for each.
        let capacity = READ_BUFFER_BYTES.min(file_size.saturating_add(64)) as usize;
        let mut records = options
            .records(input, capacity, max_row_bytes)
            .ending_at(content.unwrap_or(u64::MAX));
        let skipped = match options.get_skip_lines() {
            0 => records.skip_separator_line(),
            lines => records.skip_lines(lines),
        };
        skipped.map_err(|e| read_error(path, max_row_bytes, e))?;
        if options.get_has_headers() {
            records
                .read()
                .map_err(|e| read_error(path, max_row_bytes, e))?;
        }
        let mut sequence = 0;
        let mut skip_to = None;
        if let Some(resume) = resume {
            if seekable {
                records
                    .seek(Position {
                        byte: resume.byte,
                        line: resume.line,
                    })
                    .map_err(io)?;
            } else {
                // A decoder cannot seek: committed rows are read again and passed over.
                skip_to = Some(resume.byte);
            }
            sequence = resume.sequence;
        }
        let batch_bytes = options.get_batch_bytes();
        let file_columns = FileColumns::new(schema.len(), options.get_skipped_columns());
        // Fixed for the file: which columns take empty strings, which numbers are guarded.
        let text_columns: Vec<usize> = if options.get_quoted_empty_is_null() {
            Vec::new()
        } else {
            (0..schema.len())
                .filter(|&i| schema.columns()[i].ty == loader_batch::ColumnType::Text)
                .collect()
        };
        let guarded = schema
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                options.is_inferred(i)
                    && matches!(
                        c.ty,
                        loader_batch::ColumnType::Integer | loader_batch::ColumnType::Real
                    )
            })
            .collect();
        BatchReader {
            path: path.to_path_buf(),
            records,
            schema,
            options: options.clone(),
            budget,
            row_capacity: row_capacity(options, mean_field_bytes),
            mean_field_bytes,
            batch_bytes,
            file_size,
            // A compressed file's decoded size, when the plan knows it, bounds batch room
            // as a plain file's size does.
            size_bound: if seekable {
                file_size
            } else {
                options.get_decoded_size().unwrap_or(u64::MAX)
            },
            sequence,
            // Past the ramp from the start when it is off.
            batches_made: if options.get_ramp_up() { 0 } else { u32::MAX },
            pending: false,
            done: false,
            deferred: None,
            rows_read: 0,
            quoted: Vec::new(),
            text_columns,
            rewrites: crate::formats::any(options) || options.get_skipped_columns().contains(&true),
            file_columns,
            guarded,
            stop_at: None,
            stopped_at: None,
            look_ahead: None,
            rows_rejected: 0,
            policy,
            max_row_bytes,
            _buffer: buffer,
        }
        .skipping_to(skip_to)
    }

    /// The longest row a reader with `options` holds under a row budget of `budget` bytes:
    /// [`CsvOptions::max_row_bytes`], or a quarter of the budget when that is less. A row is
    /// held up to three times while it is read (parser, batch, raw copy): it must fit in the
    /// budget that many times over. A plan samples files under the same limit.
    ///
    /// ```
    /// use loader_file::{BatchReader, CsvOptions};
    /// let options = CsvOptions::default().max_row_bytes(1 << 20);
    /// assert_eq!(BatchReader::row_limit(&options, 64 << 20), 1 << 20);
    /// assert_eq!(BatchReader::row_limit(&options, 2 << 20), 512 << 10);
    /// ```
    pub fn row_limit(options: &CsvOptions, budget: u64) -> u64 {
        (options.get_max_row_bytes() as u64).min(budget / 4)
    }

    /// Heap bytes of the largest batch a reader with `options` will allocate for a file of
    /// `file_size` bytes with `columns` columns: what one batch in flight costs the budget.
    pub fn batch_heap(
        options: &CsvOptions,
        columns: usize,
        mean_field_bytes: f64,
        file_size: u64,
    ) -> u64 {
        let remaining = usize::try_from(file_size).unwrap_or(usize::MAX);
        let bytes = if options.get_ramp_up() {
            largest_batch_bytes(options.get_batch_bytes(), remaining)
        } else {
            options.get_batch_bytes().min(remaining)
        };
        let rows =
            row_capacity_for(bytes, options, mean_field_bytes).min(max_rows_in(remaining, columns));
        let bytes = bytes.min(bytes_for_rows(rows, mean_field_bytes));
        RowBatch::heap_size_for(columns, rows, bytes) as u64
    }

    /// Heap bytes the reader itself holds besides its batches: the parser's read buffer,
    /// which also keeps the current record's raw bytes (see `record_start`), and its fields.
    pub const BUFFER_BYTES: u64 = 2 * READ_BUFFER_BYTES;

    /// Reads past rows that start before `byte` (a resume in a compressed file), leaving the
    /// row at `byte` pending; fails if no row starts exactly there.
    fn skipping_to(mut self, byte: Option<u64>) -> Result<Self> {
        let Some(byte) = byte else {
            return Ok(self);
        };
        while self.read_record()? {
            let at = self.records.record_position().byte;
            if at == byte {
                return Ok(self);
            }
            if at > byte {
                break;
            }
        }
        if !self.pending && self.records.position().byte == byte {
            return Ok(self);
        }
        Err(Error::Csv {
            path: self.path.clone(),
            line: self.records.record_position().line,
            byte,
            message: "no row starts at the resume point: the file changed since it was recorded"
                .into(),
        })
    }

    /// Good records read so far and handed out in batches.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Bad records handed out in batches as rejects so far.
    pub fn rows_rejected(&self) -> u64 {
        self.rows_rejected
    }

    /// Where the next unread row starts.
    pub fn resume_point(&self) -> ResumePoint {
        let position = if self.pending {
            self.records.record_position()
        } else {
            self.records.position()
        };
        ResumePoint {
            byte: position.byte,
            line: position.line,
            sequence: self.sequence,
        }
    }

    fn read_record(&mut self) -> Result<bool> {
        self.pending = self
            .records
            .read()
            .map_err(|e| read_error(&self.path, self.max_row_bytes, e))?;
        if self.pending
            && let Some(stop) = self.stop_at
            && self.records.position().byte > stop
        {
            let start = self.record_start().1;
            if start >= stop {
                // The next part's first record: left pending, so that the last batch ends
                // where it starts.
                self.stopped_at = Some(start);
                return Ok(false);
            }
        }
        // The parser stops a long record while it streams in; one that arrived within a
        // single read is caught here.
        if self.pending
            && self.records.position().byte - self.records.record_position().byte
                > self.max_row_bytes
        {
            let (line, byte) = self.record_start();
            return Err(Error::RowTooLong {
                path: self.path.clone(),
                line,
                byte,
                limit: self.max_row_bytes,
            });
        }
        Ok(self.pending)
    }

    /// Line and byte offset where the current record's text starts. The parser's position
    /// may be earlier: after a CRLF it starts the next record at the `\n`, and blank lines
    /// before a record count as its start, which would put errors a line too early.
    fn record_start(&self) -> (u64, u64) {
        let Position { mut line, mut byte } = self.records.record_position();
        let end = self.records.position().byte;
        for &b in self.records.raw(byte..end).unwrap_or_default() {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => break,
            }
            byte += 1;
        }
        (line, byte)
    }

    /// The current record's bytes as read, without its line terminator.
    fn raw_record(&self) -> Vec<u8> {
        let start = self.record_start().1;
        let end = self.records.position().byte;
        without_terminator(self.records.raw(start..end).unwrap_or_default()).to_vec()
    }

    /// Marks the current record's quoted empty fields (`""`) in text columns, just pushed
    /// as the last row of `batch`, empty strings rather than NULL.
    fn mark_empty_strings(&mut self, batch: &mut RowBatch) {
        let ends = self.records.ends();
        let is_empty = |i: usize| ends[i] == if i == 0 { 0 } else { ends[i - 1] };
        if !self.text_columns.iter().any(|&i| is_empty(i)) {
            return;
        }
        let raw = self
            .records
            .raw(self.records.record_position().byte..self.records.position().byte)
            .map(without_terminator)
            .unwrap_or_default();
        // A quoted empty field is two quotes side by side in the raw text: most records with
        // an empty field and quoted ones have no such pair, and are not scanned.
        let quote = self.options.get_quote();
        if !memchr::memchr_iter(quote, raw).any(|at| raw.get(at + 1) == Some(&quote)) {
            return;
        }
        crate::quoted::quoted_fields(raw, self.options.dialect(), &mut self.quoted);
        // The scan and the parser agree on the fields (a property test holds them together);
        // were they ever not to, the record's empty fields stay NULL rather than be guessed.
        // The scan counts the file's fields, skipped ones included.
        if self.quoted.len() != self.file_columns.width() {
            return;
        }
        for &i in &self.text_columns {
            if self.quoted[self.file_columns.number(i) - 1] && is_empty(i) {
                batch.set_empty_text(i);
            }
        }
    }

    fn check_record(&mut self) -> Result<Padded> {
        let columns = self.schema.columns();
        let path = || self.path.clone();
        if self.records.ends_in_open_quote() {
            // Before the field count, which the swallowed rest of the file likely breaks too:
            // the open quote is the cause.
            let (line, byte) = self.record_start();
            let column = self.records.len();
            return Err(Error::UnterminatedQuote {
                path: path(),
                line,
                byte,
                column,
                name: column
                    .checked_sub(1)
                    .and_then(|at| self.file_columns.loaded(at))
                    .and_then(|i| columns.get(i))
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
            });
        }
        let width = self.file_columns.width();
        if self.records.len() != width
            && !(self.options.get_ragged_rows() && self.records.fit_to(width))
        {
            let (line, byte) = self.record_start();
            return Err(Error::FieldCount {
                path: path(),
                line,
                byte,
                expected: width,
                found: self.records.len(),
            });
        }
        // Values written as the options say (decimal commas, a date format) are rewritten
        // as every type reads them before anything looks at them.
        if self.rewrites {
            let (options, file_columns) = (&self.options, &self.file_columns);
            let rewritten = self.records.rewrite_fields(|at, field, out| {
                let Some(index) = file_columns.loaded(at) else {
                    return crate::formats::Rewrite::Drop;
                };
                if options.is_null(field) {
                    return crate::formats::Rewrite::Keep;
                }
                let (ty, decimal_text) = (columns[index].ty, options.is_decimal_text(index));
                crate::formats::rewrite(ty, decimal_text, field, options, out)
            });
            if let Err((at, expected)) = rewritten {
                let found = self.records.iter().nth(at).unwrap_or_default();
                let found = String::from_utf8_lossy(&found[..found.len().min(64)]).into_owned();
                let (line, byte) = self.record_start();
                return Err(Error::NotInFormat {
                    path: path(),
                    line,
                    byte,
                    column: at + 1,
                    name: self
                        .file_columns
                        .loaded(at)
                        .map_or_else(String::new, |i| columns[i].name.clone()),
                    found,
                    expected: expected.into(),
                });
            }
        }
        // One UTF-8 check of the whole record stands for those of its text fields: valid
        // fields make a valid record, and a valid record whose field ends inside a character
        // has the next non-empty field start on a continuation byte, which is checked. Such a
        // field fails, and then every field is checked alone to name the first bad one.
        // simdutf8 checks text several times faster than the standard library, which
        // mattered on files whose names and notes are not ASCII; the raw input many records
        // at a time, the record's fields when that found a bad byte.
        let record_is_text =
            self.records.raw_is_utf8() || simdutf8::basic::from_utf8(self.records.bytes()).is_ok();
        let may_hold_nul = !self.options.get_allow_nul()
            && !self.records.raw_is_nul_free()
            && memchr::memchr(0, self.records.bytes()).is_some();
        self.check_fields(record_is_text, may_hold_nul)
            .or_else(|error| {
                if record_is_text {
                    self.check_fields(false, may_hold_nul)
                } else {
                    Err(error)
                }
            })
    }

    /// Checks each field against its column; text fields that start on a character
    /// boundary only when `record_is_text` is false, and text fields for a NUL byte only when
    /// `check_nul` (the record holds one). A value with spaces around it (`1, 42`) in a typed
    /// column is taken without them, as PostgreSQL and SQLite take it: then
    /// [`Padded::Trimmed`], and [`push_record`](Self::push_record) drops them.
    fn check_fields(&self, record_is_text: bool, check_nul: bool) -> Result<Padded> {
        let columns = self.schema.columns();
        let path = || self.path.clone();
        let null_markers = self.options.has_null_markers();
        let mut padded = Padded::Exact;
        for (index, (column, field)) in columns.iter().zip(self.records.iter()).enumerate() {
            // An empty field is NULL already; only a marker needs looking up.
            let field = if null_markers && self.options.is_null(field) {
                &[][..]
            } else {
                field
            };
            if check_nul && column.ty == loader_batch::ColumnType::Text && field.contains(&0) {
                let (line, byte) = self.record_start();
                return Err(Error::Nul {
                    path: path(),
                    line,
                    byte,
                    column: self.file_columns.error_number(index),
                    name: column.name.clone(),
                });
            }
            let valid = match column.ty {
                loader_batch::ColumnType::Text
                    if record_is_text && field.first().is_none_or(|&b| b & 0xC0 != 0x80) =>
                {
                    true
                }
                ty => ty.accepts(field),
            };
            // A typed value with spaces around it (`1, 42`) is the value inside them, as
            // PostgreSQL's COPY and SQLite's type affinity read it; only a field that failed
            // is looked at again.
            let inside = if valid {
                None
            } else {
                crate::infer::padded_value(column.ty, field)
            };
            let field = match inside {
                Some(inside) => {
                    padded = Padded::Trimmed;
                    inside
                }
                None => field,
            };
            // The error, which says what was wrong, only for a field that failed.
            let checked = if valid || inside.is_some() {
                Ok(())
            } else {
                column.ty.check(field)
            };
            if let Err(source) = checked {
                let (line, byte) = self.record_start();
                return Err(Error::Value {
                    path: path(),
                    line,
                    byte,
                    column: self.file_columns.error_number(index),
                    name: column.name.clone(),
                    source,
                });
            }
            if self.guarded[index]
                && let Some(reason) = crate::infer::not_stored_as_written(column.ty, field)
            {
                let (line, byte) = self.record_start();
                return Err(Error::NotAsWritten {
                    path: path(),
                    line,
                    byte,
                    column: self.file_columns.error_number(index),
                    name: column.name.clone(),
                    found: String::from_utf8_lossy(&field[..field.len().min(64)]).into_owned(),
                    ty: column.ty,
                    reason,
                });
            }
        }
        Ok(padded)
    }

    fn next_batch(&mut self) -> Result<Option<ReservedBatch>> {
        if self.stopped_at.is_some() || (!self.pending && !self.read_record()?) {
            return Ok(None);
        }
        let columns = self.schema.len();
        let first_row_bytes = self.records.bytes().len();
        // The rest of the file bounds both what it can hold in fields and its row count, so
        // small files get small batches.
        let Position { byte: start, line } = self.records.record_position();
        let remaining =
            usize::try_from(self.size_bound.saturating_sub(start)).unwrap_or(usize::MAX);
        let (row_capacity, batch_bytes) = self.ramped_capacity();
        let (rows, bytes) = if first_row_bytes > batch_bytes {
            (1, first_row_bytes)
        } else {
            // Rows for the bytes the batch can hold, the rest of the file included: a small
            // file's first batch sized for a whole ramp step reserved several times the
            // rows the plan estimated (`batch_heap`).
            let rows = row_capacity
                .min(max_rows_in(remaining, columns))
                .min(row_capacity_for(
                    remaining,
                    &self.options,
                    self.mean_field_bytes,
                ));
            let bytes = batch_bytes
                .min(remaining)
                .min(bytes_for_rows(rows, self.mean_field_bytes));
            (rows, bytes.max(first_row_bytes))
        };
        let heap = RowBatch::heap_size_for(columns, rows, bytes) as u64;
        let reservation = self.reserve(heap).map_err(|source| {
            if rows == 1 {
                Error::RowTooLarge {
                    path: self.path.clone(),
                    line,
                    bytes: first_row_bytes,
                    source,
                }
            } else {
                Error::Memory {
                    path: self.path.clone(),
                    source,
                }
            }
        })?;
        let mut batch = RowBatch::with_capacity(columns, self.sequence, rows, bytes);
        batch.set_start(line, start);
        let counts_before = (self.rows_read, self.rows_rejected);
        loop {
            match self.check_record() {
                Err(error) => match self.reject(error) {
                    Ok(reject) => {
                        batch.push_reject(reject);
                        self.rows_rejected += 1;
                    }
                    Err(error) if batch.is_void() => return Err(error),
                    Err(error) => {
                        // Hand out the rows before the bad one; the error comes next call.
                        self.deferred = Some(error);
                        break;
                    }
                },
                Ok(padded) => self.push_record(&mut batch, padded == Padded::Trimmed),
            }
            match self.read_record() {
                Ok(true) if batch.has_room(self.records.bytes().len()) => {}
                Ok(_) => break,
                Err(error) => {
                    self.deferred = Some(error);
                    break;
                }
            }
        }
        let end = self.resume_point();
        batch.set_end(end.line, end.byte);
        let read = self.rows_read + self.rows_rejected;
        if self.policy.ratio_exceeded(self.rows_rejected, read) {
            // The batch that takes the file over the ratio is not handed out.
            let error = Error::TooManyRejects {
                path: self.path.clone(),
                line,
                byte: start,
                rejected: self.rows_rejected,
                read,
                limit: format!(
                    "--max-error-ratio {}",
                    self.policy.get_max_error_ratio().unwrap_or_default()
                ),
            };
            (self.rows_read, self.rows_rejected) = counts_before;
            self.deferred = None;
            return Err(error);
        }
        self.sequence += 1;
        self.batches_made = self.batches_made.saturating_add(1);
        Ok(Some(ReservedBatch { batch, reservation }))
    }

    /// Reserves a batch's bytes: waiting for them, or, running ahead of the part being
    /// consumed, taking them only while half the budget stays free (see `has_room_ahead`).
    fn reserve(&self, bytes: u64) -> loader_memory::Result<Reservation> {
        let Some(ahead) = &self.look_ahead else {
            return self.budget.reserve_blocking(bytes);
        };
        loop {
            ahead.wait_for_room(&self.budget, bytes);
            if ahead.consumed() {
                return self.budget.reserve_blocking(bytes);
            }
            match self.budget.try_reserve(bytes) {
                Ok(reservation) => return Ok(reservation),
                Err(error) if ahead.cancelled() || bytes > self.budget.capacity() => {
                    return Err(error);
                }
                // Another reader took the room first: wait again.
                Err(_) => {}
            }
        }
    }

    /// Makes this reader read one part of the file: it ends before the first record that
    /// starts at or after `stop_at`, and it may run ahead of the part being consumed.
    pub(crate) fn part(mut self, stop_at: Option<u64>, look_ahead: Option<LookAhead>) -> Self {
        if look_ahead.as_ref().is_some_and(|ahead| !ahead.consumed()) {
            // A part read ahead: no writer is waiting for its first batch.
            self.batches_made = u32::MAX;
        }
        self.stop_at = stop_at;
        self.look_ahead = look_ahead;
        self
    }

    /// Bytes of a plain file, which can be cut into parts; none for a compressed or
    /// transcoded one, whose size is not known before it is read.
    pub(crate) fn plain_size(&self) -> Option<u64> {
        (self.file_size != u64::MAX).then_some(self.file_size)
    }

    /// Where the record that ended this part starts, if one did (rather than the file's end).
    pub(crate) fn stopped_at(&self) -> Option<u64> {
        self.stopped_at
    }

    /// Rows and field bytes the next batch may hold. The first batches are small and double
    /// up to the configured size: the writer starts on the first one within milliseconds
    /// instead of idling while a full batch is read (a quarter second on the bench file).
    fn ramped_capacity(&self) -> (usize, usize) {
        let ramp = FIRST_BATCH_BYTES
            .checked_shl(self.batches_made)
            .unwrap_or(usize::MAX);
        if ramp >= self.batch_bytes {
            return (self.row_capacity, self.batch_bytes);
        }
        let rows = row_capacity_for(ramp, &self.options, self.mean_field_bytes);
        (rows, ramp)
    }

    /// Pushes the current record as the batch's next row; `trim`: a value in a typed column
    /// has spaces around it, which go (see [`check_fields`](Self::check_fields)).
    fn push_record(&mut self, batch: &mut RowBatch, trim: bool) {
        let Position { byte, line } = self.records.record_position();
        let options = &self.options;
        let pushed = if trim || options.has_null_markers() {
            let columns = self.schema.columns();
            let fields = self.records.iter().zip(columns).map(|(f, column)| {
                if options.is_null(f) {
                    &[][..]
                } else if trim && column.ty != loader_batch::ColumnType::Text {
                    f.trim_ascii()
                } else {
                    f
                }
            });
            batch.push_row(line, byte, fields)
        } else {
            // No field becomes NULL but the empty ones, which stay empty: the record's
            // fields, back to back as the parser keeps them, go in with one copy.
            let records = &self.records;
            batch.push_packed_row(line, byte, records.bytes(), records.ends().iter().copied())
        };
        pushed.expect("field count checked and batch sized below 2 GiB");
        if !self.text_columns.is_empty() {
            self.mark_empty_strings(batch);
        }
        self.rows_read += 1;
    }

    /// The reject entry for the current record, or the error that stops the file: the
    /// record's own under [`OnError::Fail`], [`Error::TooManyRejects`] past `max_errors`.
    fn reject(&self, error: Error) -> Result<loader_batch::RejectedRow> {
        if self.policy.on_error() == OnError::Fail {
            return Err(error);
        }
        if self.policy.count_exceeded(self.rows_rejected) {
            let (line, byte) = self.record_start();
            return Err(Error::TooManyRejects {
                path: self.path.clone(),
                line,
                byte,
                rejected: self.rows_rejected + 1,
                read: self.rows_read + self.rows_rejected + 1,
                limit: format!(
                    "--max-errors {}",
                    self.policy.get_max_errors().unwrap_or_default()
                ),
            });
        }
        error.to_reject(self.raw_record()).ok_or(error)
    }
}

/// A parser error as this crate's error: a record past the row limit becomes
/// [`Error::RowTooLong`] at the record's start.
fn read_error(path: &Path, limit: u64, error: ReadError) -> Error {
    match error {
        ReadError::RowTooLong { at } => Error::RowTooLong {
            path: path.to_path_buf(),
            line: at.line.max(1),
            byte: at.byte,
            limit,
        },
        ReadError::Io { error, at } => Error::ReadStopped {
            path: path.to_path_buf(),
            line: at.line.max(1),
            byte: at.byte,
            source: error,
        },
    }
}

impl Iterator for BatchReader {
    type Item = Result<ReservedBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(error) = self.deferred.take() {
            self.done = true;
            return Some(Err(error));
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

/// A record's raw bytes without the line terminator the parser read after it.
fn without_terminator(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

#[cfg(test)]
mod rewrite_tests;
/// A file's columns against the schema's: the schema holds the loaded ones, in order; the
/// file may have more (`--skip-column`), which records carry and rows do not.
#[derive(Debug)]
struct FileColumns {
    /// Per column of the file, its place in the schema; `None` when it is not loaded.
    loaded: Vec<Option<usize>>,
    /// Per column of the schema, its number in the file (from 1).
    numbers: Vec<usize>,
}

impl FileColumns {
    fn new(loaded_columns: usize, skipped: &[bool]) -> Self {
        let (mut loaded, mut numbers) = (Vec::new(), Vec::with_capacity(loaded_columns));
        let mut at = 0;
        while numbers.len() < loaded_columns {
            if skipped.get(at).copied().unwrap_or(false) {
                loaded.push(None);
            } else {
                loaded.push(Some(numbers.len()));
                numbers.push(at + 1);
            }
            at += 1;
        }
        // Skipped columns after the last loaded one.
        loaded.extend(skipped.iter().skip(at).filter(|&&s| s).map(|_| None));
        FileColumns { loaded, numbers }
    }

    /// Fields in the file's records.
    fn width(&self) -> usize {
        self.loaded.len()
    }

    /// The schema's column for the file's column `at` (from 0), if it is loaded.
    fn loaded(&self, at: usize) -> Option<usize> {
        self.loaded.get(at).copied().flatten()
    }

    /// The file's column number (from 1) of the schema's column `index`.
    fn number(&self, index: usize) -> usize {
        self.numbers.get(index).copied().unwrap_or(index + 1)
    }

    /// [`number`](Self::number), for an error: out of line, so that the checks of every
    /// field do not carry it (inlined, it cost about 1% of a dry run's instructions).
    #[cold]
    #[inline(never)]
    fn error_number(&self, index: usize) -> usize {
        self.number(index)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod inferred_tests;

#[cfg(test)]
mod quoted_tests;
