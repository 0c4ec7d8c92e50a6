//! A file's dialect from its first 64 KiB of text: the delimiter (sniffed, or named by an
//! Excel `sep=` line), title lines above its table, and the lines `--skip-lines` passes over.

use crate::Encoding;
use crate::input::{HEAD_BYTES, cr_line_ends, cr_to_lf, open_marked, read_up_to};
use crate::quoted::BOM;
use std::io;
use std::path::Path;

/// The first 64 KiB of a file's text (decoded, converted to UTF-8 and its line ends read
/// as the reader reads them), and whether that is all of it: what the delimiter and an Excel `sep=` line are
/// told from.
pub(crate) fn head(path: &Path, encoding: Encoding) -> io::Result<(Vec<u8>, bool)> {
    // Read once, with bare CRs made LFs as `open_text` would on the same bytes.
    let (mut input, ..) = open_marked(path, encoding)?;
    let mut head = vec![0u8; HEAD_BYTES];
    let filled = read_up_to(&mut input, &mut head)?;
    head.truncate(filled);
    if cr_line_ends(&head) {
        cr_to_lf(&mut head);
    }
    Ok((head, filled < HEAD_BYTES))
}

/// `head` after its first `lines` lines (see [`CsvOptions::skip_lines`](crate::CsvOptions::skip_lines));
/// empty when it has fewer.
pub(crate) fn after_lines(head: &[u8], lines: u64) -> &[u8] {
    let mut rest = head;
    for _ in 0..lines {
        match memchr::memchr(b'\n', rest) {
            Some(end) => rest = &rest[end + 1..],
            None => return &[],
        }
    }
    rest
}

/// Lines above the table that are not part of it, as a report puts a title and a blank line
/// above its table: when the records of `head` (quote-aware) do not all hold the same number
/// of one delimiter, but from some line within the first few on at least three do and every
/// record above it holds none, that line's index (lines to skip). `None` when the head
/// reads as one table, or shows none. A header with fewer delimiters than its rows (an
/// export's trailing delimiter) is no title: only lines without one are taken for titles.
/// `delimiters`: the candidates (the given one alone).
pub(crate) fn title_lines(head: &[u8], whole: bool, delimiters: &[u8], quote: u8) -> Option<u64> {
    const MOST_TITLE_RECORDS: usize = 5;
    let mut found: Option<(u64, usize)> = None;
    for &delimiter in delimiters {
        let mut records = delimiter_counts(head, delimiter, quote);
        if !whole {
            // The last record may be cut where the head ends.
            records.pop();
        }
        let counts: Vec<(u64, usize)> = records
            .into_iter()
            .filter(|r| !r.2)
            .map(|r| (r.0, r.1))
            .collect();
        if counts.windows(2).all(|w| w[0].1 == w[1].1) {
            match counts.first() {
                // One table as it is, with this delimiter.
                Some(&(_, width)) if width > 0 => return None,
                // This delimiter is nowhere.
                _ => continue,
            }
        }
        let table = (1..=MOST_TITLE_RECORDS.min(counts.len())).find(|&start| {
            let (above, below) = counts.split_at(start);
            let width = below.first().map_or(0, |r| r.1);
            below.len() >= 3
                && width > 0
                && below.iter().all(|r| r.1 == width)
                && above.iter().all(|r| r.1 == 0)
        });
        if let Some(start) = table {
            let agreeing = counts.len() - start;
            if found.is_none_or(|(_, best)| agreeing > best) {
                found = Some((counts[start].0, agreeing));
            }
        }
    }
    found.map(|(line, _)| line)
}

/// Each record of `head` as (index of its first line, `delimiter`s outside quotes, blank).
fn delimiter_counts(head: &[u8], delimiter: u8, quote: u8) -> Vec<(u64, usize, bool)> {
    let mut records = Vec::new();
    let (mut line, mut start_line, mut count, mut quoted, mut blank) = (0u64, 0u64, 0, false, true);
    for &byte in head {
        if byte == quote {
            quoted = !quoted;
        } else if byte == delimiter && !quoted {
            count += 1;
        }
        if byte == b'\n' {
            line += 1;
            if !quoted {
                records.push((start_line, count, blank));
                (start_line, count, blank) = (line, 0, true);
                continue;
            }
        }
        if !matches!(byte, b'\n' | b'\r') {
            blank = false;
        }
    }
    if !blank {
        records.push((start_line, count, blank));
    }
    records
}

