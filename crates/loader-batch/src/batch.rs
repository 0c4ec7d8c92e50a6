use crate::{Error, RejectedRow, Result};
use std::ops::Range;

/// The bit of a field end that marks the field an empty string rather than NULL. Field data
/// stays below it: a batch holds less than 2 GiB of fields.
const EMPTY_TEXT: u32 = 1 << 31;

/// Rows of one source file, stored as field bytes in one contiguous buffer.
///
/// Field `c` of row `r` is `data[field_ends[r * columns + c - 1]..field_ends[r * columns + c]]`
/// (with 0 as the start of the very first field, and the empty-string mark masked off each
/// end).
/// An empty field is NULL, unless it is marked an empty string
/// ([`set_empty_text`](Self::set_empty_text)): CSV's quoted `""`, which PostgreSQL's own
/// `COPY` also reads as an empty string. Each row also keeps the line it started
/// on and its byte offset in the source, so that errors can point at it and a resumed load can
/// seek past committed rows. [`end_offset`](Self::end_offset) is where the row after the
/// batch starts.
///
/// Rows the bad-row policy rejected travel with the batch as [`RejectedRow`]s, in source
/// order; each belongs to the sub-batch whose [`byte_range`](Self::byte_range) covers it, so
/// that it is quarantined in the same transaction as its neighbours are loaded. A batch may
/// hold only rejects and no rows.
///
/// # Example
///
/// ```
/// use loader_batch::RowBatch;
/// let mut batch = RowBatch::new(2, 7);
/// batch.push_row(2, 10, [&b"1"[..], b"ann"]).unwrap();
/// batch.push_row(3, 16, [&b"2"[..], b""]).unwrap();
/// batch.set_end(4, 21);
/// assert_eq!(batch.len(), 2);
/// assert_eq!(batch.field(0, 1), b"ann");
/// assert_eq!(batch.byte_range(0..2), 10..21);
/// assert!(batch.heap_size() >= 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowBatch {
    sequence: u64,
    columns: usize,
    data: Vec<u8>,
    field_ends: Vec<u32>,
    lines: Vec<u64>,
    offsets: Vec<u64>,
    end_line: u64,
    end_offset: u64,
    /// Where the batch starts in the source, when it was set (a reject may come first).
    start: Option<(u64, u64)>,
    rejects: Vec<RejectedRow>,
    /// Heap bytes held by `rejects`, counted against the data capacity.
    reject_bytes: usize,
}

impl RowBatch {
    /// An empty batch of `columns` columns; `sequence` numbers it within its file.
    pub fn new(columns: usize, sequence: u64) -> Self {
        RowBatch {
            sequence,
            columns,
            data: Vec::new(),
            field_ends: Vec::new(),
            lines: Vec::new(),
            offsets: Vec::new(),
            end_line: 0,
            end_offset: 0,
            start: None,
            rejects: Vec::new(),
            reject_bytes: 0,
        }
    }

    /// An empty batch with room for `rows` rows and `bytes` field bytes.
    pub fn with_capacity(columns: usize, sequence: u64, rows: usize, bytes: usize) -> Self {
        RowBatch {
            data: Vec::with_capacity(bytes),
            field_ends: Vec::with_capacity(rows * columns),
            lines: Vec::with_capacity(rows),
            offsets: Vec::with_capacity(rows),
            ..RowBatch::new(columns, sequence)
        }
    }

