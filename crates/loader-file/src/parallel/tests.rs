use super::*;
use crate::sample_file;
use loader_batch::RowBatch;

/// Small parts, so that small files are cut many times.
const PART_BYTES: u64 = 16 << 10;

struct Read {
    rows: Vec<Vec<Vec<u8>>>,
    lines: Vec<u64>,
    ends: Vec<(u64, u64)>,
    sequences: Vec<u64>,
    error: Option<String>,
    counts: (u64, u64),
    parts: usize,
}

fn read(
    text: &[u8],
    options: &CsvOptions,
    threads: usize,
    resume: impl Fn(&Path) -> Option<ResumePoint>,
) -> Read {
    read_in_parts(text, options, threads, PART_BYTES, resume)
}

fn read_in_parts(
    text: &[u8],
    options: &CsvOptions,
    threads: usize,
    part_bytes: u64,
    resume: impl Fn(&Path) -> Option<ResumePoint>,
) -> Read {
    read_under_budget(text, options, threads, part_bytes, 64 << 20, resume)
}

fn read_under_budget(
    text: &[u8],
    options: &CsvOptions,
    threads: usize,
    part_bytes: u64,
    budget_bytes: u64,
    resume: impl Fn(&Path) -> Option<ResumePoint>,
) -> Read {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.csv");
    std::fs::write(&path, text).unwrap();
    let mut sample = sample_file(&path, options).unwrap();
    // The parts' readers are under test, not inference: `id` is an integer column whatever
    // the sample saw, so that bad ids planted anywhere are bad rows.
    sample
        .schema
        .set_type("id", loader_batch::ColumnType::Integer);
    let budget = MemoryBudget::new(budget_bytes);
    let mut reader = ParallelReader::open(
        &path,
        options,
        Arc::new(sample.schema),
        sample.mean_field_bytes,
        budget.clone(),
        resume(&path),
        Parallelism::new(threads)
            .min_file_bytes(0)
            .part_bytes(part_bytes),
    )
    .unwrap();
    let mut read = Read {
        rows: Vec::new(),
        lines: Vec::new(),
        ends: Vec::new(),
        sequences: Vec::new(),
        error: None,
        counts: (0, 0),
        parts: reader.parts(),
    };
    for item in reader.by_ref() {
        match item {
            Ok(reserved) => {
                let batch: &RowBatch = &reserved.batch;
                for row in 0..batch.len() {
                    read.rows.push(
                        (0..batch.columns())
                            .map(|c| batch.field(row, c).to_vec())
                            .collect(),
                    );
                    read.lines.push(batch.line(row));
                }
                read.ends.push((batch.end_line(), batch.end_offset()));
                read.sequences.push(batch.sequence());
            }
            Err(error) => {
                let path = path.display().to_string();
                read.error = Some(error.to_string().replace(&path, "input.csv"));
            }
        }
    }
    read.counts = (reader.rows_read(), reader.rows_rejected());
    read
}

fn numbered(rows: usize, line_end: &str) -> Vec<u8> {
    let mut text = format!("id,name{line_end}");
    for i in 0..rows {
        text.push_str(&format!("{i},name {i}{line_end}"));
    }
    text.into_bytes()
}

/// Parts read in parallel give what one reader gives, row for row, with the same lines.
fn same_as_one_reader(text: &[u8], options: &CsvOptions, threads: usize) -> Read {
    let one = read(text, options, 1, |_| None);
    let many = read(text, options, threads, |_| None);
    assert_eq!(one.parts, 1);
    assert_eq!(many.rows, one.rows);
    assert_eq!(many.lines, one.lines);
    assert_eq!(many.error, one.error);
    assert_eq!(many.counts, one.counts);
    assert_eq!(many.ends.last(), one.ends.last());
    let expected: Vec<u64> = (0..many.sequences.len() as u64).collect();
    assert_eq!(
        many.sequences, expected,
        "batches are numbered in file order"
    );
    many
}

#[test]
fn parts_read_in_parallel_give_the_rows_of_one_reader_in_order() {
    let options = CsvOptions::default().batch_rows(1000);
    for line_end in ["\n", "\r\n"] {
        let many = same_as_one_reader(&numbered(20_000, line_end), &options, 3);
        assert!(many.parts > 10, "{line_end:?}: {}", many.parts);
        assert_eq!(many.rows.len(), 20_000);
        assert_eq!(many.counts, (20_000, 0));
    }
}

#[test]
fn batch_ends_are_resume_points_at_every_part_boundary() {
    let options = CsvOptions::default().batch_rows(700);
    let text = numbered(10_000, "\r\n");
    let many = read(&text, &options, 4, |_| None);
    assert!(many.parts > 5);
    // Every batch end, resumed from, gives exactly the rows after it.
    for (index, &(line, byte)) in many.ends.iter().enumerate().step_by(3) {
        let rest = read(&text, &options, 1, |_| {
            Some(ResumePoint {
                byte,
                line,
                sequence: 0,
            })
        });
        let before: usize = many.rows.len() - rest.rows.len();
        assert_eq!(rest.rows[..], many.rows[before..], "batch {index}");
        let first_difference = rest
            .lines
            .iter()
            .zip(&many.lines[before..])
            .position(|(a, b)| a != b);
        assert_eq!(
            first_difference,
            None,
            "batch {index}: {:?}",
            first_difference.map(|i| (i, rest.lines[i], many.lines[before + i], &many.ends))
        );
    }
}

