use super::*;
use proptest::prelude::*;

/// What one read gives: the fields, where the read began, where the reader stands after.
type Read = (Vec<Vec<u8>>, (u64, u64), (u64, u64));

#[derive(Debug, Clone)]
struct Dialect {
    delimiter: u8,
    comment: Option<u8>,
    escape: Option<u8>,
}

impl Dialect {
    fn core(&self) -> csv_core::ReaderBuilder {
        let mut builder = csv_core::ReaderBuilder::new();
        builder
            .delimiter(self.delimiter)
            .comment(self.comment)
            .escape(self.escape)
            .double_quote(self.escape.is_none());
        builder
    }

    fn records<'a>(&self, input: &'a [u8], capacity: usize) -> Records<io::Cursor<&'a [u8]>> {
        Records::new(
            io::Cursor::new(input),
            self.core(),
            (self.delimiter, b'"', self.escape, self.comment),
            capacity,
            u64::MAX,
        )
    }

    fn csv(&self, input: &[u8]) -> csv::Reader<io::Cursor<Vec<u8>>> {
        csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .comment(self.comment)
            .escape(self.escape)
            .double_quote(self.escape.is_none())
            .has_headers(false)
            .flexible(true)
            .from_reader(io::Cursor::new(input.to_vec()))
    }
}

fn read_all<R: std::io::Read>(records: &mut Records<R>, input: &[u8]) -> Vec<Read> {
    let mut all = Vec::new();
    while records.read().expect("in-memory input") {
        let (at, after) = (records.record_position(), records.position());
        assert_eq!(
            records.raw(at.byte..after.byte),
            Some(&input[at.byte as usize..after.byte as usize]),
            "the current record's raw bytes are buffered"
        );
        assert_eq!(
            records.bytes().len(),
            records.ends().last().copied().unwrap_or(0)
        );
        all.push((
            records.iter().map(<[u8]>::to_vec).collect(),
            (at.byte, at.line),
            (after.byte, after.line),
        ));
    }
    assert!(
        !records.read().expect("in-memory input"),
        "the end stays the end"
    );
    all
}

fn read_all_csv<R: std::io::Read>(reader: &mut csv::Reader<R>) -> Vec<Read> {
    let mut record = csv::ByteRecord::new();
    let mut all = Vec::new();
    while reader
        .read_byte_record(&mut record)
        .expect("in-memory input")
    {
        let at = record.position().expect("read records have positions");
        all.push((
            record.iter().map(<[u8]>::to_vec).collect(),
            (at.byte(), at.line()),
            (reader.position().byte(), reader.position().line()),
        ));
    }
    all
}

fn dialect() -> impl Strategy<Value = Dialect> {
    (
        prop::sample::select(vec![b',', b';', b'\t', b'|']),
        prop::option::of(Just(b'#')),
        prop::option::of(Just(b'\\')),
    )
        .prop_map(|(delimiter, comment, escape)| Dialect {
            delimiter,
            comment,
            escape,
        })
}

