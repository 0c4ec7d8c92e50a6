//! The CSV record reader under [`BatchReader`](crate::BatchReader). It owns its read buffer,
//! splits most records itself and hands the rest to csv-core. Fields, positions and line
//! numbers are the csv crate's exactly (a property test reads random CSV both ways), so
//! resume points recorded before stay valid.
//!
//! Why not the csv crate's reader: its state machine takes every byte through a transition
//! table, which made it about 40% of a dry run's CPU. Most records of real files are fields
//! between delimiters, some in quotes without a quote inside. For those, a bit mask of the
//! structural bytes, 64 at a time, finds where each field ends (see [`plain`]). csv-core
//! still reads the first record (it strips a byte order mark), comments, text after a
//! closing quote, and every record when an escape byte is set. Owning the buffer also keeps the
//! current record's raw bytes for rejects without a second copy of the input.

mod plain;

use crate::formats::Rewrite;
use plain::{Block, Plain, Split};
use std::io::{self, Read, Seek, SeekFrom};

/// Where a record starts, or the reader stands: byte offset in the stream and 1-based line,
/// counted as the csv crate does (see [`Records::read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub byte: u64,
    pub line: u64,
}

/// Why a record could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Reading failed while the record starting at `at` was being read.
    Io { error: io::Error, at: Position },
    /// The record starting at `at` outgrew the row limit before it ended.
    RowTooLong { at: Position },
}

pub(crate) struct Records<R> {
    input: R,
    /// Input bytes; `buf[pos..filled]` are read but not yet parsed. It keeps everything from
    /// the current record's start, so that `raw` can give a rejected row's bytes.
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// Stream offset of `buf[0]`.
    buf_offset: u64,
    /// Line of `buf[pos]`.
    line: u64,
    eof: bool,
    /// csv-core said the input has ended, or reading it failed: no more records.
    done: bool,
    /// The current record is the input's last and ends inside a quoted field: csv-core
    /// takes the rest of the input as that field, where a truncated file is the likelier
    /// story.
    open_quote: bool,
    core: csv_core::Reader,
    /// What `core` was built from, to build another.
    dialect_builder: csv_core::ReaderBuilder,
    /// csv-core has read since it was created or reset. Until then the fast path stands
    /// aside: csv-core's first read strips a byte order mark.
    core_has_read: bool,
    plain: Option<Plain>,
    /// Where the fast path left off in its scan of structural bytes; cleared whenever the
    /// buffer moves or csv-core reads.
    block: Option<Block>,
    /// The current record's fields back to back (`fields[..ends[len - 1]]`) and where each
    /// ends. Both are kept longer than needed, as csv-core writes into slices; `fields` is
    /// at least as long as `buf`, so that the fast path never runs out of room.
    fields: Vec<u8>,
    ends: Vec<usize>,
    /// Where [`rewrite_fields`](Self::rewrite_fields) builds a record, kept between records.
    rewritten: Vec<u8>,
    rewritten_ends: Vec<usize>,
    len: usize,
    /// Where the current record's read began (before any blank lines it skipped).
    record_at: Position,
    /// Stream offsets found to be UTF-8, those found free of NUL bytes, and up to where the
    /// input has been looked at for both: checked a buffer at a time, not a record at a time
    /// (see `look_ahead`).
    utf8_valid: std::ops::Range<u64>,
    nul_free: std::ops::Range<u64>,
    raw_checked_to: u64,
    /// Whether the look-ahead searches for NUL bytes: only for a target that refuses them.
    search_nul: bool,
    max_row_bytes: u64,
    /// The stream offset past which nothing is read (see [`ending_at`](Self::ending_at)).
    end: u64,
}

impl<R: Read> Records<R> {
    /// A reader of `input` with a read buffer of `capacity` bytes, which grows only for a
    /// record longer than that, up to `max_row_bytes`.
    ///
    /// `dialect` is delimiter, quote, escape and comment, as `builder` was given.
    pub(crate) fn new(
        input: R,
        builder: csv_core::ReaderBuilder,
        dialect: (u8, u8, Option<u8>, Option<u8>),
        capacity: usize,
        max_row_bytes: u64,
    ) -> Self {
        let (delimiter, quote, escape, comment) = dialect;
        let capacity = capacity.max(64);
        Records {
            input,
            buf: vec![0; capacity],
            pos: 0,
            filled: 0,
            buf_offset: 0,
            line: 1,
            eof: false,
            done: false,
            open_quote: false,
            core: builder.build(),
            dialect_builder: builder,
            core_has_read: false,
            plain: Plain::new(delimiter, quote, escape, comment),
            block: None,
            fields: vec![0; capacity],
            ends: vec![0; 16],
            rewritten: Vec::new(),
            rewritten_ends: Vec::new(),
            len: 0,
            record_at: Position { byte: 0, line: 1 },
            utf8_valid: 0..0,
            nul_free: 0..0,
            raw_checked_to: 0,
            search_nul: false,
            max_row_bytes,
            end: u64::MAX,
        }
    }