    /// Appends a row that started on `line` at byte `offset` of the source.
    ///
    /// # Errors
    ///
    /// [`Error::FieldCount`] when the row does not have exactly one field per column; the
    /// batch is left unchanged.
    pub fn push_row<'a>(
        &mut self,
        line: u64,
        offset: u64,
        fields: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<()> {
        let data_len = self.data.len();
        let ends_len = self.field_ends.len();
        let mut found = 0;
        for field in fields {
            found += 1;
            self.data.extend_from_slice(field);
            // Offsets are u32 to halve their memory; batches are far below 2 GiB.
            let Some(end) = u32::try_from(self.data.len())
                .ok()
                .filter(|&e| e < EMPTY_TEXT)
            else {
                self.data.truncate(data_len);
                self.field_ends.truncate(ends_len);
                return Err(Error::BatchTooLarge);
            };
            self.field_ends.push(end);
        }
        if found != self.columns {
            self.data.truncate(data_len);
            self.field_ends.truncate(ends_len);
            return Err(Error::FieldCount {
                expected: self.columns,
                found,
            });
        }
        self.lines.push(line);
        self.offsets.push(offset);
        Ok(())
    }

    /// Appends a row whose fields lie back to back in `fields`, field `i` ending at
    /// `ends[i]` (offsets into `fields`, rising): one copy for the whole row, as a parser
    /// that keeps a record's fields together hands them over.
    ///
    /// # Errors
    ///
    /// As [`push_row`](Self::push_row); [`Error::FieldCount`] as well when an end lies
    /// outside `fields` or before the one before it. The batch is left unchanged.
    ///
    /// # Example
    ///
    /// ```
    /// use loader_batch::RowBatch;
    /// let mut batch = RowBatch::new(2, 0);
    /// batch.push_packed_row(2, 8, b"1ann", [1, 4]).unwrap();
    /// assert_eq!(batch.field(0, 1), b"ann");
    /// ```
    pub fn push_packed_row(
        &mut self,
        line: u64,
        offset: u64,
        fields: &[u8],
        ends: impl IntoIterator<Item = usize>,
    ) -> Result<()> {
        let base = self.data.len();
        if base + fields.len() >= EMPTY_TEXT as usize {
            return Err(Error::BatchTooLarge);
        }
        // Every end is checked, but only once all are in: one pass that the compiler keeps
        // free of branches, and a truncate when the row was wrong.
        let ends_len = self.field_ends.len();
        let (mut found, mut previous, mut in_order) = (0, 0, true);
        self.field_ends.extend(ends.into_iter().map(|end| {
            found += 1;
            in_order &= end >= previous && end <= fields.len();
            previous = end;
            // In range whenever `in_order` holds, as the check above covered the whole row.
            (base + end) as u32
        }));
        if !in_order || found != self.columns || previous != fields.len() {
            self.field_ends.truncate(ends_len);
            return Err(Error::FieldCount {
                expected: self.columns,
                found,
            });
        }
        self.data.extend_from_slice(fields);
        self.lines.push(line);
        self.offsets.push(offset);
        Ok(())
    }

    /// Marks field `column` of the last row an empty string rather than NULL (CSV's quoted
    /// `""`). Sinks store it as text of no characters in a text column; any other column
    /// takes it as NULL, as it takes every empty field.
    ///
    /// # Panics
    ///
    /// When the batch has no row, `column` is out of range, or the field is not empty.
    ///
    /// ```
    /// use loader_batch::RowBatch;
    /// let mut batch = RowBatch::new(2, 0);
    /// batch.push_row(2, 0, [&b""[..], b""]).unwrap();
    /// batch.set_empty_text(1);
    /// assert!(!batch.is_empty_text(0, 0) && batch.is_empty_text(0, 1));
    /// assert_eq!(batch.field(0, 1), b"");
    /// ```
    pub fn set_empty_text(&mut self, column: usize) {
        let row = self.len() - 1;
        assert!(column < self.columns, "column {column} out of range");
        assert!(
            self.field(row, column).is_empty(),
            "only an empty field is an empty string"
        );
        self.field_ends[row * self.columns + column] |= EMPTY_TEXT;
    }

    /// Whether field `column` of row `row` is an empty string rather than NULL
    /// ([`set_empty_text`](Self::set_empty_text)).
    #[inline]
    pub fn is_empty_text(&self, row: usize, column: usize) -> bool {
        self.field_ends[row * self.columns + column] & EMPTY_TEXT != 0
    }

