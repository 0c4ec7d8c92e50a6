//! The input corpus (`tests/corpus/`): one small file per dialect or malformation, each with
//! its expected outcome, loaded through the binary into SQLite. Every run must end in a clear
//! result: rows loaded as expected (or, for an empty file, nothing to load and no table), or
//! exit code 1 with a message naming file and line.

use loader_tests::pg::{ScratchSchema, pg_url, query_text};
use loader_tests::{root, run_loader};
use rusqlite::Connection;

struct Case {
    file: &'static str,
    args: &'static [&'static str],
    /// How the load must end.
    expect: Expect,
    /// A query on the loaded table and the single value it must return (also after an
    /// error: what was committed before it).
    check: Option<(&'static str, &'static str)>,
    /// Rows that must be in the quarantine table, as (line, kind), in line order.
    quarantined: &'static [(i64, &'static str)],
}

/// How a case's load must end.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Loaded, with this many rows in table t.
    Rows(i64),
    /// Loaded with nothing to load and no table made: the file has no header and no rows.
    NoTable,
    /// Exit code 1, with this text in the error.
    Fails(&'static str),
}

impl Expect {
    fn loads(self) -> bool {
        !matches!(self, Expect::Fails(_))
    }
}

const CASES: &[Case] = &[
    Case {
        file: "semicolon.csv",
        args: &[],
        expect: Expect::Rows(2),
        check: Some(("SELECT amount FROM t WHERE id = 1", "2,5")),
        quarantined: &[],
    },
    Case {
        // Excel's first line naming the delimiter: neither header nor row, but line 1.
        file: "excel-sep.csv",
        args: &["--on-error", "skip"],
        expect: Expect::Rows(2),
        check: Some(("SELECT group_concat(id) FROM t", "1,3")),
        quarantined: &[(4, "field_count")],
    },
    Case {
        // Lines ended by bare CRs (classic Mac OS): counted as lines, the quoted line break
        // kept as one.
        file: "cr-line-ends.csv",
        args: &["--on-error", "skip"],
        expect: Expect::Rows(2),
        check: Some(("SELECT note FROM t WHERE id = 1", "two\nlines")),
        quarantined: &[(4, "field_count")],
    },
    Case {
        // A report's title lines above its table: passed over, and counted as lines.
        file: "report-title.csv",
        args: &["--skip-lines", "3", "--on-error", "skip"],
        expect: Expect::Rows(2),
        check: Some(("SELECT group_concat(id) FROM t", "1,3")),
        quarantined: &[(6, "field_count")],
    },
    Case {
        file: "tab.tsv",
        args: &[],
        expect: Expect::Rows(3),
        check: Some(("SELECT name FROM t WHERE id = 3", "cy")),
        quarantined: &[],
    },
    Case {
        file: "pipe.txt",
        args: &[],
        expect: Expect::Rows(2),
        check: Some(("SELECT name FROM t WHERE id = 2", "b, c")),
        quarantined: &[],
    },
    Case {
        file: "crlf.csv",
        args: &[],
        expect: Expect::Rows(2),
        check: Some(("SELECT name FROM t WHERE id = 2", "two\r\nlines")),
        quarantined: &[],
    },
    Case {
        file: "bom.csv",
        args: &[],
        expect: Expect::Rows(1),
        check: Some(("SELECT name FROM t WHERE id = 1", "ann")),
        quarantined: &[],
    },
    Case {
        file: "backslash.csv",
        args: &["--escape", "backslash"],
        expect: Expect::Rows(2),
        check: Some(("SELECT quote FROM t WHERE id = 1", "say \"hi\"")),
        quarantined: &[],
    },
    Case {
        file: "comments.csv",
        args: &["--comment", "#"],
        expect: Expect::Rows(2),
        check: Some(("SELECT name FROM t WHERE id = 2", "bob")),
        quarantined: &[],
    },
    Case {
        file: "null-markers.csv",
        args: &["--null", "NA", "--null", "\\N"],
        expect: Expect::Rows(4),
        check: Some(("SELECT count(*) FROM t WHERE score IS NULL", "3")),
        quarantined: &[],
    },
    Case {
        file: "latin1.csv",
        args: &["--encoding", "latin1"],
        expect: Expect::Rows(2),
        check: Some(("SELECT name FROM t WHERE id = 1", "José")),
        quarantined: &[],
    },
    Case {
        file: "cp1252.csv",
        args: &["--encoding", "windows-1252"],
        expect: Expect::Rows(2),
        check: Some(("SELECT price FROM t WHERE id = 2", "“quoted”")),
        quarantined: &[],
    },
    Case {
        file: "utf16le.tsv",
        args: &[],
        expect: Expect::Rows(2),
        check: Some(("SELECT name FROM t WHERE id = 2", "😀 Zoë")),
        quarantined: &[],
    },
    Case {
        file: "utf16be.csv",
        args: &[],
        expect: Expect::Rows(2),
        check: Some(("SELECT name FROM t WHERE id = 1", "Renée")),
        quarantined: &[],
    },
    Case {
        file: "bad-utf16.csv",
        args: &[],
        expect: Expect::Fails(
            "bad-utf16.csv: invalid UTF-16 at byte 22: a high surrogate without its low half",
        ),
        check: None,
        quarantined: &[],
    },
    Case {
        file: "no-header.csv",
        args: &["--no-header"],
        expect: Expect::Rows(2),
        check: Some(("SELECT column_2 FROM t WHERE column_1 = 2", "bob")),
        quarantined: &[],
    },
    Case {
        file: "header-only.csv",
        args: &[],
        expect: Expect::Rows(0),
        check: None,
        quarantined: &[],
    },
    Case {
        file: "empty.csv",
        args: &[],
        expect: Expect::NoTable,
        check: None,
        quarantined: &[],
    },
    Case {
        file: "dup-headers.csv",
        args: &[],
        expect: Expect::Rows(1),
        check: Some(("SELECT column_3 FROM t", "3")),
        quarantined: &[],
    },
    Case {
        file: "hostile-headers.csv",
        args: &[],
        expect: Expect::Rows(1),
        check: Some(("SELECT \"a\"\"; DROP TABLE x; --\" FROM t", "1")),
        quarantined: &[],
    },
    Case {
        file: "too-few-fields.csv",
        args: &[],
        expect: Expect::Fails("too-few-fields.csv:3: expected 3 fields, found 2"),
        check: None,
        quarantined: &[],
    },
    Case {
        file: "too-many-fields.csv",
        args: &[],
        expect: Expect::Fails("too-many-fields.csv:3: expected 2 fields, found 3"),
        check: None,
        quarantined: &[],
    },
    // A quote that never closes takes the rest of the file into one field: most often the
    // file was cut short, so it is a bad row (as in PostgreSQL's COPY), not a value.
    Case {
        file: "unterminated-quote.csv",
        args: &[],
        expect: Expect::Fails(
            "unterminated-quote.csv:3: column 2 (\"b\"): a quoted field runs to the end of the file without its closing quote",
        ),
        check: Some(("SELECT count(*) FROM t WHERE a = 3", "0")),
        quarantined: &[],
    },
    Case {
        file: "unterminated-quote.csv",
        args: &["--on-error", "skip"],
        expect: Expect::Rows(1),
        check: Some(("SELECT max(a) FROM t", "1")),
        quarantined: &[(3, "unterminated_quote")],
    },
    Case {
        file: "invalid-utf8.csv",
        args: &[],
        expect: Expect::Fails("invalid-utf8.csv:3: column 2 (\"name\"): expected text"),
        check: None,
        quarantined: &[],
    },
    Case {
        file: "nul-byte.csv",
        args: &[],
        expect: Expect::Rows(1),
        check: Some(("SELECT length(CAST(name AS BLOB)) FROM t", "3")),
        quarantined: &[],
    },
    Case {
        file: "column-override.csv",
        args: &["--column", "code:text"],
        expect: Expect::Rows(2),
        check: Some(("SELECT code FROM t WHERE id = 1", "007")),
        quarantined: &[],
    },
    Case {
        // A European spreadsheet's numbers: decimal commas, points grouping thousands.
        file: "decimal-comma.csv",
        args: &["--decimal-comma"],
        expect: Expect::Rows(2),
        check: Some(("SELECT group_concat(qty) FROM t", "1000,2")),
        quarantined: &[],
    },
    Case {
        // An American export's dates and 12-hour times, stored as ISO.
        file: "us-dates.csv",
        args: &[
            "--date-format",
            "%m/%d/%Y",
            "--timestamp-format",
            "%m/%d/%Y %I:%M %p",
        ],
        expect: Expect::Rows(2),
        check: Some((
            "SELECT group_concat(at) FROM t",
            "2024-01-31 13:45:00,2024-02-01 09:05:00",
        )),
        quarantined: &[],
    },
    Case {
        file: "schema-file.csv",
        args: &["--schema-file", "{root}/tests/fixtures/codes.toml"],
        expect: Expect::Rows(2),
        check: Some(("SELECT code FROM t WHERE id = 2", "042")),
        quarantined: &[],
    },
    Case {
        file: "bad-rows.csv",
        args: &["--on-error", "skip", "--column", "amount:real"],
        expect: Expect::Rows(3),
        check: Some(("SELECT group_concat(id) FROM t", "1,4,7")),
        quarantined: &[
            (3, "type"),
            (4, "field_count"),
            (7, "type"),
            (8, "encoding"),
        ],
    },
    Case {
        file: "bad-rows.csv",
        args: &["--max-errors", "1", "--column", "amount:real"],
        expect: Expect::Fails(
            "bad-rows.csv:4: stopped after 2 rejected rows of 3 read, over --max-errors 1; rows before line 4 are loaded",
        ),
        check: Some(("SELECT group_concat(id) FROM t", "1")),
        quarantined: &[(3, "type")],
    },
    Case {
        file: "bad-rows.csv",
        args: &["--max-error-ratio", "0.5", "--column", "amount:real"],
        expect: Expect::Fails("over --max-error-ratio 0.5; rows before line"),
        check: None,
        quarantined: QUARANTINE_UNCHECKED,
    },
    // Reals beyond a double's range: refused, not stored as infinity or zero (`sqlite3`
    // stores Inf). Declared real, they are bad rows; inferred, the column is text.
    Case {
        file: "real-range.csv",
        args: &["--on-error", "skip", "--column", "amount:real"],
        expect: Expect::Rows(3),
        check: Some(("SELECT group_concat(id) FROM t", "1,5,6")),
        quarantined: &[(3, "type"), (4, "type"), (5, "type")],
    },
    Case {
        file: "real-range.csv",
        args: &["--column", "amount:real"],
        expect: Expect::Fails(
            "real-range.csv:3: column 2 (\"amount\"): \"1e400\" is out of range for real",
        ),
        check: Some(("SELECT group_concat(id) FROM t", "1")),
        quarantined: &[],
    },
    Case {
        file: "real-range.csv",
        args: &[],
        expect: Expect::Rows(6),
        check: Some(("SELECT amount FROM t WHERE id = 2", "1e400")),
        quarantined: &[],
    },
    Case {
        file: "long-field.csv",
        args: &["--max-row-bytes", "100", "--on-error", "skip"],
        expect: Expect::Fails("long-field.csv:3: the row starting here is longer than 100 bytes"),
        check: Some(("SELECT group_concat(id) FROM t", "1")),
        quarantined: &[],
    },
    // A quote that never closes: the rest of the file is one row, which neither the plan's
    // sample nor the reader holds past the row limit; the rows above it load.
    Case {
        file: "unclosed-quote.csv",
        args: &["--max-row-bytes", "100"],
        expect: Expect::Fails(
            "unclosed-quote.csv:3: the row starting here is longer than 100 bytes",
        ),
        check: Some(("SELECT group_concat(id) FROM t", "1")),
        quarantined: &[],
    },
];

