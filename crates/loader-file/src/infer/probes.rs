//! Types from places spread through a file, past the head that the sample reads: a column
//! whose first thousand rows hold whole numbers and whose later rows hold decimals, or codes
//! with a leading zero, is typed from those too, rather than its later rows being set aside
//! as values of the wrong type.
//!
//! A place starts at a line start, which may fall inside a quoted field that spans lines.
//! Read from there, the rest of such a field comes apart into records of the wrong field
//! count, or its closing quote turns up inside a field read as unquoted (`Springfield, IL"`
//! from an address over two lines); then the place is passed over whole. A place counts
//! only when every record read there parses, has the header's field count and holds no
//! quote in an unquoted field. Its last record, which the end of the bytes read may have
//! cut, never counts.

use super::narrow;
use crate::CsvOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Most places looked at past the head.
const PLACES: u64 = 16;

/// Bytes past the head for each place: a place a MiB, up to [`PLACES`]. The sample is read
/// while planning, before any file starts: sixteen files of 6 MiB took 0.1 s to plan with
/// sixteen places of 64 KiB each, an eighth of their load into PostgreSQL.
const BYTES_PER_PLACE: u64 = 1 << 20;

/// Bytes read at each place: a hundred or two rows of a typical file.
const PLACE_BYTES: u64 = 16 << 10;

/// Narrows `candidates` (one type mask per column) with the records found at places spread
/// evenly over bytes `from..size` of the plain file at `path` (see [`BYTES_PER_PLACE`]);
/// returns the rows that counted. `cr_lines`: the file's lines end in bare CRs, read as LFs
/// (see [`CrLines`](crate::input::CrLines)).
pub(super) fn probe(
    path: &Path,
    options: &CsvOptions,
    cr_lines: bool,
    std::ops::Range {
        start: from,
        end: size,
    }: std::ops::Range<u64>,
    candidates: &mut [u8],
) -> std::io::Result<usize> {
    let span = size.saturating_sub(from);
    let places = PLACES.min(span / BYTES_PER_PLACE);
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(PLACE_BYTES as usize);
    let mut counted = 0;
    for place in 1..=places {
        let at = from + span * place / (places + 1);
        file.seek(SeekFrom::Start(at))?;
        bytes.clear();
        (&mut file).take(PLACE_BYTES).read_to_end(&mut bytes)?;
        if cr_lines {
            crate::input::cr_to_lf(&mut bytes);
        }
        let at_end = at + bytes.len() as u64 >= size;
        // From the line start after `at`: the line `at` fell in is partial.
        let Some(newline) = memchr::memchr(b'\n', &bytes) else {
            continue;
        };
        if let Some(records) = records_at(&bytes[newline + 1..], options, candidates.len(), at_end)
        {
            for record in &records {
                for (mask, field) in candidates.iter_mut().zip(record.iter()) {
                    if !options.is_null(field) {
                        narrow(mask, field, options);
                    }
                }
            }
            counted += records.len();
        }
    }
    Ok(counted)
}

/// The whole records of `bytes` (the last one only `at_end` of the file), or none when any
/// record fails to parse, has other than `columns` fields or a quote in an unquoted field.
fn records_at(
    bytes: &[u8],
    options: &CsvOptions,
    columns: usize,
    at_end: bool,
) -> Option<Vec<csv::ByteRecord>> {
    let dialect = options.dialect();
    let mut reader = options.clone().has_headers(false).csv_reader(bytes);
    let mut records = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut quoted = Vec::with_capacity(columns);
    let mut start = 0;
    while reader.read_byte_record(&mut record).ok()? {
        let end = usize::try_from(reader.position().byte()).ok()?;
        let raw = bytes.get(start..end)?;
        start = end;
        crate::quoted::quoted_fields(raw, dialect, &mut quoted);
        let stray_quote = record
            .iter()
            .zip(&quoted)
            .any(|(field, &quoted)| !quoted && field.contains(&dialect.quote));
        if record.len() != columns || quoted.len() != columns || stray_quote {
            // The bytes read may end inside the last record; those before it stand.
            let cut = !at_end && end >= bytes.len();
            return cut.then_some(records);
        }
        records.push(record.clone());
    }
    if !at_end {
        records.pop();
    }
    Some(records)
}

#[cfg(test)]
mod tests {
    use crate::{CsvOptions, sample_file};
    use loader_batch::ColumnType;