    /// Records where the batch starts in the source: the line and byte offset of its first
    /// record, good or rejected. Without it the batch starts at its first row.
    pub fn set_start(&mut self, line: u64, offset: u64) {
        self.start = Some((line, offset));
    }

    /// Appends a rejected row. Rejects must come in source order, like rows.
    pub fn push_reject(&mut self, reject: RejectedRow) {
        self.reject_bytes += reject.heap_size();
        self.rejects.push(reject);
    }

    /// Every rejected row of the batch, in source order.
    pub fn rejects(&self) -> &[RejectedRow] {
        &self.rejects
    }

    /// The rejected rows that belong with `rows`: those inside [`byte_range`](Self::byte_range)
    /// of `rows`. The sub-batches of a batch share its rejects out exactly.
    pub fn rejects_in(&self, rows: Range<usize>) -> &[RejectedRow] {
        let range = self.byte_range(rows.clone());
        let first = if rows.start == 0 {
            0
        } else {
            self.rejects.partition_point(|r| r.byte < range.start)
        };
        let last = if rows.end >= self.len() {
            self.rejects.len()
        } else {
            self.rejects.partition_point(|r| r.byte < range.end)
        };
        &self.rejects[first..last.max(first)]
    }

    /// Records where the row after this batch starts: its line and byte offset.
    pub fn set_end(&mut self, line: u64, offset: u64) {
        self.end_line = line;
        self.end_offset = offset;
    }

    /// Position of this batch within its file (0, 1, 2, ...).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Renumbers the batch, for readers that make a file's batches out of order (parts of
    /// one file read in parallel) and number them as they hand them out.
    pub fn set_sequence(&mut self, sequence: u64) {
        self.sequence = sequence;
    }

    /// Heap bytes an empty batch made by [`with_capacity`](Self::with_capacity) holds, so
    /// that a caller can reserve them before allocating.
    pub fn heap_size_for(columns: usize, rows: usize, bytes: usize) -> usize {
        bytes + rows * columns * size_of::<u32>() + rows * 2 * size_of::<u64>()
    }

    /// Whether one more record (a row of `field_bytes`, or a reject) fits without any buffer
    /// growing.
    pub fn has_room(&self, field_bytes: usize) -> bool {
        // A reject takes a row's place, so batches close after the same number of records.
        self.lines.len() + self.rejects.len() < self.lines.capacity()
            && self.data.len() + self.reject_bytes + field_bytes <= self.data.capacity()
    }

    /// Number of columns.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the batch has no rows (it may still hold rejects).
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Whether the batch holds neither rows nor rejects.
    pub fn is_void(&self) -> bool {
        self.lines.is_empty() && self.rejects.is_empty()
    }

    /// Bytes of field data held (without separators, quotes or line ends).
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Exact heap bytes held by this batch's buffers.
    pub fn heap_size(&self) -> usize {
        self.data.capacity()
            + self.field_ends.capacity() * size_of::<u32>()
            + (self.lines.capacity() + self.offsets.capacity()) * size_of::<u64>()
            + self.rejects.capacity() * size_of::<RejectedRow>()
            + self.reject_bytes
    }

    /// The bytes of field `column` of row `row`.
    ///
    /// # Panics
    ///
    /// When `row` or `column` is out of range.
    #[inline]
    pub fn field(&self, row: usize, column: usize) -> &[u8] {
        let index = row * self.columns + column;
        let start = if index == 0 {
            0
        } else {
            (self.field_ends[index - 1] & !EMPTY_TEXT) as usize
        };
        &self.data[start..(self.field_ends[index] & !EMPTY_TEXT) as usize]
    }