impl Case {
    /// The quarantine rows the case expects, as the queries return them.
    fn expected_quarantine(&self) -> Vec<(i64, String)> {
        self.quarantined
            .iter()
            .map(|(line, kind)| (*line, (*kind).to_owned()))
            .collect()
    }
}

/// Where a limit stops a file depends on where batches close: the case checks the message.
const QUARANTINE_UNCHECKED: &[(i64, &str)] = &[(-1, "")];

/// Case arguments may name repository files as `{root}/...`.
fn with_root(arg: &str) -> String {
    arg.replace("{root}", &root().display().to_string())
}

/// Exit code of a complete load with rows in quarantine.
const EXIT_REJECTED: i32 = 3;

/// Checks the exit code and message of a case's run, given what it must end in.
fn check_outcome(
    case: &Case,
    expect: Expect,
    quarantined: &[(i64, &str)],
    output: &std::process::Output,
) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{}: {stderr}", case.file);
    match expect {
        Expect::Rows(_) | Expect::NoTable => {
            let code = if quarantined.is_empty() {
                0
            } else {
                EXIT_REJECTED
            };
            assert_eq!(output.status.code(), Some(code), "{}: {stderr}", case.file);
        }
        Expect::Fails(message) => {
            assert_eq!(output.status.code(), Some(1), "{}: {stderr}", case.file);
            assert!(stderr.contains(message), "{}: {stderr}", case.file);
        }
    }
}

