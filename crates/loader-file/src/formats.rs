//! Typed values written otherwise than every type reads them, as a file's options say:
//! numbers with a decimal comma or thousands marks (`--decimal-comma`, `--thousands`, see
//! [`crate::Notation`]) and dates and timestamps in a format of their own (`--date-format
//! %d.%m.%Y`, `--timestamp-format "%m/%d/%Y %H:%M"`). A reader rewrites such a field to the
//! form every type reads (`1234.5`, `2024-01-31`, `2024-01-31 13:45:00`) before checking it,
//! and inference reads it the same way, so the rest of the load never sees the file's
//! notation.

use crate::CsvOptions;
use loader_batch::ColumnType;
use std::io::Write as _;

/// Dates as spreadsheets and exports write them when not as ISO: day first (most of the
/// world), month first (the United States), and year first with slashes.
pub const DATE_FORMATS: [&str; 5] = ["%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y/%m/%d"];

/// Timestamps as they write them: each of [`DATE_FORMATS`] with a time of day, 24-hour or
/// 12-hour, with or without seconds.
pub const TIMESTAMP_FORMATS: [&str; 20] = [
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %I:%M %p",
    "%d.%m.%Y %I:%M:%S %p",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %I:%M %p",
    "%d/%m/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %I:%M %p",
    "%d-%m-%Y %I:%M:%S %p",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %I:%M %p",
    "%Y/%m/%d %I:%M:%S %p",
];

/// What became of a field.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rewrite {
    /// Read as it is: no format applies, or the value is in the form every type reads.
    Keep,
    /// Appended to the output in the form every type reads.
    Rewritten,
    /// Not a value of the column written as the options say: what was expected.
    Invalid(String),
    /// Left out of the record: a column not loaded.
    Drop,
}

/// Whether `options` ask for any rewriting.
pub(crate) fn any(options: &CsvOptions) -> bool {
    options.number_notation().is_some()
        || options.get_date_format().is_some()
        || options.get_timestamp_format().is_some()
}

/// Rewrites a non-empty `field` of a column of type `ty` (`decimal_text`: a text column
/// whose table keeps exact decimals, see [`CsvOptions::decimal_text_columns`]) onto `out`,
/// as `options` say it is written. Spaces around a rewritten value are dropped.
pub(crate) fn rewrite(
    ty: ColumnType,
    decimal_text: bool,
    field: &[u8],
    options: &CsvOptions,
    out: &mut Vec<u8>,
) -> Rewrite {
    let value = field.trim_ascii();
    match ty {
        _ if value.is_empty() => Rewrite::Keep,
        ColumnType::Integer | ColumnType::Real | ColumnType::Text
            if ty.is_numeric() || decimal_text =>
        {
            let Some(notation) = options.number_notation() else {
                return Rewrite::Keep;
            };
            if !notation.is_number(value) {
                return Rewrite::Invalid(expected_number(notation));
            }
            out.extend(notation.to_point(value));
            Rewrite::Rewritten
        }
        ColumnType::Date => match options.get_date_format() {
            Some(format) if !ty.accepts(value) => {
                let parsed = std::str::from_utf8(value)
                    .ok()
                    .and_then(|text| chrono::NaiveDate::parse_from_str(text, format).ok());
                match parsed {
                    Some(date) => {
                        let _ = write!(out, "{}", date.format("%Y-%m-%d"));
                        Rewrite::Rewritten
                    }
                    None => Rewrite::Invalid(format!("a date written as {format} (--date-format)")),
                }
            }
            _ => Rewrite::Keep,
        },
        ColumnType::Timestamp => match options.get_timestamp_format() {
            Some(format) if !ty.accepts(value) => {
                if write_timestamp(value, format, out) {
                    Rewrite::Rewritten
                } else {
                    Rewrite::Invalid(format!(
                        "a timestamp written as {format} (--timestamp-format)"
                    ))
                }
            }
            _ => Rewrite::Keep,
        },
        _ => Rewrite::Keep,
    }
}

