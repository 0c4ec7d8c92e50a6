//! Opening an input: plain, gzip or zstd, told apart by the first bytes of the file (names
//! lie), with the decoder's memory declared so the budget can hold it.

use crate::Encoding;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

mod zstd_window;

/// How a file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// As is.
    None,
    /// gzip (one or several concatenated members).
    Gzip,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Recognises gzip (`1f 8b`) and zstd (`28 b5 2f fd`) by their magic numbers.
    pub fn detect(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    /// Memory the decoder holds while it runs: gzip's 32 KiB window and buffers; zstd's
    /// window, up to 8 MiB for every standard level (a file written with `zstd --long`
    /// declares a larger one: [`decoder_bytes`](crate::decoder_bytes) reads it).
    pub fn decoder_bytes(self) -> u64 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 96 << 10,
            Compression::Zstd => (8 << 20) + (256 << 10),
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// An input stream: a plain file (which can seek) or a decoder over one (which cannot).
pub(crate) enum Input {
    Plain(CrLines<File>),
    Decoded(Box<dyn Read + Send>),
}

/// Text whose lines end in a bare CR, as classic Mac OS and Excel's "CSV (Macintosh)" write
/// it, read with each CR as an LF when `translate` is on (see [`open_text`]). Byte for byte,
/// so offsets stay the file's; the parser counts lines by their LFs, and without this every
/// row of such a file was on line 1.
pub(crate) struct CrLines<R> {
    inner: R,
    translate: bool,
}

impl<R> CrLines<R> {
    fn new(inner: R) -> Self {
        CrLines {
            inner,
            translate: false,
        }
    }
}

/// Each CR of `bytes` made an LF (see [`CrLines`]).
pub(crate) fn cr_to_lf(bytes: &mut [u8]) {
    for byte in bytes {
        if *byte == b'\r' {
            *byte = b'\n';
        }
    }
}

impl<R: Read> Read for CrLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.translate {
            cr_to_lf(&mut buf[..n]);
        }
        Ok(n)
    }
}

impl<R: Seek> Seek for CrLines<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Text without its last `lines` lines that hold anything, and the blank lines after them:
/// the totals and notes a report puts below its table (`--skip-footer`). What is read from
/// `inner` is held until more than `lines` such lines follow it, so the footer is never
/// released, whatever the sizes of the reads; at the end of `inner` it is dropped. Byte for
/// byte up to there, so offsets and line numbers stay the file's.
pub(crate) struct Footer<R> {
    inner: R,
    lines: u64,
    /// Read from `inner`, not yet released: `held[released..]` is still to give.
    held: Vec<u8>,
    released: usize,
    /// Where the footer starts in `held` once `inner` has ended.
    end: Option<usize>,
}

/// Bytes asked of the inner reader at a time.
const FOOTER_CHUNK: usize = 64 << 10;

/// Most bytes a footer's lines may hold together: past it they are no footer, and holding
/// them all would take memory without bound.
const FOOTER_MAX_BYTES: usize = 16 << 20;

impl<R: Read> Footer<R> {
    pub(crate) fn new(inner: R, lines: u64) -> Self {
        Footer {
            inner,
            lines,
            held: Vec::new(),
            released: 0,
            end: None,
        }
    }

    /// Where, in `held`, the last `lines` lines holding anything start (with whatever blank
    /// lines follow them); `None` while `held` has no more than that.
    fn footer_start(&self) -> Option<usize> {
        let mut end = self.held.len();
        let mut found = 0;
        while found < self.lines {
            // The line before `end`, without its line end.
            let text_end = if end > 0 && self.held[end - 1] == b'\n' {
                end - 1
            } else {
                end
            };
            let start = memchr::memrchr(b'\n', &self.held[..text_end]).map_or(0, |at| at + 1);
            if !self.held[start..text_end].trim_ascii().is_empty() {
                found += 1;
            }
            if start == 0 {
                return (found == self.lines).then_some(0);
            }
            end = start;
        }
        Some(end)
    }
}