    /// Row `row`.
    ///
    /// # Panics
    ///
    /// When `row` is out of range.
    pub fn row(&self, row: usize) -> RowRef<'_> {
        assert!(row < self.len(), "row {row} out of range");
        RowRef { batch: self, row }
    }

    /// The line row `row` started on.
    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }

    /// The byte offset row `row` started at.
    pub fn offset(&self, row: usize) -> u64 {
        self.offsets[row]
    }

    /// The line of the row after this batch.
    pub fn end_line(&self) -> u64 {
        self.end_line
    }

    /// The byte offset of the row after this batch.
    pub fn end_offset(&self) -> u64 {
        self.end_offset
    }

    /// Source byte range covered by `rows`: from the first row's offset to the next row's.
    /// The first range of a batch starts where the batch does (see
    /// [`set_start`](Self::set_start)), so that rejects before its first row are covered.
    pub fn byte_range(&self, rows: Range<usize>) -> Range<u64> {
        let start = match self.start {
            Some((_, offset)) if rows.start == 0 => offset,
            _ => self
                .offsets
                .get(rows.start)
                .copied()
                .unwrap_or(self.end_offset),
        };
        let end = self
            .offsets
            .get(rows.end)
            .copied()
            .unwrap_or(self.end_offset);
        start..end
    }

    /// Source lines covered by `rows`: the first row's line and the line after the last row.
    pub fn line_range(&self, rows: Range<usize>) -> Range<u64> {
        let start = match self.start {
            Some((line, _)) if rows.start == 0 => line,
            _ => self.lines.get(rows.start).copied().unwrap_or(self.end_line),
        };
        let end = self.lines.get(rows.end).copied().unwrap_or(self.end_line);
        start..end
    }

    /// Field bytes held by `rows`.
    pub fn data_bytes(&self, rows: Range<usize>) -> usize {
        self.row_data(rows).len()
    }

    /// The fields of `rows`, back to back: one slice to search them all at once.
    ///
    /// ```
    /// use loader_batch::RowBatch;
    /// let mut batch = RowBatch::new(2, 0);
    /// batch.push_row(2, 0, [&b"1"[..], b"ann"]).unwrap();
    /// batch.push_row(3, 6, [&b"2"[..], b"bob"]).unwrap();
    /// assert_eq!(batch.row_data(1..2), b"2bob");
    /// ```
    pub fn row_data(&self, rows: Range<usize>) -> &[u8] {
        let end_of = |row: usize| {
            if row == 0 {
                0
            } else {
                (self.field_ends[row * self.columns - 1] & !EMPTY_TEXT) as usize
            }
        };
        if self.columns == 0 {
            return &[];
        }
        &self.data[end_of(rows.start)..end_of(rows.end)]
    }
}

/// One row of a [`RowBatch`].
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    batch: &'a RowBatch,
    row: usize,
}

