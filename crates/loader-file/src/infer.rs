use crate::{Compression, CsvOptions, Error, Result, dialect, error::csv_error, input};
use loader_batch::{Column, ColumnType, Schema};
use std::path::{Path, PathBuf};

mod hints;
mod names;
mod row_bound;

pub use hints::WrittenHint;
mod probes;

/// What a sample of a file says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSample {
    /// The file.
    pub path: PathBuf,
    /// Its size on disk.
    pub file_size: u64,
    /// Column names after renaming (empty names become `column_N`, repeats get `_2`, `_3`).
    pub headers: Vec<String>,
    /// Names that were changed: (column number from 1, name in the file, name used).
    pub renamed: Vec<(usize, String, String)>,
    /// The inferred schema.
    pub schema: Schema,
    /// Rows read for the sample, from the head of the file.
    pub rows_sampled: usize,
    /// Rows read past the head, at places spread through a plain file, that narrowed the
    /// types too (they say nothing of row widths, which come from the head).
    pub rows_probed: usize,
    /// Whether the sample reached the end of the file.
    pub whole_file: bool,
    /// Mean source bytes per row (separators, quotes and line ends included).
    pub mean_row_bytes: f64,
    /// Mean field bytes per row (what a batch holds).
    pub mean_field_bytes: f64,
    /// Memory its decoder holds while it is read ([`decoder_bytes`](crate::decoder_bytes)):
    /// 0 for a plain file, a zstd file's window.
    pub decoder_bytes: u64,
    /// Field bytes of the widest row sampled: a row wider than a batch's byte limit is a
    /// batch of its own, that wide.
    pub widest_field_bytes: u64,
    /// Bytes before the first row: the header line, and the lines skipped or an Excel
    /// `sep=` line before it (0 without any).
    pub header_bytes: u64,
    /// How the file is stored (detected from its first bytes).
    pub compression: Compression,
    /// Bytes of CSV per byte on disk (1 for plain files), measured over the sample.
    pub compression_ratio: f64,
    /// A compressed file's decoded size, when it is small enough (a MiB on disk) to have
    /// been decoded whole for the ratio; see [`CsvOptions::decoded_size`].
    pub decoded_size: Option<u64>,
    /// The field delimiter: as given, or sniffed from the file.
    pub delimiter: u8,
    /// The file starts with Excel's `sep=X` line, which names the delimiter (when none was
    /// given) and is read as neither header nor row.
    pub separator_line: bool,
    /// The file's lines end in bare CRs (classic Mac OS), read as LFs.
    pub cr_line_ends: bool,
    /// `utf-16le` or `utf-16be` when the text was converted from UTF-16, which its byte
    /// order mark says whatever the options' encoding.
    pub converted_from: Option<&'static str>,
    /// The header line reads as a row of the file: each column typed other than text has a
    /// name that is a value of its type (`1,ann,2024-01-02` over integers, text and dates).
    /// Most likely the file has no header, and its first row was taken as one.
    pub header_like_data: bool,
    /// The first line sampled whose bytes are not UTF-8: most likely the file is in another
    /// encoding (Latin-1, Windows-1252) and `--encoding` was not given.
    pub not_utf8_line: Option<u64>,
    /// Lines at the top that do not look like the table below them (a report's title and
    /// blank lines), when `--skip-lines` was not given: what `skip_lines` would pass over.
    pub title_lines: Option<u64>,
    /// Text columns whose sampled values all read as numbers or dates under an option the
    /// load was not given (`--decimal-comma`, `--date-format %d.%m.%Y`), by column.
    pub written_hints: Vec<WrittenHint>,
    /// Columns of the file left out of the load (`--skip-column`, set by the planner), as
    /// (column number from 1, name): not in [`schema`](Self::schema) nor
    /// [`headers`](Self::headers).
    pub skipped: Vec<(usize, String)>,
}

impl FileSample {
    /// Estimated rows in the whole file, from its size and the sampled row width.
    pub fn estimated_rows(&self) -> u64 {
        if self.whole_file || self.mean_row_bytes <= 0.0 {
            return self.rows_sampled as u64;
        }
        let csv_bytes = self.file_size as f64 * self.compression_ratio;
        ((csv_bytes - self.header_bytes as f64).max(0.0) / self.mean_row_bytes).round() as u64
    }
}