#[test]
fn a_cut_inside_a_quoted_field_is_found_and_the_rest_read_by_one_reader() {
    // A field of many lines covers the middle of the file, where the cuts fall.
    let mut text = numbered(300, "\n");
    text.extend_from_slice(b"300,\"");
    for i in 0..40_000 {
        text.extend_from_slice(format!("line {i} of one field\n").as_bytes());
    }
    text.extend_from_slice(b"\"\n");
    for i in 301..600 {
        text.extend_from_slice(format!("{i},name {i}\n").as_bytes());
    }
    let many = same_as_one_reader(&text, &CsvOptions::default().batch_rows(64), 3);
    assert!(many.parts > 10);
    assert_eq!(many.rows.len(), 600);
    assert_eq!(
        many.lines[301], 40_303,
        "lines count the field's line feeds"
    );
}

#[test]
fn the_first_bad_row_in_file_order_is_the_error() {
    let mut text = numbered(30_000, "\n");
    // A bad row in the last part and one in the middle part: the middle one is reported.
    text.extend_from_slice(b"late,x\n");
    let middle = b"\n15000,name 15000\n";
    let at = text
        .windows(middle.len())
        .position(|w| w == middle)
        .unwrap();
    text.splice(at + 1..at + 6, b"early".iter().copied());
    let options = CsvOptions::default().batch_rows(500);
    let many = same_as_one_reader(&text, &options, 3);
    let error = many.error.unwrap();
    assert!(error.starts_with("input.csv:15002: column 1"), "{error}");
}

#[test]
fn rejects_travel_in_order_under_the_skip_policy() {
    let mut text = numbered(20_000, "\n");
    for i in [5_000, 9_000, 17_000] {
        let row = format!("\n{i},name {i}\n");
        let at = text
            .windows(row.len())
            .position(|w| w == row.as_bytes())
            .unwrap();
        text.splice(at + 1..at + 1 + i.to_string().len(), b"x".iter().copied());
    }
    let options = CsvOptions::default()
        .batch_rows(512)
        .bad_rows(crate::BadRowPolicy::skip());
    let many = same_as_one_reader(&text, &options, 2);
    assert_eq!(many.counts, (19_997, 3));
}

#[test]
fn a_resumed_read_is_cut_after_the_resume_point() {
    let text = numbered(20_000, "\n");
    let options = CsvOptions::default().batch_rows(1000);
    let whole = read(&text, &options, 1, |_| None);
    let (line, byte) = whole.ends[4];
    let resume = |_: &Path| {
        Some(ResumePoint {
            byte,
            line,
            sequence: 5,
        })
    };
    let one = read(&text, &options, 1, resume);
    let many = read(&text, &options, 3, resume);
    assert!(many.parts > 5);
    assert_eq!(many.rows, one.rows);
    assert_eq!(many.lines, one.lines);
    assert_eq!(many.sequences[0], 5);
    assert_eq!(
        many.rows.len(),
        20_000 - 5 * 1000 + whole.rows[..5000].len() - 5000
    );
}

#[test]
fn limits_counted_over_the_whole_file_keep_it_in_one_part() {
    let options = CsvOptions::default().bad_rows(crate::BadRowPolicy::skip().max_errors(3));
    let many = read(&numbered(20_000, "\n"), &options, 3, |_| None);
    assert_eq!(many.parts, 1);
}

#[test]
fn line_feeds_are_counted_across_chunk_edges() {
    let mut bytes = Vec::new();
    for i in 0..10_000 {
        bytes.push(if i % 7 == 0 { b'\n' } else { b'x' });
    }
    for length in [0, 1, 254, 255, 256, 510, 511, 9_999, 10_000] {
        let expected = bytes[..length].iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(count_line_feeds(&bytes[..length]), expected, "{length}");
    }
}

#[test]
fn cuts_inside_many_quoted_fields_drop_only_those_parts() {
    // Every 7th row has a field of several lines: many cuts fall inside one, most do not.
    let mut text = String::from("id,note\r\n");
    for i in 0..20_000 {
        if i % 7 == 3 {
            text.push_str(&format!("{i},\"first line\r\nsecond\r\nthird {i}\"\r\n"));
        } else {
            text.push_str(&format!("{i},plain {i}\r\n"));
        }
    }
    let many = same_as_one_reader(text.as_bytes(), &CsvOptions::default().batch_rows(300), 3);
    assert!(many.parts > 10);
    assert_eq!(many.rows.len(), 20_000);
}

mod random_inputs {
    use super::*;
    use proptest::prelude::*;