fn sqlite_text(c: &Connection, sql: &str) -> String {
    c.query_row(sql, [], |r| {
        r.get_ref(0).map(|v| match v {
            rusqlite::types::ValueRef::Integer(i) => i.to_string(),
            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            other => format!("{other:?}"),
        })
    })
    .unwrap()
}

#[test]
fn every_corpus_file_ends_in_its_expected_clear_result() {
    let corpus = root().join("tests/corpus");
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for (index, case) in CASES.iter().enumerate() {
        let db = dir.path().join(format!("{index}-{}.db", case.file));
        let input = corpus.join(case.file);
        let mut args = vec![
            "load",
            input.to_str().unwrap(),
            "--into",
            db.to_str().unwrap(),
            "--table",
            "t",
        ];
        let case_args: Vec<String> = case.args.iter().map(|a| with_root(a)).collect();
        args.extend(case_args.iter().map(String::as_str));
        let output = run_loader(dir.path(), &args);
        check_outcome(case, case.expect, case.quarantined, &output);
        let c = Connection::open(&db).unwrap();
        let tables_t = sqlite_text(&c, "SELECT count(*) FROM sqlite_master WHERE name = 't'");
        match case.expect {
            Expect::Rows(rows) => {
                let count = sqlite_text(&c, "SELECT count(*) FROM t");
                assert_eq!(count, rows.to_string(), "{}", case.file);
            }
            Expect::NoTable => assert_eq!(tables_t, "0", "{}", case.file),
            Expect::Fails(_) => {}
        }
        if let Some((sql, value)) = case.check {
            assert_eq!(sqlite_text(&c, sql), value, "{}: {sql}", case.file);
        }
        if case.quarantined != QUARANTINE_UNCHECKED {
            let has_table = sqlite_text(
                &c,
                "SELECT count(*) FROM sqlite_master WHERE name = '_loader_quarantine'",
            ) == "1";
            let mut found = Vec::new();
            if has_table {
                let mut statement = c
                    .prepare("SELECT line, kind FROM _loader_quarantine ORDER BY line")
                    .unwrap();
                found = statement
                    .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
            }
            assert_eq!(found, case.expected_quarantine(), "{}", case.file);
        }
        seen.push(case.file.to_owned());
    }
    // Every file in the corpus has a case.
    let mut files: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    seen.sort();
    seen.dedup();
    assert_eq!(files, seen, "corpus files and cases must match");
}