/// Reads the header and up to `options.get_sample_rows()` records of `path`, and infers a
/// type per column: the most specific of boolean, integer, real, date, timestamp and text
/// that accepts every non-empty sampled value (a column with only empty values is text).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::Empty`] when it has no header or
/// first record, [`Error::Csv`] for malformed CSV in the sample, [`Error::RowTooLong`]
/// when the header is longer than [`CsvOptions::max_row_bytes`]. Records with the wrong
/// number of fields are left out of the sample: loading reports them. So is a record past
/// the row limit, which ends the sample unread (loading stops the file there): a quote
/// that never closes makes the rest of the file one record, and the sample never holds
/// more of it than the limit.
///
/// # Example
///
/// ```
/// use loader_batch::ColumnType;
/// use loader_file::{sample_file, CsvOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.csv");
/// std::fs::write(&path, "id,price,day,name\n1,2.5,2024-01-02,ann\n2,,2024-01-03,\"b, c\"\n").unwrap();
/// let sample = sample_file(&path, &CsvOptions::default()).unwrap();
/// let types: Vec<_> = sample.schema.columns().iter().map(|c| c.ty).collect();
/// assert_eq!(types, [ColumnType::Integer, ColumnType::Real, ColumnType::Date, ColumnType::Text]);
/// assert_eq!(sample.rows_sampled, 2);
/// ```
pub fn sample_file(path: &Path, options: &CsvOptions) -> Result<FileSample> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_size = std::fs::metadata(path).map_err(io)?.len();
    let (head, whole_head) = dialect::head(path, options.get_encoding()).map_err(io)?;
    // Lines asked to be skipped say nothing of the dialect; an Excel `sep=` line is the
    // file's first or none.
    let skip = options.get_skip_lines();
    let text = dialect::after_lines(&head, skip);
    let separator = dialect::separator_line(text, whole_head).filter(|_| skip == 0);
    let separator_line = separator.is_some();
    let delimiter = match separator {
        _ if options.has_delimiter() => options.get_delimiter(),
        Some((named, _)) => named,
        None => dialect::sniff_delimiter(text, options),
    };
    let title_lines = if skip == 0 && !separator_line {
        let given = [delimiter];
        let candidates = if options.has_delimiter() {
            &given[..]
        } else {
            &dialect::CANDIDATES[..]
        };
        dialect::title_lines(text, whole_head, candidates, options.get_quote())
    } else {
        None
    };
    drop(head);
    let options = &options.clone().delimiter(delimiter);
    let input::Text {
        input,
        compression,
        utf16,
        cr_lines,
    } = input::open_text(path, options.get_encoding(), options.get_skip_footer()).map_err(io)?;
    let plain = matches!(input, input::Input::Plain(_));
    // The header is read as a record, after the lines skipped or the `sep=` line. Positions
    // of the reader are past the skipped lines: `skipped` makes them the file's.
    let row_limit = options.get_max_row_bytes() as u64;
    let input = row_bound::RowBound::new(input, row_limit);
    let record_start = input.record_start();
    let mut input = std::io::BufReader::with_capacity(64 << 10, input);
    let skipped = dialect::skip_lines(&mut input, skip).map_err(io)?;
    let mut reader = options.clone().has_headers(false).csv_reader(input);
    let byte = |reader: &csv::Reader<_>| skipped.bytes + reader.position().byte();
    let csv_error = |e| skipped_csv_error(path, e, skipped);
    // Each record is read bounded by the row limit (see `row_bound`): one past it is where
    // loading stops the file; the sample is the records before it. One that leaves no
    // header fails the sample here.
    let bounded_read = |reader: &mut csv::Reader<_>, record: &mut csv::ByteRecord| {
        let at = reader.position().clone();
        record_start.set(Some(skipped.bytes + at.byte()));
        reader.read_byte_record(record).map_err(|e| {
            if row_bound::passed(&e) {
                Error::RowTooLong {
                    path: path.to_path_buf(),
                    line: skipped.lines + at.line(),
                    byte: skipped.bytes + at.byte(),
                    limit: row_limit,
                }
            } else {
                csv_error(e)
            }
        })
    };
    let mut record = csv::ByteRecord::new();
    if separator_line {
        bounded_read(&mut reader, &mut record)?;
    }
    let (raw_names, header_bytes) = if options.get_has_headers() {
        bounded_read(&mut reader, &mut record)?;
        let names: Vec<String> = record
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect();
        (names, byte(&reader))
    } else {
        (Vec::new(), byte(&reader))
    };
    // The first sampled line whose bytes are not UTF-8, header included.
    let mut not_utf8_line = not_utf8(&record, skipped);

    let mut candidates: Vec<u8> = vec![ALL_TYPES; raw_names.len()];
    let mut hints = hints::Hints::new(raw_names.len(), options);
    let mut columns = raw_names.len();
    let mut rows = 0usize;
    let mut field_bytes = 0u64;
    let first_row_byte = header_bytes;
    let mut whole_file = false;
    let mut records = 0usize;
    let mut widest_field_bytes = 0;
    let mut head_end = None;
    while records < options.get_sample_rows() {
        records += 1;
        match bounded_read(&mut reader, &mut record) {
            Ok(true) => {}
            Ok(false) => {
                whole_file = true;
                break;
            }
            Err(Error::RowTooLong { .. }) if columns > 0 => {
                // The sample ends where that record starts.
                head_end = record_start.get();
                break;
            }
            Err(error) => return Err(error),
        }
        if rows == 0 && !options.get_has_headers() {
            columns = record.len();
            candidates = vec![ALL_TYPES; columns];
            hints = hints::Hints::new(columns, options);
        }
        not_utf8_line = not_utf8_line.or_else(|| not_utf8(&record, skipped));
        if record.len() != columns {
            // A ragged record says nothing about the types; the reader reports it (or
            // quarantines it) with its exact line when the file is loaded.
            continue;
        }
        for (column, (mask, field)) in candidates.iter_mut().zip(record.iter()).enumerate() {
            if !field.is_empty() && !options.is_null(field) {
                narrow(mask, field, options);
                hints.look(column, field);
            }
        }
        field_bytes += record.as_slice().len() as u64;
        widest_field_bytes = widest_field_bytes.max(record.as_slice().len() as u64);
        rows += 1;
    }
    let head_end = head_end.unwrap_or_else(|| byte(&reader));
    // Places past the head of a plain file, which can be read anywhere; the head alone of
    // a compressed or transcoded one.
    let rows_probed = if !whole_file && columns > 0 && plain {
        probes::probe(
            path,
            options,
            cr_lines,
            head_end..file_size,
            &mut candidates,
        )
        .map_err(io)?
    } else {
        0
    };
    if columns == 0 || (raw_names.iter().all(String::is_empty) && raw_names.len() <= 1 && rows == 0)
    {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let sampled_bytes = head_end.saturating_sub(first_row_byte);
    let (compression_ratio, decoded_size) =
        input::compression_ratio(path, compression).map_err(io)?;
    let decoder_bytes = input::decoder_bytes_of(path, compression)?;
    // A plain file read whole through a transcoder (latin1, UTF-16): its text's size is
    // known, and bounds its batches as a small compressed file's does (without it a small
    // latin1 file reserved a whole first batch, past the plan's estimate).
    let decoded_size = match decoded_size {
        None if !plain && whole_file && compression == input::Compression::None => {
            Some(byte(&reader))
        }
        known => known,
    };
    let raw_names = if options.get_has_headers() {
        raw_names
    } else {
        vec![String::new(); columns]
    };
    let (headers, renamed) = names::unique_names(&raw_names, options.get_snake_case_names());
    let header_like_data = options.get_has_headers() && looks_like_data(&raw_names, &candidates);
    let schema = Schema::new(
        headers
            .iter()
            .zip(&candidates)
            .map(|(name, mask)| Column::new(name.clone(), most_specific(*mask)))
            .collect(),
    );
    let per_row = |total: u64| {
        if rows == 0 {
            0.0
        } else {
            total as f64 / rows as f64
        }
    };
    let written_hints = hints.finish(|column| {
        schema
            .columns()
            .get(column)
            .map_or(ColumnType::Text, |c| c.ty)
    });
    Ok(FileSample {
        path: path.to_path_buf(),
        file_size,
        headers,
        renamed,
        schema,
        rows_sampled: rows,
        rows_probed,
        whole_file,
        mean_row_bytes: per_row(sampled_bytes),
        widest_field_bytes,
        decoder_bytes,
        mean_field_bytes: per_row(field_bytes),
        header_bytes,
        compression,
        compression_ratio,
        decoded_size,
        delimiter,
        separator_line,
        cr_line_ends: cr_lines,
        converted_from: utf16.map(input::Utf16Order::name),
        header_like_data,
        not_utf8_line,
        title_lines,
        written_hints,
        skipped: Vec::new(),
    })
}

