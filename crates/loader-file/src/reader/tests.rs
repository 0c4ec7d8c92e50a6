use super::*;
use crate::sample_file;
use loader_batch::ColumnType;

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) path: PathBuf,
}

pub(super) fn fixture(text: &[u8]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.csv");
    std::fs::write(&path, text).unwrap();
    Fixture { _dir: dir, path }
}

pub(super) fn open(
    f: &Fixture,
    options: &CsvOptions,
    budget: &MemoryBudget,
    resume: Option<ResumePoint>,
) -> BatchReader {
    let sample = sample_file(&f.path, options).unwrap();
    BatchReader::open(
        &f.path,
        options,
        Arc::new(sample.schema),
        sample.mean_field_bytes,
        budget.clone(),
        resume,
    )
    .unwrap()
}

pub(super) fn rows_of(batches: &[RowBatch]) -> Vec<Vec<String>> {
    batches
        .iter()
        .flat_map(|b| {
            (0..b.len()).map(move |r| {
                b.row(r)
                    .fields()
                    .map(|f| String::from_utf8(f.to_vec()).unwrap())
                    .collect()
            })
        })
        .collect()
}

#[test]
fn batches_close_by_rows_or_bytes_and_keep_positions() {
    let mut text = String::from("id,text\n");
    for i in 0..50 {
        text.push_str(&format!("{i},\"line {i}\nsecond, part\"\n"));
    }
    let f = fixture(text.as_bytes());
    let budget = MemoryBudget::new(8 << 20);

    let options = CsvOptions::default().batch_rows(7);
    let batches: Vec<_> = open(&f, &options, &budget, None)
        .map(|b| b.unwrap().batch)
        .collect();
    assert_eq!(
        batches.iter().map(RowBatch::len).collect::<Vec<_>>(),
        [7, 7, 7, 7, 7, 7, 7, 1]
    );
    assert_eq!(batches[0].line(0), 2);
    assert_eq!(batches[0].line(1), 4, "quoted newline spans two lines");
    assert_eq!(batches[1].offset(0), batches[0].end_offset());
    assert_eq!(batches[7].end_offset(), text.len() as u64);
    assert_eq!(rows_of(&batches)[49], ["49", "line 49\nsecond, part"]);

    let options = CsvOptions::default().batch_bytes(1024);
    let batches: Vec<_> = open(&f, &options, &budget, None)
        .map(|b| b.unwrap().batch)
        .collect();
    assert!(batches.len() > 1);
    assert!(batches.iter().all(|b| b.data_len() <= 1024));
    assert_eq!(rows_of(&batches).len(), 50);
    assert_eq!(budget.reserved(), 0);
}

/// A text read as a stream of unknown length (here one whose footer is held back) gets
/// batches as full as a plain file's, and the footer is in none of them.
#[test]
fn a_stream_of_unknown_length_gets_full_batches_and_its_footer_in_none() {
    let mut text = String::from("id,name\n");
    for i in 0..5000 {
        text.push_str(&format!("{},x\n", i % 10));
    }
    text.push_str("\nTotal rows,5000\n");
    let f = fixture(text.as_bytes());
    let budget = MemoryBudget::new(64 << 20);
    let options = CsvOptions::default()
        .batch_rows(1000)
        .ramp_up(false)
        .skip_footer(1);
    let batches: Vec<_> = open(&f, &options, &budget, None)
        .map(|b| b.unwrap().batch)
        .collect();
    assert_eq!(
        batches.iter().map(RowBatch::len).collect::<Vec<_>>(),
        [1000; 5]
    );
    assert_eq!(rows_of(&batches)[4999], ["9", "x"]);
}

/// The room of a stream of unknown length is `usize::MAX` bytes: with fields narrower than
/// a byte and a quarter on average, that made more rows than a `usize` holds, and adding
/// the margin overflowed (a panic in a debug build, a 15-row batch in a release one; the
/// fuzz property found it).
#[test]
fn unbounded_room_gives_the_row_cap_not_an_overflow() {
    let options = CsvOptions::default().batch_rows(1000);
    assert_eq!(row_capacity_for(usize::MAX, &options, 0.5), 1000);
    assert_eq!(row_capacity_for(usize::MAX, &options, 0.0), 1000);
    assert_eq!(bytes_for_rows(usize::MAX, 2.0), usize::MAX);
}

#[test]
fn reservation_covers_the_batch_heap_exactly() {
    let f = fixture(b"a,b\n1,x\n2,y\n");
    let budget = MemoryBudget::new(8 << 20);
    let mut reader = open(&f, &CsvOptions::default(), &budget, None);
    let reserved = reader.next().unwrap().unwrap();
    assert_eq!(
        reserved.reservation.bytes(),
        reserved.batch.heap_size() as u64
    );
    assert_eq!(
        budget.reserved(),
        reserved.batch.heap_size() as u64 + BatchReader::BUFFER_BYTES
    );
}

