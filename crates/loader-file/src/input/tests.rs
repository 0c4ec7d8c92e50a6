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
