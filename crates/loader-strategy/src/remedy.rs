//! What an operator can do about a file stopped by a bad row, said under the error: the
//! error names file, line and column; the remedy names the flags that load the file anyway.

use crate::Error;
use loader_batch::ColumnType;
use loader_file::Notation;

/// The flags that get past `error`, for the errors of one row's data that a flag settles;
/// `None` for the rest (a damaged file, a refused connection), which no flag fixes.
pub(crate) fn remedy(error: &Error) -> Option<String> {
    if let Error::ColumnNotInTable {
        column, unmatched, ..
    } = error
    {
        // The export renamed a column the table has: the one column the file leaves
        // unfilled is most likely it.
        let rename = match &unmatched[..] {
            [only] => format!(
                "--rename {} loads it into the table's {only:?}",
                shell_word(&format!("{column}={only}"))
            ),
            _ => format!(
                "--rename {}=COLUMN loads it into a column the table has",
                shell_word(column)
            ),
        };
        return Some(format!(
            "to load it: --add-columns adds {column:?} to the table (nullable, typed as \
             sampled; the rows already there get NULL); {rename}; or --skip-column {} leaves \
             it out",
            shell_word(column)
        ));
    }
    let Error::File(error) = error else {
        return None;
    };
    let skip = "--on-error skip sets such rows aside in the quarantine, with their text, and \
                loads the rest";
    match error {
        // Bytes that are not UTF-8: a file written in Latin-1 or Windows-1252 (Excel on
        // Windows), which no column type reads.
        loader_file::Error::Value { source, .. } if source.not_utf8 => Some(format!(
            "to get past it: --encoding windows-1252 reads the file as Windows-1252, as Excel \
             on Windows writes it (--encoding latin1 for ISO-8859-1); {skip}"
        )),
        loader_file::Error::Value { name, source, .. } => {
            let found = source.found.trim();
            // Files joined with `cat` keep every header but the first as a row.
            if found.eq_ignore_ascii_case(name) {
                return Some(format!(
                    "the row looks like the header again (files joined with their headers?): \
                     {skip}"
                ));
            }
            let mut ways = vec![skip.to_owned()];
            // `12,5` in a real column, `1.000` in an integer one: a European spreadsheet's
            // decimal comma and thousands points; `1,234.5`: thousands commas.
            let european = found.contains(',')
                || (source.expected == ColumnType::Integer && found.contains('.'));
            let readings = [
                (european, Notation::DECIMAL_COMMA, "--decimal-comma"),
                (
                    found.contains(','),
                    Notation::THOUSANDS_COMMA,
                    "--thousands ,",
                ),
            ];
            for (flag, notation, option) in readings.into_iter().rev() {
                if source.expected.is_numeric() && flag && notation.is_number(found.as_bytes()) {
                    let read: String = notation
                        .to_point(found.as_bytes())
                        .map(char::from)
                        .collect();
                    ways.insert(0, format!("{option} reads {found:?} as {read:?}"));
                }
            }
            if let Some(amount) = amount_reading(source.expected, found) {
                ways.insert(0, amount);
            }
            if let Some(formats) = date_formats_reading(source.expected, found) {
                ways.insert(0, formats);
            }
            // A marker such as N/A, NULL or "-" stands for no value; anything else is a
            // value written another way, which NULL would lose.
            if NULL_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(found)) {
                ways.push(format!(
                    "--null {} reads {found:?} as NULL",
                    shell_word(found)
                ));
            }
            let wider = match source.expected {
                ColumnType::Integer if ColumnType::Real.accepts(found.as_bytes()) => {
                    ColumnType::Real
                }
                _ => ColumnType::Text,
            };
            ways.push(format!(
                "--column {} types the column when the table is made (a table that exists \
                 keeps its types)",
                shell_word(&format!("{name}:{wider}"))
            ));
            Some(format!("to get past it: {}", ways.join("; ")))
        }
        // A line without a single delimiter in a table of several columns is no short row
        // but a title, a total or a note: reading it as a row with NULLs would load it.
        loader_file::Error::FieldCount {
            expected, found: 1, ..
        } if *expected > 2 => Some(format!(
            "the line has no delimiter at all (a title, a total or a note?): --skip-lines N \
             passes over such lines above the table, --skip-footer N below it; {skip}"
        )),
        // Exports that leave a row's trailing empty fields out: --ragged-rows reads them.
        loader_file::Error::FieldCount {
            expected, found, ..
        } if found < expected => Some(format!(
            "to get past it: --ragged-rows reads the missing fields as NULL (and drops empty \
             ones past the header's); {skip}"
        )),
        loader_file::Error::FieldCount { .. } => Some(format!("to get past it: {skip}")),
        // Most often a quote that opens and never closes (`5" pipe` unquoted, a field cut
        // short): the rest of the file is then one field. No row is set aside: it was
        // never held.
        loader_file::Error::RowTooLong { line, .. } => Some(format!(
            "if a quote opens on line {line} and never closes, the rest of the file reads as \
             this one row: mend the line (a quote inside a quoted field is written twice), or \
             give --quote a character the file does not quote with; a row really this long \
             needs --max-row-bytes above its length, and a --memory-limit whose row budget \
             holds four times it"
        )),
        loader_file::Error::NotInFormat { name, .. } => Some(format!(
            "to get past it: --column {} keeps the column's values as written; {skip}",
            shell_word(&format!("{name}:text"))
        )),
        _ => None,
    }
}

