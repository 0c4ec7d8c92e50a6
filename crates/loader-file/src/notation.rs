//! Numbers written as a locale writes them: a decimal comma, as spreadsheets in most of
//! Europe export them (`1.234,5` for 1234.5, `--decimal-comma`), digits grouped in
//! thousands (`1,234.5`, `--thousands ,`), or amounts with a currency sign (`$1,234.50`,
//! `12,50 €`, `($5.00)` for -5, `--currency`). In integer and real columns such a number is
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
    /// The currency sign amounts may carry (`$1,234.50`, `12,50 €`), if any: see
    /// [`Currency`].
    pub currency: Option<Currency>,
}

/// The currency signs `plan`, `schema` and a stopped file's advice look for in amounts
/// written as text.
pub const CURRENCY_SIGNS: [&str; 3] = ["$", "€", "£"];

/// The notations an amount with a currency sign may be written in, each with the options
/// that read it beside `--currency`.
pub const AMOUNT_NOTATIONS: [(Notation, &str); 3] = [
    (Notation::PLAIN, ""),
    (Notation::THOUSANDS_COMMA, " --thousands ,"),
    (Notation::DECIMAL_COMMA, " --decimal-comma"),
];

/// A currency sign a number may carry before or after it (`$5`, `5 €`, `-$5`, `$-5`), with
/// an amount in parentheses negative, as accounting exports write it (`($5.00)` is -5). At
/// most [`Currency::MAX_BYTES`] bytes, with no digit, sign, point, comma, parenthesis,
/// quote or space in it: `$`, `€`, `£`, `USD`, `kr`.
///
/// ```
/// use loader_file::{Currency, Notation};
/// let dollars = Notation { currency: Some(Currency::new("$").unwrap()), ..Notation::THOUSANDS_COMMA };
/// let read = |text: &str| String::from_utf8(dollars.to_point(text.as_bytes()).collect()).unwrap();
/// assert!(dollars.is_number(b"$1,234.50"));
/// assert_eq!(read("$1,234.50"), "1234.50");
/// assert_eq!(read("($5.00)"), "-5.00");
/// assert_eq!(read("-$5"), "-5");
/// assert!(!dollars.is_number(b"$"));
/// assert!(Currency::new("1$").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    bytes: [u8; Currency::MAX_BYTES],
    len: u8,
}

impl Currency {
    /// The longest sign taken, in bytes (`CHF`, `US$`, `zł` fit).
    pub const MAX_BYTES: usize = 7;

    /// The sign `symbol`, or why it cannot be one.
    ///
    /// # Errors
    ///
    /// When `symbol` is empty, longer than [`MAX_BYTES`](Self::MAX_BYTES), or holds a
    /// character a number is written with or one that would make it ambiguous.
    pub fn new(symbol: &str) -> Result<Currency, String> {
        if symbol.is_empty() || symbol.len() > Self::MAX_BYTES {
            return Err(format!(
                "{symbol:?}: a currency sign is 1 to {} bytes",
                Self::MAX_BYTES
            ));
        }
        if let Some(c) = symbol
            .chars()
            .find(|c| c.is_ascii_digit() || c.is_whitespace() || "+-.,()'\"".contains(*c))
        {
            return Err(format!(
                "{symbol:?}: a currency sign cannot hold {c:?}, which numbers are written with"
            ));
        }
        let mut bytes = [0; Self::MAX_BYTES];
        bytes[..symbol.len()].copy_from_slice(symbol.as_bytes());
        Ok(Currency {
            bytes,
            len: symbol.len() as u8,
        })
    }