    /// Reads nothing at or past stream offset `end`: the input ends there for this reader.
    pub(crate) fn ending_at(mut self, end: u64) -> Self {
        self.end = end;
        self
    }

    /// Searches the look-ahead for NUL bytes too (see [`raw_is_nul_free`](Self::raw_is_nul_free)),
    /// which a reader whose target refuses them needs; without it no record is known free.
    pub(crate) fn searching_nul(mut self, yes: bool) -> Self {
        self.search_nul = yes;
        self
    }

    /// Where the next read starts.
    pub(crate) fn position(&self) -> Position {
        Position {
            byte: self.buf_offset + self.pos as u64,
            line: self.line,
        }
    }

    /// Where the current record's read began: as the csv crate puts it, before the blank
    /// lines it skipped, and after a CRLF at the `\n` (csv-core ends a record at the `\r`).
    pub(crate) fn record_position(&self) -> Position {
        self.record_at
    }

    /// Whether the current record runs to the end of the input inside a quoted field, its
    /// closing quote missing (see [`read`](Self::read)).
    pub(crate) fn ends_in_open_quote(&self) -> bool {
        self.open_quote
    }

    /// Fields of the current record.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Makes the current record `columns` fields long when it is ragged in the way exports
    /// are: missing fields at its end are added, empty; empty fields past `columns` (a
    /// trailing delimiter) are dropped. Whether it has `columns` fields now: a record with
    /// more fields, not all of them empty, keeps them.
    pub(crate) fn fit_to(&mut self, columns: usize) -> bool {
        let end = self.ends().last().copied().unwrap_or(0);
        if self.len < columns {
            if self.ends.len() < columns {
                self.ends.resize(columns, 0);
            }
            self.ends[self.len..columns].fill(end);
            self.len = columns;
        } else if columns > 0 && self.ends()[columns - 1] == end {
            self.len = columns;
        }
        self.len == columns
    }

    /// Rewrites the current record's fields as `rewrite` says (see [`crate::formats`]),
    /// which is given each field's index and bytes and appends a field it rewrites to the
    /// output it is given, or drops it from the record. Fails with the index of the first
    /// field it finds invalid and what was expected there, leaving the record as read.
    pub(crate) fn rewrite_fields(
        &mut self,
        mut rewrite: impl FnMut(usize, &[u8], &mut Vec<u8>) -> Rewrite,
    ) -> Result<(), (usize, String)> {
        // Kept between records: no allocation once they are as long as a record.
        let (mut out, mut ends) = (
            std::mem::take(&mut self.rewritten),
            std::mem::take(&mut self.rewritten_ends),
        );
        out.clear();
        ends.clear();
        let (mut from, mut changed, mut result) = (0, false, Ok(()));
        for index in 0..self.len {
            let end = self.ends[index];
            let field = &self.fields[from..end];
            match rewrite(index, field, &mut out) {
                Rewrite::Keep => out.extend_from_slice(field),
                Rewrite::Rewritten => changed = true,
                Rewrite::Drop => {
                    changed = true;
                    from = end;
                    continue;
                }
                Rewrite::Invalid(expected) => {
                    result = Err((index, expected));
                    break;
                }
            }
            ends.push(out.len());
            from = end;
        }
        if result.is_ok() && changed {
            // A date may grow (`1.2.2024` is `2024-02-01`); `fields` only ever grows.
            if self.fields.len() < out.len() {
                self.fields.resize(out.len(), 0);
            }
            self.fields[..out.len()].copy_from_slice(&out);
            self.len = ends.len();
            self.ends[..self.len].copy_from_slice(&ends);
        }
        (self.rewritten, self.rewritten_ends) = (out, ends);
        result
    }

