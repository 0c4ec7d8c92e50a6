//! A reader between the input and the CSV parser that keeps the bytes of the record being
//! parsed, so that a rejected row can be quarantined exactly as read, and that refuses a
//! record longer than the row limit before the parser grows a buffer for it.

use std::io::{self, Read, Seek, SeekFrom};

/// The error a [`Tap`] returns when a record outgrows the row limit; the reader turns it
/// into [`Error::RowTooLarge`](crate::Error::RowTooLarge).
#[derive(Debug)]
pub(crate) struct RowLimitExceeded {
    /// Stream offset of the record that is too long.
    pub record_start: u64,
}

impl std::fmt::Display for RowLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the row starting at byte {} is too long",
            self.record_start
        )
    }
}

impl std::error::Error for RowLimitExceeded {}

pub(crate) struct Tap<R> {
    inner: R,
    /// Bytes from stream offset `kept_from` up to `position`, when capturing.
    kept: Vec<u8>,
    kept_from: u64,
    /// Stream offset of the next byte `inner` will yield.
    position: u64,
    /// Start of the record being parsed: nothing before it is needed any more.
    record_start: u64,
    capture: bool,
    /// Most bytes of one record. The parser asks for more input only once it has used all
    /// it had, so at each read everything since `record_start` belongs to the current record.
    max_row_bytes: u64,
}

impl<R> Tap<R> {
    pub(crate) fn new(inner: R, capture: bool, max_row_bytes: u64) -> Self {
        Tap {
            inner,
            kept: Vec::new(),
            kept_from: 0,
            position: 0,
            record_start: 0,
            capture,
            max_row_bytes,
        }
    }

    /// The parser has finished every record before `offset`.
    #[inline]
    pub(crate) fn record_starts_at(&mut self, offset: u64) {
        self.record_start = offset;
    }

    /// The bytes of `range` (stream offsets), if they are still kept.
    pub(crate) fn raw(&self, range: std::ops::Range<u64>) -> Option<&[u8]> {
        let start = usize::try_from(range.start.checked_sub(self.kept_from)?).ok()?;
        let end = usize::try_from(range.end.checked_sub(self.kept_from)?).ok()?;
        self.kept.get(start..end)
    }
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position.saturating_sub(self.record_start) > self.max_row_bytes {
            return Err(io::Error::other(RowLimitExceeded {
                record_start: self.record_start,
            }));
        }
        let read = self.inner.read(buf)?;
        if self.capture {
            // The parser asks for more only once it has used what it had, so what is kept
            // after this is the current record's start plus the new bytes.
            let done = usize::try_from(self.record_start.saturating_sub(self.kept_from))
                .unwrap_or(usize::MAX)
                .min(self.kept.len());
            self.kept.drain(..done);
            self.kept_from += done as u64;
            self.kept.extend_from_slice(&buf[..read]);
        }
        self.position += read as u64;
        Ok(read)
    }
}

impl<R: Seek> Seek for Tap<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let at = self.inner.seek(pos)?;
        self.kept.clear();
        self.kept_from = at;
        self.position = at;
        self.record_start = at;
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_current_record_across_reads() {
        let mut tap = Tap::new(&b"aaaa\nbbbbbb\ncc\n"[..], true, 1 << 20);
        let mut buf = [0; 4];
        assert_eq!(tap.read(&mut buf).unwrap(), buf.len());
        tap.record_starts_at(5);
        assert_eq!(tap.read(&mut buf).unwrap(), buf.len());
        assert_eq!(tap.read(&mut buf).unwrap(), buf.len());
        assert_eq!(tap.raw(5..11), Some(&b"bbbbbb"[..]));
        tap.record_starts_at(12);
        assert_eq!(tap.read(&mut buf).unwrap(), 3);
        assert_eq!(tap.raw(12..14), Some(&b"cc"[..]));
        assert_eq!(tap.raw(5..11), None, "bytes of finished records are let go");
    }

    #[test]
    fn refuses_a_record_past_the_limit() {
        let data = [b'x'; 100];
        let mut tap = Tap::new(&data[..], false, 14);
        let mut buf = [0; 8];
        assert_eq!(tap.read(&mut buf).unwrap(), buf.len());
        assert_eq!(tap.read(&mut buf).unwrap(), buf.len());
        let error = tap.read(&mut buf).unwrap_err();
        assert!(error.get_ref().unwrap().is::<RowLimitExceeded>());
    }
}