    /// Rows of an id and a note, some notes quoted over several lines, some ids bad.
    fn csv_text() -> impl Strategy<Value = Vec<u8>> {
        let note = prop_oneof![
            4 => "[a-z ]{0,12}",
            2 => "[a-z ,\"\n]{0,20}".prop_map(|t| format!("\"{}\"", t.replace('"', "\"\""))),
            1 => Just(String::new()),
        ];
        let id = prop_oneof![
            9 => (0u32..100_000).prop_map(|n| n.to_string()),
            1 => Just("x".to_owned()),
        ];
        (prop::collection::vec((id, note), 1..400), any::<bool>()).prop_map(|(rows, crlf)| {
            let end = if crlf { "\r\n" } else { "\n" };
            // The first row has a numeric id, so that the sample takes the column for one.
            let mut text = format!("id,note{end}1,first{end}");
            for (id, note) in rows {
                let note = if crlf {
                    note.replace('\n', "\r\n")
                } else {
                    note
                };
                text.push_str(&format!("{id},{note}{end}"));
            }
            text.into_bytes()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any cuts, any number of threads, either policy: what one reader gives.
        #[test]
        fn parts_give_what_one_reader_gives(
            text in csv_text(),
            threads in 2usize..5,
            part_bytes in 8u64..600,
            skip in any::<bool>(),
        ) {
            let options = CsvOptions::default().batch_rows(37);
            let options = if skip {
                options.bad_rows(crate::BadRowPolicy::skip())
            } else {
                options
            };
            let one = read_in_parts(&text, &options, 1, part_bytes, |_| None);
            let many = read_in_parts(&text, &options, threads, part_bytes, |_| None);
            prop_assert_eq!(&many.rows, &one.rows);
            prop_assert_eq!(&many.lines, &one.lines);
            prop_assert_eq!(&many.error, &one.error);
            prop_assert_eq!(many.counts, one.counts);
            prop_assert_eq!(many.ends.last(), one.ends.last());
        }
    }
}

#[test]
fn a_budget_too_small_for_parts_read_ahead_keeps_one_reader() {
    let text = numbered(20_000, "\n");
    let options = CsvOptions::default().batch_rows(1000);
    let tight = read_under_budget(&text, &options, 3, 64 << 10, 1 << 20, |_| None);
    assert_eq!(tight.parts, 1);
    assert_eq!(tight.rows.len(), 20_000);
}

#[test]
fn parts_read_ahead_under_a_budget_just_large_enough_finish_in_order() {
    // Parts are cut, but the budget has room for little more than the part being consumed:
    // the threads reading ahead wait for spare room and never starve it.
    let text = numbered(60_000, "\r\n");
    let options = CsvOptions::default().batch_rows(2_000);
    let one = read_under_budget(&text, &options, 1, 32 << 10, 4 << 20, |_| None);
    let many = read_under_budget(&text, &options, 4, 32 << 10, 4 << 20, |_| None);
    assert!(many.parts > 10, "{}", many.parts);
    assert_eq!(many.rows, one.rows);
    assert_eq!(many.lines, one.lines);
}

#[test]
fn a_quote_left_open_near_the_end_swallows_the_parts_after_it_as_one_reader_does() {
    // Many parts after the open quote: each looks like good rows on its own, but the
    // quote takes them all into the last row, which is then the one bad row.
    let mut text = numbered(20_000, "\n");
    let at = text
        .windows(b"\n2000,".len())
        .position(|w| w == b"\n2000,")
        .unwrap();
    text.insert(at + b"\n2000,".len(), b'"');
    for (policy, counts) in [
        (crate::BadRowPolicy::skip(), (2_000, 1)),
        (crate::BadRowPolicy::fail(), (2_000, 0)),
    ] {
        let options = CsvOptions::default().batch_rows(512).bad_rows(policy);
        let many = same_as_one_reader(&text, &options, 3);
        assert!(many.parts > 3, "{}", many.parts);
        assert_eq!(many.counts, counts);
    }
}

/// Lines before the header (skipped title lines, an Excel `sep=` line) are before the first
/// cut: parts give what one reader gives, with the file's own line numbers.
#[test]
fn lines_before_the_header_leave_the_parts_as_one_reader_reads_them() {
    let mut titled = b"Sales report\n\"draft\n\n".to_vec();
    titled.extend_from_slice(&numbered(20_000, "\n"));
    let options = CsvOptions::default().batch_rows(1000).skip_lines(3);
    let many = same_as_one_reader(&titled, &options, 3);
    assert!(many.parts > 10, "{}", many.parts);
    assert_eq!(many.rows.len(), 20_000);
    assert_eq!(many.lines.first(), Some(&5));
    let mut excel = b"sep=,\r\n".to_vec();
    excel.extend_from_slice(&numbered(20_000, "\r\n"));
    let options = CsvOptions::default().batch_rows(1000);
    let many = same_as_one_reader(&excel, &options, 3);
    assert!(many.parts > 10, "{}", many.parts);
    // A row after a CRLF is placed at its LF, as the csv crate places it: one line more
    // than the same rows without the `sep=` line.
    let plain = read(&numbered(20_000, "\r\n"), &options, 1, |_| None);
    assert_eq!(
        many.lines.first(),
        plain.lines.first().map(|line| line + 1).as_ref()
    );
}
