//! Reals: the text grammar, the fast path for plain decimals, and the range a double (or,
//! for a PostgreSQL `real` column, a float) can hold.

pub(super) fn parse_real(field: &[u8]) -> Option<f64> {
    // A plain decimal's own scan checks its grammar, a subset of `real_shape`'s; anything
    // else goes through the grammar check, which also refuses `inf` and `NaN`, which the
    // float parser would take.
    plain_decimal(field).or_else(|| {
        real_shape(field)?;
        let value: f64 = std::str::from_utf8(field).ok()?.parse().ok()?;
        in_range(field, value.is_infinite(), value == 0.0).then_some(value)
    })
}

/// Whether a value parsed from `field` is the field's value: the float parser makes a
/// number too large for the type `infinite`, and one too small but not zero `zero`, where
/// PostgreSQL refuses both as out of range. Loading `1e400` as infinity would change the
/// data without a word.
fn in_range(field: &[u8], infinite: bool, zero: bool) -> bool {
    if infinite {
        return false;
    }
    let mut mantissa = field.iter().take_while(|&&b| !matches!(b, b'e' | b'E'));
    !(zero && mantissa.any(|&b| matches!(b, b'1'..=b'9')))
}

/// A real field as a 4-byte float, the way PostgreSQL reads text into a `real` column:
/// parsed to the nearest `f32` at once (narrowing the double would round twice), and `None`
/// when the field is not a [`ColumnType::Real`](crate::ColumnType::Real) or lies outside
/// `f32`'s range, which would otherwise become infinity or 0.
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
    in_range(field, value.is_infinite(), value == 0.0).then_some(value)
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
    // At most 15 digits and a point: longer bodies go the long way without a look.
    if body.is_empty() || body.len() > 16 {
        return None;
    }
    let (mut mantissa, mut point) = (0u64, None);
    for (at, &b) in body.iter().enumerate() {
        let digit = b.wrapping_sub(b'0');
        if digit < 10 {
            mantissa = mantissa * 10 + u64::from(digit);
        } else if b == b'.' && point.is_none() {
            point = Some(at);
        } else {
            return None;
        }
    }
    let digits = body.len() - usize::from(point.is_some());
    if digits == 0 || digits > 15 {
        return None;
    }
    let scale = point.map_or(0, |at| body.len() - at - 1);
    // 15 digits stay below 2^53, and so the conversion to f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    let value = mantissa as f64 / POWERS_OF_TEN[scale];
    Some(if negative { -value } else { value })
}

/// Whether `field` is a real [`parse_real`] takes, mostly without parsing it: a plain
/// decimal (no exponent) of at most 300 bytes lies between 1e-300 and 1e300, well inside a
/// double's range; anything else is parsed to see whether it is in range.
pub(super) fn is_real(field: &[u8]) -> bool {
    if is_short_plain_decimal(field) {
        return true;
    }
    match real_shape(field) {
        None => false,
        Some(RealShape::Plain) if field.len() <= 300 => true,
        Some(_) => parse_real(field).is_some(),
    }
}

/// Whether `field` is a plain decimal (a sign, digits with at most one point, at least one
/// digit) of at most 300 bytes: the common case of [`is_real`], in one pass over the bytes
/// rather than `real_shape`'s several.
#[inline]
fn is_short_plain_decimal(field: &[u8]) -> bool {
    let body = match field {
        [b'-' | b'+', rest @ ..] => rest,
        _ => field,
    };
    let (mut digits, mut points) = (0usize, 0usize);
    for &b in body {
        if b.is_ascii_digit() {
            digits += 1;
        } else if b == b'.' {
            points += 1;
        } else {
            return false;
        }
    }
    digits > 0 && points <= 1 && field.len() <= 300
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