/// The line of `record` in the file (past the `skipped` lines) when its bytes are not UTF-8.
fn not_utf8(record: &csv::ByteRecord, skipped: dialect::Skipped) -> Option<u64> {
    simdutf8::basic::from_utf8(record.as_slice())
        .is_err()
        .then(|| skipped.lines + record.position().map_or(0, csv::Position::line))
}

/// [`csv_error`] with the line and byte of the file, past the `skipped` lines.
fn skipped_csv_error(path: &Path, error: csv::Error, skipped: dialect::Skipped) -> Error {
    match csv_error(path, error) {
        Error::Csv {
            path,
            line,
            byte,
            message,
        } => Error::Csv {
            path,
            line: line + skipped.lines,
            byte: byte + skipped.bytes,
            message,
        },
        other => other,
    }
}

const ALL_TYPES: u8 = 0b11_1111;

fn bit(ty: ColumnType) -> u8 {
    1 << ColumnType::ALL
        .iter()
        .position(|t| *t == ty)
        .expect("type in ALL")
}

/// Drops from `mask` the types `field` is no value of, read as `options` say values are
/// written (decimal commas, a date format: see [`crate::formats`]).
fn narrow(mask: &mut u8, field: &[u8], options: &CsvOptions) {
    if field.is_empty() {
        return;
    }
    // Spaces around a value (`1, 42`) are not part of it, as the reader takes it.
    let field = match field.trim_ascii() {
        inside if !inside.is_empty() => inside,
        _ => field,
    };
    let formats = crate::formats::any(options);
    let mut rewritten = Vec::new();
    for ty in ColumnType::ALL {
        if *mask & bit(ty) == 0 {
            continue;
        }
        rewritten.clear();
        let value = if !formats {
            Some(field)
        } else {
            match crate::formats::rewrite(ty, false, field, options, &mut rewritten) {
                crate::formats::Rewrite::Keep => Some(field),
                crate::formats::Rewrite::Rewritten => Some(&rewritten[..]),
                crate::formats::Rewrite::Invalid(_) | crate::formats::Rewrite::Drop => None,
            }
        };
        // A number written with a leading zero (`02134`, `-007`) is a code, not a quantity,
        // and a whole number too large for a 64-bit integer (a 20-digit id) would be rounded
        // as a real: loaded as numbers they would change without a word, so their column
        // stays text. `--column NAME:integer` still reads them as numbers when that is meant.
        let fits = value.is_some_and(|value| {
            ty.accepts(value) && !(ty.is_numeric() && not_stored_as_written(ty, value).is_some())
        });
        if !fits {
            *mask &= !bit(ty);
        }
    }
    // Digits alone are numbers, not flags: a column of 0s and 1s is an integer column.
    if field.iter().all(u8::is_ascii_digit) {
        *mask &= !bit(ColumnType::Boolean);
    }
}