#[test]
fn resume_from_a_batch_end_gives_the_remaining_rows() {
    let mut text = String::from("n\n");
    for i in 0..100 {
        text.push_str(&format!("{i}\n"));
    }
    let f = fixture(text.as_bytes());
    let budget = MemoryBudget::new(8 << 20);
    let options = CsvOptions::default().batch_rows(30);
    let all: Vec<_> = open(&f, &options, &budget, None)
        .map(|b| b.unwrap().batch)
        .collect();
    let resume = ResumePoint {
        byte: all[1].end_offset(),
        line: all[1].end_line(),
        sequence: 2,
    };
    let options = CsvOptions::default().batch_rows(17);
    let rest: Vec<_> = open(&f, &options, &budget, Some(resume))
        .map(|b| b.unwrap().batch)
        .collect();
    assert_eq!(rest[0].sequence(), 2);
    assert_eq!(rest[0].line(0), 62);
    let values = rows_of(&rest);
    assert_eq!(values.len(), 40);
    assert_eq!(values[0], ["60"]);
}

#[test]
fn bad_value_is_reported_with_file_line_and_column_after_the_good_rows() {
    let f = fixture(b"id,amount\n1,2.5\n2,3\n3,abc\n4,1\n");
    let budget = MemoryBudget::new(8 << 20);
    let options = CsvOptions::default();
    let sample = sample_file(&f.path, &options.clone().sample_rows(2)).unwrap();
    assert_eq!(sample.schema.columns()[1].ty, ColumnType::Real);
    let mut reader = BatchReader::open(
        &f.path,
        &options,
        Arc::new(sample.schema),
        4.0,
        budget,
        None,
    )
    .unwrap();
    assert_eq!(reader.next().unwrap().unwrap().batch.len(), 2);
    let err = reader.next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Value {
                line: 4,
                column: 2,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("input.csv:4: column 2 (\"amount\"): expected real, found \"abc\""),
        "{message}"
    );
    assert!(reader.next().is_none());
}

#[test]
fn malformed_csv_is_an_error_not_a_panic() {
    let f = fixture(b"a,b\n1,2\n3,4,5\n");
    let budget = MemoryBudget::new(8 << 20);
    let schema = Arc::new(loader_batch::Schema::from_pairs([
        ("a", ColumnType::Integer),
        ("b", ColumnType::Integer),
    ]));
    let reader = BatchReader::open(
        &f.path,
        &CsvOptions::default(),
        schema,
        2.0,
        budget.clone(),
        None,
    )
    .unwrap();
    let results: Vec<_> = reader.collect();
    assert_eq!(results.len(), 2);
    assert!(matches!(
        results[1],
        Err(Error::FieldCount {
            line: 3,
            found: 3,
            ..
        })
    ));

    let f = fixture(b"a\n\xff\xfe\n");
    let schema = Arc::new(loader_batch::Schema::from_pairs([("a", ColumnType::Text)]));
    let mut reader =
        BatchReader::open(&f.path, &CsvOptions::default(), schema, 2.0, budget, None).unwrap();
    assert!(matches!(
        reader.next(),
        Some(Err(Error::Value {
            line: 2,
            column: 1,
            ..
        }))
    ));
}

#[test]
fn a_row_larger_than_the_budget_is_an_error() {
    let mut text = b"a\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', 600 << 10));
    text.push(b'\n');
    let f = fixture(&text);
    let budget = MemoryBudget::new(512 << 10);
    let mut reader = open(
        &f,
        &CsvOptions::default().batch_bytes(64 << 10),
        &budget,
        None,
    );
    let err = reader.next().unwrap().unwrap_err();
    // A quarter of the budget bounds a row: it is refused before the parser holds it.
    assert!(
        matches!(err, Error::RowTooLong { line: 2, limit, .. } if limit == 128 << 10),
        "{err}"
    );
}

#[test]
fn a_row_longer_than_max_row_bytes_stops_the_file_before_it_is_held() {
    let mut text = b"a,b\n1,x\n2,".to_vec();
    text.extend(std::iter::repeat_n(b'y', 2 << 20));
    text.extend(b"\n3,z\n");
    let f = fixture(&text);
    let budget = MemoryBudget::new(64 << 20);
    let options = CsvOptions::default().max_row_bytes(1 << 20).sample_rows(1);
    let results: Vec<_> = open(&f, &options, &budget, None).collect();
    let err = results.last().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(err, Error::RowTooLong { line: 3, limit, .. } if *limit == 1 << 20),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("input.csv:3: the row starting here is longer than")
    );
    // The parser never grew a record buffer for the long row past the limit and read-ahead.
    assert!(budget.peak_reserved() < 8 << 20);
}

#[test]
fn reader_waits_for_the_budget_instead_of_allocating() {
    let mut text = String::from("n\n");
    for i in 0..2000 {
        text.push_str(&format!("{i:08}\n"));
    }
    let f = fixture(text.as_bytes());
    let options = CsvOptions::default().batch_bytes(4 << 10);
    let sample = sample_file(&f.path, &options).unwrap();
    let heap = RowBatch::heap_size_for(1, (4096.0 / 8.0 * 1.25) as usize + 16, 4 << 10) as u64;
    // Room for the read buffer and exactly one batch.
    let budget = MemoryBudget::new(BatchReader::BUFFER_BYTES + heap);
    let mut reader = BatchReader::open(
        &f.path,
        &options,
        Arc::new(sample.schema),
        sample.mean_field_bytes,
        budget.clone(),
        None,
    )
    .unwrap();
    let first = reader.next().unwrap().unwrap();
    let handle = std::thread::spawn(move || reader.next().unwrap().unwrap().batch.len());
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        !handle.is_finished(),
        "second batch must wait for the first to be released"
    );
    drop(first);
    assert!(handle.join().unwrap() > 0);
}