    /// The sign's text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// `field`'s amount without the sign: whether it is negative (a minus before or after
    /// the sign, or parentheses around it) and the digits, with no sign of their own; a
    /// field without the sign is taken as it is. `None` when the sign or a minus is where
    /// no amount has it (`5$5`, `--$5`, `(-5)`).
    fn amount(self, field: &[u8]) -> Option<(bool, &[u8])> {
        let sign = self.as_str().as_bytes();
        let (parenthesised, inner) = match field {
            [b'(', inner @ .., b')'] => (true, inner.trim_ascii()),
            _ => (false, field),
        };
        let (mut negative, mut rest, mut sign_taken) = match signed(inner) {
            Some((negative, rest)) => (negative, rest, true),
            None => (false, inner, false),
        };
        if let Some(after) = rest.strip_prefix(sign) {
            rest = after.trim_ascii_start();
        } else if let Some(before) = rest.strip_suffix(sign) {
            rest = before.trim_ascii_end();
        }
        if let Some((minus, after)) = signed(rest)
            && !sign_taken
        {
            (negative, rest, sign_taken) = (minus, after, true);
        }
        let unsigned = !matches!(rest, [b'-' | b'+', ..]);
        (unsigned && !(parenthesised && sign_taken)).then_some((negative || parenthesised, rest))
    }
}

/// A leading sign taken off `text`: whether it was a minus, and what follows it.
fn signed(text: &[u8]) -> Option<(bool, &[u8])> {
    match text {
        [b'-', rest @ ..] => Some((true, rest)),
        [b'+', rest @ ..] => Some((false, rest)),
        _ => None,
    }
}

impl std::fmt::Debug for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Currency({:?})", self.as_str())
    }
}

impl Notation {
    /// A decimal comma, points grouping thousands: `1.234,5`.
    pub const DECIMAL_COMMA: Notation = Notation {
        decimal: b',',
        group: Some(b'.'),
        currency: None,
    };

    /// A decimal point, commas grouping thousands: `1,234.5`.
    pub const THOUSANDS_COMMA: Notation = Notation {
        decimal: b'.',
        group: Some(b','),
        currency: None,
    };

    /// Numbers as every type reads them: a decimal point, nothing grouping thousands. With
    /// a [`currency`](Self::currency) sign, the notation of amounts written plainly
    /// otherwise (`$1234.50`).
    pub const PLAIN: Notation = Notation {
        decimal: b'.',
        group: None,
        currency: None,
    };

