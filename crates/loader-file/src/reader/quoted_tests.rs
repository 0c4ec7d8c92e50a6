//! `""` is an empty string in a text column, an empty field NULL, as PostgreSQL's `COPY`
//! reads them.

use super::*;
use loader_batch::{ColumnType, Schema};
use proptest::prelude::*;

/// `(field, is an empty string)` for every field of every row.
fn read(text: &[u8], options: &CsvOptions) -> Vec<Vec<(String, bool)>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.csv");
    std::fs::write(&path, text).unwrap();
    let schema = Schema::from_pairs([
        ("id", ColumnType::Integer),
        ("name", ColumnType::Text),
        ("note", ColumnType::Text),
    ]);
    let reader = BatchReader::open(
        &path,
        options,
        Arc::new(schema),
        4.0,
        MemoryBudget::new(8 << 20),
        None,
    )
    .unwrap();
    let (batches, error) = super::tests::drain(reader);
    assert!(error.is_none(), "{error:?}");
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.len() {
            rows.push(
                (0..3)
                    .map(|c| {
                        let field = String::from_utf8_lossy(batch.field(row, c)).into_owned();
                        (field, batch.is_empty_text(row, c))
                    })
                    .collect(),
            );
        }
    }
    rows
}

fn row(fields: [(&str, bool); 3]) -> Vec<(String, bool)> {
    fields.iter().map(|(f, e)| ((*f).to_owned(), *e)).collect()
}

const INPUT: &[u8] = b"id,name,note\n\
    1,\"\",\n\
    \"\",,\"\"\n\
    3,\"multi\nline, \"\"quoted\"\"\",\"\"\n\
    4,plain,\"x\"\n";

#[test]
fn a_quoted_empty_field_is_an_empty_string_in_a_text_column_and_null_elsewhere() {
    let expected = [
        row([("1", false), ("", true), ("", false)]),
        // An integer column has no empty string: `""` is NULL there.
        row([("", false), ("", false), ("", true)]),
        row([("3", false), ("multi\nline, \"quoted\"", false), ("", true)]),
        row([("4", false), ("plain", false), ("x", false)]),
    ];
    assert_eq!(read(INPUT, &CsvOptions::default()), expected);
    // The same with CRLF line ends, one row per batch, and a NULL marker (which takes the
    // record's other path into the batch).
    let crlf = String::from_utf8(INPUT.to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    let crlf_expected: Vec<_> = expected
        .iter()
        .map(|r| {
            r.iter()
                .map(|(f, e)| (f.replace('\n', "\r\n"), *e))
                .collect::<Vec<_>>()
        })
        .collect();
    for options in [
        CsvOptions::default().batch_rows(1),
        CsvOptions::default().null_markers(["NA"]),
    ] {
        assert_eq!(read(crlf.as_bytes(), &options), crlf_expected);
    }
}

#[test]
fn quoted_empty_is_null_makes_every_empty_field_null() {
    let rows = read(INPUT, &CsvOptions::default().quoted_empty_is_null(true));
    assert!(rows.iter().flatten().all(|(_, empty_text)| !empty_text));
}

/// One field as written: its text and whether it is written in quotes.
fn field() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        3 => Just((String::new(), false)),
        3 => Just((String::new(), true)),
        3 => "[a-z0-9 ]{1,6}".prop_map(|t| (t, false)),
        2 => "[a-z;,|\t\"\n ]{0,8}".prop_map(|t| (t, true)),
    ]
}

/// An id: empty, `""` or a number.
fn id() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        Just((String::new(), false)),
        Just((String::new(), true)),
        (0u32..1000).prop_map(|n| (n.to_string(), false)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the delimiter, line ends and quoting around them, a field is an empty
    /// string exactly when it was written `""`.
    #[test]
    fn exactly_the_fields_written_as_two_quotes_are_empty_strings(
        rows in prop::collection::vec((id(), field(), field()), 1..40),
        delimiter in prop::sample::select(b",;|\t".to_vec()),
        crlf in any::<bool>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let d = char::from(delimiter).to_string();
        let mut text = ["id", "name", "note"].join(&d) + end;
        let rows: Vec<[(String, bool); 3]> = rows.into_iter().map(|(a, b, c)| [a, b, c]).collect();
        for row in &rows {
            let written: Vec<String> = row
                .iter()
                .map(|(t, quoted)| {
                    // A text that holds a delimiter, quote or line end must be quoted.
                    let needs = t.contains(['"', '\n']) || t.contains(delimiter as char);
                    if *quoted || needs {
                        format!("\"{}\"", t.replace('"', "\"\""))
                    } else {
                        t.clone()
                    }
                })
                .collect();
            text.push_str(&written.join(&d));
            text.push_str(end);
        }
        let read = read(text.as_bytes(), &CsvOptions::default().delimiter(delimiter));
        prop_assert_eq!(read.len(), rows.len());
        for (got, row) in read.iter().zip(&rows) {
            for (column, ((value, empty_text), (t, quoted))) in got.iter().zip(row).enumerate() {
                prop_assert_eq!(value, t);
                // `id` is an integer column, where `""` is NULL too.
                let expected = column > 0 && t.is_empty() && *quoted;
                prop_assert_eq!(*empty_text, expected, "column {} of {:?}", column, row);
            }
        }
    }
}