fn compressed(text: &[u8], compression: crate::Compression) -> Vec<u8> {
    use std::io::Write;
    match compression {
        crate::Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(text).unwrap();
            encoder.finish().unwrap()
        }
        crate::Compression::Zstd => zstd::encode_all(text, 3).unwrap(),
        crate::Compression::None => text.to_vec(),
    }
}

#[test]
fn gzip_and_zstd_are_recognised_by_content_and_read_like_plain_text() {
    let mut text = String::from("id,note\n");
    for i in 0..3000 {
        text.push_str(&format!("{i},\"row {i}, with a comma\"\n"));
    }
    let budget = MemoryBudget::new(64 << 20);
    let options = CsvOptions::default().batch_rows(700);
    let plain = fixture(text.as_bytes());
    let expected = rows_of(
        &open(&plain, &options, &budget, None)
            .map(|b| b.unwrap().batch)
            .collect::<Vec<_>>(),
    );
    for compression in [crate::Compression::Gzip, crate::Compression::Zstd] {
        // Named .csv on purpose: the content decides.
        let f = fixture(&compressed(text.as_bytes(), compression));
        let sample = sample_file(&f.path, &options).unwrap();
        assert_eq!(sample.compression, compression);
        assert!(
            sample.compression_ratio > 2.0,
            "{compression:?}: {}",
            sample.compression_ratio
        );
        // The same estimate as for the plain file (sampling error, here 5%, included).
        let plain_estimate = sample_file(&plain.path, &options).unwrap().estimated_rows();
        assert_eq!(sample.estimated_rows(), plain_estimate);
        assert!(plain_estimate.abs_diff(3000) < 300, "{plain_estimate}");
        let mut reader = open(&f, &options, &budget, None);
        let first = reader.next().unwrap().unwrap();
        assert_eq!(
            budget.reserved(),
            first.reservation.bytes() + BatchReader::BUFFER_BYTES + compression.decoder_bytes(),
            "the decoder's memory is in the budget"
        );
        let mut batches = vec![first.batch];
        batches.extend(reader.map(|b| b.unwrap().batch));
        assert_eq!(rows_of(&batches), expected, "{compression:?}");
    }
}

#[test]
fn a_compressed_file_cut_short_stops_at_the_line_it_reached() {
    let mut text = String::from("id,note\n");
    for i in 0..20_000 {
        text.push_str(&format!("{i},note {}\n", i * 7919 % 1000));
    }
    let mut cut = compressed(text.as_bytes(), crate::Compression::Gzip);
    cut.truncate(cut.len() / 2);
    let f = fixture(&cut);
    let budget = MemoryBudget::new(64 << 20);
    let (mut rows, mut error) = (0, None);
    for batch in open(&f, &CsvOptions::default().batch_rows(1000), &budget, None) {
        match batch {
            Ok(batch) => rows += batch.batch.len() as u64,
            Err(stopped) => {
                error = Some(stopped);
                break;
            }
        }
    }
    assert!(
        rows > 1000,
        "the rows before the cut are handed out: {rows}"
    );
    let Some(error) = error else {
        panic!("a cut file is an error")
    };
    let Error::ReadStopped { line, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*line, rows + 2, "the line after the last row handed out");
    assert!(
        error
            .to_string()
            .contains(&format!("input.csv:{line}: reading stopped at this line"))
            && error
                .to_string()
                .contains("is the file cut short or damaged?"),
        "{error}"
    );
}

#[test]
fn resume_in_a_compressed_file_passes_over_committed_rows() {
    let mut text = String::from("n\n");
    for i in 0..500 {
        text.push_str(&format!("{i}\n"));
    }
    let budget = MemoryBudget::new(64 << 20);
    let options = CsvOptions::default().batch_rows(100);
    let plain = fixture(text.as_bytes());
    let all: Vec<_> = open(&plain, &options, &budget, None)
        .map(|b| b.unwrap().batch)
        .collect();
    let resume = ResumePoint {
        byte: all[2].end_offset(),
        line: all[2].end_line(),
        sequence: 3,
    };
    let zst = fixture(&compressed(text.as_bytes(), crate::Compression::Zstd));
    let rest: Vec<_> = open(&zst, &options, &budget, Some(resume))
        .map(|b| b.unwrap().batch)
        .collect();
    let values = rows_of(&rest);
    assert_eq!(values.len(), 200);
    assert_eq!(values[0], ["300"]);
    assert_eq!(rest[0].line(0), 302);

    let wrong = ResumePoint {
        byte: resume.byte + 1,
        ..resume
    };
    let sample = sample_file(&zst.path, &options).unwrap();
    let err = BatchReader::open(
        &zst.path,
        &options,
        Arc::new(sample.schema),
        3.0,
        budget,
        Some(wrong),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("no row starts at the resume point"),
        "{err}"
    );
}

mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Arbitrary records written with a CSV writer, in any supported dialect, load back
        /// to the same values (an empty field reads back empty, which loader stores as NULL).
        #[test]
        fn csv_written_by_a_writer_reads_back_to_the_same_values(
            rows in proptest::collection::vec(proptest::collection::vec("\\PC{0,12}|[,;\t|\"\r\n ]{0,4}", 3), 1..40),
            delimiter in prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'|')],
            always_quote in any::<bool>(),
            batch_rows in 1usize..10,
        ) {
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .quote_style(if always_quote { csv::QuoteStyle::Always } else { csv::QuoteStyle::Necessary })
                .from_writer(Vec::new());
            writer.write_record(["a", "b", "c"]).unwrap();
            for row in &rows {
                writer.write_record(row).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let f = fixture(&bytes);
            let budget = MemoryBudget::new(8 << 20);
            let options = CsvOptions::default().delimiter(delimiter).batch_rows(batch_rows);
            let schema = Arc::new(loader_batch::Schema::from_pairs([
                ("a", ColumnType::Text),
                ("b", ColumnType::Text),
                ("c", ColumnType::Text),
            ]));
            let reader = BatchReader::open(&f.path, &options, schema, 8.0, budget, None).unwrap();
            let batches: Vec<RowBatch> = reader.map(|b| b.unwrap().batch).collect();
            prop_assert_eq!(rows_of(&batches), rows);
        }
    }
}

fn skipping(options: CsvOptions) -> CsvOptions {
    options.bad_rows(crate::BadRowPolicy::skip())
}

fn typed_schema() -> Arc<loader_batch::Schema> {
    Arc::new(loader_batch::Schema::from_pairs([
        ("id", ColumnType::Integer),
        ("name", ColumnType::Text),
    ]))
}

fn read_all(
    path: &Path,
    options: &CsvOptions,
    budget: &MemoryBudget,
) -> (Vec<RowBatch>, Option<Error>) {
    let reader =
        BatchReader::open(path, options, typed_schema(), 4.0, budget.clone(), None).unwrap();
    drain(reader)
}

/// Every batch `reader` hands out, up to the error that ends it, if one does.
pub(super) fn drain(reader: BatchReader) -> (Vec<RowBatch>, Option<Error>) {
    let mut batches = Vec::new();
    for result in reader {
        match result {
            Ok(reserved) => batches.push(reserved.batch),
            Err(error) => return (batches, Some(error)),
        }
    }
    (batches, None)
}

const MIXED: &[u8] =
    b"id,name\r\n1,ann\r\nx,bob\r\n3,\"multi\r\nline\"\r\n4,cy,extra\r\n5,\xff\xfe\r\n6,dee\r\n";

#[test]
fn skipped_rows_travel_with_their_batch_with_the_raw_bytes_as_read() {
    let f = fixture(MIXED);
    // Room for a full-size batch of a compressed file, whose size the reader cannot know.
    let budget = MemoryBudget::new(64 << 20);
    let (batches, error) = read_all(&f.path, &skipping(CsvOptions::default()), &budget);
    assert!(error.is_none(), "{error:?}");
    let rejects: Vec<_> = batches.iter().flat_map(|b| b.rejects().to_vec()).collect();
    let summary: Vec<_> = rejects
        .iter()
        .map(|r| (r.line, r.kind.as_str(), r.column, r.raw.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (3, "type", Some(1), b"x,bob".to_vec()),
            (6, "field_count", None, b"4,cy,extra".to_vec()),
            (7, "encoding", Some(2), b"5,\xff\xfe".to_vec()),
        ]
    );
    assert_eq!(rejects[0].byte, 16);
    assert_eq!(
        rejects[0].message,
        "column 1 (\"id\"): expected integer, found \"x\""
    );
    assert_eq!(rejects[1].message, "expected 2 fields, found 3");
    assert_eq!(
        rows_of(&batches)
            .iter()
            .map(|r| r[0].clone())
            .collect::<Vec<_>>(),
        ["1", "3", "6"]
    );
    // Raw bytes are exact in every layout: one batch per row, compressed inputs.
    for options in [CsvOptions::default().batch_rows(1), CsvOptions::default()] {
        for compression in [crate::Compression::Gzip, crate::Compression::Zstd] {
            let g = fixture(&compressed(MIXED, compression));
            let (batches, error) = read_all(&g.path, &skipping(options.clone()), &budget);
            assert!(error.is_none(), "{compression:?}: {error:?}");
            let again: Vec<_> = batches.iter().flat_map(|b| b.rejects().to_vec()).collect();
            assert_eq!(again, rejects, "{compression:?}");
        }
    }
    assert_eq!(budget.reserved(), 0);
}