/// What a number in `notation` looks like, for the error naming a field that is none.
fn expected_number(notation: crate::Notation) -> String {
    let written = written_number(notation);
    match notation.currency {
        Some(currency) => {
            let sign = currency.as_str();
            format!(
                "{written}, with or without the currency sign {sign} before or after it \
                 (--currency {sign}: {sign}5 and 5{sign} are 5, ({sign}5) and -{sign}5 are -5)"
            )
        }
        None => written,
    }
}

/// What a number in `notation` looks like, its currency sign aside.
fn written_number(notation: crate::Notation) -> String {
    let group = notation.group.map(char::from);
    match (notation.decimal, group) {
        (b',', Some('.')) => "a number written with a decimal comma (--decimal-comma: 1.234,5 is \
                              1234.5, a point only groups thousands)"
            .to_owned(),
        (b',', Some(group)) => format!(
            "a number written with a decimal comma, {group:?} grouping thousands (--decimal-comma \
             --thousands: 1{group}234,5 is 1234.5)"
        ),
        (_, Some(group)) => format!(
            "a number whose {group:?} only groups thousands (--thousands: 1{group}234.5 is 1234.5)"
        ),
        _ => "a number".to_owned(),
    }
}

/// Whether `format` gives a zone offset (`%z`, `%:z`, ...), which a timestamp then carries.
fn has_offset(format: &str) -> bool {
    format.contains("%z")
        || format.contains("%:z")
        || format.contains("%#z")
        || format.contains("%::z")
}

/// Appends the timestamp `value`, written as `format` says, as every type reads one:
/// `2024-01-31 13:45:00`, with its fraction and, when the format has one, its offset; false,
/// with nothing appended, when it is no such timestamp.
fn write_timestamp(value: &[u8], format: &str, out: &mut Vec<u8>) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    if has_offset(format) {
        chrono::DateTime::parse_from_str(text, format)
            .is_ok_and(|t| write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S%.f%:z")).is_ok())
    } else {
        chrono::NaiveDateTime::parse_from_str(text, format)
            .is_ok_and(|t| write!(out, "{}", t.format("%Y-%m-%d %H:%M:%S%.f")).is_ok())
    }
}

