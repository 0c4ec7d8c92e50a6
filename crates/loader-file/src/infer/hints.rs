//! What a sample says of columns it found to be text whose values are numbers or dates
//! written as a locale writes them (`1.234,50`, `31.01.2024`, `1/31/2024 1:45 PM`): the
//! option that would read them as such, for `plan` and `schema` to name before a load.

use crate::formats::{DATE_FORMATS, TIMESTAMP_FORMATS};
use crate::{AMOUNT_NOTATIONS, CURRENCY_SIGNS, CsvOptions, Notation};
use loader_batch::ColumnType;

/// A column of a sample whose values all read as numbers or dates under an option the load
/// was not given: a text column, or a real one whose points would group thousands under
/// `--decimal-comma` (`1.000`, a real as written, is 1000 there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenHint {
    /// The column, from 0.
    pub column: usize,
    /// Its type as sampled: text, or real.
    pub ty: ColumnType,
    /// The option and its value that read the column's values: `--decimal-comma`,
    /// `--date-format %d.%m.%Y`; several when the values read under each (day and month
    /// either way round).
    pub options: Vec<String>,
    /// A value sampled: the first with a point or comma, else the first.
    pub example: String,
}

/// Per column, the readings still possible as values are sampled: one bit for the decimal
/// comma, one for thousands commas, then one per date format, one per timestamp format, and
/// one per currency sign of [`CURRENCY_SIGNS`] in each of [`AMOUNT_NOTATIONS`]; and which
/// signs its values showed.
pub(super) struct Hints {
    possible: Vec<u64>,
    seen: Vec<Option<String>>,
    signs_seen: Vec<u8>,
    /// Each of [`CURRENCY_SIGNS`] in each of [`AMOUNT_NOTATIONS`], made once.
    amounts: [[Notation; AMOUNT_NOTATIONS.len()]; CURRENCY_SIGNS.len()],
}

const DECIMAL_COMMA: u64 = 1;
const THOUSANDS_COMMA: u64 = 1 << 1;

fn date_bit(index: usize) -> u64 {
    1 << (2 + index)
}

fn timestamp_bit(index: usize) -> u64 {
    1 << (2 + DATE_FORMATS.len() + index)
}

fn currency_bit(sign: usize, amount: usize) -> u64 {
    1 << (2 + DATE_FORMATS.len() + TIMESTAMP_FORMATS.len() + sign * AMOUNT_NOTATIONS.len() + amount)
}

impl Hints {
    /// Readings worth looking for under `options`: none the load already has.
    pub(super) fn new(columns: usize, options: &CsvOptions) -> Self {
        let mut all = 0;
        if options.number_notation().is_none() {
            all |= DECIMAL_COMMA | THOUSANDS_COMMA;
        }
        if options.get_date_format().is_none() {
            all |= (0..DATE_FORMATS.len()).map(date_bit).fold(0, |a, b| a | b);
        }
        if options.get_timestamp_format().is_none() {
            all |= (0..TIMESTAMP_FORMATS.len())
                .map(timestamp_bit)
                .fold(0, |a, b| a | b);
        }
        if options.get_currency().is_none() {
            for sign in 0..CURRENCY_SIGNS.len() {
                for amount in 0..AMOUNT_NOTATIONS.len() {
                    all |= currency_bit(sign, amount);
                }
            }
        }
        Hints {
            possible: vec![all; columns],
            seen: vec![None; columns],
            signs_seen: vec![0; columns],
            amounts: std::array::from_fn(|sign| {
                std::array::from_fn(|amount| Notation {
                    currency: crate::Currency::new(CURRENCY_SIGNS[sign]).ok(),
                    ..AMOUNT_NOTATIONS[amount].0
                })
            }),
        }
    }