#[test]
fn a_bom_and_a_rejected_first_row_keep_exact_offsets() {
    let f = fixture(b"\xef\xbb\xbfid,name\nq,ann\n2,bob\n");
    let (batches, _) = read_all(
        &f.path,
        &skipping(CsvOptions::default()),
        &MemoryBudget::new(8 << 20),
    );
    let reject = &batches[0].rejects()[0];
    assert_eq!(
        (reject.line, reject.byte, &reject.raw[..]),
        (2, 11, &b"q,ann"[..])
    );
    let first = &batches[0];
    assert_eq!(
        first.byte_range(0..first.len()).start,
        11,
        "the batch starts at its reject"
    );
    assert_eq!(batches.last().unwrap().end_offset(), 23);
}

#[test]
fn max_errors_lets_n_rows_go_and_stops_at_the_next() {
    let f = fixture(MIXED);
    let budget = MemoryBudget::new(8 << 20);
    let policy = crate::BadRowPolicy::skip().max_errors(1);
    let (batches, error) = read_all(&f.path, &CsvOptions::default().bad_rows(policy), &budget);
    let error = error.unwrap();
    assert!(
        matches!(
            error,
            Error::TooManyRejects {
                line: 6,
                rejected: 2,
                read: 4,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("over --max-errors 1; rows before line 6 are loaded")
    );
    // Everything before the crossing row was handed out: two rows and one reject.
    assert_eq!(rows_of(&batches).len(), 2);
    assert_eq!(batches.iter().map(|b| b.rejects().len()).sum::<usize>(), 1);
    // The batch ends where the parser starts line 6: at the `\n` of the CRLF before it.
    assert_eq!(batches.last().unwrap().end_offset(), 39);
}

#[test]
fn a_batch_that_takes_the_file_over_the_error_ratio_is_not_handed_out() {
    let mut text = String::from("id,name\n");
    for i in 0..40 {
        // One bad row in each of the last two batches of ten.
        let id = if i == 25 || i == 35 {
            "bad".to_owned()
        } else {
            i.to_string()
        };
        text.push_str(&format!("{id},n{i}\n"));
    }
    let f = fixture(text.as_bytes());
    let policy = crate::BadRowPolicy::skip().max_error_ratio(0.04).unwrap();
    let options = CsvOptions::default().batch_rows(10).bad_rows(policy);
    let budget = MemoryBudget::new(8 << 20);
    let mut reader =
        BatchReader::open(&f.path, &options, typed_schema(), 4.0, budget.clone(), None).unwrap();
    let mut handed = Vec::new();
    let error = loop {
        match reader.next().unwrap() {
            Ok(b) => handed.push(b.batch),
            Err(e) => break e,
        }
    };
    // 1 of 30 is under 4%; 2 of 40 is over.
    assert_eq!(handed.len(), 3);
    assert!(
        matches!(error, Error::TooManyRejects { line: 32, rejected: 2, read, .. } if read > 32),
        "{error}"
    );
    assert_eq!((reader.rows_read(), reader.rows_rejected()), (29, 1));
    assert!(reader.next().is_none());
}

#[test]
fn nul_bytes_are_bad_rows_when_the_target_cannot_hold_them() {
    let f = fixture(b"id,name\n1,a\x00b\n2,ok\n");
    let budget = MemoryBudget::new(8 << 20);
    let options = CsvOptions::default().allow_nul(false);
    let (_, error) = read_all(&f.path, &options, &budget);
    let error = error.unwrap();
    assert!(
        matches!(
            error,
            Error::Nul {
                line: 2,
                column: 2,
                ..
            }
        ),
        "{error}"
    );
    let (batches, error) = read_all(&f.path, &skipping(options), &budget);
    assert!(error.is_none());
    assert_eq!(
        batches[0].rejects()[0].kind,
        loader_batch::RejectKind::NulByte
    );
    assert_eq!(batches[0].rejects()[0].raw, b"1,a\x00b");
    assert_eq!(rows_of(&batches), [["2", "ok"]]);
}

#[test]
fn a_nul_byte_is_found_in_any_record_of_a_long_file() {
    // The input is searched for NUL many records at a time: a NUL must still be pinned to
    // its own record, wherever it falls in the buffered input, the last record included.
    let mut text = b"id,name\n".to_vec();
    let bad = [3, 4_000, 17_001, 40_000];
    for i in 1..=40_000 {
        if bad.contains(&i) {
            text.extend_from_slice(format!("{i},x\x00y\n").as_bytes());
        } else {
            text.extend_from_slice(format!("{i},name {i}\n").as_bytes());
        }
    }
    let f = fixture(&text);
    let budget = MemoryBudget::new(8 << 20);
    let options = skipping(CsvOptions::default().allow_nul(false));
    let (batches, error) = read_all(&f.path, &options, &budget);
    assert!(error.is_none());
    let rejected_lines: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.rejects().iter().map(|r| r.line))
        .collect();
    assert_eq!(rejected_lines, bad.map(|i| i + 1));
    assert_eq!(rows_of(&batches).len(), 40_000 - bad.len());
}

/// 200,000 rows of about 22 field bytes each.
fn numbered_names() -> Fixture {
    let mut text = String::from("id,name\n");
    for i in 0..200_000 {
        text.push_str(&format!("{i},name number {i}\n"));
    }
    fixture(text.as_bytes())
}

#[test]
fn first_batches_ramp_up_to_the_configured_size() {
    let f = numbered_names();
    let budget = MemoryBudget::new(256 << 20);
    let options = CsvOptions::default().batch_bytes(2 << 20);
    let batches: Vec<_> = open(&f, &options, &budget, None)
        .map(|b| b.unwrap().batch)
        .collect();
    let rows: Vec<usize> = batches.iter().map(RowBatch::len).collect();
    // About 22 field bytes a row: 256 KiB, 512 KiB, 1 MiB, then the configured 2 MiB.
    let expected = [11_900, 23_800, 47_600, 95_300];
    for (found, expected) in rows.iter().zip(expected) {
        assert!(found.abs_diff(expected) < expected / 10, "{rows:?}");
    }
    assert_eq!(rows.iter().sum::<usize>(), 200_000);
}

#[test]
fn without_the_ramp_every_batch_but_the_last_is_full_size() {
    let f = numbered_names();
    let budget = MemoryBudget::new(256 << 20);
    let options = CsvOptions::default().batch_bytes(2 << 20).ramp_up(false);
    let rows: Vec<usize> = open(&f, &options, &budget, None)
        .map(|b| b.unwrap().batch.len())
        .collect();
    let (last, full) = rows.split_last().unwrap();
    assert!(
        full.len() >= 2 && full.iter().all(|&n| n.abs_diff(95_300) < 9_530),
        "{rows:?}"
    );
    assert!(*last <= 95_300 + 9_530, "{rows:?}");
    assert_eq!(rows.iter().sum::<usize>(), 200_000);
    // The estimate of a batch in flight follows: the first batch of a 1 MiB file is the
    // whole file, not its first 256 KiB.
    let ramped = BatchReader::batch_heap(&options.clone().ramp_up(true), 2, 11.0, 1 << 20);
    let whole = BatchReader::batch_heap(&options, 2, 11.0, 1 << 20);
    assert!(whole > ramped, "{whole} vs {ramped}");
}

#[test]
fn a_batch_closed_by_rows_reserves_about_its_rows_bytes_not_the_byte_cap() {
    // 1,000 rows of about 22 field bytes close the batch long before 8 MiB, or the 4.4 MB
    // file, would.
    let options = CsvOptions::default()
        .batch_rows(1_000)
        .batch_bytes(8 << 20)
        .ramp_up(false);
    let heap = BatchReader::batch_heap(&options, 2, 22.0, 4_400_000);
    let rows_bytes = RowBatch::heap_size_for(2, 1_000, 1_000 * 22);
    assert!(
        heap >= rows_bytes as u64,
        "{heap} below the rows' own {rows_bytes}"
    );
    assert!(
        heap < 2 * rows_bytes as u64,
        "{heap} for rows of {rows_bytes}"
    );
    // And the reader holds to it: every batch's reservation within the estimate.
    let f = numbered_names();
    let budget = MemoryBudget::new(256 << 20);
    for batch in open(&f, &options, &budget, None) {
        let batch = batch.unwrap();
        assert_eq!(batch.batch.len().max(1_000), 1_000);
        assert!(
            batch.batch.heap_size() as u64 <= heap,
            "{}",
            batch.batch.heap_size()
        );
    }
}

#[test]
fn a_character_split_between_two_fields_is_invalid_in_each() {
    // The record's bytes are valid UTF-8 together ("é"), but neither field is on its own.
    let f = fixture(b"a,b\nx,y\n\xc3,\xa9\n");
    let options = CsvOptions::default();
    let schema = Arc::new(loader_batch::Schema::from_pairs([
        ("a", ColumnType::Text),
        ("b", ColumnType::Text),
    ]));
    let budget = MemoryBudget::new(8 << 20);
    let reader = BatchReader::open(&f.path, &options, schema, 2.0, budget, None).unwrap();
    let error = reader.filter_map(std::result::Result::err).next().unwrap();
    assert!(
        matches!(
            error,
            Error::Value {
                line: 3,
                column: 1,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_last_row_left_in_an_open_quote_is_a_bad_row_not_a_value() {
    // A file cut short inside a quoted field: csv-core would take the rest as the value.
    let text = b"id,name\n1,ann\n2,\"bob\n3,cy\n";
    let f = fixture(text);
    let budget = MemoryBudget::new(8 << 20);
    let (batches, error) = read_all(&f.path, &CsvOptions::default(), &budget);
    let error = error.expect("an open quote at the end fails the file by default");
    assert!(
        matches!(
            &error,
            Error::UnterminatedQuote { line: 3, byte: 14, column: 2, name, .. } if name == "name"
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("without its closing quote"),
        "{error}"
    );
    assert_eq!(rows_of(&batches), [["1", "ann"]]);
    let (batches, error) = read_all(&f.path, &skipping(CsvOptions::default()), &budget);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(rows_of(&batches), [["1", "ann"]]);
    let rejects: Vec<_> = batches.iter().flat_map(|b| b.rejects().to_vec()).collect();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].kind, loader_batch::RejectKind::UnterminatedQuote);
    assert_eq!(rejects[0].raw, b"2,\"bob\n3,cy");
    assert_eq!(rejects[0].column, Some(2));
    // A closed quote at the end is a row like any other.
    let f = fixture(b"id,name\n1,\"ann\"");
    let (batches, error) = read_all(&f.path, &CsvOptions::default(), &budget);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(rows_of(&batches), [["1", "ann"]]);
}

#[test]
fn a_small_compressed_file_whose_decoded_size_is_known_reserves_what_the_plain_one_does() {
    // Narrow rows: a batch sized for a file of unknown length holds room for many.
    let text = b"id,name\n1,a\n2,b\n";
    let plain = fixture(text);
    let budget = MemoryBudget::new(64 << 20);
    let options = CsvOptions::default();
    let first_reservation = |f: &Fixture, options: &CsvOptions| {
        let first = open(f, options, &budget, None).next().unwrap().unwrap();
        first.reservation.bytes()
    };
    let plain_room = first_reservation(&plain, &options);
    for compression in [crate::Compression::Gzip, crate::Compression::Zstd] {
        let f = fixture(&compressed(text, compression));
        let sample = sample_file(&f.path, &options).unwrap();
        assert_eq!(
            sample.decoded_size,
            Some(text.len() as u64),
            "{compression:?}"
        );
        let unknown = first_reservation(&f, &options);
        let known = first_reservation(&f, &options.clone().decoded_size(sample.decoded_size));
        assert_eq!(known, plain_room, "{compression:?}");
        assert!(
            unknown > 4 * known,
            "{compression:?}: {unknown} against {known}"
        );
        // A size said too small only makes batches smaller: every row is still read.
        let short = options.clone().decoded_size(Some(3)).batch_rows(1_000);
        let batches: Vec<_> = open(&f, &short, &budget, None)
            .map(|b| b.unwrap().batch)
            .collect();
        assert_eq!(rows_of(&batches), [["1", "a"], ["2", "b"]]);
    }
    // A cut-off stream was not decoded whole: its size stays unknown.
    let mut cut = compressed(text, crate::Compression::Gzip);
    cut.truncate(cut.len() - 6);
    let sample = sample_file(&fixture(&cut).path, &options);
    assert!(sample.is_err() || sample.unwrap().decoded_size.is_none());
    assert_eq!(budget.reserved(), 0);
}

#[test]
fn ragged_rows_are_fitted_to_the_header_only_when_asked() {
    let f = fixture(b"id,name\n1\n2,bo,\n3,cy,,\n4,dee,x\n5,eve\n");
    let budget = MemoryBudget::new(8 << 20);
    let (batches, error) = read_all(&f.path, &CsvOptions::default(), &budget);
    assert!(batches.is_empty());
    assert!(matches!(
        error,
        Some(Error::FieldCount {
            line: 2,
            found: 1,
            ..
        })
    ));
    let ragged = skipping(CsvOptions::default().ragged_rows(true));
    let (batches, error) = read_all(&f.path, &ragged, &budget);
    assert!(error.is_none(), "{error:?}");
    // Missing fields are added empty (NULL), empty ones past the header dropped; a field
    // past it that holds text keeps the row bad.
    assert_eq!(
        rows_of(&batches),
        [["1", ""], ["2", "bo"], ["3", "cy"], ["5", "eve"]]
    );
    let rejected: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.rejects().iter().map(|r| r.line))
        .collect();
    assert_eq!(rejected, [5]);
}

#[test]
fn an_excel_sep_line_names_the_delimiter_and_is_neither_header_nor_row() {
    let budget = MemoryBudget::new(8 << 20);
    for first in [&b"sep=;\n"[..], b"\xef\xbb\xbfsep=;\r\n", b"SEP=;\r\n"] {
        let mut text = first.to_vec();
        text.extend_from_slice(b"id;name\n1;a\n2;b;c\n3;d\n");
        let f = fixture(&text);
        let sample = sample_file(&f.path, &CsvOptions::default()).unwrap();
        assert!(sample.separator_line);
        assert_eq!(sample.delimiter, b';');
        assert_eq!(sample.headers, ["id", "name"]);
        assert_eq!(sample.header_bytes, first.len() as u64 + 8);
        let options = skipping(CsvOptions::default().delimiter(sample.delimiter));
        let (batches, error) = read_all(&f.path, &options, &budget);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(rows_of(&batches), [["1", "a"], ["3", "d"]]);
        // The sep line is line 1, the header line 2: the bad row is on line 4.
        let rejected: Vec<u64> = batches
            .iter()
            .flat_map(|b| b.rejects().iter().map(|r| r.line))
            .collect();
        assert_eq!(rejected, [4]);
    }
    // Without a header the first row follows it; a given delimiter wins over the line's.
    let f = fixture(b"sep=|\n1|a\n2|b\n");
    let options = CsvOptions::default().has_headers(false);
    let sample = sample_file(&f.path, &options).unwrap();
    assert_eq!((sample.delimiter, sample.rows_sampled), (b'|', 2));
    let (batches, error) = read_all(&f.path, &options.delimiter(b'|'), &budget);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(rows_of(&batches), [["1", "a"], ["2", "b"]]);
    let given = sample_file(&f.path, &CsvOptions::default().delimiter(b',')).unwrap();
    assert_eq!((given.delimiter, given.headers.len()), (b',', 1));
    assert_eq!(given.headers, ["1|a"]);
}

#[test]
fn lines_ended_by_bare_crs_are_counted_as_lines_plain_or_compressed() {
    let text = b"id,name\r1,ann\r2,bob,x\r3,\"c\ry\"\r4,\"d\re\",e\r";
    let budget = MemoryBudget::new(8 << 20);
    for compression in [None, Some(crate::Compression::Gzip)] {
        let bytes = compression.map_or(text.to_vec(), |c| compressed(text, c));
        let f = fixture(&bytes);
        let sample = sample_file(&f.path, &CsvOptions::default()).unwrap();
        assert_eq!(sample.headers, ["id", "name"]);
        assert_eq!(
            sample.rows_sampled, 2,
            "ragged rows are left out of the sample"
        );
        let (batches, error) = read_all(&f.path, &skipping(CsvOptions::default()), &budget);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(rows_of(&batches), [["1", "ann"], ["3", "c\ny"]]);
        let rejected: Vec<(u64, u64)> = batches
            .iter()
            .flat_map(|b| b.rejects().iter().map(|r| (r.line, r.byte)))
            .collect();
        // Byte offsets stay the file's: line 3 starts at byte 14, line 6 at byte 30.
        assert_eq!(rejected, [(3, 14), (6, 30)], "{compression:?}");
        // The text kept is the row as read: its CRs read as LFs.
        let raw: Vec<&[u8]> = batches
            .iter()
            .flat_map(|b| b.rejects().iter().map(|r| &r.raw[..]))
            .collect();
        assert_eq!(raw, [&b"2,bob,x"[..], b"4,\"d\ne\",e"]);
    }
}

#[test]
fn lines_skipped_before_the_header_are_counted_and_say_nothing_of_the_dialect() {
    // A report's title lines: semicolons that are not its delimiter, a quote left open.
    let text = b"Sales report; region; 2024\n\n\"draft\nid,name\n1,a\n2,b,c\n3,d\n";
    let f = fixture(text);
    let options = CsvOptions::default().skip_lines(3);
    let sample = sample_file(&f.path, &options).unwrap();
    assert_eq!(sample.delimiter, b',');
    assert_eq!(sample.headers, ["id", "name"]);
    assert_eq!(sample.header_bytes, 43);
    assert!(!sample.separator_line);
    let budget = MemoryBudget::new(8 << 20);
    let (batches, error) = read_all(&f.path, &skipping(options.delimiter(b',')), &budget);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(rows_of(&batches), [["1", "a"], ["3", "d"]]);
    let rejected: Vec<(u64, u64)> = batches
        .iter()
        .flat_map(|b| b.rejects().iter().map(|r| (r.line, r.byte)))
        .collect();
    assert_eq!(rejected, [(6, 47)]);
    // More lines skipped than the file has: nothing is left to load.
    let all = CsvOptions::default().skip_lines(10);
    assert!(matches!(
        sample_file(&f.path, &all),
        Err(Error::Empty { .. })
    ));
}

#[test]
fn spaces_around_a_typed_value_go_text_keeps_them() {
    let f = fixture(b"id,n,day,ok,name\n1, 42 ,2024-01-02 ,\tyes, ann \n2,  ,2024-01-03,no,bo\n");
    let schema = Arc::new(loader_batch::Schema::from_pairs([
        ("id", ColumnType::Integer),
        ("n", ColumnType::Integer),
        ("day", ColumnType::Date),
        ("ok", ColumnType::Boolean),
        ("name", ColumnType::Text),
    ]));
    let budget = MemoryBudget::new(8 << 20);
    let read = |options: &CsvOptions| {
        let reader = BatchReader::open(
            &f.path,
            options,
            Arc::clone(&schema),
            4.0,
            budget.clone(),
            None,
        )
        .unwrap();
        drain(reader)
    };
    // Trimmed, text kept as read. A field of spaces alone is no value of a type, and stays
    // a bad one.
    let (batches, error) = read(&skipping(CsvOptions::default()));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        rows_of(&batches),
        [["1", "42", "2024-01-02", "yes", " ann "]]
    );
    let rejected: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.rejects().iter().map(|r| r.line))
        .collect();
    assert_eq!(rejected, [3]);
    // In an inferred column the value inside the spaces is held to what a number keeps.
    let f = fixture(b"id,n,day,ok,name\n1, 042 ,2024-01-02,yes,ann\n");
    let inferred = CsvOptions::default().inferred_columns(vec![true; 5]);
    let reader =
        BatchReader::open(&f.path, &inferred, Arc::clone(&schema), 4.0, budget, None).unwrap();
    let message = drain(reader).1.unwrap().to_string();
    assert!(
        message.contains("input.csv:2: column 2 (\"n\"): \"042\" has a leading zero"),
        "{message}"
    );
}
