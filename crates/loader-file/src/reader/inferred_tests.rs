//! Values a sampled type would not store as written, in columns the user gave no type.

use super::*;
use crate::sample_file;
use loader_batch::{ColumnType, RejectKind};

/// Ten rows whose zip codes and amounts a five-row sample reads as integer and real, then
/// a zip with a leading zero and an amount too large for an integer.
const LATE_CODES: &[u8] = b"zip,amount\n\
    10001,1.5\n10002,2.5\n10003,3.5\n10004,4.5\n10005,5.5\n\
    10006,6.5\n02134,7.5\n10008,12345678901234567890\n10009,0.5\n10010,-0.25\n";

fn read(options: &CsvOptions) -> (Vec<RowBatch>, Option<Error>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codes.csv");
    std::fs::write(&path, LATE_CODES).unwrap();
    let sample = sample_file(&path, &options.clone().sample_rows(5)).unwrap();
    let types: Vec<_> = sample.schema.columns().iter().map(|c| c.ty).collect();
    assert_eq!(types, [ColumnType::Integer, ColumnType::Real]);
    let budget = MemoryBudget::new(8 << 20);
    let reader = BatchReader::open(
        &path,
        options,
        Arc::new(sample.schema),
        sample.mean_field_bytes,
        budget,
        None,
    )
    .unwrap();
    super::tests::drain(reader)
}

fn zips(batches: &[RowBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| (0..b.len()).map(|r| String::from_utf8_lossy(b.field(r, 0)).into()))
        .collect()
}

#[test]
fn a_value_a_sampled_type_would_change_is_a_bad_row_named_by_line_and_column() {
    let inferred = CsvOptions::default().inferred_columns(vec![true, true]);
    let (_, error) = read(&inferred);
    let error = error.expect("the leading zero stops the file under --on-error fail");
    assert!(
        matches!(
            error,
            Error::NotAsWritten {
                line: 8,
                column: 1,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains(
            ":8: column 1 (\"zip\"): \"02134\" has a leading zero, which a number drops, and no \
             type was given for the column: --column zip:integer stores such values as numbers"
        ),
        "{error}"
    );

    let (batches, error) = read(&inferred.bad_rows(crate::BadRowPolicy::skip()));
    assert!(error.is_none(), "{error:?}");
    let rejects: Vec<_> = batches.iter().flat_map(|b| b.rejects().to_vec()).collect();
    let summary: Vec<_> = rejects
        .iter()
        .map(|r| {
            (
                r.line,
                r.column,
                r.kind,
                String::from_utf8_lossy(&r.raw).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (8, Some(1), RejectKind::Type, "02134,7.5".to_owned()),
            (
                9,
                Some(2),
                RejectKind::Type,
                "10008,12345678901234567890".to_owned()
            ),
        ]
    );
    assert!(
        rejects[1]
            .message
            .contains("too large for an integer, which a real rounds")
    );
    // A lone zero and a fraction's zero are written as numbers are.
    assert_eq!(zips(&batches).len(), 8);
}

#[test]
fn a_column_whose_type_was_given_takes_such_values_as_numbers() {
    for options in [
        CsvOptions::default(),
        CsvOptions::default().inferred_columns(vec![false, false]),
    ] {
        let (batches, error) = read(&options);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(zips(&batches).len(), 10);
        assert!(zips(&batches).contains(&"02134".to_owned()));
    }
}
