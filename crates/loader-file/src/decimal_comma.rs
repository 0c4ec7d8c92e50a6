//! Numbers written with a decimal comma, as spreadsheets in most of Europe export them
//! (`1.234,5` for 1234.5), read with `--decimal-comma`
//! ([`CsvOptions::decimal_comma`](crate::CsvOptions::decimal_comma)): in integer and real
//! columns the comma is the decimal point and points only group thousands.

/// Whether `field` is a number written with a decimal comma: an optional sign, a whole part
/// of digits (grouped in threes by points, `1.234.567`, or not grouped at all), an optional
/// comma and fraction digits, and an optional exponent (`2,5e3`), with at least one digit
/// before the exponent. A point that does not group thousands (`1.5`, `1.23`) makes it no
/// such number: in a file of decimal commas it is a value of another notation, not the one
/// it would be read as.
pub fn is_number(field: &[u8]) -> bool {
    let field = match field {
        [b'+' | b'-', rest @ ..] => rest,
        _ => field,
    };
    let whole_len = field
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(field.len());
    let (whole, rest) = field.split_at(whole_len);
    if whole.contains(&b'.') {
        let mut groups = whole.split(|b| *b == b'.');
        let first_fits = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
        if !first_fits || !groups.all(|g| g.len() == 3) {
            return false;
        }
    }
    let (fraction, rest) = match rest {
        [b',', rest @ ..] => {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return false;
            }
            (digits, &rest[digits..])
        }
        _ => (0, rest),
    };
    if whole_len == 0 && fraction == 0 {
        return false;
    }
    match rest {
        [] => true,
        [b'e' | b'E', exponent @ ..] => {
            let digits = match exponent {
                [b'+' | b'-', digits @ ..] => digits,
                digits => digits,
            };
            !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// The bytes of a number [`is_number`] took, as [`ColumnType::parse`] reads numbers: the
/// points dropped, the comma a point.
///
/// [`ColumnType::parse`]: loader_batch::ColumnType::parse
pub(crate) fn to_point(field: &[u8]) -> impl Iterator<Item = u8> + '_ {
    field
        .iter()
        .filter(|b| **b != b'.')
        .map(|&b| if b == b',' { b'.' } else { b })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_are_points_and_points_group_thousands() {
        for (written, read) in [
            ("12,5", "12.5"),
            ("-1.234,5", "-1234.5"),
            ("1.234.567", "1234567"),
            ("+2,5e3", "+2.5e3"),
            (",5", ".5"),
            ("42", "42"),
            ("1234,50", "1234.50"),
        ] {
            assert!(is_number(written.as_bytes()), "{written}");
            let converted: Vec<u8> = to_point(written.as_bytes()).collect();
            assert_eq!(converted, read.as_bytes(), "{written}");
        }
    }

    #[test]
    fn points_that_group_nothing_and_other_text_are_no_such_numbers() {
        for written in [
            "1.5",
            "1.23",
            "1.2345",
            ".123",
            "1.234.56",
            "12,",
            ",",
            "-",
            "1,5,6",
            "1,5e",
            "abc",
            "1 234",
            "2024-01-02",
            "1,5x",
            "",
        ] {
            assert!(!is_number(written.as_bytes()), "{written:?}");
        }
    }
}