    /// Whether `field` is a number in this notation: an optional sign, a whole part of
    /// digits (grouped in threes, `1.234.567`, or not grouped at all), an optional decimal
    /// mark and fraction digits, and an optional exponent (`2,5e3`), with at least one
    /// digit before the exponent. A group mark that does not group thousands (`1.5`, `1.23`
    /// under a decimal comma) makes it no such number: in such a file it is a value of
    /// another notation, not the one it would be read as.
    pub fn is_number(self, field: &[u8]) -> bool {
        if let Some(currency) = self.currency {
            return currency.amount(field).is_some_and(|(_, amount)| {
                Notation {
                    currency: None,
                    ..self
                }
                .is_number(amount)
            });
        }
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
    ///
    /// With a currency sign, the sign dropped too and a negative amount led by a minus.
    pub fn to_point(self, field: &[u8]) -> impl Iterator<Item = u8> + '_ {
        let (negative, amount) = match self.currency {
            Some(currency) => currency.amount(field).unwrap_or((false, field)),
            None => (false, field),
        };
        negative.then_some(b'-').into_iter().chain(
            amount
                .iter()
                .filter(move |&&b| Some(b) != self.group)
                .map(move |&b| if b == self.decimal { b'.' } else { b }),
        )
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
                (Notation { decimal: b',', group: Some(b' '), currency: None }, ',', ' '),
            ] {
                let text = written(whole, cents, decimal, group);
                prop_assert!(notation.is_number(text.as_bytes()), "{text}");
                let read: Vec<u8> = notation.to_point(text.as_bytes()).collect();
                let parsed = loader_batch::ColumnType::Real.parse(&read).unwrap();
                prop_assert_eq!(&parsed, &value, "{}", text);
            }
        }
    }

    proptest! {
        /// An amount written with a currency sign, before or after it, with or without a
        /// space, negative by a minus on either side of the sign or by parentheses, reads
        /// back as the plain signed number.
        #[test]
        fn amounts_written_with_a_sign_read_back_as_the_plain_number(
            whole in 0u64..10_000_000_000,
            cents in 0u8..100,
            negative in any::<bool>(),
            form in 0u8..4,
            spaced in any::<bool>(),
            sign in prop::sample::select(vec!["$", "€", "£", "CHF"]),
        ) {
            let plain = format!("{}{whole}.{cents:02}", if negative { "-" } else { "" });
            let value = loader_batch::ColumnType::Real.parse(plain.as_bytes()).unwrap();
            let space = if spaced { " " } else { "" };
            for (notation, decimal, group) in [
                (Notation::PLAIN, '.', None),
                (Notation::THOUSANDS_COMMA, '.', Some(',')),
                (Notation::DECIMAL_COMMA, ',', Some('.')),
            ] {
                let digits = match group {
                    Some(group) => written(whole, cents, decimal, group),
                    None => format!("{whole}{decimal}{cents:02}"),
                };
                let minus = if negative { "-" } else { "" };
                let text = match form {
                    0 => format!("{minus}{sign}{space}{digits}"),
                    1 => format!("{sign}{space}{minus}{digits}"),
                    2 => format!("{minus}{digits}{space}{sign}"),
                    _ if negative => format!("({sign}{space}{digits})"),
                    _ => format!("{digits}{space}{sign}"),
                };
                let notation = Notation { currency: Some(Currency::new(sign).unwrap()), ..notation };
                prop_assert!(notation.is_number(text.as_bytes()), "{}", text);
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
            currency: None,
        };
        assert!(spaces.is_number(b"1 234 567,89"));
        assert!(!spaces.is_number(b"1.234,5"));
    }

    #[test]
    fn amounts_with_a_currency_sign_before_or_after_are_numbers_without_it() {
        let currency = |symbol: &str, notation: Notation| Notation {
            currency: Some(Currency::new(symbol).unwrap()),
            ..notation
        };
        let dollars = currency("$", Notation::THOUSANDS_COMMA);
        let euros = currency("€", Notation::DECIMAL_COMMA);
        let francs = currency("CHF", Notation::PLAIN);
        for (notation, written, read) in [
            (dollars, "$1,234.50", "1234.50"),
            (dollars, "-$1,234.50", "-1234.50"),
            (dollars, "$-5", "-5"),
            (dollars, "+$5", "5"),
            (dollars, "($1,234.50)", "-1234.50"),
            (dollars, "( $5 )", "-5"),
            (dollars, "1,234.50$", "1234.50"),
            (dollars, "7.25", "7.25"),
            (dollars, "-3", "-3"),
            (euros, "12,50 €", "12.50"),
            (euros, "-1.234,50€", "-1234.50"),
            (euros, "€ 3", "3"),
            (francs, "CHF 1234.5", "1234.5"),
            (francs, "1234.5 CHF", "1234.5"),
        ] {
            assert!(notation.is_number(written.as_bytes()), "{written}");
            let converted: Vec<u8> = notation.to_point(written.as_bytes()).collect();
            assert_eq!(String::from_utf8(converted).unwrap(), read, "{written}");
        }
        for (notation, written) in [
            (dollars, "$"),
            (dollars, "$$5"),
            (dollars, "5$5"),
            (dollars, "--$5"),
            (dollars, "-$-5"),
            (dollars, "(-$5)"),
            (dollars, "($-5)"),
            (dollars, "$1,5"),
            (dollars, "€5"),
            (dollars, "()"),
            (euros, "€1.5"),
            (francs, "CH 5"),
        ] {
            assert!(!notation.is_number(written.as_bytes()), "{written}");
        }
    }

    #[test]
    fn currency_signs_are_refused_when_numbers_are_written_with_their_characters() {
        for symbol in ["$", "€", "£", "USD", "EUR", "zł", "kr", "US$", "₹"] {
            assert_eq!(Currency::new(symbol).unwrap().as_str(), symbol);
        }
        for symbol in ["", "1", "$ ", "-", "(", ",", ".", "TOOLONGX", "'"] {
            assert!(Currency::new(symbol).is_err(), "{symbol:?}");
        }
    }
}