impl<R: Read> Read for Footer<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.lines == 0 {
            return self.inner.read(buf);
        }
        loop {
            let releasable = match self.end {
                Some(end) => end,
                // Before the end, what comes before the last `lines` lines read so far: more
                // text may follow them, but never before them.
                None => self.footer_start().unwrap_or(0),
            };
            if releasable > self.released {
                let n = buf.len().min(releasable - self.released);
                buf[..n].copy_from_slice(&self.held[self.released..self.released + n]);
                self.released += n;
                return Ok(n);
            }
            if self.end.is_some() {
                return Ok(0);
            }
            // Keep only what is still to give, then read more.
            self.held.drain(..self.released);
            self.released = 0;
            if self.held.len() > FOOTER_MAX_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the last {} lines of the text (--skip-footer) run past {} MiB: \
                         that is no footer",
                        self.lines,
                        FOOTER_MAX_BYTES >> 20
                    ),
                ));
            }
            let filled = self.held.len();
            self.held.resize(filled + FOOTER_CHUNK, 0);
            let read = loop {
                match self.inner.read(&mut self.held[filled..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            let read = match read {
                Ok(read) => read,
                Err(e) => {
                    self.held.truncate(filled);
                    return Err(e);
                }
            };
            self.held.truncate(filled + read);
            if read == 0 {
                self.end = Some(self.footer_start().unwrap_or(0));
            }
        }
    }
}

/// How much of a file's text is looked at for its dialect: delimiter, `sep=` line, line ends.
pub(crate) const HEAD_BYTES: usize = 64 << 10;

/// Whether `head` ends its lines in bare CRs only: it has a CR and no LF.
pub(crate) fn cr_line_ends(head: &[u8]) -> bool {
    memchr::memchr(b'\r', head).is_some() && memchr::memchr(b'\n', head).is_none()
}

/// A file opened for reading CSV (see [`open_text`]).
pub(crate) struct Text {
    pub input: Input,
    pub compression: Compression,
    /// The UTF-16 order the text was converted from, if it was.
    pub utf16: Option<Utf16Order>,
    /// Its lines end in bare CRs, read as LFs (see [`CrLines`]).
    pub cr_lines: bool,
}

/// [`open_marked`] for reading CSV: text whose head ends its lines in bare CRs only is
/// read with them as LFs (see [`CrLines`]), and without its last `footer_lines` lines (see
/// [`Footer`]). Such a file reads as a stream: it cannot seek, as what it holds back would
/// no longer follow what was read.
pub(crate) fn open_text(path: &Path, encoding: Encoding, footer_lines: u64) -> io::Result<Text> {
    let (input, compression, utf16) = open_marked(path, encoding)?;
    let mut head = vec![0u8; HEAD_BYTES];
    let (input, cr_lines) = match input {
        Input::Plain(mut file) => {
            let filled = read_up_to(&mut file, &mut head)?;
            file.seek(SeekFrom::Start(0))?;
            file.translate = cr_line_ends(&head[..filled]);
            let translate = file.translate;
            (Input::Plain(file), translate)
        }
        Input::Decoded(mut text) => {
            let filled = read_up_to(&mut text, &mut head)?;
            head.truncate(filled);
            let translate = cr_line_ends(&head);
            let inner = io::Cursor::new(head).chain(text);
            (
                Input::Decoded(Box::new(CrLines { inner, translate })),
                translate,
            )
        }
    };
    let input = match input {
        input if footer_lines == 0 => input,
        input => Input::Decoded(Box::new(Footer::new(input, footer_lines))),
    };
    Ok(Text {
        input,
        compression,
        utf16,
        cr_lines,
    })
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Plain(file) => file.read(buf),
            Input::Decoded(decoder) => decoder.read(buf),
        }
    }
}

impl Seek for Input {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Input::Plain(file) => file.seek(pos),
            Input::Decoded(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a compressed stream cannot seek",
            )),
        }
    }
}