/// Text that exports write for no value.
/// The `--date-format` (or `--timestamp-format`) that reads `found` in a column of type
/// `ty`, when one of the usual ones does; both, when day and month could be either way.
fn date_formats_reading(ty: ColumnType, found: &str) -> Option<String> {
    let (flag, reading): (&str, Vec<String>) = match ty {
        ColumnType::Date => (
            "--date-format",
            loader_file::DATE_FORMATS
                .iter()
                .filter(|f| chrono::NaiveDate::parse_from_str(found, f).is_ok())
                .map(|f| (*f).to_owned())
                .collect(),
        ),
        ColumnType::Timestamp => (
            "--timestamp-format",
            loader_file::TIMESTAMP_FORMATS
                .iter()
                .filter(|f| chrono::NaiveDateTime::parse_from_str(found, f).is_ok())
                .map(|f| (*f).to_owned())
                .collect(),
        ),
        _ => return None,
    };
    match &reading[..] {
        [] => None,
        [only] => Some(format!("{flag} {} reads {found:?}", shell_word(only))),
        [first, other, ..] => Some(format!(
            "{flag} {} reads {found:?} (or {}: the file's other dates tell which)",
            shell_word(first),
            shell_word(other)
        )),
    }
}

const NULL_MARKERS: &[&str] = &[
    "NA", "N/A", "#N/A", "NULL", "(null)", "None", "nil", "-", "--", "?", r"\N", "missing",
    "unknown",
];

