//! Which fields of a record were quoted: what tells CSV's `""` (an empty string) from an
//! empty field (NULL) once the parser has taken the quotes away. PostgreSQL's `COPY` draws
//! the same line, and so does its `COPY TO`: a table exported and loaded again keeps its
//! empty strings.
//!
//! Only records with an empty field in a text column, and a quote byte somewhere, are
//! looked at again, so files without empty strings pay nothing but that test.

/// The bytes that decide where a record's fields start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
    /// An escape byte inside quotes (`\"`); without one a doubled quote is a quote.
    pub escape: Option<u8>,
    pub comment: Option<u8>,
}

/// UTF-8's byte order mark.
pub(crate) const BOM: &[u8] = b"\xef\xbb\xbf";

/// Sets `quoted` to whether each field of `raw` (one record as read, comment and blank
/// lines before it included, its line terminator not) starts with the quote byte.
pub(crate) fn quoted_fields(raw: &[u8], dialect: Dialect, quoted: &mut Vec<bool>) {
    quoted.clear();
    let mut i = record_start(raw, dialect.comment);
    loop {
        let is_quoted = raw.get(i) == Some(&dialect.quote);
        quoted.push(is_quoted);
        if is_quoted {
            i += 1;
            loop {
                match raw.get(i) {
                    None => return,
                    Some(&b) if Some(b) == dialect.escape => i += 2,
                    Some(&b) if b == dialect.quote => {
                        if dialect.escape.is_none() && raw.get(i + 1) == Some(&dialect.quote) {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
        }
        // Text after a closing quote belongs to the field, quotes in it included.
        match memchr::memchr(dialect.delimiter, raw.get(i..).unwrap_or_default()) {
            Some(at) => i += at + 1,
            None => return,
        }
    }
}

/// Where the record proper starts in `raw`: past a byte order mark, and the comment and
/// blank lines the parser skipped before it.
fn record_start(raw: &[u8], comment: Option<u8>) -> usize {
    let mut i = if raw.starts_with(BOM) { BOM.len() } else { 0 };
    loop {
        match raw.get(i) {
            Some(b'\r' | b'\n') => i += 1,
            Some(&b) if Some(b) == comment => match memchr::memchr(b'\n', &raw[i..]) {
                Some(at) => i += at + 1,
                None => return raw.len(),
            },
            _ => return i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: Dialect = Dialect {
        delimiter: b',',
        quote: b'"',
        escape: None,
        comment: None,
    };

    fn quoted(raw: &[u8], dialect: Dialect) -> Vec<bool> {
        let mut out = Vec::new();
        quoted_fields(raw, dialect, &mut out);
        out
    }

    #[test]
    fn quoted_fields_are_found_past_delimiters_quotes_and_line_ends_inside_quotes() {
        assert_eq!(quoted(b"1,\"\",", CSV), [false, true, false]);
        assert_eq!(
            quoted(b"\"a,\"\"b\"\"\nc\",,\"\"", CSV),
            [true, false, true]
        );
        assert_eq!(quoted(b"a\"b,\"x\"y,", CSV), [false, true, false]);
        let escaped = Dialect {
            escape: Some(b'\\'),
            ..CSV
        };
        assert_eq!(quoted(b"\"a\\\",b\",\"\"", escaped), [true, true]);
        let commented = Dialect {
            comment: Some(b'#'),
            delimiter: b';',
            ..CSV
        };
        assert_eq!(
            quoted(b"\xef\xbb\xbf# note, \"quoted\"\n\r\n\"\";x", commented),
            [true, false]
        );
    }
}
