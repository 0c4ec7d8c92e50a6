//! One large file read by several threads, its batches handed out in file order.
//!
//! The file is cut at line starts into parts of about one batch each, dealt out in turn to
//! the threads: with two, one reads parts 0, 2, 4, ... and the other 1, 3, 5, .... Each part
//! goes into a queue of its own, and the queues are emptied part after part, so whoever
//! consumes the batches sees what one [`BatchReader`] would have given: the same rows in
//! the same order, batch ends that are resume points, the first error first. A thread
//! reads its next part while the one before it is consumed, which is where the speed comes
//! from; it holds at most that part in memory, and only while the budget has as much again
//! to spare, so it never starves the part the writer waits for.
//!
//! A cut can fall inside a quoted field that spans lines. That is found when the part
//! before it ends: its last record must end exactly at the cut, where the next part began.
//! If it does not, the part after the cut is dropped before anything of it was handed out,
//! and a reader on the consuming thread goes on from where the part before ended to the
//! next cut that holds.
//!
//! Only plain UTF-8 files, that a reader can seek in, are cut; and only under a bad-row
//! policy without `max_errors` or `max_error_ratio`, whose counts run across the whole file.

use crate::reader::LookAhead;
use crate::{BatchReader, CsvOptions, Error, ReservedBatch, Result, ResumePoint};
use loader_batch::Schema;
use loader_memory::MemoryBudget;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// How many parts a [`ParallelReader`] may cut a file into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    threads: usize,
    min_file_bytes: u64,
    part_bytes: Option<u64>,
}

impl Parallelism {
    /// Files smaller than this are read by one thread by default: parts of a few megabytes
    /// gain less than the threads cost.
    pub const MIN_FILE_BYTES: u64 = 32 << 20;

    /// Largest part cut by default: smaller parts share the work out more evenly at the end
    /// of a file and hold less memory ahead (measured on the bench file: parts of 1-4 MiB
    /// read it faster than parts of 12 MiB).
    pub const MAX_PART_BYTES: u64 = 4 << 20;

    /// Up to `threads` parts (one when 0 or 1), for files of [`Self::MIN_FILE_BYTES`] or more.
    pub fn new(threads: usize) -> Self {
        Parallelism {
            threads: threads.max(1),
            min_file_bytes: Self::MIN_FILE_BYTES,
            part_bytes: None,
        }
    }

    /// Cuts files of `bytes` or more (tests cut small files).
    #[must_use]
    pub fn min_file_bytes(mut self, bytes: u64) -> Self {
        self.min_file_bytes = bytes;
        self
    }

    /// Cuts parts of about `bytes` (by default about one batch: the raw text of as many rows
    /// as a batch holds, or its byte size, whichever is less, and at most
    /// [`Self::MAX_PART_BYTES`]).
    #[must_use]
    pub fn part_bytes(mut self, bytes: u64) -> Self {
        self.part_bytes = Some(bytes);
        self
    }

    /// Threads a file may be read by.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

/// Reads one file in parts on several threads and hands its batches out in file order.
///
/// With one thread, or a file that is not cut (compressed, transcoded, smaller than
/// [`Parallelism::min_file_bytes`], or under a bad-row limit), it is a plain [`BatchReader`].
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use loader_file::{sample_file, CsvOptions, ParallelReader, Parallelism};
/// use loader_memory::MemoryBudget;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.csv");
/// std::fs::write(&path, "id\n1\n2\n3\n").unwrap();
/// let options = CsvOptions::default();
/// let sample = sample_file(&path, &options).unwrap();
/// let budget = MemoryBudget::new(16 << 20);
/// let reader = ParallelReader::open(&path, &options, Arc::new(sample.schema.clone()), sample.mean_field_bytes, budget, None, Parallelism::new(2)).unwrap();
/// assert_eq!(reader.parts(), 1, "a small file is not cut");
/// let rows: usize = reader.map(|b| b.unwrap().batch.len()).sum();
/// assert_eq!(rows, 3);
/// ```
pub struct ParallelReader {
    /// The part being handed out.
    current: Source,
    /// Parts after it, in file order.
    ahead: VecDeque<Part>,
    /// What a reader of the file is opened with, for the rest of the file after a cut that
    /// fell inside a record.
    open: OpenArgs,
    /// Tells the threads to stop.
    stop: Arc<AtomicBool>,
    parts: usize,
    sequence: u64,
    rows_read: u64,
    rows_rejected: u64,
    done: bool,
}

/// Where the current part's batches come from.
enum Source {
    /// A reader on this thread: the whole file when it is not cut, or the rest of it after
    /// a bad cut.
    Here(Box<BatchReader>),
    /// A part read by one of the threads.
    Ahead(Part),
}

/// The consuming end of one part's queue.
struct Part {
    start: u64,
    batches: Receiver<Result<ReservedBatch>>,
    /// How the part ended, sent after its last batch.
    end: Receiver<PartEnd>,
    consumed: Arc<AtomicBool>,
    /// Set when the part is dropped unread (a bad cut, or the end of the reading), so that a
    /// thread waiting to read it ahead gives up and goes on with its next part.
    cancelled: Arc<AtomicBool>,
}

impl Drop for Part {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Release);
    }
}