/// Opens `path`, detecting its compression from its first bytes, and converting `encoding`
/// to UTF-8; text that starts with a UTF-16 byte order mark (as Windows tools write it) is
/// converted from UTF-16, whatever `encoding` says. Only a plain UTF-8 file can seek
/// ([`Input::Plain`]); offsets in the others are positions in the decoded text.
pub(crate) fn open(path: &Path, encoding: Encoding) -> io::Result<(Input, Compression)> {
    open_marked(path, encoding).map(|(input, compression, _)| (input, compression))
}

/// [`open`], also saying which UTF-16 order the text was converted from, if it was.
pub(crate) fn open_marked(
    path: &Path,
    encoding: Encoding,
) -> io::Result<(Input, Compression, Option<Utf16Order>)> {
    let mut file = File::open(path)?;
    let compression = detect(&mut file)?;
    let input = match compression {
        Compression::None => match utf16_order(&mut file)? {
            Some(order) => {
                return Ok((
                    Input::Decoded(Box::new(Utf16::new(file, order))),
                    compression,
                    Some(order),
                ));
            }
            None if encoding == Encoding::Utf8 => Input::Plain(CrLines::new(file)),
            None => Input::Decoded(Box::new(file)),
        },
        Compression::Gzip => Input::Decoded(Box::new(flate2::read::MultiGzDecoder::new(
            BufReader::with_capacity(64 << 10, file),
        ))),
        Compression::Zstd => {
            // No frame may need more than the first declares, which the budget counts.
            let log = zstd_window::window_log(&mut file)?;
            file.seek(SeekFrom::Start(0))?;
            Input::Decoded(Box::new(zstd_window::decoder(
                BufReader::with_capacity(128 << 10, file),
                log,
            )?))
        }
    };
    // A compressed file's text may start with the mark too: the decoder is asked for its
    // first two bytes, which go back in front of the rest when they are not one.
    let input = match input {
        Input::Decoded(mut decoder) => {
            let mut head = [0u8; 2];
            let filled = read_up_to(&mut decoder, &mut head)?;
            match Utf16Order::of(&head[..filled]) {
                Some(order) => {
                    return Ok((
                        Input::Decoded(Box::new(Utf16::new(decoder, order))),
                        compression,
                        Some(order),
                    ));
                }
                None => Input::Decoded(Box::new(
                    io::Cursor::new(head[..filled].to_vec()).chain(decoder),
                )),
            }
        }
        plain => plain,
    };
    let input = match (input, encoding) {
        (input, Encoding::Utf8) => input,
        (Input::Decoded(inner), encoding) => {
            Input::Decoded(Box::new(Transcode::new(inner, encoding)))
        }
        (Input::Plain(file), encoding) => Input::Decoded(Box::new(Transcode::new(file, encoding))),
    };
    Ok((input, compression, None))
}

/// Fills as much of `buf` as `input` has, up to its end.
pub(crate) fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The byte order of UTF-16 text, from its byte order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Utf16Order {
    Little,
    Big,
}

impl Utf16Order {
    /// The encoding's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Utf16Order::Little => "utf-16le",
            Utf16Order::Big => "utf-16be",
        }
    }

    /// The order `head` (a text's first bytes) marks, if it starts with a UTF-16 mark.
    pub(crate) fn of(head: &[u8]) -> Option<Utf16Order> {
        match head {
            [0xff, 0xfe, ..] => Some(Utf16Order::Little),
            [0xfe, 0xff, ..] => Some(Utf16Order::Big),
            _ => None,
        }
    }
}

/// The UTF-16 order `file` is marked with, leaving it after the mark; or none, leaving it
/// at its start.
pub(crate) fn utf16_order(file: &mut File) -> io::Result<Option<Utf16Order>> {
    let mut head = [0u8; 2];
    let filled = read_up_to(file, &mut head)?;
    let order = Utf16Order::of(&head[..filled]);
    if order.is_none() {
        file.seek(SeekFrom::Start(0))?;
    }
    Ok(order)
}