/// The value inside the spaces around `field` when it is one of `ty` (not text, whose spaces
/// are its own): `Some(b"42")` for `b" 42 "` in an integer column. Spaces alone are no value.
pub(crate) fn padded_value(ty: ColumnType, field: &[u8]) -> Option<&[u8]> {
    let inside = field.trim_ascii();
    (ty != ColumnType::Text
        && !inside.is_empty()
        && inside.len() < field.len()
        && ty.accepts(inside))
    .then_some(inside)
}

/// Why a value of type `ty` would not be stored as written, when it would not: a leading
/// zero (`02134` becomes 2134), or a whole number too large for a 64-bit integer read as a
/// real (12345678901234567890 becomes 1.2345678901234567e19). Inference keeps such columns
/// text; a reader rejects such a value in a column whose type the user did not declare
/// ([`CsvOptions::inferred_columns`](crate::CsvOptions::inferred_columns)), since a sample
/// that missed it chose the type.
pub(crate) fn not_stored_as_written(ty: ColumnType, field: &[u8]) -> Option<&'static str> {
    match ty {
        ColumnType::Integer | ColumnType::Real if has_leading_zero(field) => {
            Some("has a leading zero, which a number drops")
        }
        // Whole numbers of fewer than 19 digits all fit in 64 bits: most fields stop at the
        // length.
        ColumnType::Real
            if field.len() >= 19
                && is_whole_number(field)
                && !ColumnType::Integer.accepts(field) =>
        {
            Some("is a whole number too large for an integer, which a real rounds")
        }
        _ => None,
    }
}