/// `word` as one shell word: as it is when it holds nothing a shell reads, else in single
/// quotes.
fn shell_word(word: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"_.:/-+=@%,".contains(&b);
    if !word.is_empty() && word.bytes().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// For a number column's value with a currency sign (`$1,234.50`, `12,50 €`, `($5)`): the
/// `--currency` (with the notation of its digits) that reads it, and what it reads.
fn amount_reading(expected: ColumnType, found: &str) -> Option<String> {
    if !expected.is_numeric() {
        return None;
    }
    loader_file::CURRENCY_SIGNS
        .into_iter()
        .filter(|sign| found.contains(sign))
        .find_map(|sign| {
            let currency = loader_file::Currency::new(sign).ok()?;
            loader_file::AMOUNT_NOTATIONS
                .iter()
                .find_map(|(notation, more)| {
                    let notation = Notation {
                        currency: Some(currency),
                        ..*notation
                    };
                    notation.is_number(found.as_bytes()).then(|| {
                        let read: String = notation
                            .to_point(found.as_bytes())
                            .map(char::from)
                            .collect();
                        format!(
                            "--currency {}{more} reads {found:?} as {read:?}",
                            shell_word(sign)
                        )
                    })
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_error(name: &str, expected: ColumnType, found: &str) -> Error {
        Error::File(loader_file::Error::Value {
            path: "late.csv".into(),
            line: 150_001,
            byte: 1_600_000,
            column: 2,
            name: name.to_owned(),
            source: expected.check(found.as_bytes()).unwrap_err(),
        })
    }

    #[test]
    fn a_marker_gets_null_a_number_written_otherwise_gets_a_wider_type() {
        let marker = remedy(&value_error("score", ColumnType::Integer, "N/A")).unwrap();
        assert!(marker.contains("--on-error skip"), "{marker}");
        assert!(
            marker.contains("--null N/A reads \"N/A\" as NULL"),
            "{marker}"
        );
        assert!(marker.contains("--column score:text"), "{marker}");
        let decimal = remedy(&value_error("score", ColumnType::Integer, "3.5")).unwrap();
        assert!(!decimal.contains("--null"), "{decimal}");
        assert!(decimal.contains("--column score:real"), "{decimal}");
        let date = remedy(&value_error("paid on", ColumnType::Date, "31/01/2024")).unwrap();
        assert!(date.contains("--column 'paid on:text'"), "{date}");
        let header = remedy(&value_error("id", ColumnType::Integer, "id")).unwrap();
        assert!(
            header.starts_with("the row looks like the header again"),
            "{header}"
        );
        assert!(!header.contains("--column"), "{header}");
        // A word that is no marker is a value: reading it as NULL would lose it.
        let word = remedy(&value_error("amount", ColumnType::Real, "abc")).unwrap();
        assert!(!word.contains("--null"), "{word}");
        let backslash = remedy(&value_error("n", ColumnType::Integer, r"\N")).unwrap();
        assert!(backslash.contains(r"--null '\N'"), "{backslash}");
        // A European spreadsheet's number.
        let comma = remedy(&value_error("price", ColumnType::Real, "1.234,5")).unwrap();
        assert!(
            comma.starts_with("to get past it: --decimal-comma reads \"1.234,5\" as \"1234.5\""),
            "{comma}"
        );
        let list = remedy(&value_error("price", ColumnType::Real, "1,2,3")).unwrap();
        assert!(!list.contains("--decimal-comma"), "{list}");
        let us = remedy(&value_error("price", ColumnType::Real, "1,234.5")).unwrap();
        assert!(
            us.starts_with("to get past it: --thousands , reads \"1,234.5\" as \"1234.5\""),
            "{us}"
        );
        assert!(!us.contains("--decimal-comma"), "{us}");
        let either = remedy(&value_error("qty", ColumnType::Integer, "1,234")).unwrap();
        assert!(
            either.starts_with(
                "to get past it: --decimal-comma reads \"1,234\" as \"1.234\"; --thousands , reads \"1,234\" as \"1234\""
            ),
            "{either}"
        );
        let day_first = remedy(&value_error("paid", ColumnType::Date, "31.01.2024")).unwrap();
        assert!(
            day_first.starts_with("to get past it: --date-format %d.%m.%Y reads \"31.01.2024\""),
            "{day_first}"
        );
        let either = remedy(&value_error("paid", ColumnType::Date, "01/02/2024")).unwrap();
        assert!(
            either.contains("--date-format %d/%m/%Y reads \"01/02/2024\" (or %m/%d/%Y: the"),
            "{either}"
        );
        let us = remedy(&value_error(
            "at",
            ColumnType::Timestamp,
            "1/31/2024 1:45 PM",
        ))
        .unwrap();
        assert!(
            us.contains("--timestamp-format '%m/%d/%Y %I:%M %p' reads \"1/31/2024 1:45 PM\""),
            "{us}"
        );
        let thousands = remedy(&value_error("qty", ColumnType::Integer, "1.000")).unwrap();
        assert!(
            thousands.contains("--decimal-comma reads \"1.000\" as \"1000\""),
            "{thousands}"
        );
        // Amounts with a currency sign, in the notation their digits are written in.
        for (found, advice) in [
            (
                "$1,234.50",
                "--currency '$' --thousands , reads \"$1,234.50\" as \"1234.50\"",
            ),
            ("($5.00)", "--currency '$' reads \"($5.00)\" as \"-5.00\""),
            ("$abc", ""),
            ("-$5", "--currency '$' reads \"-$5\" as \"-5\""),
            (
                "12,50 €",
                "--currency '€' --decimal-comma reads \"12,50 €\" as \"12.50\"",
            ),
        ] {
            let amount = remedy(&value_error("price", ColumnType::Real, found)).unwrap();
            match advice {
                "" => assert!(!amount.contains("--currency"), "{amount}"),
                advice => assert!(
                    amount.starts_with(&format!("to get past it: {advice}")),
                    "{amount}"
                ),
            }
        }
        let text = remedy(&value_error("note", ColumnType::Date, "$5")).unwrap();
        assert!(!text.contains("--currency"), "{text}");
    }

    #[test]
    fn a_number_without_a_decimal_comma_gets_a_text_column() {
        let error = Error::File(loader_file::Error::NotInFormat {
            path: "prices.csv".into(),
            line: 3,
            byte: 40,
            column: 2,
            name: "unit price".into(),
            found: "1.5".into(),
            expected: "a number written with a decimal comma (--decimal-comma: 1.234,5 is \
                       1234.5, a point only groups thousands)"
                .into(),
        });
        let advice = remedy(&error).unwrap();
        assert!(
            advice.contains("--column 'unit price:text' keeps the column's values as written"),
            "{advice}"
        );
        assert!(
            error.to_string().contains(
                "column 2 (\"unit price\"): expected a number written with a decimal comma"
            ),
            "{error}"
        );
    }

    #[test]
    fn text_that_is_not_utf8_gets_an_encoding() {
        for expected in [ColumnType::Text, ColumnType::Integer] {
            let error = Error::File(loader_file::Error::Value {
                path: "latin.csv".into(),
                line: 2,
                byte: 8,
                column: 2,
                name: "name".to_owned(),
                source: expected.check(b"Jos\xe9").unwrap_err(),
            });
            let message = error.to_string();
            assert!(
                message.ends_with(&format!(
                    "expected {expected}, found \"Jos\\xE9\", which is not UTF-8"
                )),
                "{message}"
            );
            let remedy = remedy(&error).unwrap();
            assert!(remedy.contains("--encoding windows-1252"), "{remedy}");
            assert!(remedy.contains("--on-error skip"), "{remedy}");
            assert!(!remedy.contains("--column"), "{remedy}");
        }
    }

    #[test]
    fn a_row_past_the_limit_points_at_its_quote_and_at_the_limits() {
        let remedy = remedy(&Error::File(loader_file::Error::RowTooLong {
            path: "a.csv".into(),
            line: 3,
            byte: 20,
            limit: 6 << 20,
        }))
        .unwrap();
        for said in [
            "quote opens on line 3",
            "--quote",
            "--max-row-bytes",
            "--memory-limit",
        ] {
            assert!(remedy.contains(said), "{remedy}");
        }
        assert!(!remedy.contains("--on-error skip"), "{remedy}");
    }

    #[test]
    fn a_short_row_gets_ragged_rows_a_long_one_only_skip() {
        let count = |found| {
            remedy(&Error::File(loader_file::Error::FieldCount {
                path: "a.csv".into(),
                line: 3,
                byte: 20,
                expected: 4,
                found,
            }))
            .unwrap()
        };
        assert!(count(2).contains("--ragged-rows"), "{}", count(2));
        assert!(count(2).contains("--on-error skip"), "{}", count(2));
        assert!(!count(5).contains("--ragged-rows"), "{}", count(5));
        // One field of four: a line of text, not a short row.
        assert!(
            count(1).starts_with("the line has no delimiter at all"),
            "{}",
            count(1)
        );
        assert!(!count(1).contains("--ragged-rows"), "{}", count(1));
        assert!(
            count(1).contains("--skip-footer N below it"),
            "{}",
            count(1)
        );
        assert!(count(1).contains("--on-error skip"), "{}", count(1));
    }

    #[test]
    fn a_column_the_table_lacks_gets_add_columns() {
        let error = Error::ColumnNotInTable {
            path: "feb.csv".into(),
            table: "people".into(),
            column: "email".into(),
            available: "id, name, mail address".into(),
            unmatched: Box::new(["mail address".into()]),
        };
        let advice = remedy(&error).unwrap();
        assert!(advice.contains("--add-columns adds \"email\""), "{advice}");
        assert!(
            advice.ends_with("or --skip-column email leaves it out"),
            "{advice}"
        );
        assert!(
            advice.contains(
                "--rename 'email=mail address' loads it into the table's \"mail address\""
            ),
            "{advice}"
        );
        let error = Error::ColumnNotInTable {
            path: "feb.csv".into(),
            table: "people".into(),
            column: "email".into(),
            available: "id, name, a, b".into(),
            unmatched: Box::new(["a".into(), "b".into()]),
        };
        let advice = remedy(&error).unwrap();
        assert!(
            advice.contains("--rename email=COLUMN loads it into a column the table has"),
            "{advice}"
        );
    }

    #[test]
    fn errors_no_flag_settles_get_none() {
        let io = Error::File(loader_file::Error::Io {
            path: "a.csv".into(),
            source: std::io::Error::other("disk"),
        });
        assert_eq!(remedy(&io), None);
        assert_eq!(remedy(&Error::Worker("gone".into())), None);
    }

    #[test]
    fn shell_words_are_quoted_only_when_a_shell_would_read_them() {
        assert_eq!(shell_word("N/A"), "N/A");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("$x"), "'$x'");
    }
}