    /// The current record's fields back to back.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.fields[..self.ends().last().copied().unwrap_or(0)]
    }

    /// Where each field of the current record ends in [`bytes`](Self::bytes).
    pub(crate) fn ends(&self) -> &[usize] {
        &self.ends[..self.len]
    }

    /// The current record's fields.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let ends = self.ends();
        (0..ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &self.fields[start..ends[i]]
        })
    }

    /// Input bytes between two stream offsets, if still buffered: the current record's are.
    pub(crate) fn raw(&self, range: std::ops::Range<u64>) -> Option<&[u8]> {
        let start = usize::try_from(range.start.checked_sub(self.buf_offset)?).ok()?;
        let end = usize::try_from(range.end.checked_sub(self.buf_offset)?).ok()?;
        if end > self.filled {
            return None;
        }
        self.buf.get(start..end)
    }

    /// Whether the current record's raw bytes are known to be UTF-8, which makes every
    /// field UTF-8 (delimiters and quotes are ASCII, and taking ASCII bytes out of UTF-8
    /// leaves UTF-8). False when the look at the buffered input found a bad byte, and then
    /// the caller checks the record's fields itself.
    pub(crate) fn raw_is_utf8(&mut self) -> bool {
        let record = self.look_ahead();
        self.utf8_valid.start <= record.start && record.end <= self.utf8_valid.end
    }

    /// Whether the current record's raw bytes are known to hold no NUL byte, and so none of
    /// its fields (which are cut from them). False when the look at the buffered input found
    /// one, or did not search (see [`searching_nul`](Self::searching_nul)), and then the
    /// caller searches the record.
    pub(crate) fn raw_is_nul_free(&mut self) -> bool {
        let record = self.look_ahead();
        self.nul_free.start <= record.start && record.end <= self.nul_free.end
    }

    /// The current record's stream offsets, after checking the buffered input from it up to
    /// the last line end for UTF-8 and for NUL bytes, if it was not yet: one call each for
    /// many records (simdutf8 and memchr take many bytes at a time; one search per record
    /// was a twentieth of a load's CPU time).
    fn look_ahead(&mut self) -> std::ops::Range<u64> {
        let (start, end) = (self.record_at.byte, self.position().byte);
        if end > self.raw_checked_to {
            let from = usize::try_from(start - self.buf_offset).expect("the record is buffered");
            let buffered = &self.buf[from..self.filled];
            let chunk =
                memchr::memrchr(b'\n', buffered).map_or(buffered, |last| &buffered[..=last]);
            let chunk_end = start + chunk.len() as u64;
            let valid_from = |clean: bool| if clean { start..chunk_end } else { 0..0 };
            self.utf8_valid = valid_from(simdutf8::basic::from_utf8(chunk).is_ok());
            self.nul_free = valid_from(self.search_nul && memchr::memchr(0, chunk).is_none());
            self.raw_checked_to = chunk_end.max(end);
        }
        start..end
    }

    /// Passes over the input's first `lines` lines, whatever they hold (see
    /// [`CsvOptions::skip_lines`](crate::CsvOptions::skip_lines)); fewer when it ends first.
    /// Called before the first read.
    pub(crate) fn skip_lines(&mut self, mut lines: u64) -> Result<(), ReadError> {
        while lines > 0 {
            // The skipped bytes need not be kept: `fill` lets go of what is before this.
            self.record_at = self.position();
            match memchr::memchr(b'\n', &self.buf[self.pos..self.filled]) {
                Some(end) => {
                    self.pos += end + 1;
                    self.line += 1;
                    lines -= 1;
                }
                None if self.eof => {
                    self.pos = self.filled;
                    break;
                }
                None => self.fill()?,
            }
        }
        self.record_at = self.position();
        Ok(())
    }

    /// Passes over Excel's `sep=X` line when the input starts with one (see
    /// [`separator_line`](crate::dialect::separator_line)): it is neither header nor row, but
    /// a line, counted as one. Called before the first read.
    pub(crate) fn skip_separator_line(&mut self) -> Result<(), ReadError> {
        debug_assert_eq!(self.position(), Position { byte: 0, line: 1 });
        while self.filled < crate::dialect::SEPARATOR_LINE_MAX && !self.eof {
            self.fill()?;
        }
        let head = &self.buf[..self.filled];
        if let Some((_, len)) = crate::dialect::separator_line(head, self.eof) {
            self.line += u64::from(head[len - 1] == b'\n');
            self.pos = len;
        }
        Ok(())
    }

    /// Reads the next record; false at the end of the input.
    pub(crate) fn read(&mut self) -> Result<bool, ReadError> {
        self.record_at = self.position();
        self.len = 0;
        self.open_quote = false;
        if self.done {
            return Ok(false);
        }
        if self.core_has_read
            && let Some(plain) = self.plain
            && self.read_plain(&plain)?
        {
            return Ok(true);
        }
        self.read_with_core()
    }

    /// The fast path: skips blank lines, then splits the record at its structural bytes
    /// (see [`plain`]). False, having consumed nothing but blank lines, when csv-core must
    /// read the record (see [`Split::Core`]), it starts with a comment, or it is the
    /// input's last and has no line end.
    fn read_plain(&mut self, plain: &Plain) -> Result<bool, ReadError> {
        loop {
            // csv-core discards line ends at a record's start: blank lines.
            while self.pos < self.filled && matches!(self.buf[self.pos], b'\n' | b'\r') {
                self.line += u64::from(self.buf[self.pos] == b'\n');
                self.pos += 1;
            }
            if self.pos < self.filled && plain.comment == Some(self.buf[self.pos]) {
                return Ok(false);
            }
            let (split, len) = plain::split_record(
                plain,
                &self.buf[..self.filled],
                self.pos,
                &mut self.block,
                &mut self.fields,
                &mut self.ends,
            );
            match split {
                Split::Record { end, lines } => {
                    self.len = len;
                    self.pos = end;
                    self.line += lines;
                    return Ok(true);
                }
                Split::NeedMore if !self.eof => self.fill()?,
                Split::MoreFields => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                Split::NeedMore | Split::Core => return Ok(false),
            }
        }
    }

    /// The general path: csv-core reads the record, from where the fast path left off.
    fn read_with_core(&mut self) -> Result<bool, ReadError> {
        use csv_core::ReadRecordResult;
        self.block = None;
        let (mut out, mut ends) = (0, 0);
        loop {
            if self.pos == self.filled && !self.eof {
                self.fill()?;
            }
            let lines_before = self.core.line();
            let (result, read, written, ended) = self.core.read_record(
                &self.buf[self.pos..self.filled],
                &mut self.fields[out..],
                &mut self.ends[ends..],
            );
            self.core_has_read = true;
            self.pos += read;
            self.line += self.core.line() - lines_before;
            out += written;
            ends += ended;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let grown = self.fields.len() * 2;
                    self.fields.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    self.len = ends;
                    if self.eof && self.pos == self.filled {
                        self.open_quote = self.last_record_is_open();
                    }
                    return Ok(true);
                }
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(false);
                }
            }
        }
    }

    /// Whether the record just read, the input's last, ended only because the input did,
    /// inside a quoted field. csv-core accepts that silently; to tell, a fresh copy of it
    /// reads the record's bytes once more with a line end after them, which ends a record
    /// outside quotes and is taken into the field inside them. Once a file, at its end.
    fn last_record_is_open(&self) -> bool {
        let Some(raw) = self.raw(self.record_at.byte..self.position().byte) else {
            return false;
        };
        let mut input = Vec::with_capacity(raw.len() + 1);
        input.extend_from_slice(raw);
        input.push(b'\n');
        // A new reader from the builder: csv-core's `Clone` copies a reader's transition
        // table but not the rest of its state machine, and a clone ended records anywhere.
        let mut core = self.dialect_builder.build();
        let (mut fields, mut ends) = (vec![0; input.len()], vec![0; input.len() + 1]);
        let (result, ..) = core.read_record(&input, &mut fields, &mut ends);
        result == csv_core::ReadRecordResult::InputEmpty
    }

    /// Reads more input after `filled`, first letting go of the bytes before the current
    /// record, and growing the buffer when the record fills it.
    fn fill(&mut self) -> Result<(), ReadError> {
        self.block = None;
        let keep_from = usize::try_from(self.record_at.byte - self.buf_offset)
            .expect("the current record is buffered");
        if keep_from > 0 {
            self.buf.copy_within(keep_from..self.filled, 0);
            self.filled -= keep_from;
            self.pos -= keep_from;
            self.buf_offset += keep_from as u64;
        }
        if self.filled as u64 > self.max_row_bytes {
            self.done = true;
            return Err(ReadError::RowTooLong { at: self.record_at });
        }
        if self.filled == self.buf.len() {
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
            if self.fields.len() < grown {
                self.fields.resize(grown, 0);
            }
        }
        let room = self
            .end
            .saturating_sub(self.buf_offset + self.filled as u64)
            .min((self.buf.len() - self.filled) as u64) as usize;
        let read = loop {
            if room == 0 {
                break 0;
            }
            match self
                .input
                .read(&mut self.buf[self.filled..self.filled + room])
            {
                Ok(read) => break read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    self.done = true;
                    return Err(ReadError::Io {
                        error,
                        at: self.record_at,
                    });
                }
            }
        };
        self.eof = read == 0;
        self.filled += read;
        Ok(())
    }
}

impl<R: Read + Seek> Records<R> {
    /// Continues reading at stream offset `at`, which must be a record's start.
    pub(crate) fn seek(&mut self, at: Position) -> io::Result<()> {
        self.input.seek(SeekFrom::Start(at.byte))?;
        self.buf_offset = at.byte;
        self.line = at.line;
        (self.pos, self.filled, self.eof, self.done, self.len) = (0, 0, false, false, 0);
        self.open_quote = false;
        self.record_at = at;
        (self.utf8_valid, self.nul_free, self.raw_checked_to) = (0..0, 0..0, 0);
        self.core.reset();
        self.core_has_read = false;
        self.block = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
