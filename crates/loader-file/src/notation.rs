//! Numbers written as a locale writes them: a decimal comma, as spreadsheets in most of
//! Europe export them (`1.234,5` for 1234.5, `--decimal-comma`), or digits grouped in
//! thousands (`1,234.5`, `--thousands ,`). In integer and real columns such a number is
//! rewritten as every type reads numbers (see [`crate::formats`]).

/// How numbers are written: the decimal mark, and the byte that groups the whole part's
/// digits in threes, if any.
///
/// ```
/// use loader_file::Notation;
/// assert!(Notation::DECIMAL_COMMA.is_number(b"1.234,5"));
/// assert!(!Notation::DECIMAL_COMMA.is_number(b"1.5"));
/// assert!(Notation::THOUSANDS_COMMA.is_number(b"1,234.5"));
/// assert!(!Notation::THOUSANDS_COMMA.is_number(b"1,5"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notation {
    /// The decimal mark: `.` or `,`.
    pub decimal: u8,
    /// What groups thousands (`1.234.567`, `1,234,567`), if anything.
    pub group: Option<u8>,
}

impl Notation {
    /// A decimal comma, points grouping thousands: `1.234,5`.
    pub const DECIMAL_COMMA: Notation = Notation {
        decimal: b',',
        group: Some(b'.'),
    };

    /// A decimal point, commas grouping thousands: `1,234.5`.
    pub const THOUSANDS_COMMA: Notation = Notation {
        decimal: b'.',
        group: Some(b','),
    };

    /// Whether `field` is a number in this notation: an optional sign, a whole part of
    /// digits (grouped in threes, `1.234.567`, or not grouped at all), an optional decimal
    /// mark and fraction digits, and an optional exponent (`2,5e3`), with at least one
    /// digit before the exponent. A group mark that does not group thousands (`1.5`, `1.23`
    /// under a decimal comma) makes it no such number: in such a file it is a value of
    /// another notation, not the one it would be read as.
    pub fn is_number(self, field: &[u8]) -> bool {
        let field = match field {
            [b'+' | b'-', rest @ ..] => rest,
            _ => field,
        };
        let grouping = |b: u8| Some(b) == self.group;
        let whole_len = field
            .iter()
            .position(|&b| !(b.is_ascii_digit() || grouping(b)))
            .unwrap_or(field.len());
        let (whole, rest) = field.split_at(whole_len);
        if let Some(group) = self.group
            && whole.contains(&group)
        {
            let mut groups = whole.split(|&b| b == group);
            let first_fits = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
            if !first_fits || !groups.all(|g| g.len() == 3) {
                return false;
            }
        }
        let (fraction, rest) = match rest {
            [mark, rest @ ..] if *mark == self.decimal => {
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

    /// The bytes of a number [`is_number`](Self::is_number) took, as
    /// [`ColumnType::parse`](loader_batch::ColumnType::parse) reads numbers: the group
    /// marks dropped, the decimal mark a point.
    pub fn to_point(self, field: &[u8]) -> impl Iterator<Item = u8> + '_ {
        field
            .iter()
            .filter(move |&&b| Some(b) != self.group)
            .map(move |&b| if b == self.decimal { b'.' } else { b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `whole` and `cents` written with `decimal` as the mark and `group` between each
    /// three digits of the whole part.
    fn written(whole: u64, cents: u8, decimal: char, group: char) -> String {
        let digits = whole.to_string();
        let mut grouped = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(group);
            }
            grouped.push(digit);
        }
        format!("{grouped}{decimal}{cents:02}")
    }

    proptest! {
        /// A number written in a notation reads back as the same value as the plain
        /// `1234567.89`, through the parser every type uses.
        #[test]
        fn numbers_written_in_a_notation_read_back_as_written(whole in 0u64..10_000_000_000, cents in 0u8..100) {
            let plain = format!("{whole}.{cents:02}");
            let value = loader_batch::ColumnType::Real.parse(plain.as_bytes()).unwrap();
            for (notation, decimal, group) in [
                (Notation::DECIMAL_COMMA, ',', '.'),
                (Notation::THOUSANDS_COMMA, '.', ','),
                (Notation { decimal: b',', group: Some(b' ') }, ',', ' '),
            ] {
                let text = written(whole, cents, decimal, group);
                prop_assert!(notation.is_number(text.as_bytes()), "{text}");
                let read: Vec<u8> = notation.to_point(text.as_bytes()).collect();
                let parsed = loader_batch::ColumnType::Real.parse(&read).unwrap();
                prop_assert_eq!(&parsed, &value, "{}", text);
            }
        }
    }

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
            let notation = Notation::DECIMAL_COMMA;
            assert!(notation.is_number(written.as_bytes()), "{written}");
            let converted: Vec<u8> = notation.to_point(written.as_bytes()).collect();
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
            assert!(
                !Notation::DECIMAL_COMMA.is_number(written.as_bytes()),
                "{written:?}"
            );
        }
    }

    #[test]
    fn thousands_grouped_by_commas_or_spaces_are_numbers_without_them() {
        let commas = Notation::THOUSANDS_COMMA;
        for (written, read) in [
            ("1,234.5", "1234.5"),
            ("-12,345,678", "-12345678"),
            ("7.25", "7.25"),
        ] {
            assert!(commas.is_number(written.as_bytes()), "{written}");
            let converted: Vec<u8> = commas.to_point(written.as_bytes()).collect();
            assert_eq!(converted, read.as_bytes());
        }
        for written in ["1,5", "12,34.5", "1,234,5"] {
            assert!(!commas.is_number(written.as_bytes()), "{written}");
        }
        let spaces = Notation {
            decimal: b',',
            group: Some(b' '),
        };
        assert!(spaces.is_number(b"1 234 567,89"));
        assert!(!spaces.is_number(b"1.234,5"));
    }
}
