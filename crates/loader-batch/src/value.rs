use crate::ValueError;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use std::fmt;

mod calendar;
mod real;

use calendar::{date_parts, parse_date, parse_timestamp, timestamp_parts};
pub use calendar::{unix_days, unix_micros};
pub(crate) use real::has_real_shape;
pub use real::real_f32;
use real::{is_real, parse_real};

/// The type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit signed integer: `-12`, `+7`, `0`.
    Integer,
    /// 64-bit float: `3.25`, `-1e-3`. Text without a digit (`NaN`, `inf`) is refused, and so is a
    /// number beyond a double's range (`1e400`, `1e-400`), which would become infinity or 0.
    Real,
    /// `true`/`false`, `t`/`f`, `yes`/`no`, `y`/`n`, `1`/`0`, in any case.
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]]` with an optional `Z` or `±HH[:MM]` offset,
    /// which is applied so that the value is in UTC. A bare date means midnight.
    Timestamp,
    /// Any valid UTF-8.
    Text,
}

impl ColumnType {
    /// Every type, most specific first (the order inference tries them in).
    pub const ALL: [ColumnType; 6] = [
        ColumnType::Boolean,
        ColumnType::Integer,
        ColumnType::Real,
        ColumnType::Date,
        ColumnType::Timestamp,
        ColumnType::Text,
    ];

    /// Whether values of this type are numbers: integer or real.
    ///
    /// ```
    /// use loader_batch::ColumnType;
    /// assert!(ColumnType::Real.is_numeric() && !ColumnType::Date.is_numeric());
    /// ```
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Integer | ColumnType::Real)
    }

    /// Lower-case name, as used in schema files and `--column name:type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Real => "real",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Text => "text",
        }
    }

    /// Parses a type name (`int` and `float` are accepted as aliases).
    pub fn from_name(name: &str) -> Option<ColumnType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "integer" | "int" | "bigint" => ColumnType::Integer,
            "real" | "float" | "double" | "decimal" | "numeric" => ColumnType::Real,
            "boolean" | "bool" => ColumnType::Boolean,
            "date" => ColumnType::Date,
            "timestamp" | "datetime" => ColumnType::Timestamp,
            "text" | "string" | "varchar" => ColumnType::Text,
            _ => return None,
        })
    }

    /// Parses one field. An empty field is [`Value::Null`] for every type.
    ///
    /// # Errors
    ///
    /// [`ValueError`] when the field is not a value of this type (for text: not UTF-8).
    ///
    /// # Example
    ///
    /// ```
    /// use loader_batch::{ColumnType, Value};
    /// assert_eq!(ColumnType::Integer.parse(b"-42").unwrap(), Value::Integer(-42));
    /// assert_eq!(ColumnType::Boolean.parse(b"Yes").unwrap(), Value::Boolean(true));
    /// assert_eq!(ColumnType::Text.parse(b"").unwrap(), Value::Null);
    /// assert!(ColumnType::Date.parse(b"2024-02-30").is_err());
    /// ```
    pub fn parse(self, field: &[u8]) -> Result<Value<'_>, ValueError> {
        if field.is_empty() {
            return Ok(Value::Null);
        }
        let fail = || ValueError::new(self, field);
        match self {
            ColumnType::Integer => parse_integer(field).map(Value::Integer).ok_or_else(fail),
            ColumnType::Real => parse_real(field).map(Value::Real).ok_or_else(fail),
            ColumnType::Boolean => parse_boolean(field).map(Value::Boolean).ok_or_else(fail),
            ColumnType::Date => parse_date(field).map(Value::Date).ok_or_else(fail),
            ColumnType::Timestamp => parse_timestamp(field)
                .map(Value::Timestamp)
                .ok_or_else(fail),
            ColumnType::Text => std::str::from_utf8(field)
                .map(Value::Text)
                .map_err(|_| fail()),
        }
    }

    /// Whether `field` parses as this type (empty fields always do), without making its
    /// value: the same answer as [`parse`](Self::parse) (a property test holds them
    /// together), at less cost for reals, dates and timestamps. What a reader checking every
    /// field calls; [`check`](Self::check) then names what was wrong.
    #[inline]
    pub fn accepts(self, field: &[u8]) -> bool {
        field.is_empty()
            || match self {
                ColumnType::Real => is_real(field),
                ColumnType::Date => date_parts(field).is_some(),
                ColumnType::Timestamp => timestamp_parts(field).is_some(),
                ColumnType::Integer => parse_integer(field).is_some(),
                ColumnType::Boolean => parse_boolean(field).is_some(),
                ColumnType::Text => std::str::from_utf8(field).is_ok(),
            }
    }

    /// [`accepts`](Self::accepts), with the error.
    ///
    /// # Errors
    ///
    /// [`ValueError`] exactly when [`parse`](Self::parse) fails.
    pub fn check(self, field: &[u8]) -> Result<(), ValueError> {
        if self.accepts(field) {
            Ok(())
        } else {
            Err(ValueError::new(self, field))
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed field value, borrowing text from the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// An empty field.
    Null,
    /// An integer.
    Integer(i64),
    /// A float.
    Real(f64),
    /// A boolean.
    Boolean(bool),
    /// A calendar date.
    Date(NaiveDate),
    /// A timestamp in UTC.
    Timestamp(NaiveDateTime),
    /// UTF-8 text.
    Text(&'a str),
}

#[inline]
fn parse_integer(field: &[u8]) -> Option<i64> {
    let (negative, digits) = match field {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, field),
    };
    if digits.is_empty() {
        return None;
    }
    if digits.len() <= 18 {
        // Eighteen digits stay below 10^18 < 2^63: no step can overflow, so the common
        // case needs no checked arithmetic.
        let mut value: u64 = 0;
        for &b in digits {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            value = value * 10 + u64::from(digit);
        }
        let value = value as i64;
        return Some(if negative { -value } else { value });
    }
    // Longer ones (leading zeros allowed, as the standard parser and PostgreSQL allow them)
    // accumulate negatively so that i64::MIN parses without overflow.
    let mut value: i64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(digit))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// `true`, `t`, `yes`, `y`, `1` and `false`, `f`, `no`, `n`, `0`, in any case. Setting bit
/// 0x20 lower-cases a letter, and the only bytes it turns into a given lower-case letter are
/// that letter and its capital; so comparing after it is exact for the letters, and the
/// digits are compared as they are.
fn parse_boolean(field: &[u8]) -> Option<bool> {
    let lower = |b: u8| b | 0x20;
    let word =
        |bytes: &[u8]| u32::from_le_bytes(bytes[..4].try_into().expect("four bytes")) | 0x2020_2020;
    match *field {
        [b'1'] => Some(true),
        [b'0'] => Some(false),
        [a] => match lower(a) {
            b't' | b'y' => Some(true),
            b'f' | b'n' => Some(false),
            _ => None,
        },
        [a, b] => (lower(a) == b'n' && lower(b) == b'o').then_some(false),
        [a, b, c] => (lower(a) == b'y' && lower(b) == b'e' && lower(c) == b's').then_some(true),
        [_, _, _, _] => (word(field) == u32::from_le_bytes(*b"true")).then_some(true),
        [_, _, _, _, e] => {
            (word(field) == u32::from_le_bytes(*b"fals") && lower(e) == b'e').then_some(false)
        }
        _ => None,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() {
        return None;
    }
    let mut value = 0u32;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u32::from(digit);
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    mod check_agrees_with_parse {
        use super::*;
        use proptest::prelude::*;

        fn agree(field: &[u8]) -> Result<(), TestCaseError> {
            let chrono_days =
                parse_date(field).map(|d| d.signed_duration_since(NaiveDate::default()).num_days());
            prop_assert_eq!(unix_days(field), chrono_days);
            let chrono_micros = parse_timestamp(field).map(|t| {
                let t = t.and_utc();
                t.timestamp_micros() + i64::from(t.timestamp_subsec_nanos() % 1000 >= 500)
            });
            prop_assert_eq!(unix_micros(field), chrono_micros);
            for ty in ColumnType::ALL {
                prop_assert_eq!(
                    ty.check(field).is_ok(),
                    ty.parse(field).is_ok(),
                    "{:?} on {:?}",
                    ty,
                    String::from_utf8_lossy(field)
                );
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

            #[test]
            fn on_any_bytes(field in proptest::collection::vec(any::<u8>(), 0..24)) {
                agree(&field)?;
            }

            #[test]
            fn on_number_like_text(
                field in "[+-]?[0-9]{0,3}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{0,3})?(inf|NaN|x)?"
            ) {
                agree(field.as_bytes())?;
            }

            #[test]
            fn on_date_and_timestamp_like_text(
                field in "[0-9]{4}-[0-3][0-9]-[0-3][0-9]([ Tt][0-2][0-9]:[0-6][0-9](:[0-6][0-9](\\.[0-9]{0,10})?)?(Z|z|[+-][0-2][0-9](:?[0-6][0-9])?)?)?"
            ) {
                agree(field.as_bytes())?;
            }
        }

        #[test]
        fn on_the_edges_of_the_calendar_and_the_clock() {
            for field in [
                "2024-02-29",
                "2023-02-29",
                "1900-02-29",
                "2000-02-29",
                "0000-01-01",
                "9999-12-31",
                "2024-04-31",
                "2024-13-01",
                "2024-00-10",
                "2024-01-00",
                "2024-01-01 23:59:59.999999999",
                "2024-01-01 24:00",
                "2024-01-01 12:60",
                "2024-01-01T12:30:60",
                "0000-01-01T00:00+01:00",
                "9999-12-31T23:59-23:59",
                "1.",
                ".5",
                ".",
                "-",
                "+1e+5",
                "1e",
                "e5",
                "1.2.3",
                "1e400",
                "--1",
            ] {
                agree(field.as_bytes()).unwrap();
            }
        }
    }

    #[test]
    fn reals_out_of_range_are_refused_not_made_infinite_or_zero() {
        for field in ["1e400", "-1e400", "1e-400", "-0.5e-330", "1.8e308", "1e309"] {
            assert_eq!(parse_real(field.as_bytes()), None, "{field}");
            assert!(!ColumnType::Real.accepts(field.as_bytes()), "{field}");
            let error = ColumnType::Real.check(field.as_bytes()).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("{field:?} is out of range for real")
            );
        }
        // The largest double, a subnormal one, and zeros however written stay values.
        for (field, value) in [
            ("1.7976931348623157e308", f64::MAX),
            ("1e-310", 1e-310),
            ("0e999", 0.0),
            ("-0.000e-999", -0.0),
            ("0.0", 0.0),
        ] {
            assert_eq!(parse_real(field.as_bytes()), Some(value), "{field}");
            assert!(ColumnType::Real.accepts(field.as_bytes()), "{field}");
        }
        // A plain decimal of 300 bytes is taken without parsing; it is still in range.
        let long = format!("0.{}1", "0".repeat(297));
        assert_eq!(long.len(), 300);
        assert!(ColumnType::Real.accepts(long.as_bytes()));
        assert!(parse_real(long.as_bytes()).is_some_and(|v| v > 0.0));
        let longer = format!("0.{}1", "0".repeat(400));
        assert_eq!(parse_real(longer.as_bytes()), None);
        assert!(!ColumnType::Real.accepts(longer.as_bytes()));
    }

    #[test]
    fn a_real_for_a_four_byte_column_is_read_as_one_not_narrowed() {
        assert_eq!(real_f32(b"3.4e38"), Some(3.4e38));
        assert_eq!(real_f32(b"1e-40"), Some(1e-40_f32));
        for field in ["1e39", "-1e39", "1e-50", "1e400", "abc", "inf"] {
            assert_eq!(real_f32(field.as_bytes()), None, "{field}");
        }
        // Just above the halfway point between two floats: the double rounds to the
        // halfway point itself, which then rounds to even; the text rounds up.
        let field = "1.00000005960464478";
        assert_eq!(real_f32(field.as_bytes()), Some(1.000_000_1_f32));
        #[allow(clippy::cast_possible_truncation)]
        let narrowed = parse_real(field.as_bytes()).map(|v| v as f32);
        assert_eq!(narrowed, Some(1.0));
    }

    /// The boolean spellings as first written: lower-case, then compare.
    fn boolean_by_lowering(field: &[u8]) -> Option<bool> {
        match field.to_ascii_lowercase().as_slice() {
            b"true" | b"t" | b"yes" | b"y" | b"1" => Some(true),
            b"false" | b"f" | b"no" | b"n" | b"0" => Some(false),
            _ => None,
        }
    }

    proptest::proptest! {
        #[test]
        fn booleans_read_as_lowering_reads_them(
            field in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u8>(),
                    proptest::sample::select(b"tTrRuUeEfFaAlLsSyYnNoO01".to_vec()),
                    proptest::sample::select(vec![b't' ^ 0x20 ^ 0x40, b'1' ^ 0x20, b'0' ^ 0x20]),
                ],
                0..7,
            )
        ) {
            proptest::prop_assert_eq!(parse_boolean(&field), boolean_by_lowering(&field));
        }
    }

    proptest::proptest! {
        // Enough cases that a one-byte change lands on each place with each byte of the
        // chosen few many times over.
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..proptest::prelude::ProptestConfig::default() })]

        #[test]
        fn integers_are_what_the_standard_parser_reads(field in "[+-]?[0-9]{0,21}|[0-9+-]{1,4}|[+-]?92233720368547758[0-9]{2}") {
            proptest::prop_assert_eq!(parse_integer(field.as_bytes()), field.parse::<i64>().ok());
        }

        #[test]
        fn reals_are_what_the_standard_parser_reads(
            field in "[+-]?[0-9]{0,17}([.][0-9]{0,17})?([eE][+-]?[0-9]{1,3})?|[0-9.+-]{1,20}"
        ) {
            let standard = is_real(field.as_bytes()).then(|| field.parse::<f64>().ok()).flatten();
            let ours = parse_real(field.as_bytes());
            proptest::prop_assert_eq!(ours.map(f64::to_bits), standard.map(f64::to_bits));
        }

        #[test]
        fn dates_are_what_chrono_reads(field in "[0-9]{4}-[0-1][0-9]-[0-3][0-9]|[0-9x/-]{10}") {
            // chrono also reads signs and unpadded numbers (`-00000-1-1`): not ours.
            let fixed_places = field.bytes().enumerate().all(|(at, b)| {
                if at == 4 || at == 7 { b == b'-' } else { b.is_ascii_digit() }
            });
            let chrono = NaiveDate::parse_from_str(&field, "%Y-%m-%d")
                .ok()
                .filter(|_| fixed_places);
            let ours = date_parts(field.as_bytes())
                .and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y as i32, m, d));
            proptest::prop_assert_eq!(date_parts(field.as_bytes()).is_some(), ours.is_some());
            proptest::prop_assert_eq!(ours, chrono);
        }

        #[test]
        fn dates_checked_a_word_at_a_time_are_dates_checked_a_byte_at_a_time(
            date in "[0-9]{4}-[0-1][0-9]-[0-3][0-9]",
            at in 0..11usize,
            byte in a_byte_near_digits(),
        ) {
            // A date with one byte changed (or none, at 10), to any value: the bytes next
            // to the digits, and those with the high bit, which a carry between the word's
            // bytes must never let through.
            let field = with_byte(date, at, byte);
            proptest::prop_assert_eq!(date_parts(&field), date_by_bytes(&field));
        }

        #[test]
        fn clocks_checked_a_word_at_a_time_are_clocks_checked_a_byte_at_a_time(
            clock in "[0-2][0-9]:[0-5][0-9]:[0-5][0-9]",
            at in 0..9usize,
            byte in a_byte_near_digits(),
        ) {
            // A sign or a `Z` would start a zone, which the long way reads.
            proptest::prop_assume!(!b"+-Zz".contains(&byte));
            let clock = with_byte(clock, at, byte);
            let mut field = b"2024-02-29 ".to_vec();
            field.extend_from_slice(&clock);
            let number = |range: std::ops::Range<usize>| digits(&clock[range]);
            let by_bytes = (clock[2] == b':' && clock[5] == b':')
                .then(|| Some((number(0..2)?, number(3..5)?, number(6..8)?)))
                .flatten()
                .filter(|&(h, m, s)| h < 24 && m < 60 && s < 60)
                .map(|(h, m, s)| ((2024, 2, 29), (h, m, s, 0), 0));
            proptest::prop_assert_eq!(timestamp_parts(&field), by_bytes);
        }

        #[test]
        fn whole_second_timestamps_are_what_chrono_reads(
            field in "[0-9]{4}-[0-1][0-9]-[0-3][0-9][ Tt][0-2][0-9]:[0-5][0-9]:[0-5][0-9]|[0-9 :Tx-]{19}"
        ) {
            let chrono = NaiveDateTime::parse_from_str(&field.replace(['T', 't'], " "), "%Y-%m-%d %H:%M:%S").ok();
            // chrono reads a leap second, and a lone `t` or `T` where the space goes: not ours.
            proptest::prop_assume!(chrono.is_none_or(|t| t.and_utc().timestamp_subsec_nanos() < 1_000_000_000));
            proptest::prop_assume!(field.len() == 19);
            proptest::prop_assert_eq!(parse_timestamp(field.as_bytes()), chrono);
        }

        #[test]
        fn fractional_timestamps_are_what_chrono_reads(
            field in "[0-9]{4}-[0-1][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9x]{1,10}"
        ) {
            // chrono reads any number of fraction digits; loader, as PostgreSQL, at most nine.
            let digits = field.len() - 20;
            let chrono = NaiveDateTime::parse_from_str(&field, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .filter(|_| digits <= 9);
            proptest::prop_assert_eq!(parse_timestamp(field.as_bytes()), chrono);
        }
    }

    #[test]
    fn every_boolean_spelling_in_every_case() {
        for word in ["true", "t", "yes", "y", "1", "false", "f", "no", "n", "0"] {
            for mask in 0..(1u32 << word.len()) {
                let field: Vec<u8> = word
                    .bytes()
                    .enumerate()
                    .map(|(i, b)| {
                        if mask >> i & 1 == 1 {
                            b.to_ascii_uppercase()
                        } else {
                            b
                        }
                    })
                    .collect();
                assert_eq!(parse_boolean(&field), boolean_by_lowering(&field), "{word}");
                assert!(parse_boolean(&field).is_some());
            }
        }
    }

    fn ts(text: &str) -> Option<String> {
        parse_timestamp(text.as_bytes()).map(|t| t.to_string())
    }

    #[test]
    fn integers_cover_the_full_range_and_nothing_else() {
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_integer(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b"9223372036854775808"[..],
            b"1.0",
            b"",
            b"-",
            b" 1",
            b"1e3",
            b"0x10",
        ] {
            assert_eq!(
                parse_integer(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn reals_need_digits() {
        assert_eq!(parse_real(b"1.5e3"), Some(1500.0));
        assert_eq!(parse_real(b"-0.25"), Some(-0.25));
        for bad in [&b"NaN"[..], b"inf", b"1.2.3", b"12abc", b"infinity1"] {
            assert_eq!(parse_real(bad), None);
        }
    }

    /// Any byte, or often one next to the digits or with the high bit set.
    fn a_byte_near_digits() -> impl proptest::strategy::Strategy<Value = u8> {
        proptest::prop_oneof![
            proptest::prelude::any::<u8>(),
            proptest::sample::select(b"/:-0123456789\x80\xaf\xb0\xb9\xba\xff".to_vec()),
        ]
    }

    /// `text` with its byte at `at` (if there is one) made `byte`.
    fn with_byte(text: String, at: usize, byte: u8) -> Vec<u8> {
        let mut bytes = text.into_bytes();
        if let Some(place) = bytes.get_mut(at) {
            *place = byte;
        }
        bytes
    }

    /// A `YYYY-MM-DD` date's parts, a byte at a time.
    fn date_by_bytes(field: &[u8]) -> Option<(u32, u32, u32)> {
        if field.len() != 10 || field[4] != b'-' || field[7] != b'-' {
            return None;
        }
        let (year, month, day) = (
            digits(&field[..4])?,
            digits(&field[5..7])?,
            digits(&field[8..])?,
        );
        NaiveDate::from_ymd_opt(year as i32, month, day).map(|_| (year, month, day))
    }

    #[test]
    fn timestamps_accept_iso_forms_and_apply_offsets() {
        assert_eq!(ts("2024-03-05 12:34:56").unwrap(), "2024-03-05 12:34:56");
        assert_eq!(
            ts("2024-03-05T12:34:56.250Z").unwrap(),
            "2024-03-05 12:34:56.250"
        );
        assert_eq!(ts("2024-03-05T12:34+02:00").unwrap(), "2024-03-05 10:34:00");
        assert_eq!(
            ts("2024-03-05 01:00:00-0130").unwrap(),
            "2024-03-05 02:30:00"
        );
        assert_eq!(ts("2024-03-05").unwrap(), "2024-03-05 00:00:00");
        for bad in [
            "2024-03-05 25:00",
            "2024-03-05 12",
            "2024-03-05X12:00",
            "12:00",
            "2024-03-05 12:00:00.1234567890",
        ] {
            assert_eq!(ts(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_must_be_utf8() {
        assert!(ColumnType::Text.parse(b"caf\xc3\xa9").is_ok());
        let err = ColumnType::Text.parse(b"caf\xe9").unwrap_err();
        assert_eq!(err.expected, ColumnType::Text);
    }

    #[test]
    fn type_names_round_trip() {
        for ty in ColumnType::ALL {
            assert_eq!(ColumnType::from_name(ty.as_str()), Some(ty));
        }
        assert_eq!(ColumnType::from_name("blob"), None);
    }
}