/// Bytes and lines read past by [`skip_lines`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Skipped {
    pub bytes: u64,
    pub lines: u64,
}

/// Reads past the first `lines` lines of `input` (see
/// [`CsvOptions::skip_lines`](crate::CsvOptions::skip_lines)), fewer when it ends first.
pub(crate) fn skip_lines(input: &mut impl io::BufRead, lines: u64) -> io::Result<Skipped> {
    let mut skipped = Skipped::default();
    while skipped.lines < lines {
        match input.skip_until(b'\n')? {
            0 => break,
            n => {
                skipped.bytes += n as u64;
                skipped.lines += 1;
            }
        }
    }
    Ok(skipped)
}

/// Longest Excel `sep=` line: a byte order mark, `sep=`, the delimiter and CRLF.
pub(crate) const SEPARATOR_LINE_MAX: usize = 10;

/// Excel's `sep=X` line, which Excel (and tools that write for it) put first to name the
/// delimiter, `sep=;` most often: neither header nor row. When `head` starts with one (a
/// byte order mark before it included), the delimiter it names and its length with its
/// line end. `whole`: `head` is all of the input, so the line may end without a line end.
pub(crate) fn separator_line(head: &[u8], whole: bool) -> Option<(u8, usize)> {
    let bom = if head.starts_with(BOM) { BOM.len() } else { 0 };
    let line = &head[bom..];
    if !line.get(..4)?.eq_ignore_ascii_case(b"sep=") {
        return None;
    }
    let delimiter = *line.get(4)?;
    // A delimiter is ASCII punctuation or a tab; a quote cannot be one.
    if !(delimiter.is_ascii_punctuation() || delimiter == b'\t') || delimiter == b'"' {
        return None;
    }
    let end = match &line[5..] {
        [b'\n', ..] => 6,
        [b'\r', b'\n', ..] => 7,
        [] if whole => 5,
        _ => return None,
    };
    Some((delimiter, bom + end))
}

/// The delimiters [`sniff_delimiter`] chooses among.
pub(crate) const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Picks the delimiter of a file from its first lines (`head`, comment lines left out; an
/// Excel `sep=` line, which names it, is the caller's to look for): among comma, semicolon,
/// tab and pipe, the one found the same non-zero number of times (outside quotes) on the
/// most lines as on the first. When none is on the first line, the file has one column: then one found on no
/// line at all, so that a value holding a comma (`Smith, Jr.`) stays one value; comma when
/// every one is found somewhere.
pub(crate) fn sniff_delimiter(head: &[u8], options: &crate::CsvOptions) -> u8 {
    let (quote, comment) = (options.get_quote(), options.get_comment());
    let lines: Vec<&[u8]> = head
        .split(|&b| b == b'\n')
        // Comment lines say nothing of the delimiter (a first one would hide the header's).
        .filter(|l| !l.is_empty() && comment.is_none_or(|c| l.first() != Some(&c)))
        .take(50)
        .collect();
    let mut best = (b',', 0usize);
    let mut absent = None;
    for candidate in CANDIDATES {
        let counts: Vec<usize> = lines
            .iter()
            .map(|line| {
                let mut quoted = false;
                line.iter()
                    .filter(|&&b| {
                        if b == quote {
                            quoted = !quoted;
                        }
                        b == candidate && !quoted
                    })
                    .count()
            })
            .collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        let agreeing = counts.iter().filter(|&&c| c == first).count();
        if first > 0 && agreeing > best.1 {
            best = (candidate, agreeing);
        }
        if counts.iter().all(|&c| c == 0) {
            absent.get_or_insert(candidate);
        }
    }
    if best.1 == 0
        && let Some(absent) = absent
    {
        return absent;
    }
    best.0
}

#[cfg(test)]
mod tests;
