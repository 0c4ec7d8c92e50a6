use crate::ValueError;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};
use std::fmt;

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

fn parse_integer(field: &[u8]) -> Option<i64> {
    let (negative, digits) = match field {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, field),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    // Accumulate negatively so that i64::MIN parses without overflow.
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

fn parse_real(field: &[u8]) -> Option<f64> {
    // The grammar check also refuses `inf` and `NaN`, which the float parser would take.
    real_shape(field)?;
    plain_decimal(field).or_else(|| {
        let value: f64 = std::str::from_utf8(field).ok()?.parse().ok()?;
        in_range(field, value)
    })
}

/// `value`, parsed from `field`, if it is the field's value: the float parser makes a
/// number too large for a double infinite, and one too small but not zero 0, where
/// PostgreSQL refuses both as out of range. Loading `1e400` as infinity would change the
/// data without a word.
fn in_range<F: Float>(field: &[u8], value: F) -> Option<F> {
    if value.is_infinite() {
        return None;
    }
    let mantissa = field.iter().take_while(|&&b| !matches!(b, b'e' | b'E'));
    if value.is_zero() && mantissa.clone().any(|&b| matches!(b, b'1'..=b'9')) {
        return None;
    }
    Some(value)
}

/// A real field as a 4-byte float, the way PostgreSQL reads text into a `real` column:
/// parsed to the nearest `f32` at once (narrowing the double would round twice), and `None`
/// when the field is not a [`ColumnType::Real`] or lies outside `f32`'s range, which would
/// otherwise become infinity or 0.
///
/// ```
/// assert_eq!(loader_batch::real_f32(b"1.5"), Some(1.5));
/// assert_eq!(loader_batch::real_f32(b"1e39"), None);
/// assert_eq!(loader_batch::real_f32(b"1e-50"), None);
/// assert_eq!(loader_batch::real_f32(b"0e-50"), Some(0.0));
/// ```
pub fn real_f32(field: &[u8]) -> Option<f32> {
    parse_real(field)?;
    let value: f32 = std::str::from_utf8(field).ok()?.parse().ok()?;
    in_range(field, value)
}

/// What [`in_range`] asks of `f64` and `f32`.
trait Float: Copy {
    fn is_infinite(self) -> bool;
    fn is_zero(self) -> bool;
}

impl Float for f64 {
    fn is_infinite(self) -> bool {
        f64::is_infinite(self)
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

impl Float for f32 {
    fn is_infinite(self) -> bool {
        f32::is_infinite(self)
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

/// A plain decimal (a sign, at most 15 digits, at most one point, no exponent), the shape
/// of almost every amount in a CSV, by Clinger's fast path: its digits as an integer and the
/// power of ten it is scaled by are both exact doubles, so one division, correctly rounded,
/// gives what the standard parser gives, at a third of its cost. `None` for anything else.
fn plain_decimal(field: &[u8]) -> Option<f64> {
    const POWERS_OF_TEN: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, body) = match field {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, field),
    };
    let (mut digits, mut mantissa, mut point) = (0usize, 0u64, None);
    for (at, &b) in body.iter().enumerate() {
        match b {
            b'0'..=b'9' if digits < 15 => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b'.' if point.is_none() => point = Some(at),
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    let scale = point.map_or(0, |at| body.len() - at - 1);
    // 15 digits stay below 2^53, and so the conversion to f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    let value = mantissa as f64 / POWERS_OF_TEN[scale];
    Some(if negative { -value } else { value })
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

/// Whether `field` is a real [`parse_real`] takes, mostly without parsing it: a plain
/// decimal (no exponent) of at most 300 bytes lies between 1e-300 and 1e300, well inside a
/// double's range; anything else is parsed to see whether it is in range.
fn is_real(field: &[u8]) -> bool {
    match real_shape(field) {
        None => false,
        Some(RealShape::Plain) if field.len() <= 300 => true,
        Some(_) => parse_real(field).is_some(),
    }
}

/// Whether `field` is written as a real, in range or not.
pub(crate) fn has_real_shape(field: &[u8]) -> bool {
    real_shape(field).is_some()
}

/// Whether a real's text has an exponent (`1.5e3`) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RealShape {
    Plain,
    Exponent,
}

/// The grammar Rust's float parser accepts, less `inf` and `NaN`: a sign, digits with at
/// most one point and at least one digit, then an optional exponent with digits.
fn real_shape(field: &[u8]) -> Option<RealShape> {
    let digits_from = |at: usize| {
        field[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut at = usize::from(matches!(field.first(), Some(b'+' | b'-')));
    let whole = digits_from(at);
    at += whole;
    let mut fraction = 0;
    if field.get(at) == Some(&b'.') {
        fraction = digits_from(at + 1);
        at += 1 + fraction;
    }
    if whole + fraction == 0 {
        return None;
    }
    let mut shape = RealShape::Plain;
    if matches!(field.get(at), Some(b'e' | b'E')) {
        at += 1;
        at += usize::from(matches!(field.get(at), Some(b'+' | b'-')));
        let exponent = digits_from(at);
        if exponent == 0 {
            return None;
        }
        at += exponent;
        shape = RealShape::Exponent;
    }
    (at == field.len()).then_some(shape)
}

/// Year, month and day of a valid `YYYY-MM-DD`.
fn date_parts(field: &[u8]) -> Option<(u32, u32, u32)> {
    let field: &[u8; 10] = field.try_into().ok()?;
    if field[4] != b'-' || field[7] != b'-' {
        return None;
    }
    // All eight digits at once, then the numbers: no branch per digit.
    let digit = |i: usize| u32::from(field[i].wrapping_sub(b'0'));
    let (y0, y1, y2, y3) = (digit(0), digit(1), digit(2), digit(3));
    let (m0, m1, d0, d1) = (digit(5), digit(6), digit(8), digit(9));
    if (y0 > 9) | (y1 > 9) | (y2 > 9) | (y3 > 9) | (m0 > 9) | (m1 > 9) | (d0 > 9) | (d1 > 9) {
        return None;
    }
    let year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
    let (month, day) = (m0 * 10 + m1, d0 * 10 + d1);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        // Leap years only matter in February: the divisions are left to it.
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&day).then_some((year, month, day))
}

/// Days from 1970-01-01 to a `YYYY-MM-DD` date field, as [`ColumnType::Date`] reads it, by
/// arithmetic rather than through a calendar type: what a binary encoder needs, at a fraction
/// of the cost. `None` exactly when the field is not a valid date.
///
/// ```
/// assert_eq!(loader_batch::unix_days(b"1970-01-02"), Some(1));
/// assert_eq!(loader_batch::unix_days(b"1969-12-31"), Some(-1));
/// assert_eq!(loader_batch::unix_days(b"2023-02-29"), None);
/// ```
pub fn unix_days(field: &[u8]) -> Option<i64> {
    let (year, month, day) = date_parts(field)?;
    Some(days_from_civil(year, month, day))
}

/// Microseconds from 1970-01-01 00:00 UTC to a timestamp field, as
/// [`ColumnType::Timestamp`] reads it (a zone offset applied), the nanoseconds rounded half
/// up as PostgreSQL rounds text input. `None` exactly when the field is not a timestamp.
///
/// ```
/// assert_eq!(loader_batch::unix_micros(b"1970-01-01 00:00:01.0000015"), Some(1_000_002));
/// assert_eq!(loader_batch::unix_micros(b"1970-01-01T01:00+01:00"), Some(0));
/// ```
pub fn unix_micros(field: &[u8]) -> Option<i64> {
    let ((year, month, day), (hour, minute, second, nanos), offset_seconds) =
        timestamp_parts(field)?;
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_seconds;
    Some(seconds * 1_000_000 + i64::from(nanos / 1000) + i64::from(nanos % 1000 >= 500))
}

/// Days from 1970-01-01 to a valid proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`: years counted from March, in 400-year eras).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn parse_date(field: &[u8]) -> Option<NaiveDate> {
    let (year, month, day) = date_parts(field)?;
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// A valid timestamp's date, clock (hour, minute, second, nanoseconds) and zone offset in
/// seconds.
type TimestampParts = ((u32, u32, u32), (u32, u32, u32, u32), i64);

fn timestamp_parts(field: &[u8]) -> Option<TimestampParts> {
    if let Some((whole, tail)) = field.split_first_chunk::<19>() {
        // `YYYY-MM-DD HH:MM:SS`, with a fraction of a second or not, by far the most common
        // forms, at fixed places; anything else (a zone) goes the long way below.
        let nanos = match tail {
            [] => Some(0),
            [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
                digits(fraction).map(|d| d * 10u32.pow(9 - fraction.len() as u32))
            }
            _ => None,
        };
        let digit = |i: usize| u32::from(whole[i].wrapping_sub(b'0'));
        let (h0, h1, m0, m1, s0, s1) = (
            digit(11),
            digit(12),
            digit(14),
            digit(15),
            digit(17),
            digit(18),
        );
        if let Some(nanos) = nanos
            && matches!(whole[10], b' ' | b'T' | b't')
            && whole[13] == b':'
            && whole[16] == b':'
            && !((h0 > 9) | (h1 > 9) | (m0 > 9) | (m1 > 9) | (s0 > 9) | (s1 > 9))
        {
            let (hour, minute, second) = (h0 * 10 + h1, m0 * 10 + m1, s0 * 10 + s1);
            if hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            return Some((date_parts(&whole[..10])?, (hour, minute, second, nanos), 0));
        }
    }
    let date = date_parts(field.get(..10)?)?;
    let rest = &field[10..];
    if rest.is_empty() {
        return Some((date, (0, 0, 0, 0), 0));
    }
    if rest[0] != b' ' && rest[0] != b'T' && rest[0] != b't' {
        return None;
    }
    let rest = &rest[1..];
    // Split off a trailing zone: Z, +HH, +HHMM or +HH:MM (or the same with '-').
    let (clock, offset_seconds) = split_zone(rest)?;
    let hour = digits(clock.get(0..2)?)?;
    if clock.get(2) != Some(&b':') {
        return None;
    }
    let minute = digits(clock.get(3..5)?)?;
    let (second, nanos) = match clock.get(5..) {
        None | Some([]) => (0, 0),
        Some([b':', tail @ ..]) => {
            let second = digits(tail.get(0..2)?)?;
            let nanos = match tail.get(2..) {
                None | Some([]) => 0,
                Some([b'.', fraction @ ..]) if !fraction.is_empty() && fraction.len() <= 9 => {
                    digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
                }
                _ => return None,
            };
            (second, nanos)
        }
        _ => return None,
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some((date, (hour, minute, second, nanos), offset_seconds))
}

fn parse_timestamp(field: &[u8]) -> Option<NaiveDateTime> {
    let ((year, month, day), (hour, minute, second, nanos), offset_seconds) =
        timestamp_parts(field)?;
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let local = date.and_time(NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?);
    if offset_seconds == 0 {
        return Some(local);
    }
    local.checked_sub_signed(chrono::TimeDelta::seconds(offset_seconds))
}

fn split_zone(rest: &[u8]) -> Option<(&[u8], i64)> {
    if let Some(clock) = rest.strip_suffix(b"Z").or_else(|| rest.strip_suffix(b"z")) {
        return Some((clock, 0));
    }
    // A sign after position 5 (HH:MM) starts an offset; before it, it would be part of the
    // clock, which has no signs.
    let Some(sign_at) = rest.iter().rposition(|&b| b == b'+' || b == b'-') else {
        return Some((rest, 0));
    };
    if sign_at < 5 {
        return None;
    }
    let sign = if rest[sign_at] == b'-' { -1 } else { 1 };
    let zone: Vec<u8> = rest[sign_at + 1..]
        .iter()
        .copied()
        .filter(|&b| b != b':')
        .collect();
    let (hours, minutes) = match zone.len() {
        2 => (digits(&zone)?, 0),
        4 => (digits(&zone[..2])?, digits(&zone[2..])?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((
        &rest[..sign_at],
        sign * i64::from(hours * 3600 + minutes * 60),
    ))
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
            let chrono = NaiveDate::parse_from_str(&field, "%Y-%m-%d").ok();
            let ours = date_parts(field.as_bytes())
                .and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y as i32, m, d));
            proptest::prop_assert_eq!(date_parts(field.as_bytes()).is_some(), ours.is_some());
            proptest::prop_assert_eq!(ours, chrono);
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
