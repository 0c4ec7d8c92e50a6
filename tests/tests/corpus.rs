//! The input corpus (`tests/corpus/`): one small file per dialect or malformation, each with
//! its expected outcome, loaded through the binary into SQLite. Every run must end in a clear
//! result: rows loaded as expected, or exit code 1 with a message naming file and line.

use loader_tests::pg::{ScratchSchema, pg_url, query_text};
use loader_tests::{root, run_loader};
use rusqlite::Connection;

struct Case {
    file: &'static str,
    args: &'static [&'static str],
    /// `Ok(rows in table t)` or `Err(text the error must contain)`.
    expect: Result<i64, &'static str>,
    /// A query on the loaded table and the single value it must return.
    check: Option<(&'static str, &'static str)>,
}

const CASES: &[Case] = &[
    Case {
        file: "semicolon.csv",
        args: &[],
        expect: Ok(2),
        check: Some(("SELECT amount FROM t WHERE id = 1", "2,5")),
    },
    Case {
        file: "tab.tsv",
        args: &[],
        expect: Ok(3),
        check: Some(("SELECT name FROM t WHERE id = 3", "cy")),
    },
    Case {
        file: "pipe.txt",
        args: &[],
        expect: Ok(2),
        check: Some(("SELECT name FROM t WHERE id = 2", "b, c")),
    },
    Case {
        file: "crlf.csv",
        args: &[],
        expect: Ok(2),
        check: Some(("SELECT name FROM t WHERE id = 2", "two\r\nlines")),
    },
    Case {
        file: "bom.csv",
        args: &[],
        expect: Ok(1),
        check: Some(("SELECT name FROM t WHERE id = 1", "ann")),
    },
    Case {
        file: "backslash.csv",
        args: &["--escape", "backslash"],
        expect: Ok(2),
        check: Some(("SELECT quote FROM t WHERE id = 1", "say \"hi\"")),
    },
    Case {
        file: "comments.csv",
        args: &["--comment", "#"],
        expect: Ok(2),
        check: Some(("SELECT name FROM t WHERE id = 2", "bob")),
    },
    Case {
        file: "null-markers.csv",
        args: &["--null", "NA", "--null", "\\N"],
        expect: Ok(4),
        check: Some(("SELECT count(*) FROM t WHERE score IS NULL", "3")),
    },
    Case {
        file: "latin1.csv",
        args: &["--encoding", "latin1"],
        expect: Ok(2),
        check: Some(("SELECT name FROM t WHERE id = 1", "José")),
    },
    Case {
        file: "cp1252.csv",
        args: &["--encoding", "windows-1252"],
        expect: Ok(2),
        check: Some(("SELECT price FROM t WHERE id = 2", "“quoted”")),
    },
    Case {
        file: "no-header.csv",
        args: &["--no-header"],
        expect: Ok(2),
        check: Some(("SELECT column_2 FROM t WHERE column_1 = 2", "bob")),
    },
    Case {
        file: "header-only.csv",
        args: &[],
        expect: Ok(0),
        check: None,
    },
    Case {
        file: "empty.csv",
        args: &[],
        expect: Err("empty.csv: the file is empty"),
        check: None,
    },
    Case {
        file: "dup-headers.csv",
        args: &[],
        expect: Ok(1),
        check: Some(("SELECT column_3 FROM t", "3")),
    },
    Case {
        file: "hostile-headers.csv",
        args: &[],
        expect: Ok(1),
        check: Some(("SELECT \"a\"\"; DROP TABLE x; --\" FROM t", "1")),
    },
    Case {
        file: "too-few-fields.csv",
        args: &[],
        expect: Err("too-few-fields.csv:3: expected 3 fields, found 2"),
        check: None,
    },
    Case {
        file: "too-many-fields.csv",
        args: &[],
        expect: Err("too-many-fields.csv:3: expected 2 fields, found 3"),
        check: None,
    },
    Case {
        file: "unterminated-quote.csv",
        args: &[],
        expect: Ok(2),
        check: Some(("SELECT b FROM t WHERE a = 3", "unterminated\n")),
    },
    Case {
        file: "invalid-utf8.csv",
        args: &[],
        expect: Err("invalid-utf8.csv:3: column 2 (\"name\"): expected text"),
        check: None,
    },
    Case {
        file: "nul-byte.csv",
        args: &[],
        expect: Ok(1),
        check: Some(("SELECT length(CAST(name AS BLOB)) FROM t", "3")),
    },
    Case {
        file: "column-override.csv",
        args: &["--column", "code:text"],
        expect: Ok(2),
        check: Some(("SELECT code FROM t WHERE id = 1", "007")),
    },
    Case {
        file: "schema-file.csv",
        args: &["--schema-file", "{root}/tests/fixtures/codes.toml"],
        expect: Ok(2),
        check: Some(("SELECT code FROM t WHERE id = 2", "042")),
    },
];