/// The reading end of one part: where it starts and ends, and where its batches go.
struct Job {
    cut: Cut,
    stop: Option<u64>,
    /// The reader already open at the part's start (the first part's).
    reader: Option<BatchReader>,
    batches: SyncSender<Result<ReservedBatch>>,
    end: SyncSender<PartEnd>,
    look_ahead: LookAhead,
}

/// How a part ended: where the record that ended it starts (none at the file's end), and
/// where a reader would go on from.
#[derive(Debug, Clone, Copy)]
struct PartEnd {
    stopped_at: Option<u64>,
    resume: ResumePoint,
}

impl PartEnd {
    fn of(reader: &BatchReader) -> Self {
        PartEnd {
            stopped_at: reader.stopped_at(),
            resume: reader.resume_point(),
        }
    }
}

#[derive(Clone)]
struct OpenArgs {
    path: PathBuf,
    options: CsvOptions,
    schema: Arc<Schema>,
    mean_field_bytes: f64,
    budget: MemoryBudget,
}

impl OpenArgs {
    fn reader(&self, resume: Option<ResumePoint>) -> Result<BatchReader> {
        BatchReader::open(
            &self.path,
            &self.options,
            Arc::clone(&self.schema),
            self.mean_field_bytes,
            self.budget.clone(),
            resume,
        )
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// Where a part starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cut {
    /// The first byte of the line.
    start: u64,
    /// Where its reader starts: the line start, or the `\n` of a CRLF before it, where the
    /// parser of the part before would start the record too (and give it the same position).
    seek: u64,
}

/// Line starts after `from`, about every `every` bytes.
fn cuts(path: &Path, from: u64, size: u64, every: u64) -> std::io::Result<Vec<Cut>> {
    let mut file = BufReader::with_capacity(64 << 10, std::fs::File::open(path)?);
    let mut cuts: Vec<Cut> = Vec::new();
    let mut guess = from + every;
    let mut line = Vec::new();
    while guess < size {
        file.seek(SeekFrom::Start(guess))?;
        line.clear();
        let start = guess + file.read_until(b'\n', &mut line)? as u64;
        if line.last() != Some(&b'\n') || start >= size {
            break;
        }
        let mut before = [0u8; 1];
        file.seek(SeekFrom::Start(start - 2))?;
        file.read_exact(&mut before)?;
        let seek = if before == [b'\r'] { start - 1 } else { start };
        cuts.push(Cut { start, seek });
        guess = start + every;
    }
    Ok(cuts)
}

/// Counts line feeds while a thread moves from part to part: the parser counts lines by them.
struct LineCounter {
    file: BufReader<std::fs::File>,
    at: u64,
    lines: u64,
}

impl LineCounter {
    fn open(path: &Path) -> std::io::Result<Self> {
        Ok(LineCounter {
            file: BufReader::with_capacity(256 << 10, std::fs::File::open(path)?),
            at: 0,
            lines: 0,
        })
    }

    /// Line feeds before `byte`, which is at or after the last one asked for.
    fn before(&mut self, byte: u64) -> std::io::Result<u64> {
        let mut left = byte - self.at;
        while left > 0 {
            let buffer = self.file.fill_buf()?;
            if buffer.is_empty() {
                break;
            }
            let take = buffer
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            self.lines += count_line_feeds(&buffer[..take]);
            self.file.consume(take);
            left -= take as u64;
        }
        self.at = byte;
        Ok(self.lines)
    }
}

/// Line feeds in `bytes`. Counted 255 bytes at a time into a byte, which the compiler turns
/// into vector compares: a plain `filter().count()` cost a tenth of a parallel dry run.
fn count_line_feeds(bytes: &[u8]) -> u64 {
    let chunks = bytes.chunks_exact(255);
    let tail = chunks.remainder();
    let mut lines: u64 = chunks
        .map(|chunk| {
            u64::from(
                chunk
                    .iter()
                    .fold(0u8, |count, &b| count.wrapping_add(u8::from(b == b'\n'))),
            )
        })
        .sum();
    lines += tail.iter().filter(|&&b| b == b'\n').count() as u64;
    lines
}

/// One thread's parts, in file order.
fn read_parts(open: &OpenArgs, jobs: Vec<Job>, stop: &AtomicBool) {
    let mut lines = match LineCounter::open(&open.path) {
        Ok(lines) => lines,
        Err(error) => {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.batches.send(Err(open.io(error)));
            }
            return;
        }
    };
    for job in jobs {
        if stop.load(Ordering::Acquire) {
            return;
        }
        read_part(open, job, &mut lines);
    }
}

