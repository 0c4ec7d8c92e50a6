//! Records rewritten by the reader before their checks: `--decimal-comma` (numbers as a
//! European spreadsheet writes them reach the batch as every type reads numbers; text and
//! NULL markers are left as they are) and `--skip-column` (fields out of the rows, errors
//! still counting the file's columns).

use super::tests::{Fixture, drain, fixture, open, rows_of};
use super::*;
use crate::sample_file;
use loader_batch::ColumnType::{Integer, Real, Text};

const PRICES: &[u8] =
    "id;unit price;qty;note\n1;1.234,5;1.000;a,b\n2; 12,25 ;7;\n3;-;12;x.y\n4;,5;2.500.000;1.5\n"
        .as_bytes();

fn options() -> CsvOptions {
    CsvOptions::default()
        .delimiter(b';')
        .decimal_comma(true)
        .null_markers([b"-".to_vec()])
}

#[test]
fn numbers_with_decimal_commas_are_inferred_and_read_as_numbers() {
    let f = fixture(PRICES);
    let sample = sample_file(&f.path, &options()).unwrap();
    let types: Vec<_> = sample.schema.columns().iter().map(|c| c.ty).collect();
    assert_eq!(types, [Integer, Real, Integer, Text]);
    let (batches, error) = drain(open(&f, &options(), &MemoryBudget::new(8 << 20), None));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        rows_of(&batches),
        [
            ["1", "1234.5", "1000", "a,b"],
            ["2", "12.25", "7", ""],
            ["3", "", "12", "x.y"],
            ["4", ".5", "2500000", "1.5"],
        ]
    );
    // Without the option the same columns are text, as written.
    let sample = sample_file(&f.path, &CsvOptions::default()).unwrap();
    let types: Vec<_> = sample.schema.columns().iter().map(|c| c.ty).collect();
    assert_eq!(types, [Integer, Text, Text, Text]);
}

/// A reader of `f` whose columns are typed as [`PRICES`] types them: as a sample that
/// missed the lines `f` adds would type them.
fn typed_as_prices(f: &Fixture, options: &CsvOptions) -> BatchReader {
    let sample = sample_file(&fixture(PRICES).path, options).unwrap();
    BatchReader::open(
        &f.path,
        options,
        Arc::new(sample.schema),
        sample.mean_field_bytes,
        MemoryBudget::new(8 << 20),
        None,
    )
    .unwrap()
}

#[test]
fn a_point_that_groups_no_thousands_is_a_bad_row_named_by_line_and_column() {
    let mut text = PRICES.to_vec();
    text.extend_from_slice(b"5;1.5;3;late\n");
    let f = fixture(&text);
    let (batches, error) = drain(typed_as_prices(&f, &options()));
    let error = error.expect("the last row stops the file");
    assert!(
        matches!(error, Error::NotInFormat { line: 6, column: 2, ref found, .. } if found == "1.5"),
        "{error}"
    );
    assert_eq!(rows_of(&batches).len(), 4, "the rows before it");
    // Quarantined, it keeps its text as read.
    let skip = options().bad_rows(crate::BadRowPolicy::skip());
    let (batches, error) = drain(typed_as_prices(&f, &skip));
    assert!(error.is_none(), "{error:?}");
    let rejects: Vec<_> = batches.iter().flat_map(|b| b.rejects()).collect();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].raw, b"5;1.5;3;late");
    assert!(
        rejects[0]
            .message
            .starts_with("column 2 (\"unit price\"): expected a number written"),
        "{}",
        rejects[0].message
    );
}

/// `id,ssn,amount,note`, its `ssn` left out, typed from the rows before the last one.
fn without_ssn(text: &[u8], options: &CsvOptions) -> (Vec<RowBatch>, Option<Error>) {
    let f = fixture(text);
    let schema =
        loader_batch::Schema::from_pairs([("id", Integer), ("amount", Real), ("note", Text)]);
    let options = options.clone().skipped_columns(vec![false, true]);
    let reader = BatchReader::open(
        &f.path,
        &options,
        Arc::new(schema),
        8.0,
        MemoryBudget::new(8 << 20),
        None,
    )
    .unwrap();
    drain(reader)
}

#[test]
fn a_skipped_column_is_left_out_of_the_rows_and_errors_count_the_files_columns() {
    let text = b"id,ssn,amount,note\n1,123,2.5,\"\"\n2,\"4,5\",3,x\n3,6,abc,y\n";
    let (batches, error) = without_ssn(text, &CsvOptions::default());
    assert_eq!(rows_of(&batches), [["1", "2.5", ""], ["2", "3", "x"]]);
    // The quoted empty note is an empty string still, found at the file's fourth field.
    assert!(batches[0].is_empty_text(0, 2));
    let error = error.expect("abc is no real");
    assert!(
        matches!(error, Error::Value { line: 4, column: 3, ref name, .. } if name == "amount"),
        "{error}"
    );
    // A short row is short of the file's four fields, not the three loaded.
    let (_, error) = without_ssn(b"id,ssn,amount,note\n1,2,3\n", &CsvOptions::default());
    assert!(
        matches!(
            error,
            Some(Error::FieldCount {
                expected: 4,
                found: 3,
                ..
            })
        ),
        "{error:?}"
    );
    // With decimal commas too: the rewrite and the skip are one pass.
    let text = b"id;ssn;amount;note\n1;1.5;1.234,5;a\n";
    let options = CsvOptions::default().delimiter(b';').decimal_comma(true);
    let (batches, error) = without_ssn(text, &options);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(rows_of(&batches), [["1", "1234.5", "a"]]);
}