impl<'a> RowRef<'a> {
    /// The row's fields, in column order.
    ///
    /// The row's field ends are found once and walked, rather than looked up per field as
    /// [`RowBatch::field`] does: the encoders and the SQLite binder take every field of
    /// every row this way.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let batch = self.batch;
        let first = self.row * batch.columns;
        let ends = &batch.field_ends[first..first + batch.columns];
        let mut start = first.checked_sub(1).map_or(0, |before| {
            (batch.field_ends[before] & !EMPTY_TEXT) as usize
        });
        let data = batch.data.as_slice();
        ends.iter().map(move |&end| {
            let end = (end & !EMPTY_TEXT) as usize;
            let field = &data[start..end];
            start = end;
            field
        })
    }

    /// Whether field `column` of the row is an empty string rather than NULL
    /// ([`RowBatch::set_empty_text`]).
    #[inline]
    pub fn is_empty_text(&self, column: usize) -> bool {
        self.batch.is_empty_text(self.row, column)
    }

    /// The line the row started on.
    pub fn line(&self) -> u64 {
        self.batch.line(self.row)
    }

    /// The byte offset the row started at.
    pub fn offset(&self) -> u64 {
        self.batch.offset(self.row)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_packed_row_is_the_row_pushed_field_by_field() {
        let mut packed = RowBatch::new(3, 0);
        let mut fields = RowBatch::new(3, 0);
        packed.push_packed_row(2, 10, b"1ann", [1, 1, 4]).unwrap();
        fields.push_row(2, 10, [&b"1"[..], b"", b"ann"]).unwrap();
        assert_eq!(packed, fields);
        // Wrong counts, ends past the data or going back leave the batch as it was.
        for ends in [&[1, 4][..], &[1, 2, 5], &[3, 1, 4], &[1, 2, 3]] {
            let error = packed.push_packed_row(3, 20, b"1ann", ends.iter().copied());
            assert!(matches!(error, Err(Error::FieldCount { .. })), "{ends:?}");
            assert_eq!(packed, fields, "{ends:?}");
        }
    }

    use super::*;

    #[test]
    fn wrong_field_count_leaves_the_batch_unchanged() {
        let mut batch = RowBatch::new(3, 0);
        batch.push_row(1, 0, [&b"a"[..], b"b", b"c"]).unwrap();
        let before = batch.clone();
        assert!(matches!(
            batch.push_row(2, 6, [&b"x"[..], b"y"]),
            Err(Error::FieldCount {
                expected: 3,
                found: 2
            })
        ));
        assert_eq!(batch, before);
    }

    #[test]
    fn ranges_and_bytes_follow_rows() {
        let mut batch = RowBatch::new(2, 0);
        batch.push_row(1, 0, [&b"ab"[..], b"c"]).unwrap();
        batch.push_row(2, 5, [&b""[..], b"defg"]).unwrap();
        batch.push_row(4, 12, [&b"h"[..], b""]).unwrap();
        batch.set_end(5, 15);
        assert_eq!(batch.data_bytes(0..3), 8);
        assert_eq!(batch.data_bytes(1..2), 4);
        assert_eq!(batch.byte_range(1..3), 5..15);
        assert_eq!(batch.line_range(0..2), 1..4);
        assert_eq!(
            batch.row(1).fields().collect::<Vec<_>>(),
            [&b""[..], b"defg"]
        );
        assert_eq!(batch.field(2, 0), b"h");
        // The walk over a row's ends gives what the lookup per field gives, first row included.
        for row in 0..batch.len() {
            let looked_up: Vec<&[u8]> = (0..2).map(|c| batch.field(row, c)).collect();
            assert_eq!(batch.row(row).fields().collect::<Vec<_>>(), looked_up);
        }
    }

    fn reject(line: u64, byte: u64) -> RejectedRow {
        RejectedRow {
            line,
            byte,
            column: None,
            column_name: None,
            kind: crate::RejectKind::FieldCount,
            message: "expected 1 fields, found 2".into(),
            raw: b"x,y".to_vec(),
        }
    }

    #[test]
    fn sub_batches_share_out_the_rejects_exactly() {
        let mut batch = RowBatch::new(1, 0);
        batch.set_start(2, 10);
        batch.push_reject(reject(2, 10));
        batch.push_row(3, 14, [&b"a"[..]]).unwrap();
        batch.push_reject(reject(4, 16));
        batch.push_row(5, 20, [&b"b"[..]]).unwrap();
        batch.push_reject(reject(6, 22));
        batch.set_end(7, 26);
        assert_eq!(batch.byte_range(0..1), 10..20);
        assert_eq!(batch.line_range(0..1), 2..5);
        let lines = |rows| {
            batch
                .rejects_in(rows)
                .iter()
                .map(|r| r.line)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(0..1), [2, 4]);
        assert_eq!(lines(1..2), [6]);
        assert_eq!(lines(0..2), [2, 4, 6]);
    }

    #[test]
    fn a_batch_of_rejects_only_covers_its_whole_range() {
        let mut batch = RowBatch::new(2, 3);
        batch.set_start(8, 100);
        batch.push_reject(reject(8, 100));
        batch.set_end(9, 104);
        assert!(batch.is_empty() && !batch.is_void());
        assert_eq!(batch.byte_range(0..0), 100..104);
        assert_eq!(batch.rejects_in(0..0).len(), 1);
    }
}