/// Reads one part into its queue. A part dropped unread (its queue gone) or ending in an
/// error ends here; the thread goes on with its next part, which the consumer may still
/// want (a part after a bad cut is dropped, the ones after it are not).
fn read_part(open: &OpenArgs, job: Job, lines: &mut LineCounter) {
    // A reader's buffer is taken like its batches: running ahead, only from the free half.
    job.look_ahead
        .wait_for_room(&open.budget, BatchReader::BUFFER_BYTES);
    if job.look_ahead.cancelled() {
        return;
    }
    let reader = match job.reader {
        Some(reader) => Ok(reader),
        None => lines
            .before(job.cut.seek)
            .map_err(|e| open.io(e))
            .and_then(|before| {
                open.reader(Some(ResumePoint {
                    byte: job.cut.seek,
                    line: before + 1,
                    sequence: 0,
                }))
            }),
    };
    let mut reader = match reader {
        Ok(reader) => reader.part(job.stop, Some(job.look_ahead)),
        Err(error) => {
            let _ = job.batches.send(Err(error));
            return;
        }
    };
    for batch in reader.by_ref() {
        let failed = batch.is_err();
        if job.batches.send(batch).is_err() || failed {
            return;
        }
    }
    let _ = job.end.send(PartEnd::of(&reader));
}

/// Deals the parts (the first, already open as `first`, and one after each cut) out to
/// `threads` threads in turn, starts the threads and returns the parts' queues in file order.
fn start_threads(
    open: &OpenArgs,
    first: BatchReader,
    cuts: &[Cut],
    from: ResumePoint,
    threads: usize,
    stop: &Arc<AtomicBool>,
) -> VecDeque<Part> {
    let mut first = Some(first);
    let mut parts = VecDeque::with_capacity(cuts.len() + 1);
    let mut jobs: Vec<Vec<Job>> = (0..threads).map(|_| Vec::new()).collect();
    let starts = std::iter::once(Cut {
        start: from.byte,
        seek: from.byte,
    })
    .chain(cuts.iter().copied());
    for (index, cut) in starts.enumerate() {
        // Two batches: a part is about one batch of field bytes, and its last may be short.
        let (batches_in, batches) = sync_channel(2);
        let (end_in, end) = sync_channel(1);
        let look_ahead = LookAhead {
            consumed: Arc::new(AtomicBool::new(index == 0)),
            cancelled: Arc::new(AtomicBool::new(false)),
        };
        parts.push_back(Part {
            start: cut.start,
            batches,
            end,
            consumed: Arc::clone(&look_ahead.consumed),
            cancelled: Arc::clone(&look_ahead.cancelled),
        });
        jobs[index % threads].push(Job {
            cut,
            stop: cuts.get(index).map(|next| next.start),
            reader: first.take(),
            batches: batches_in,
            end: end_in,
            look_ahead,
        });
    }
    for jobs in jobs {
        let open = open.clone();
        let stop = Arc::clone(stop);
        // Detached: a thread ends by itself once its parts are read or dropped.
        let _ = std::thread::Builder::new()
            .name("loader-read-part".into())
            .spawn(move || read_parts(&open, jobs, &stop));
    }
    parts
}