/// Case arguments may name repository files as `{root}/...`.
fn with_root(arg: &str) -> String {
    arg.replace("{root}", &root().display().to_string())
}

#[test]
fn every_corpus_file_ends_in_its_expected_clear_result() {
    let corpus = root().join("tests/corpus");
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for case in CASES {
        let db = dir.path().join(format!("{}.db", case.file));
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
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.file);
        match case.expect {
            Ok(rows) => {
                assert!(output.status.success(), "{}: {stderr}", case.file);
                let c = Connection::open(&db).unwrap();
                let count: i64 = c
                    .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(count, rows, "{}", case.file);
                if let Some((sql, value)) = case.check {
                    let found: String = c
                        .query_row(sql, [], |r| {
                            r.get_ref(0).map(|v| match v {
                                rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                                rusqlite::types::ValueRef::Text(t) => {
                                    String::from_utf8_lossy(t).into_owned()
                                }
                                other => format!("{other:?}"),
                            })
                        })
                        .unwrap();
                    assert_eq!(found, value, "{}: {sql}", case.file);
                }
            }
            Err(message) => {
                assert_eq!(output.status.code(), Some(1), "{}: {stderr}", case.file);
                assert!(stderr.contains(message), "{}: {stderr}", case.file);
            }
        }
        seen.push(case.file);
    }
    // Every file in the corpus has a case.
    let mut files: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut seen: Vec<String> = seen.into_iter().map(str::to_owned).collect();
    seen.sort();
    assert_eq!(files, seen, "corpus files and cases must match");
}

/// The same corpus into PostgreSQL. Outcomes are the same but for NUL bytes, which
/// PostgreSQL text cannot hold: there the file stops with the line and column.
#[test]
fn every_corpus_file_in_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "corpus");
    let corpus = root().join("tests/corpus");
    let dir = tempfile::tempdir().unwrap();
    for (index, case) in CASES.iter().enumerate() {
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
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.file);
        let expect = match case.file {
            "nul-byte.csv" => Err(
                "nul-byte.csv: writing rows 0..1 of batch 0 into \"t_19\" failed: t_19: line 2: column 2: a NUL byte, which PostgreSQL text cannot hold",
            ),
            _ => case.expect,
        };
        let qualified = format!("\"{}\".{table}", schema.name);
        match expect {
            Ok(rows) => {
                assert!(output.status.success(), "{}: {stderr}", case.file);
                let count = query_text(&url, &format!("SELECT count(*) FROM {qualified}"));
                assert_eq!(
                    count[0][0].as_deref(),
                    Some(rows.to_string().as_str()),
                    "{}",
                    case.file
                );
                if let Some((sql, value)) = case.check {
                    let found =
                        query_text(&url, &sql.replace("FROM t", &format!("FROM {qualified}")));
                    assert_eq!(found[0][0].as_deref(), Some(value), "{}: {sql}", case.file);
                }
            }
            Err(message) => {
                assert_eq!(output.status.code(), Some(1), "{}: {stderr}", case.file);
                assert!(stderr.contains(message), "{}: {stderr}", case.file);
            }
        }
    }
}
