//! A file that grew since it was loaded: through the binary, into SQLite and PostgreSQL, the
//! re-run loads only the appended rows, says so, and accounts for every row.

use loader_tests::pg::{ScratchSchema, pg_url, query_text};
use loader_tests::run_loader;
use std::io::Write;
use std::path::Path;

/// `id,note` rows `from..=to` (quoted notes with commas and line feeds), with the header
/// when `from` is 1.
fn rows(from: u64, to: u64) -> String {
    let header = if from == 1 { "id,note\n" } else { "" };
    let rows: String = (from..=to)
        .map(|i| format!("{i},\"row {i}, line one\nline two\"\n"))
        .collect();
    format!("{header}{rows}")
}

/// Rows of table `daily` in `dir`'s `out.db`, distinct ids, and the largest.
fn ids_in_daily(dir: &Path) -> (i64, i64, i64) {
    rusqlite::Connection::open(dir.join("out.db"))
        .unwrap()
        .query_row(
            "SELECT count(*), count(DISTINCT id), max(id) FROM daily",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Loads `daily.csv` of `dir` into `target`, three times as it grows, and returns each run's
/// stdout; the caller checks the table.
fn load_as_it_grows(dir: &Path, target: &[&str]) -> Vec<String> {
    let file = dir.join("daily.csv");
    std::fs::write(&file, rows(1, 2_000)).unwrap();
    let mut outputs = Vec::new();
    for next in [Some((2_001, 2_500)), Some((2_501, 4_000)), None] {
        let mut args = vec!["load", "daily.csv"];
        args.extend_from_slice(target);
        let output = run_loader(dir, &args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        outputs.push(stdout);
        if let Some((from, to)) = next {
            append(&file, &rows(from, to));
        }
    }
    outputs
}

fn check_reports(outputs: &[String]) {
    assert!(
        outputs[0].contains("2,000 rows read, 2,000 loaded, 0 rejected, 0 skipped"),
        "{}",
        outputs[0]
    );
    assert!(
        outputs[1].contains("2,500 rows read, 500 loaded, 0 rejected, 2,000 skipped"),
        "{}",
        outputs[1]
    );
    assert!(outputs[1].contains("grown since run"), "{}", outputs[1]);
    assert!(
        outputs[2].contains("4,000 rows read, 1,500 loaded, 0 rejected, 2,500 skipped"),
        "{}",
        outputs[2]
    );
}

#[test]
fn a_grown_file_loads_only_its_appended_rows_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = load_as_it_grows(dir.path(), &["--into", "out.db"]);
    check_reports(&outputs);
    assert_eq!(ids_in_daily(dir.path()), (4_000, 4_000, 4_000));
}

#[test]
fn a_grown_file_loads_only_its_appended_rows_into_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "grown");
    let dir = tempfile::tempdir().unwrap();
    let outputs = load_as_it_grows(dir.path(), &["--into", &url, "--schema", &schema.name]);
    check_reports(&outputs);
    let found = query_text(
        &url,
        &format!(
            "SELECT count(*), count(DISTINCT id), max(id), \
             count(*) FILTER (WHERE note = 'row ' || id || ', line one' || chr(10) || 'line two') \
             FROM \"{}\".daily",
            schema.name
        ),
    );
    let found: Vec<Option<&str>> = found[0].iter().map(Option::as_deref).collect();
    assert_eq!(
        found,
        [Some("4000"), Some("4000"), Some("4000"), Some("4000")]
    );
}