/// CSV-ish bytes: mostly plain lines, with quotes, CRLF, bare CR, blank and comment lines,
/// escapes, multi-byte characters and a byte order mark mixed in.
fn csv_text() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => "[a-z0-9 ]{0,6}".prop_map(String::into_bytes),
        4 => Just(b",".to_vec()),
        1 => Just(b";".to_vec()),
        1 => Just(b"\t".to_vec()),
        1 => Just(b"|".to_vec()),
        3 => Just(b"\n".to_vec()),
        2 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        2 => Just(b"\"".to_vec()),
        1 => Just(b"\"\"".to_vec()),
        1 => Just(b"\\".to_vec()),
        1 => Just(b"#".to_vec()),
        1 => Just("é€".as_bytes().to_vec()),
        1 => Just(b"\xef\xbb\xbf".to_vec()),
    ];
    (any::<bool>(), prop::collection::vec(piece, 0..80)).prop_map(|(bom, pieces)| {
        let mut text = if bom {
            b"\xef\xbb\xbf".to_vec()
        } else {
            Vec::new()
        };
        text.extend(pieces.concat());
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reads_what_the_csv_crate_reads(
        dialect in dialect(),
        text in csv_text(),
        capacity in 1usize..200,
    ) {
        let ours = read_all(&mut dialect.records(&text, capacity), &text);
        let theirs = read_all_csv(&mut dialect.csv(&text));
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn reads_from_a_seek_what_the_csv_crate_reads(
        dialect in dialect(),
        text in csv_text(),
        capacity in 1usize..200,
        pick in any::<prop::sample::Index>(),
    ) {
        let all = read_all_csv(&mut dialect.csv(&text));
        prop_assume!(!all.is_empty());
        let (_, _, (byte, line)) = all[pick.index(all.len())];
        let mut theirs = dialect.csv(&text);
        let mut at = csv::Position::new();
        at.set_byte(byte).set_line(line);
        theirs.seek_raw(SeekFrom::Start(byte), at).unwrap();
        let mut ours = dialect.records(&text, capacity);
        ours.seek(Position { byte, line }).unwrap();
        prop_assert_eq!(read_all(&mut ours, &text), read_all_csv(&mut theirs));
    }
}

#[test]
fn a_record_past_the_row_limit_fails_at_its_start() {
    let text = format!("a,b\n{}\nc,d\n", "x".repeat(1000));
    let dialect = Dialect {
        delimiter: b',',
        comment: None,
        escape: None,
    };
    let mut records = Records::new(
        io::Cursor::new(text.as_bytes()),
        dialect.core(),
        (b',', b'"', None, None),
        64,
        200,
    );
    assert!(records.read().unwrap());
    match records.read() {
        Err(ReadError::RowTooLong { at }) => assert_eq!(at, Position { byte: 4, line: 2 }),
        other => panic!("expected RowTooLong, got {other:?}"),
    }
    assert!(!records.read().unwrap(), "nothing is read after the error");
}

#[test]
fn plain_lines_take_the_fast_path() {
    // Past the first record (csv-core's, for the byte order mark), csv-core sees nothing of
    // quote-free lines: its line count stays where the first record left it.
    let dialect = Dialect {
        delimiter: b',',
        comment: None,
        escape: None,
    };
    let text = b"a,b\nc,d\r\ne,f\n";
    let mut records = dialect.records(text, 64);
    assert!(records.read().unwrap());
    let core_line = records.core.line();
    assert!(records.read().unwrap());
    assert!(records.read().unwrap());
    assert_eq!(records.core.line(), core_line);
    assert_eq!(records.iter().collect::<Vec<_>>(), [b"e", b"f"]);
}

#[test]
fn only_a_last_record_left_in_an_open_quote_is_flagged() {
    let plain = Dialect {
        delimiter: b',',
        comment: Some(b'#'),
        escape: None,
    };
    let escaped = Dialect {
        escape: Some(b'\\'),
        ..plain.clone()
    };
    // (dialect, input, which records end in an open quote)
    let cases: [(&Dialect, &[u8], &[bool]); 11] = [
        (&plain, b"a,\"x", &[true]),
        (&plain, b"a,\"x\n", &[true]),
        (&plain, b"a,\"x\"\"", &[true]),
        (&plain, b"1,2\n3,\"open\nmore,4\n", &[false, true]),
        (&escaped, b"a,\"x\\\"", &[true]),
        (&plain, b"a,\"x\"", &[false]),
        (&plain, b"a,\"x\"\"\"", &[false]),
        (&plain, b"a,b\"c", &[false]),
        (&plain, b"a,b\n", &[false]),
        (&plain, b"a,b\n# a \"comment\n", &[false]),
        (&escaped, b"a,\"x\\\"\"", &[false]),
    ];
    for (dialect, input, expected) in cases {
        // A buffer of 4 bytes makes the reader fill many times before the end.
        for capacity in [4, 64] {
            let mut records = dialect.records(input, capacity);
            let mut flags = Vec::new();
            while records.read().unwrap() {
                flags.push(records.ends_in_open_quote());
            }
            assert_eq!(
                flags,
                expected,
                "{:?} with a {capacity}-byte buffer",
                String::from_utf8_lossy(input)
            );
        }
    }
}
