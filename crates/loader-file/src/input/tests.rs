use super::*;

/// A reader that hands out one byte at a time: every code unit and surrogate pair is split
/// across reads.
struct OneByte<R>(R);

impl<R: Read> Read for OneByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let end = buf.len().min(1);
        self.0.read(&mut buf[..end])
    }
}

const TEXT: &str = "id\tname\r\n1\tJosé\r\n2\t😀 Zoë, \"ok\"\r\n";

fn utf16(order: Utf16Order) -> Vec<u8> {
    let mut bytes = match order {
        Utf16Order::Little => vec![0xff, 0xfe],
        Utf16Order::Big => vec![0xfe, 0xff],
    };
    for unit in TEXT.encode_utf16() {
        bytes.extend_from_slice(&match order {
            Utf16Order::Little => unit.to_le_bytes(),
            Utf16Order::Big => unit.to_be_bytes(),
        });
    }
    bytes
}

fn read_all(mut input: impl Read) -> io::Result<String> {
    let mut text = String::new();
    input.read_to_string(&mut text)?;
    Ok(text)
}

#[test]
fn utf16_is_read_as_utf8_in_either_order_and_any_read_size() {
    for order in [Utf16Order::Little, Utf16Order::Big] {
        let bytes = utf16(order);
        assert_eq!(Utf16Order::of(&bytes), Some(order));
        let whole = Utf16::new(&bytes[2..], order);
        assert_eq!(read_all(whole).unwrap(), TEXT, "{order:?}");
        let split = Utf16::new(OneByte(&bytes[2..]), order);
        assert_eq!(
            read_all(split).unwrap(),
            TEXT,
            "{order:?}, a byte at a time"
        );
    }
}

#[test]
fn files_marked_utf16_are_converted_plain_or_compressed_and_never_seek() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.tsv");
    std::fs::write(&plain, utf16(Utf16Order::Little)).unwrap();
    let gzipped = dir.path().join("packed.tsv.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    io::Write::write_all(&mut encoder, &utf16(Utf16Order::Big)).unwrap();
    std::fs::write(&gzipped, encoder.finish().unwrap()).unwrap();
    for (path, name) in [(&plain, "utf-16le"), (&gzipped, "utf-16be")] {
        let (input, _) = open(path, Encoding::Utf8).unwrap();
        assert!(matches!(input, Input::Decoded(_)), "{path:?} must not seek");
        assert_eq!(read_all(input).unwrap(), TEXT, "{path:?}");
        // The sample says so, and reads the columns as any other file's.
        let sample = crate::sample_file(path, &crate::CsvOptions::default()).unwrap();
        assert_eq!(sample.converted_from, Some(name));
        assert_eq!((sample.delimiter, sample.headers.len()), (b'\t', 2));
    }
    // Text without a mark stays as it is, and a plain UTF-8 file can seek.
    let utf8 = dir.path().join("utf8.tsv");
    std::fs::write(&utf8, TEXT).unwrap();
    let (input, _) = open(&utf8, Encoding::Utf8).unwrap();
    assert!(matches!(input, Input::Plain(_)));
    assert_eq!(read_all(input).unwrap(), TEXT);
    let sample = crate::sample_file(&utf8, &crate::CsvOptions::default()).unwrap();
    assert_eq!(sample.converted_from, None);
}

#[test]
fn broken_utf16_is_an_error_naming_its_byte() {
    let little =
        |units: &[u16]| -> Vec<u8> { units.iter().flat_map(|u| u.to_le_bytes()).collect() };
    let cases: [(Vec<u8>, &str); 3] = [
        (
            little(&[0x61, 0xD800, 0x62]),
            "invalid UTF-16 at byte 4: a high surrogate without its low half",
        ),
        (
            little(&[0x61, 0xDC00]),
            "invalid UTF-16 at byte 4: a low surrogate alone",
        ),
        (
            [little(&[0x61]), vec![0x62]].concat(),
            "invalid UTF-16 at byte 4: the text ends inside a character",
        ),
    ];
    for (bytes, message) in cases {
        let error = read_all(Utf16::new(&bytes[..], Utf16Order::Little)).unwrap_err();
        assert_eq!(error.to_string(), message);
    }
}

/// A reader that hands out at most `.1` bytes a time.
struct Chunked<R>(R, usize);

impl<R: Read> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let end = buf.len().min(self.1);
        self.0.read(&mut buf[..end])
    }
}

