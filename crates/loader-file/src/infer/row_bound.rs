//! The sample's input, bounded by the row limit: a record longer than
//! [`CsvOptions::max_row_bytes`](crate::CsvOptions::max_row_bytes) is never held whole.
//!
//! The sample reads records with the csv crate, which holds each record whole, however
//! long. A quote that opens and never closes makes the rest of the file one record, so a
//! file of many gigabytes with one stray quote near its top had the plan hold all of it
//! (300 MB of such a file: 534 MB peak under `--memory-limit 64MiB`). [`RowBound`] stops
//! handing bytes to the reader once the record being read is past the limit; the reader
//! then fails with an I/O error that [`passed`] recognises.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Bytes the readers above [`RowBound`] may hold read but not yet parsed (a 64 KiB
/// `BufReader` under the csv crate's 256 KiB buffer), with room to spare: a record is past
/// the limit only when more than this was handed over beyond it.
const READ_AHEAD: u64 = 1 << 20;

/// Where the record being read starts, set by the sample before each record; `None` while
/// no record is being read (the lines skipped above the table), which are not bounded.
pub(super) type RecordStart = Rc<Cell<Option<u64>>>;

/// `input`, refusing to read more than `limit` bytes (and the read-ahead) past the start of
/// the record being read.
pub(super) struct RowBound<R> {
    input: R,
    handed: u64,
    record_start: RecordStart,
    limit: u64,
}

impl<R> RowBound<R> {
    pub(super) fn new(input: R, limit: u64) -> Self {
        RowBound {
            input,
            handed: 0,
            record_start: Rc::new(Cell::new(None)),
            limit,
        }
    }

    /// Where the sample says each record starts, in bytes of `input`.
    pub(super) fn record_start(&self) -> RecordStart {
        Rc::clone(&self.record_start)
    }
}

/// The error a read past the limit fails with.
#[derive(Debug)]
struct PastRowLimit;

impl std::fmt::Display for PastRowLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record past the row limit")
    }
}

impl std::error::Error for PastRowLimit {}

impl<R: Read> Read for RowBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(start) = self.record_start.get()
            && self.handed > start.saturating_add(self.limit).saturating_add(READ_AHEAD)
        {
            return Err(io::Error::other(PastRowLimit));
        }
        let read = self.input.read(buf)?;
        self.handed += read as u64;
        Ok(read)
    }
}

/// Whether the csv reader failed because its record went past the row limit.
pub(super) fn passed(error: &csv::Error) -> bool {
    match error.kind() {
        csv::ErrorKind::Io(io) => io.get_ref().is_some_and(|e| e.is::<PastRowLimit>()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_flow_until_the_record_passes_the_limit_and_lines_before_any_record_are_free() {
        let text = vec![b'x'; 8 << 20];
        let mut bounded = RowBound::new(&text[..], 1 << 20);
        let start = bounded.record_start();
        let mut buf = vec![0; 256 << 10];
        // No record yet: 1 MiB reads on.
        for _ in 0..4 {
            assert_eq!(bounded.read(&mut buf).unwrap(), buf.len());
        }
        // A record from 512 KiB on: reads go on until more than the limit and the
        // read-ahead past its start were handed over, then fail.
        start.set(Some(512 << 10));
        let failed = loop {
            match bounded.read(&mut buf) {
                Ok(read) => assert_eq!(read, buf.len()),
                Err(error) => break error,
            }
        };
        assert!(failed.get_ref().is_some_and(|e| e.is::<PastRowLimit>()));
        let past = (512 << 10) + (1 << 20) + READ_AHEAD;
        assert!(bounded.handed > past && bounded.handed <= past + buf.len() as u64);
        // The next record starts afresh.
        start.set(Some(bounded.handed));
        assert_eq!(bounded.read(&mut buf).unwrap(), buf.len());
    }
}