    /// Looks at a non-empty, non-NULL `field` of `column`.
    pub(super) fn look(&mut self, column: usize, field: &[u8]) {
        let Some(possible) = self.possible.get_mut(column) else {
            return;
        };
        if *possible == 0 {
            return;
        }
        let value = field.trim_ascii();
        let Ok(text) = std::str::from_utf8(value) else {
            *possible = 0;
            return;
        };
        for (bit, notation) in [
            (DECIMAL_COMMA, Notation::DECIMAL_COMMA),
            (THOUSANDS_COMMA, Notation::THOUSANDS_COMMA),
        ] {
            if *possible & bit != 0 && !notation.is_number(value) {
                *possible &= !bit;
            }
        }
        for (sign, symbol) in CURRENCY_SIGNS.iter().enumerate() {
            for (amount, notation) in self.amounts[sign].iter().enumerate() {
                let bit = currency_bit(sign, amount);
                if *possible & bit != 0 && !notation.is_number(value) {
                    *possible &= !bit;
                }
            }
            if text.contains(symbol) {
                self.signs_seen[column] |= 1 << sign;
            }
        }
        for (index, format) in DATE_FORMATS.iter().enumerate() {
            if *possible & date_bit(index) != 0
                && chrono::NaiveDate::parse_from_str(text, format).is_err()
            {
                *possible &= !date_bit(index);
            }
        }
        for (index, format) in TIMESTAMP_FORMATS.iter().enumerate() {
            if *possible & timestamp_bit(index) != 0
                && chrono::NaiveDateTime::parse_from_str(text, format).is_err()
            {
                *possible &= !timestamp_bit(index);
            }
        }
        // The first value, unless a later one shows a point or comma the first lacked.
        let telling = |value: &str| value.contains(['.', ',']);
        let better = match self.seen[column].as_deref() {
            None => true,
            Some(seen) => !telling(seen) && telling(text),
        };
        if *possible != 0 && better {
            self.seen[column] = Some(text.to_owned());
        }
    }

    /// The hints for the columns, typed as `type_of` says, each with the readings every
    /// value it looked at took: text columns, and real ones with a point in a value that
    /// `--decimal-comma` reads otherwise.
    pub(super) fn finish(self, type_of: impl Fn(usize) -> ColumnType) -> Vec<WrittenHint> {
        let mut hints = Vec::new();
        let signs_seen = self.signs_seen;
        for (column, (possible, seen)) in self.possible.into_iter().zip(self.seen).enumerate() {
            let ty = type_of(column);
            let hinted = match ty {
                ColumnType::Text => possible != 0,
                ColumnType::Real => {
                    possible & DECIMAL_COMMA != 0
                        && seen.as_deref().is_some_and(|s| s.contains('.'))
                }
                _ => false,
            };
            let Some(example) = seen.filter(|_| hinted) else {
                continue;
            };
            let possible = if ty == ColumnType::Text {
                possible
            } else {
                DECIMAL_COMMA
            };
            let mut options = Vec::new();
            // Only where a value shows the notation: codes such as `02134` are text
            // because of their zeros, which a decimal comma would not keep either.
            if possible & DECIMAL_COMMA != 0 && example.contains(['.', ',']) {
                options.push("--decimal-comma".to_owned());
            }
            // `1,234`: thousands, or a decimal comma; the other values may tell.
            if possible & THOUSANDS_COMMA != 0 && example.contains(',') {
                options.push("--thousands ,".to_owned());
            }
            for (index, format) in DATE_FORMATS.iter().enumerate() {
                if possible & date_bit(index) != 0 {
                    options.push(format!("--date-format {format}"));
                }
            }
            for (index, format) in TIMESTAMP_FORMATS.iter().enumerate() {
                if possible & timestamp_bit(index) != 0 {
                    options.push(format!("--timestamp-format '{format}'"));
                }
            }
            // A sign some value showed; amounts written plainly need no more than it.
            for (sign, symbol) in CURRENCY_SIGNS.iter().enumerate() {
                if signs_seen[column] & (1 << sign) == 0 {
                    continue;
                }
                let readings =
                    (0..AMOUNT_NOTATIONS.len()).filter(|&a| possible & currency_bit(sign, a) != 0);
                for amount in readings {
                    options.push(format!(
                        "--currency '{symbol}'{}",
                        AMOUNT_NOTATIONS[amount].1
                    ));
                    if amount == 0 {
                        break;
                    }
                }
            }
            if options.is_empty() {
                continue;
            }
            hints.push(WrittenHint {
                column,
                ty,
                options,
                example,
            });
        }
        hints
    }
}