/// The same corpus into PostgreSQL. Outcomes are the same but for NUL bytes, which
/// PostgreSQL text cannot hold: there the row is a bad row, named by line and column.
#[test]
fn every_corpus_file_in_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "corpus");
    let corpus = root().join("tests/corpus");
    let dir = tempfile::tempdir().unwrap();
    let cases = CASES.iter().chain([&NUL_SKIPPED_IN_POSTGRES]);
    for (index, case) in cases.enumerate() {
        let table = format!("t_{index}");
        let input = corpus.join(case.file);
        let mut args = vec![
            "load",
            input.to_str().unwrap(),
            "--into",
            &url,
            "--schema",
            &schema.name,
            "--table",
            &table,
        ];
        let case_args: Vec<String> = case.args.iter().map(|a| with_root(a)).collect();
        args.extend(case_args.iter().map(String::as_str));
        let output = run_loader(dir.path(), &args);
        let expect = match (case.file, case.args) {
            ("nul-byte.csv", []) => Expect::Fails(
                "nul-byte.csv:2: column 2 (\"name\"): a NUL byte, which the target's text cannot hold",
            ),
            _ => case.expect,
        };
        check_outcome(case, expect, case.quarantined, &output);
        let qualified = format!("\"{}\".{table}", schema.name);
        match expect {
            Expect::Rows(rows) => {
                let count = query_text(&url, &format!("SELECT count(*) FROM {qualified}"));
                let count = count[0][0].as_deref();
                assert_eq!(count, Some(rows.to_string().as_str()), "{}", case.file);
            }
            Expect::NoTable => {
                let found = query_text(&url, &format!("SELECT to_regclass('{qualified}')::text"));
                assert_eq!(found[0][0], None, "{}", case.file);
            }
            Expect::Fails(_) => {}
        }
        if let Some((sql, value)) = case.check.filter(|_| expect.loads() == case.expect.loads()) {
            let sql = sql.replace("FROM t", &format!("FROM {qualified}"));
            // SQLite's group_concat(column) as PostgreSQL writes it, in row order.
            let sql = match sql.split_once("group_concat(") {
                Some((head, rest)) => {
                    let (column, tail) = rest.split_once(')').unwrap_or((rest, ""));
                    format!("{head}string_agg({column}::text, ',' ORDER BY id){tail}")
                }
                None => sql,
            };
            let found = query_text(&url, &sql);
            assert_eq!(found[0][0].as_deref(), Some(value), "{}: {sql}", case.file);
        }
        if case.quarantined != QUARANTINE_UNCHECKED {
            let found = query_text(
                &url,
                &format!(
                    "SELECT line, kind FROM \"{}\"._loader_quarantine WHERE table_name = '{table}' ORDER BY line",
                    schema.name
                ),
            );
            let found: Vec<(i64, String)> = found
                .into_iter()
                .map(|r| {
                    (
                        r[0].as_deref().unwrap().parse().unwrap(),
                        r[1].clone().unwrap(),
                    )
                })
                .collect();
            assert_eq!(found, case.expected_quarantine(), "{}", case.file);
        }
    }
}