/// `text` without its last `lines` lines holding anything and the blank lines after them,
/// worked out line by line.
fn without_footer(text: &str, lines: usize) -> &str {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            starts.push(at);
        }
        at += line.len();
    }
    match lines {
        0 => text,
        _ if starts.len() < lines => "",
        _ => &text[..starts[starts.len() - lines]],
    }
}

fn footer_read(text: &str, lines: u64, inner_chunk: usize, outer_chunk: usize) -> String {
    let mut footer = Footer::new(Chunked(text.as_bytes(), inner_chunk), lines);
    let mut out = Vec::new();
    let mut buf = vec![0u8; outer_chunk];
    loop {
        let n = footer.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn a_footer_is_never_released_and_the_rows_above_it_all_are() {
    let report = "id,amount\n1,5\n2,7\n\nTotal,12\nExported 2026-11-30\n\n";
    assert_eq!(footer_read(report, 2, 3, 5), "id,amount\n1,5\n2,7\n\n");
    assert_eq!(
        footer_read(report, 1, 64, 64),
        "id,amount\n1,5\n2,7\n\nTotal,12\n"
    );
    assert_eq!(footer_read(report, 0, 1, 1), report);
    // No line end after the last line; more footer lines than the text has.
    assert_eq!(footer_read("a\nb\nTotal", 1, 2, 2), "a\nb\n");
    assert_eq!(footer_read("a\nb\n", 5, 2, 2), "");
}

proptest::proptest! {
    /// Whatever the lines and the sizes of the reads on either side, what comes out is the
    /// text up to its footer.
    #[test]
    fn footers_of_any_text_are_cut_where_their_lines_start(
        lines in proptest::collection::vec("[a-c ,]{0,6}", 0..30),
        end_with_newline in proptest::bool::ANY,
        footer in 0u64..4,
        inner_chunk in 1usize..40,
        outer_chunk in 1usize..40,
    ) {
        let mut text = lines.join("\n");
        if end_with_newline && !text.is_empty() {
            text.push('\n');
        }
        let expected = without_footer(&text, footer as usize);
        proptest::prop_assert_eq!(footer_read(&text, footer, inner_chunk, outer_chunk), expected);
    }
}

#[test]
fn a_footer_longer_than_any_footer_is_an_error_not_memory_without_bound() {
    let text = "x".repeat(FOOTER_MAX_BYTES + FOOTER_CHUNK * 2);
    let mut footer = Footer::new(text.as_bytes(), 1);
    let mut buf = vec![0u8; 4096];
    let error = loop {
        match footer.read(&mut buf) {
            Ok(0) => panic!("a 16 MiB line was released or dropped as a footer"),
            Ok(_) => {}
            Err(error) => break error,
        }
    };
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("--skip-footer"), "{error}");
}

/// One zstd frame of `text`, with a window of `2^log` bytes declared.
fn zstd_frame(text: &[u8], log: u32) -> Vec<u8> {
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    encoder.long_distance_matching(true).unwrap();
    encoder.window_log(log).unwrap();
    io::Write::write_all(&mut encoder, text).unwrap();
    encoder.finish().unwrap()
}

/// A file's decoder is counted at its first frame's window: a later frame declaring a larger
/// one fails the read where it starts, rather than being allocated past the count.
#[test]
fn no_zstd_frame_may_need_a_larger_window_than_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv.zst");
    let read = |frames: &[Vec<u8>]| {
        std::fs::write(&path, frames.concat()).unwrap();
        let (Input::Decoded(mut text), Compression::Zstd) = open(&path, Encoding::Utf8).unwrap()
        else {
            panic!("a zstd file decodes");
        };
        let mut bytes = Vec::new();
        let read = text.read_to_end(&mut bytes);
        (read.map(|_| ()), String::from_utf8(bytes).unwrap())
    };
    let (small, large) = (zstd_frame(b"id\n1\n", 20), zstd_frame(b"2\n", 27));
    let (ended, text) = read(&[small.clone(), large.clone()]);
    assert!(ended.is_err(), "the 128 MiB frame after an 8 MiB one");
    assert_eq!(text, "id\n1\n");
    assert_eq!(
        crate::decoder_bytes(&path).unwrap(),
        (8 << 20) + (256 << 10)
    );
    let (ended, text) = read(&[large, small]);
    assert!(ended.is_ok());
    assert_eq!(text, "2\nid\n1\n");
    assert_eq!(
        crate::decoder_bytes(&path).unwrap(),
        (128 << 20) + (256 << 10)
    );
}