/// Digits with an optional sign: what is written as an integer, whatever its size.
fn is_whole_number(field: &[u8]) -> bool {
    let digits = unsigned(field);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// Whether the whole-number part of a number has more than one digit and starts with 0.
fn has_leading_zero(field: &[u8]) -> bool {
    matches!(unsigned(field), [b'0', next, ..] if next.is_ascii_digit())
}

/// The field without a leading sign.
fn unsigned(field: &[u8]) -> &[u8] {
    field
        .strip_prefix(b"-")
        .or_else(|| field.strip_prefix(b"+"))
        .unwrap_or(field)
}

fn most_specific(mask: u8) -> ColumnType {
    ColumnType::ALL
        .into_iter()
        .find(|ty| mask & bit(*ty) != 0 && mask != ALL_TYPES)
        .unwrap_or(ColumnType::Text)
}

/// Empty names become `column_N`; a name already taken gets `_2`, `_3`, ... (the first
/// free one), so the result is deterministic and every name is unique, ignoring case (as
/// SQLite compares names) and past the 63 bytes PostgreSQL keeps. A long name stays whole
/// unless it needs a suffix; then it is cut so that the suffix falls within those bytes.
/// Whether header `names` read as values of the sampled column types: at least one column
/// has a type other than text, and every such column's name is a value of it. A header of
/// names (`id`, `amount`) never is; one made of years (`2023`) over whole numbers would be,
/// and is reported, not changed.
fn looks_like_data(names: &[String], candidates: &[u8]) -> bool {
    let typed: Vec<(&String, ColumnType)> = names
        .iter()
        .zip(candidates)
        .map(|(name, mask)| (name, most_specific(*mask)))
        .filter(|(_, ty)| *ty != ColumnType::Text)
        .collect();
    !typed.is_empty()
        && typed
            .iter()
            .all(|(name, ty)| !name.is_empty() && ty.accepts(name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loader_batch::postgres_name;

    fn sample(text: &str, options: CsvOptions) -> Result<FileSample> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, text).unwrap();
        sample_file(&path, &options)
    }

    fn types(sample: &FileSample) -> Vec<ColumnType> {
        sample.schema.columns().iter().map(|c| c.ty).collect()
    }

    /// A quote that never closes makes the rest of the file one record: the sample ends
    /// before it, with the rows above it, and never holds more of it than the row limit.
    #[test]
    fn a_record_past_the_row_limit_ends_the_sample_unread() {
        let mut text = String::from("id,name\n1,ann\n2,\"bob\n");
        for row in 3..200_000 {
            text.push_str(&format!("{row},carl\n"));
        }
        let limit = 64 << 10;
        let options = CsvOptions::default().max_row_bytes(limit);
        let sampled = sample(&text, options.clone()).unwrap();
        assert_eq!(sampled.rows_sampled, 1);
        assert_eq!(types(&sampled), [ColumnType::Integer, ColumnType::Text]);
        assert!(!sampled.whole_file);
        assert!(sampled.widest_field_bytes < 16);
        // The same record as a header stops the sample, at its line.
        let rows = &text[text.find("3,carl").unwrap()..];
        let header_first = format!("skip me\n\"id,name\n{rows}");
        let error = sample(&header_first, options.delimiter(b',').skip_lines(1)).unwrap_err();
        assert!(
            matches!(error, Error::RowTooLong { line: 2, byte: 8, limit: l, .. } if l == limit as u64),
            "{error}"
        );
    }

    #[test]
    fn infers_every_type_and_widens_mixed_columns() {
        let text = "b,i,r,d,ts,t,flags01,mixed_dt,empty\n\
                    true,1,1,2024-01-01,2024-01-01 10:00:00,x,0,2024-01-01,\n\
                    no,-2,2.5,2024-12-31,2024-01-01T10:00:00Z,7,1,2024-01-01 12:00,\n";
        let s = sample(text, CsvOptions::default()).unwrap();
        use ColumnType::*;
        assert_eq!(
            types(&s),
            [
                Boolean, Integer, Real, Date, Timestamp, Text, Integer, Timestamp, Text
            ]
        );
        assert!(s.whole_file);
        assert_eq!(s.estimated_rows(), 2);
    }

    #[test]
    fn numbers_written_with_leading_zeros_stay_text() {
        let text = "zip,signed,real,plain,zero,point\n\
                    02134,-007,00.5,10,0,0.5\n\
                    10001,12,1.5,20,-0,-0.25\n";
        let s = sample(text, CsvOptions::default()).unwrap();
        use ColumnType::*;
        assert_eq!(types(&s), [Text, Text, Text, Integer, Integer, Real]);
        for (field, leading) in [
            (&b"02134"[..], true),
            (b"+01", true),
            (b"00.5", true),
            (b"0", false),
            (b"-0", false),
            (b"0.5", false),
            (b"0e5", false),
            (b"100", false),
            (b"", false),
        ] {
            assert_eq!(has_leading_zero(field), leading, "{field:?}");
        }
    }

    #[test]
    fn whole_numbers_too_large_for_an_integer_stay_text_not_rounded_reals() {
        let text = "big,max,real\n\
                    12345678901234567890,9223372036854775807,1e30\n\
                    -98765432109876543210,-9223372036854775808,2.5\n";
        let s = sample(text, CsvOptions::default()).unwrap();
        use ColumnType::*;
        assert_eq!(types(&s), [Text, Integer, Real]);
    }

    #[test]
    fn spaces_around_values_do_not_make_a_column_text() {
        let s = sample(
            "id, n, amount, day, ok, name\n1, 42, 2.5, 2024-01-02, yes, ann\n2, 7 , 3, 2024-01-03, no, bo\n",
            CsvOptions::default(),
        )
        .unwrap();
        use ColumnType::*;
        assert_eq!(types(&s), [Integer, Integer, Real, Date, Boolean, Text]);
        // A code with a leading zero inside the spaces is still a code.
        let s = sample("zip\n 02134\n 10001\n", CsvOptions::default()).unwrap();
        assert_eq!(types(&s), [Text]);
        // Spaces alone are no value.
        let s = sample("n\n1\n   \n", CsvOptions::default()).unwrap();
        assert_eq!(types(&s), [Text]);
    }

    #[test]
    fn the_first_line_that_is_not_utf8_is_found() {
        let s = sample("id,name\n1,a\n2,Jos\u{e9}\n", CsvOptions::default()).unwrap();
        assert_eq!(s.not_utf8_line, None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin.csv");
        std::fs::write(&path, b"id,name\n1,a\n2,Jos\xe9\n3,M\xfcller\n").unwrap();
        let s = sample_file(&path, &CsvOptions::default()).unwrap();
        assert_eq!(s.not_utf8_line, Some(3));
        std::fs::write(&path, b"id,n\xe4me\n1,a\n").unwrap();
        let s = sample_file(&path, &CsvOptions::default()).unwrap();
        assert_eq!(s.not_utf8_line, Some(1));
        let latin = CsvOptions::default().encoding(crate::Encoding::Latin1);
        assert_eq!(sample_file(&path, &latin).unwrap().not_utf8_line, None);
    }

    #[test]
    fn spaces_around_header_names_are_trimmed_and_said() {
        let s = sample("id , name ,\t\n1,a,b\n", CsvOptions::default()).unwrap();
        assert_eq!(s.headers, ["id", "name", "column_3"]);
        assert_eq!(
            s.renamed,
            [
                (1, "id ".to_owned(), "id".to_owned()),
                (2, " name ".to_owned(), "name".to_owned()),
                (3, "\t".to_owned(), "column_3".to_owned())
            ]
        );
    }

    #[test]
    fn a_one_column_file_keeps_commas_in_its_values() {
        let s = sample("name\nJohn, Jr.\nMary\n", CsvOptions::default()).unwrap();
        assert_eq!(s.headers, ["name"]);
        assert_ne!(s.delimiter, b',', "a delimiter found on no line");
        assert_eq!(s.rows_sampled, 2);
        // A header with the delimiter keeps it, as before.
        let commas = sample("a,b\n1,2\n", CsvOptions::default()).unwrap();
        assert_eq!(commas.delimiter, b',');
        let every = sample("name\na,b;c\td|e\n", CsvOptions::default()).unwrap();
        assert_eq!(every.delimiter, b',', "comma when every candidate is found");
    }

    #[test]
    fn comment_lines_say_nothing_of_the_delimiter() {
        let text = "# exported, by hand\nid;name\n1;a, b\n# a note\n2;c\n";
        let s = sample(text, CsvOptions::default().comment(Some(b'#'))).unwrap();
        assert_eq!(s.delimiter, b';', "the comment hid the header's semicolon");
        assert_eq!(s.headers, ["id", "name"]);
    }

    #[test]
    fn names_are_made_unique_and_reported() {
        let s = sample("id,,ID,id\n1,2,3,4\n", CsvOptions::default()).unwrap();
        assert_eq!(s.headers, ["id", "column_2", "ID_2", "id_3"]);
        assert_eq!(s.renamed.len(), 3);
    }

    #[test]
    fn names_alike_in_the_63_bytes_postgresql_keeps_are_made_unique_within_them() {
        // Survey exports: long questions that differ only at their end.
        let question = format!("{}é", "q".repeat(61));
        let header = format!("{question} (a),{question} (b),{question} (c),short\n1,2,3,4\n");
        let s = sample(&header, CsvOptions::default()).unwrap();
        assert_eq!(
            s.headers[0],
            format!("{question} (a)"),
            "the first stays whole"
        );
        assert_eq!(s.headers[3], "short");
        let kept: Vec<&str> = s.headers.iter().map(|h| postgres_name(h)).collect();
        assert_eq!(
            kept,
            [
                question.as_str(),
                &format!("{}_2", "q".repeat(61)),
                &format!("{}_3", "q".repeat(61)),
                "short",
            ],
            "suffixes fall within 63 bytes, on a character boundary (é is two bytes)"
        );
        assert_eq!(s.renamed.len(), 2);
    }

    #[test]
    fn headerless_files_get_numbered_columns() {
        let s = sample("1,a\n2,b\n", CsvOptions::default().has_headers(false)).unwrap();
        assert_eq!(s.headers, ["column_1", "column_2"]);
        assert_eq!(s.rows_sampled, 2);
    }

    #[test]
    fn a_header_that_reads_as_a_row_is_flagged() {
        let flagged = |text: &str| {
            sample(text, CsvOptions::default())
                .unwrap()
                .header_like_data
        };
        assert!(flagged("1,ann,2024-01-02,3.5\n2,bob,2024-01-03,4.5\n"));
        assert!(!flagged("id,name,day,amount\n2,bob,2024-01-03,4.5\n"));
        // One named column among values is a header (a name is no integer).
        assert!(!flagged("id,2024-01-02\n2,2024-01-03\n"));
        // Only text columns: nothing to tell a header from a row by.
        assert!(!flagged("ann,oslo\nbob,rome\n"));
        // Without a header nothing is taken as one.
        let options = CsvOptions::default().has_headers(false);
        assert!(!sample("1,ann\n2,bob\n", options).unwrap().header_like_data);
    }

    #[test]
    fn empty_files_are_errors_and_ragged_records_are_left_to_the_reader() {
        assert!(matches!(
            sample("", CsvOptions::default()),
            Err(Error::Empty { .. })
        ));
        let ragged = sample("a,b\n1,2\nx\n3,4\n", CsvOptions::default()).unwrap();
        assert_eq!(ragged.rows_sampled, 2);
        assert_eq!(types(&ragged), [ColumnType::Integer, ColumnType::Integer]);
        let header_only = sample("a,b\n", CsvOptions::default()).unwrap();
        assert_eq!(header_only.rows_sampled, 0);
        assert_eq!(types(&header_only), [ColumnType::Text, ColumnType::Text]);
    }
}