/// Into PostgreSQL, a NUL byte is a bad row: skipped, it is quarantined.
const NUL_SKIPPED_IN_POSTGRES: Case = Case {
    file: "nul-byte.csv",
    args: &["--on-error", "skip"],
    expect: Expect::Rows(0),
    check: None,
    quarantined: &[(2, "nul_byte")],
};

/// Every quarantined row's raw bytes are the input's bytes at its offset, and the rejects
/// file holds the same entries; rows read = loaded + rejected in the JSON report.
#[test]
fn quarantined_rows_keep_the_raw_bytes_as_read_and_every_row_is_accounted_for() {
    let input = root().join("tests/corpus/bad-rows.csv");
    let original = std::fs::read(&input).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let rejects = dir.path().join("rejects.csv");
    let output = run_loader(
        dir.path(),
        &[
            "load",
            input.to_str().unwrap(),
            "--into",
            db.to_str().unwrap(),
            "--on-error",
            "skip",
            "--column",
            "amount:real",
            "--rejects",
            rejects.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(output.status.code(), Some(EXIT_REJECTED));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let file = &report["files"][0];
    assert_eq!(
        (
            &file["rows_read"],
            &file["rows_loaded"],
            &file["rows_rejected"],
            &file["rows_skipped"]
        ),
        (&7.into(), &3.into(), &4.into(), &0.into()),
        "{file}"
    );
    let c = Connection::open(&db).unwrap();
    let mut statement = c
        .prepare("SELECT line, byte, raw, message FROM _loader_quarantine ORDER BY line")
        .unwrap();
    let stored: Vec<(i64, i64, Vec<u8>, String)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), 4);
    for (_, byte, raw, _) in &stored {
        let at = *byte as usize;
        assert_eq!(
            &original[at..at + raw.len()],
            &raw[..],
            "raw text at byte {byte}"
        );
    }
    assert_eq!(stored[2].2, b"5,x,\"say \"\"hi\"\"\"");
    assert_eq!(
        stored[0].3,
        "column 2 (\"amount\"): expected real, found \"abc\""
    );
    let mut file = csv::Reader::from_path(&rejects).unwrap();
    let entries: Vec<(i64, Vec<u8>)> = file
        .byte_records()
        .map(|r| {
            let r = r.unwrap();
            (
                std::str::from_utf8(&r[1]).unwrap().parse().unwrap(),
                r[7].to_vec(),
            )
        })
        .collect();
    let from_table: Vec<(i64, Vec<u8>)> =
        stored.into_iter().map(|(l, _, raw, _)| (l, raw)).collect();
    assert_eq!(entries, from_table);
    // The ledger agrees: rows loaded + rejected cover the file.
    let ledger = sqlite_text(
        &c,
        "SELECT sum(rows) || '+' || sum(rejected) FROM _loader_batches",
    );
    assert_eq!(ledger, "3+4");
}