/// Converts UTF-16 text (after its byte order mark) to UTF-8 as it is read. A code unit
/// that is no part of a character (a lone surrogate) or a text ending inside one is an
/// error naming its byte offset, not a replacement character: loader changes no text.
struct Utf16<R> {
    inner: R,
    order: Utf16Order,
    raw: Vec<u8>,
    /// The odd byte of a code unit split across two reads.
    odd: Option<u8>,
    /// A high surrogate waiting for its low half, and its byte offset.
    high: Option<(u16, u64)>,
    decoded: Vec<u8>,
    at: usize,
    /// Bytes of the file consumed, the mark included.
    consumed: u64,
}

impl<R: Read> Utf16<R> {
    fn new(inner: R, order: Utf16Order) -> Self {
        Utf16 {
            inner,
            order,
            raw: vec![0; 32 << 10],
            odd: None,
            high: None,
            decoded: Vec::with_capacity(48 << 10),
            at: 0,
            consumed: 2,
        }
    }

    /// The error for the code unit at byte `at` of the file.
    fn invalid(at: u64, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("invalid UTF-16 at byte {at}: {what}"),
        )
    }

    /// Decodes `bytes`, the next ones read, into `decoded`.
    fn decode(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut bytes = bytes.iter().copied();
        while let Some(byte) = self.odd.take().or_else(|| bytes.next()) {
            let Some(second) = bytes.next() else {
                self.odd = Some(byte);
                break;
            };
            let unit = match self.order {
                Utf16Order::Little => u16::from_le_bytes([byte, second]),
                Utf16Order::Big => u16::from_be_bytes([byte, second]),
            };
            self.push_unit(unit)?;
            self.consumed += 2;
        }
        Ok(())
    }

    /// Appends the character `unit` (at byte `self.consumed`) ends, if it ends one.
    fn push_unit(&mut self, unit: u16) -> io::Result<()> {
        let at = self.consumed;
        let c = match (self.high.take(), unit) {
            (Some((high, _)), 0xDC00..=0xDFFF) => {
                let code =
                    0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                char::from_u32(code).ok_or_else(|| Self::invalid(at, "a pair out of range"))?
            }
            (Some((_, high_at)), _) => {
                return Err(Self::invalid(
                    high_at,
                    "a high surrogate without its low half",
                ));
            }
            (None, 0xD800..=0xDBFF) => {
                self.high = Some((unit, at));
                return Ok(());
            }
            (None, 0xDC00..=0xDFFF) => return Err(Self::invalid(at, "a low surrogate alone")),
            (None, unit) => char::from_u32(u32::from(unit)).expect("not a surrogate"),
        };
        let mut utf8 = [0u8; 4];
        self.decoded
            .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        Ok(())
    }
}

impl<R: Read> Read for Utf16<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.decoded.len() {
            self.decoded.clear();
            self.at = 0;
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                if let Some(at) = self
                    .high
                    .map(|(_, at)| at)
                    .or(self.odd.map(|_| self.consumed))
                {
                    return Err(Self::invalid(at, "the text ends inside a character"));
                }
                return Ok(0);
            }
            let raw = std::mem::take(&mut self.raw);
            let decoded = self.decode(&raw[..n]);
            self.raw = raw;
            decoded?;
        }
        Ok(copy_out(&self.decoded, &mut self.at, buf))
    }
}

/// Copies what `buf` holds of `decoded[*at..]` into it, moving `at` on: the reading end of
/// both converters.
fn copy_out(decoded: &[u8], at: &mut usize, buf: &mut [u8]) -> usize {
    let n = buf.len().min(decoded.len() - *at);
    buf[..n].copy_from_slice(&decoded[*at..*at + n]);
    *at += n;
    n
}

/// Converts single-byte text to UTF-8 as it is read.
struct Transcode<R> {
    inner: R,
    encoding: Encoding,
    raw: Vec<u8>,
    decoded: Vec<u8>,
    at: usize,
}