#[cfg(test)]
mod tests {
    use crate::{CsvOptions, WrittenHint, sample_file};
    use loader_batch::ColumnType::{Real, Text};

    fn hints(text: &str, options: &CsvOptions) -> Vec<WrittenHint> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        sample_file(&path, options).unwrap().written_hints
    }

    fn hint(
        column: usize,
        ty: loader_batch::ColumnType,
        options: &[&str],
        example: &str,
    ) -> WrittenHint {
        WrittenHint {
            column,
            ty,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            example: example.to_owned(),
        }
    }

    #[test]
    fn amounts_with_a_currency_sign_name_the_currency_and_the_notation() {
        let text = "id,price,refund,code,fee\n1,\"$1,234.50\",($5.00),A1,12 €\n\
                    2,$6.25,-$1,B2,\"1.234,50 €\"\n";
        assert_eq!(
            hints(text, &CsvOptions::default()),
            [
                hint(1, Text, &["--currency '$' --thousands ,"], "$1,234.50"),
                hint(2, Text, &["--currency '$'"], "($5.00)"),
                hint(4, Text, &["--currency '€' --decimal-comma"], "1.234,50 €"),
            ]
        );
        // Given, the sign is read: the columns are numbers and nothing is hinted.
        let dollars = CsvOptions::default()
            .currency(Some(crate::Currency::new("$").unwrap()))
            .thousands(Some(b','));
        let sampled = |options: &CsvOptions| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.csv");
            std::fs::write(&path, "price,refund\n\"$1,234.50\",($5.00)\n$6.25,-$1\n").unwrap();
            sample_file(&path, options).unwrap()
        };
        let sample = sampled(&dollars);
        assert!(
            sample.written_hints.is_empty(),
            "{:?}",
            sample.written_hints
        );
        assert_eq!(sample.schema.columns()[0].ty, Real);
        assert_eq!(sample.schema.columns()[1].ty, Real);
    }

    #[test]
    fn text_columns_of_local_numbers_and_dates_name_the_option_that_reads_them() {
        let text = "id;price;qty;day;note\n1;12,5;1.000;31.01.2024;a\n2;1.234,50;7;01.02.2024;b\n";
        assert_eq!(
            hints(text, &CsvOptions::default()),
            [
                hint(1, Text, &["--decimal-comma"], "12,5"),
                hint(2, Real, &["--decimal-comma"], "1.000"),
                hint(3, Text, &["--date-format %d.%m.%Y"], "31.01.2024"),
            ]
        );
        // Thousands grouped by commas, and values that read either way.
        let us = "amount,qty\n\"1,234.50\",\"1,000\"\n7.25,12\n";
        assert_eq!(
            hints(us, &CsvOptions::default()),
            [
                hint(0, Text, &["--thousands ,"], "1,234.50"),
                hint(1, Text, &["--decimal-comma", "--thousands ,"], "1,000"),
            ]
        );
        // Day and month either way round: both, until a value tells.
        let us = "paid\n01/02/2024\n03/04/2024\n";
        assert_eq!(
            hints(us, &CsvOptions::default()),
            [hint(
                0,
                Text,
                &["--date-format %d/%m/%Y", "--date-format %m/%d/%Y"],
                "01/02/2024"
            )]
        );
        let told = "paid\n01/02/2024\n1/31/2024\n";
        assert_eq!(
            hints(told, &CsvOptions::default()),
            [hint(0, Text, &["--date-format %m/%d/%Y"], "01/02/2024")]
        );
    }

    #[test]
    fn options_given_and_plain_text_give_no_hints() {
        let text = "id;price;day;name\n1;12,5;31.01.2024;ann\n";
        let given = CsvOptions::default()
            .decimal_comma(true)
            .date_format(Some("%d.%m.%Y".into()));
        assert_eq!(hints(text, &given), []);
        assert_eq!(
            hints("name,price\nann,2.5\nbob,3\n", &CsvOptions::default()),
            []
        );
        // Codes kept text for their zeros use no notation a flag would read.
        assert_eq!(hints("zip\n02134\n00501\n", &CsvOptions::default()), []);
    }
}