/// A gzip file downloaded half way, loaded (it stops where the stream breaks), then whole,
/// then with another gzip member appended (as a log rotated into one `.gz`): each row once.
#[test]
fn a_gzip_file_cut_short_then_whole_then_appended_loads_each_row_once() {
    let gzip = |text: &str| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("daily.csv.gz");
    let whole = gzip(&rows(1, 20_000));
    let mut grown = whole.clone();
    grown.extend(gzip(&rows(20_001, 21_000)));
    let load = || {
        let output = run_loader(dir.path(), &["load", "daily.csv.gz", "--into", "out.db"]);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    std::fs::write(&file, &whole[..whole.len() / 2]).unwrap();
    let (code, cut) = load();
    assert_eq!(code, Some(1), "the stream breaks: {cut}");
    let loaded_from_cut: u64 = cut
        .split(" rows read, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap();
    assert!(loaded_from_cut > 1_000, "{cut}");
    std::fs::write(&file, &whole).unwrap();
    let (code, then_whole) = load();
    assert_eq!(code, Some(0), "{then_whole}");
    assert!(then_whole.contains("grown since run"), "{then_whole}");
    assert!(
        then_whole.contains(&format!(
            "{} loaded, 0 rejected, {} skipped",
            loader_tests::thousands(20_000 - loaded_from_cut),
            loader_tests::thousands(loaded_from_cut)
        )),
        "{then_whole}"
    );
    std::fs::write(&file, &grown).unwrap();
    let (code, appended) = load();
    assert_eq!(code, Some(0), "{appended}");
    assert!(
        appended.contains("21,000 rows read, 1,000 loaded, 0 rejected, 20,000 skipped"),
        "{appended}"
    );
    assert_eq!(ids_in_daily(dir.path()), (21_000, 21_000, 21_000));
}

/// `text` compressed as `extension` (`gz` or `zst`) says.
fn compressed(text: &str, extension: &str) -> Vec<u8> {
    match extension {
        "gz" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(text.as_bytes()).unwrap();
            encoder.finish().unwrap()
        }
        _ => zstd::encode_all(text.as_bytes(), 3).unwrap(),
    }
}

/// A nightly job loads `daily.csv`, then archives it (`gzip daily.csv`, with rows added
/// meanwhile or not); the next night's run over the directory finds `daily.csv.gz`, and loads
/// only the rows the first run did not.
fn archived_after_loading(target: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (extension, added) in [("gz", 0), ("zst", 500)] {
        let plain = dir.path().join("daily.csv");
        std::fs::write(&plain, rows(1, 2_000)).unwrap();
        let args = [&["load", ".", "--force"][..], target].concat();
        let first = run_loader(dir.path(), &args);
        assert_eq!(first.status.code(), Some(0));
        std::fs::remove_file(&plain).unwrap();
        let archive = dir.path().join(format!("daily.csv.{extension}"));
        std::fs::write(&archive, compressed(&rows(1, 2_000 + added), extension)).unwrap();
        let output = run_loader(dir.path(), &[&["load", "."][..], target].concat());
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "{} rows read, {added} loaded, 0 rejected, 2,000 skipped",
                loader_tests::thousands(2_000 + added)
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains("holds, decompressed, what run") && stdout.contains("daily.csv (2000"),
            "{stdout}"
        );
        std::fs::remove_file(&archive).unwrap();
        outputs.push(stdout);
    }
    outputs
}

#[test]
fn a_file_archived_after_loading_loads_only_rows_added_since_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.db");
    archived_after_loading(&["--into", out.to_str().unwrap()]);
    // The first load (forced again for the second file) and the 500 rows added: 2,000 twice
    // under --force, then 500.
    assert_eq!(ids_in_daily(dir.path()), (4_500, 2_500, 2_500));
}

#[test]
fn a_file_archived_after_loading_loads_only_rows_added_since_into_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = ScratchSchema::new(&url, "archived");
    archived_after_loading(&["--into", &url, "--schema", &schema.name]);
    let found = query_text(
        &url,
        &format!(
            "SELECT count(*)::text, count(DISTINCT id)::text FROM \"{}\".daily",
            schema.name
        ),
    );
    assert_eq!(found, [[Some("4500".into()), Some("2500".into())]]);
}

/// `orders.csv` and the `orders.csv.gz` made from it (`gzip -k`) in one directory: their rows
/// load once, whichever of the two starts first, and a second run loads nothing.
#[test]
fn a_compressed_copy_beside_its_file_loads_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("daily.csv"), rows(1, 3_000)).unwrap();
    std::fs::write(
        dir.path().join("daily.csv.gz"),
        compressed(&rows(1, 3_000), "gz"),
    )
    .unwrap();
    for (order, workers) in [("largest", "1"), ("smallest", "1"), ("given", "2")] {
        let database = format!("{order}.db");
        let args = [
            "load",
            ".",
            "--into",
            &database,
            "--order",
            order,
            "--workers",
            workers,
        ];
        let output = run_loader(dir.path(), &args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains("1 skipped as already loaded") && stdout.contains("loaded in this run"),
            "{order}: {stdout}"
        );
        // Run again, into the same database: both are loaded already, whichever starts first.
        let again = run_loader(dir.path(), &args);
        let again = String::from_utf8_lossy(&again.stdout);
        assert!(
            again.starts_with("loaded 0 rows from 0 of 2 files, 2 skipped as already loaded"),
            "{order}: {again}"
        );
        std::fs::copy(dir.path().join(&database), dir.path().join("out.db")).unwrap();
        assert_eq!(ids_in_daily(dir.path()), (3_000, 3_000, 3_000), "{order}");
    }
}