/// Whether `format` reads back a date it wrote, as a `--date-format` (with `timestamp`,
/// a `--timestamp-format`) must: it names a year, a month and a day (and a time), and no
/// unknown specifier. The error says what is wrong.
///
/// # Errors
///
/// The format, said as the option's value, when it cannot read a date (or timestamp).
pub fn check_format(format: &str, timestamp: bool) -> Result<(), String> {
    let sample = chrono::NaiveDate::from_ymd_opt(2024, 1, 31)
        .and_then(|d| d.and_hms_opt(13, 45, 30))
        .expect("a valid date");
    let mut written = String::new();
    let formatted = if timestamp && has_offset(format) {
        let zoned = sample.and_utc().fixed_offset();
        std::fmt::write(&mut written, format_args!("{}", zoned.format(format)))
    } else {
        std::fmt::write(&mut written, format_args!("{}", sample.format(format)))
    };
    let mut out = Vec::new();
    let reads_back = formatted.is_ok()
        && if timestamp {
            write_timestamp(written.as_bytes(), format, &mut out)
        } else {
            chrono::NaiveDate::parse_from_str(&written, format).is_ok()
        };
    if reads_back {
        Ok(())
    } else {
        Err(format!(
            "{format:?} cannot read back the {} it writes ({written:?}): it needs a year, \
             month and day{} in chrono's strftime terms, e.g. {}",
            if timestamp { "timestamp" } else { "date" },
            if timestamp { ", hours and minutes" } else { "" },
            if timestamp {
                "\"%d.%m.%Y %H:%M\""
            } else {
                "%d.%m.%Y or %m/%d/%Y"
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::{Date, Integer, Real, Text, Timestamp};

    fn rewritten(ty: ColumnType, field: &str, options: &CsvOptions) -> Result<String, Rewrite> {
        let mut out = Vec::new();
        match rewrite(ty, false, field.as_bytes(), options, &mut out) {
            Rewrite::Rewritten => Ok(String::from_utf8(out).unwrap()),
            other => Err(other),
        }
    }

    #[test]
    fn dates_and_timestamps_in_a_format_are_written_as_every_type_reads_them() {
        let options = CsvOptions::default()
            .date_format(Some("%d.%m.%Y".into()))
            .timestamp_format(Some("%m/%d/%Y %H:%M".into()));
        assert_eq!(
            rewritten(Date, "31.01.2024", &options),
            Ok("2024-01-31".into())
        );
        assert_eq!(
            rewritten(Date, " 1.2.2024 ", &options),
            Ok("2024-02-01".into())
        );
        assert_eq!(rewritten(Date, "2024-01-31", &options), Err(Rewrite::Keep));
        assert!(
            matches!(rewritten(Date, "31.02.2024", &options), Err(Rewrite::Invalid(e)) if e.contains("%d.%m.%Y"))
        );
        assert_eq!(
            rewritten(Timestamp, "1/31/2024 13:45", &options),
            Ok("2024-01-31 13:45:00".into())
        );
        assert_eq!(rewritten(Text, "31.01.2024", &options), Err(Rewrite::Keep));
        assert_eq!(rewritten(Integer, "1.000", &options), Err(Rewrite::Keep));
        let zoned = CsvOptions::default().timestamp_format(Some("%d.%m.%Y %H:%M %z".into()));
        assert_eq!(
            rewritten(Timestamp, "31.01.2024 13:45 +0100", &zoned),
            Ok("2024-01-31 13:45:00+01:00".into())
        );
        assert!(Timestamp.accepts(b"2024-01-31 13:45:00+01:00"));
    }

    #[test]
    fn decimal_commas_are_rewritten_in_number_columns_only() {
        let options = CsvOptions::default().decimal_comma(true);
        assert_eq!(rewritten(Real, "1.234,5", &options), Ok("1234.5".into()));
        assert_eq!(rewritten(Integer, "1.000", &options), Ok("1000".into()));
        assert!(matches!(
            rewritten(Real, "1.5", &options),
            Err(Rewrite::Invalid(_))
        ));
        assert_eq!(rewritten(Text, "1,5", &options), Err(Rewrite::Keep));
        let mut out = Vec::new();
        assert_eq!(
            rewrite(Text, true, b"1,5", &options, &mut out),
            Rewrite::Rewritten
        );
        assert_eq!(out, b"1.5");
    }

    #[test]
    fn thousands_marks_are_dropped_and_a_mark_grouping_none_is_invalid() {
        let commas = CsvOptions::default().thousands(Some(b','));
        assert_eq!(rewritten(Real, "1,234.5", &commas), Ok("1234.5".into()));
        assert_eq!(rewritten(Integer, "-12,345", &commas), Ok("-12345".into()));
        assert!(
            matches!(rewritten(Real, "1,5", &commas), Err(Rewrite::Invalid(e)) if e.contains("--thousands"))
        );
        let spaces = CsvOptions::default()
            .decimal_comma(true)
            .thousands(Some(b' '));
        assert_eq!(rewritten(Real, "1 234,5", &spaces), Ok("1234.5".into()));
        assert!(matches!(
            rewritten(Real, "1.234,5", &spaces),
            Err(Rewrite::Invalid(_))
        ));
    }

    #[test]
    fn formats_that_cannot_read_a_date_back_are_refused() {
        assert_eq!(check_format("%d.%m.%Y", false), Ok(()));
        assert_eq!(check_format("%m/%d/%Y %I:%M %p", true), Ok(()));
        assert_eq!(check_format("%d.%m.%Y %H:%M:%S%.f %z", true), Ok(()));
        for (format, timestamp) in [("%d.%m", false), ("%Q", false), ("%d.%m.%Y", true)] {
            let error = check_format(format, timestamp).unwrap_err();
            assert!(error.contains("cannot read back"), "{error}");
        }
    }
}