    /// Column types of `path`, from the default sample and from one of every row.
    fn sampled_and_true(path: &std::path::Path) -> (Vec<ColumnType>, Vec<ColumnType>) {
        let types = |options: &CsvOptions| -> Vec<ColumnType> {
            let sample = sample_file(path, options).unwrap();
            sample.schema.columns().iter().map(|c| c.ty).collect()
        };
        (
            types(&CsvOptions::default()),
            types(&CsvOptions::default().sample_rows(usize::MAX)),
        )
    }

    #[test]
    fn values_far_past_the_head_type_their_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.csv");
        let mut text = String::from("id,zip,amount,note\n");
        for i in 0..400_000 {
            let zip = if i == 200_000 {
                "02134".to_owned()
            } else {
                format!("{}", 10_000 + i)
            };
            let amount = if i >= 320_000 {
                format!("{i}.5")
            } else {
                i.to_string()
            };
            text.push_str(&format!("{i},{zip},{amount},\"note {i}\"\n"));
        }
        std::fs::write(&path, text).unwrap();
        let sample = sample_file(&path, &CsvOptions::default()).unwrap();
        let types: Vec<_> = sample.schema.columns().iter().map(|c| c.ty).collect();
        // The one leading zero is likelier missed than met by a few hundred rows a place;
        // the fifth of the file with decimals is met.
        assert_eq!(types[2], ColumnType::Real, "{types:?}");
        assert!(sample.rows_probed > 500, "{}", sample.rows_probed);
        let (sampled, truth) = sampled_and_true(&path);
        assert_eq!(truth[1], ColumnType::Text);
        assert_eq!(sampled[0], truth[0]);
    }

    /// Lines ended by bare CRs are lines at the places too: decimals in the last third of
    /// such a file type their column.
    #[test]
    fn places_in_a_file_of_bare_cr_lines_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mac.csv");
        let mut text = String::from("id,amount\r");
        for i in 0..300_000 {
            let amount = if i >= 200_000 {
                format!("{i}.5")
            } else {
                i.to_string()
            };
            text.push_str(&format!("{i},{amount}\r"));
        }
        std::fs::write(&path, text).unwrap();
        let sample = sample_file(&path, &CsvOptions::default()).unwrap();
        let types: Vec<_> = sample.schema.columns().iter().map(|c| c.ty).collect();
        assert_eq!(types, [ColumnType::Integer, ColumnType::Real]);
        assert!(sample.rows_probed > 500, "{}", sample.rows_probed);
    }

    /// 300,000 rows of an integer id and the quoted text `note` makes of it: the types
    /// inferred are integer and text, as a sample of every row says.
    fn ids_and_quoted_text_typed_right(note: impl Fn(usize) -> String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.csv");
        let mut text = String::from("id,note\n");
        for i in 0..300_000 {
            text.push_str(&format!("{i},\"{}\"\n", note(i)));
        }
        std::fs::write(&path, text).unwrap();
        let (sampled, truth) = sampled_and_true(&path);
        assert_eq!(truth, [ColumnType::Integer, ColumnType::Text]);
        assert_eq!(sampled, truth);
    }

    /// Notes over three lines, the middle one two words and a comma: a place starting there
    /// reads `word,word` as an id and a note, and must be passed over, as must one starting
    /// at the note's last line.
    #[test]
    fn places_inside_quoted_fields_are_passed_over() {
        ids_and_quoted_text_typed_right(|i| format!("note {i}\nword,word\nend"));
    }

    /// Addresses over two lines, the second `city, state`: a place starting there reads an
    /// id and a note of the right count, whose closing quote gives it away.
    #[test]
    fn a_place_starting_on_a_quoted_fields_last_line_is_passed_over() {
        ids_and_quoted_text_typed_right(|i| format!("{i} Main St\nSpringfield, IL"));
    }

    /// Generated exports, whose quoted fields hold delimiters, quotes and line ends, so that
    /// many places fall inside a field: the types are those of a sample of every row.
    #[test]
    fn places_inside_quoted_fields_never_change_a_type() {
        let dir = tempfile::tempdir().unwrap();
        for seed in 0..2 {
            let path = dir.path().join(format!("orders-{seed}.csv"));
            loader_gen::write_file(&path, 100_000, seed, 1).unwrap();
            let (sampled, truth) = sampled_and_true(&path);
            assert_eq!(sampled, truth, "seed {seed}");
        }
    }
}