impl<R: Read> Transcode<R> {
    fn new(inner: R, encoding: Encoding) -> Self {
        Transcode {
            inner,
            encoding,
            raw: vec![0; 32 << 10],
            decoded: Vec::with_capacity(64 << 10),
            at: 0,
        }
    }
}

/// Windows-1252's printable characters in 0x80-0x9F; the five unassigned bytes keep their
/// Latin-1 (C1 control) meaning, as the WHATWG encoding standard does.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

pub(crate) fn decode_byte(byte: u8, encoding: Encoding) -> char {
    match (encoding, byte) {
        (Encoding::Windows1252, 0x80..=0x9f) => CP1252_HIGH[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

impl<R: Read> Read for Transcode<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.decoded.len() {
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.decoded.clear();
            self.at = 0;
            let mut utf8 = [0u8; 4];
            for &byte in &self.raw[..n] {
                if byte < 0x80 {
                    self.decoded.push(byte);
                } else {
                    let c = decode_byte(byte, self.encoding);
                    self.decoded
                        .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        Ok(copy_out(&self.decoded, &mut self.at, buf))
    }
}

/// Memory the decoder of the file at `path` holds while it runs:
/// [`Compression::decoder_bytes`], except that a zstd file's is its first frame's window
/// (larger than the standard levels' 8 MiB when written with `zstd --long`), which its
/// reader never lets a later frame exceed.
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) when the file cannot be read.
///
/// # Example
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("orders.csv");
/// std::fs::write(&path, "id\n1\n").unwrap();
/// assert_eq!(loader_file::decoder_bytes(&path).unwrap(), 0);
/// ```
pub fn decoder_bytes(path: &Path) -> crate::Result<u64> {
    let io = |source| crate::Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let compression = detect(&mut File::open(path).map_err(io)?).map_err(io)?;
    decoder_bytes_of(path, compression)
}

/// [`decoder_bytes`] of a file whose compression is known: only a zstd file is read again,
/// for its first frame's header.
pub(crate) fn decoder_bytes_of(path: &Path, compression: Compression) -> crate::Result<u64> {
    if compression != Compression::Zstd {
        return Ok(compression.decoder_bytes());
    }
    let io = |source| crate::Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let log = zstd_window::window_log(&mut File::open(path).map_err(io)?).map_err(io)?;
    Ok(zstd_window::decoder_bytes(log))
}

/// The file's compression, by its magic number; leaves the file at its start.
pub(crate) fn detect(file: &mut File) -> io::Result<Compression> {
    let mut head = [0u8; 4];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(Compression::detect(&head[..filled]))
}

/// Bytes of CSV per byte on disk: the first MiB of the compressed file (or all of it) is
/// decoded on its own and what it yields is counted. Exact for files up to a MiB; a
/// decoder's read-ahead cannot skew it, as it would a ratio taken while parsing. With it,
/// the decoded size when the whole file was decoded without error.
pub(crate) fn compression_ratio(
    path: &Path,
    compression: Compression,
) -> io::Result<(f64, Option<u64>)> {
    const PREFIX: u64 = 1 << 20;
    if compression == Compression::None {
        return Ok((1.0, None));
    }
    let mut file = File::open(path)?;
    let whole = file.metadata()?.len();
    let size = whole.min(PREFIX);
    let log = match compression {
        Compression::Zstd => zstd_window::window_log(&mut file)?,
        _ => zstd_window::STANDARD_WINDOW_LOG,
    };
    file.seek(SeekFrom::Start(0))?;
    let prefix = BufReader::new(file.take(size));
    let mut decoder: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(prefix)),
        _ => Box::new(zstd_window::decoder(prefix, log)?),
    };
    let mut buffer = vec![0u8; 64 << 10];
    let mut produced = 0u64;
    // A cut-off stream ends in an error; everything decoded before it counts.
    let ended = loop {
        match decoder.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => produced += n as u64,
            Err(_) => break false,
        }
    };
    let decoded = (ended && whole <= PREFIX).then_some(produced);
    Ok(((produced as f64 / size.max(1) as f64).max(1.0), decoded))
}

#[cfg(test)]
mod tests;
