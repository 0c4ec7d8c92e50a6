//! Dates and timestamps: their fixed-place digits, checked and turned into days and
//! microseconds by arithmetic, with chrono values where a caller wants them.

use super::digits;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// Year, month and day of a valid `YYYY-MM-DD`.
#[inline]
pub(super) fn date_parts(field: &[u8]) -> Option<(u32, u32, u32)> {
    let field: &[u8; 10] = field.try_into().ok()?;
    let (head, tail) = field.split_at(8);
    // `YYYY-MM-` as one word, checked at once (see `fixed_places`), then `DD`.
    let head = fixed_places(
        u64::from_le_bytes(head.try_into().expect("eight bytes")),
        *b"0000-00-",
    )?
    .to_le_bytes();
    let tail = fixed_places(
        u64::from(u16::from_le_bytes(tail.try_into().expect("two bytes"))),
        *b"00\0\0\0\0\0\0",
    )?
    .to_le_bytes();
    let [y0, y1, y2, y3, _, m0, m1, _] = head.map(u32::from);
    let year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
    let (month, day) = (m0 * 10 + m1, u32::from(tail[0]) * 10 + u32::from(tail[1]));
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

/// Eight bytes against a pattern of the same length, all at once rather than a branch a
/// byte: where the pattern has `0` the byte must be a digit, and the digit's value (0-9) is
/// returned in its place; anywhere else the byte must equal the pattern's, and 0 is
/// returned there. `None` when any byte differs.
///
/// XOR with the pattern leaves a digit's value where a digit was wanted and 0 where a byte
/// matched; adding 0x76 (118) to a byte sets its top bit exactly when it was above 9, and
/// adding 0x7F exactly when it was not 0. A byte with its top bit set already fails either
/// way, and only such a byte can carry into the next, so one mask over the word decides.
#[inline]
fn fixed_places(word: u64, pattern: [u8; 8]) -> Option<u64> {
    let values = word ^ u64::from_le_bytes(pattern);
    let limits = u64::from_le_bytes(pattern.map(|b| if b == b'0' { 0x76 } else { 0x7F }));
    ((values | values.wrapping_add(limits)) & 0x8080_8080_8080_8080 == 0).then_some(values)
}

/// Days from 1970-01-01 to a `YYYY-MM-DD` date field, as [`ColumnType::Date`](crate::ColumnType::Date) reads it, by
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
/// [`ColumnType::Timestamp`](crate::ColumnType::Timestamp) reads it (a zone offset applied), the nanoseconds rounded half
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

pub(super) fn parse_date(field: &[u8]) -> Option<NaiveDate> {
    let (year, month, day) = date_parts(field)?;
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// A valid timestamp's date, clock (hour, minute, second, nanoseconds) and zone offset in
/// seconds.
pub(super) type TimestampParts = ((u32, u32, u32), (u32, u32, u32, u32), i64);

#[inline]
pub(super) fn timestamp_parts(field: &[u8]) -> Option<TimestampParts> {
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
        let clock = u64::from_le_bytes(whole[11..].try_into().expect("eight bytes"));
        if let Some(nanos) = nanos
            && matches!(whole[10], b' ' | b'T' | b't')
            && let Some(clock) = fixed_places(clock, *b"00:00:00")
        {
            let [h0, h1, _, m0, m1, _, s0, s1] = clock.to_le_bytes().map(u32::from);
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

pub(super) fn parse_timestamp(field: &[u8]) -> Option<NaiveDateTime> {
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