impl std::fmt::Debug for ParallelReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelReader")
            .field("path", &self.open.path)
            .field("parts", &self.parts)
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl ParallelReader {
    /// Opens `path` as [`BatchReader::open`] does, to read it in parts as `parallelism` allows.
    ///
    /// # Errors
    ///
    /// As [`BatchReader::open`]; [`Error::Io`] when the file cannot be read to find the cuts.
    pub fn open(
        path: &Path,
        options: &CsvOptions,
        schema: Arc<Schema>,
        mean_field_bytes: f64,
        budget: MemoryBudget,
        resume: Option<ResumePoint>,
        parallelism: Parallelism,
    ) -> Result<Self> {
        let open = OpenArgs {
            path: path.to_path_buf(),
            options: options.clone(),
            schema,
            mean_field_bytes,
            budget,
        };
        let first = open.reader(resume)?;
        let from = first.resume_point();
        let policy = options.get_bad_rows();
        let size = first
            .plain_size()
            .filter(|&size| size >= parallelism.min_file_bytes);
        // About one batch of raw text, whichever of its limits comes first.
        let batch_text = (options.get_batch_rows() as f64
            * (mean_field_bytes + 1.0)
            * open.schema.len() as f64) as u64;
        let every = parallelism
            .part_bytes
            .unwrap_or_else(|| {
                batch_text
                    .min(options.get_batch_bytes() as u64)
                    .min(Parallelism::MAX_PART_BYTES)
            })
            .max(1);
        // The part being consumed must find what it needs (its read buffer and three
        // batches) in half the budget: parts read ahead leave that half free.
        let part_options = options
            .clone()
            .batch_bytes(usize::try_from(every).unwrap_or(usize::MAX));
        let part_heap =
            BatchReader::batch_heap(&part_options, open.schema.len(), mean_field_bytes, every);
        let roomy = open.budget.capacity() / 2 >= BatchReader::BUFFER_BYTES + 3 * part_heap;
        let cuts = match size {
            Some(size)
                if parallelism.threads > 1
                    && roomy
                    && policy.get_max_errors().is_none()
                    && policy.get_max_error_ratio().is_none() =>
            {
                cuts(path, from.byte, size, every).map_err(|e| open.io(e))?
            }
            _ => Vec::new(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let parts = cuts.len() + 1;
        let (current, ahead) = if cuts.is_empty() {
            (Source::Here(Box::new(first)), VecDeque::new())
        } else {
            let mut ahead = start_threads(&open, first, &cuts, from, parallelism.threads, &stop);
            match ahead.pop_front() {
                Some(part) => (Source::Ahead(part), ahead),
                None => return Err(part_lost(path)),
            }
        };
        Ok(ParallelReader {
            current,
            ahead,
            parts,
            open,
            stop,
            sequence: from.sequence,
            rows_read: 0,
            rows_rejected: 0,
            done: false,
        })
    }

    /// Good records handed out in batches so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Bad records handed out in batches as rejects so far.
    pub fn rows_rejected(&self) -> u64 {
        self.rows_rejected
    }

    /// Parts the file was cut into (1 when it was not cut).
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// The next batch in file order; `None` at the end of the file.
    fn next_batch(&mut self) -> Option<Result<ReservedBatch>> {
        loop {
            let ended = match &mut self.current {
                Source::Here(reader) => match reader.next() {
                    Some(item) => return Some(item),
                    None => PartEnd::of(reader),
                },
                Source::Ahead(part) => match part.batches.recv() {
                    Ok(item) => return Some(item),
                    Err(_) => match part.end.recv() {
                        Ok(end) => end,
                        Err(_) => return Some(Err(part_lost(&self.open.path))),
                    },
                },
            };
            // At the end of the file every part is done with.
            let Some(stopped_at) = ended.stopped_at else {
                self.ahead.clear();
                return None;
            };
            // A part that starts before where this one stopped was cut inside a record (a
            // quoted field over several lines), which this part read whole: it is dropped
            // unread, and this thread reads on to the next good cut.
            while self
                .ahead
                .front()
                .is_some_and(|next| next.start < stopped_at)
            {
                self.ahead.pop_front();
            }
            let next_start = self.ahead.front().map(|next| next.start);
            if next_start == Some(stopped_at) {
                if let Some(next) = self.ahead.pop_front() {
                    next.consumed.store(true, Ordering::Release);
                    self.current = Source::Ahead(next);
                }
                continue;
            }
            match self.open.reader(Some(ended.resume)) {
                Ok(reader) => self.current = Source::Here(Box::new(reader.part(next_start, None))),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

fn part_lost(path: &Path) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other("a thread reading part of the file stopped unexpectedly"),
    }
}

impl Iterator for ParallelReader {
    type Item = Result<ReservedBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut item = self.next_batch();
        match &mut item {
            Some(Ok(reserved)) => {
                reserved.batch.set_sequence(self.sequence);
                self.sequence += 1;
                self.rows_read += reserved.batch.len() as u64;
                self.rows_rejected += reserved.batch.rejects().len() as u64;
            }
            Some(Err(_)) | None => {
                self.done = true;
                self.stop.store(true, Ordering::Release);
                self.ahead.clear();
            }
        }
        item
    }
}

impl Drop for ParallelReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
