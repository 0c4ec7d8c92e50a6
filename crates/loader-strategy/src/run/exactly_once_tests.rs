//! The exactly-once contract on a real SQLite file: a crash after any commit, then the same
//! load again (with other batch sizes), gives every row once; a finished load re-run adds
//! nothing; replace and force do what they say.

use super::tests::probe;
use super::*;
use crate::LoadMode;
use async_trait::async_trait;
use loader_batch::{
    AuditEvent as Event, FileRecord, InMemoryAudit, Ledger, LedgerStatus, RunRecord, SinkError,
};
use loader_sink::SqliteSink;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

fn settings(batch_rows: usize, sub_batch_rows: usize) -> LoadSettings {
    LoadSettings {
        workers: 2,
        csv: loader_file::CsvOptions::default().batch_rows(batch_rows),
        sub_batch_rows,
        table: Some("orders".into()),
        monitor_interval: Duration::from_millis(50),
        ..LoadSettings::default()
    }
}

/// `settings` with every file read in parts (of about one batch each) by `threads` threads.
fn in_parts(settings: LoadSettings, threads: usize) -> LoadSettings {
    LoadSettings {
        read_threads: Some(threads),
        parallel_min_file_bytes: 0,
        ..settings
    }
}

/// A sink over a real database that "dies" after `commits` writes: every later call fails and
/// nothing more reaches the file, as when the process is killed between two transactions.
struct CrashAfter {
    inner: Arc<SqliteSink>,
    commits: AtomicI64,
}

impl CrashAfter {
    fn alive(&self) -> std::result::Result<(), SinkError> {
        if self.commits.load(Ordering::SeqCst) < 0 {
            Err(SinkError::terminal("crashed"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl BatchSink for CrashAfter {
    async fn prepare(&self, target: &LoadTarget) -> std::result::Result<(), SinkError> {
        self.alive()?;
        self.inner.prepare(target).await
    }

    async fn write(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> std::result::Result<u64, SinkError> {
        if self.commits.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(SinkError::terminal("crashed"));
        }
        self.inner.write(target, batch, rows).await
    }
}

#[async_trait]
impl Ledger for CrashAfter {
    async fn begin_run(&self, run: &RunRecord) -> std::result::Result<(), SinkError> {
        self.alive()?;
        self.inner.begin_run(run).await
    }
    async fn status(
        &self,
        table: &str,
        hash: &str,
    ) -> std::result::Result<LedgerStatus, SinkError> {
        self.alive()?;
        self.inner.status(table, hash).await
    }
    async fn last_load_at(
        &self,
        table: &str,
        path: &str,
        other_than: &str,
    ) -> std::result::Result<Option<loader_batch::PathHistory>, SinkError> {
        self.alive()?;
        self.inner.last_load_at(table, path, other_than).await
    }
    async fn record_file(&self, file: &FileRecord) -> std::result::Result<(), SinkError> {
        self.alive()?;
        self.inner.record_file(file).await
    }
    async fn end_run(&self, run: &RunRecord) -> std::result::Result<(), SinkError> {
        self.alive()?;
        self.inner.end_run(run).await
    }
    async fn runs(&self) -> std::result::Result<Vec<RunRecord>, SinkError> {
        self.inner.runs().await
    }
    async fn files(&self, run: &str) -> std::result::Result<Vec<FileRecord>, SinkError> {
        self.inner.files(run).await
    }
    async fn events(&self, run: &str) -> std::result::Result<Vec<Event>, SinkError> {
        self.inner.events(run).await
    }
}

async fn load(db: &Path, input: &Path, settings: LoadSettings) -> Result<LoadReport> {
    let sink = Arc::new(SqliteSink::open(db).unwrap());
    DataLoadingService::new(
        sink.clone(),
        Arc::new(InMemoryAudit::new()),
        probe(),
        settings,
    )
    .with_ledger(sink)
    .load(&[input.to_path_buf()])
    .await
}

async fn crashing_load(db: &Path, input: &Path, settings: LoadSettings, commits: i64) {
    let inner = Arc::new(SqliteSink::open(db).unwrap());
    let sink = Arc::new(CrashAfter {
        inner,
        commits: AtomicI64::new(commits),
    });
    let service = DataLoadingService::new(
        sink.clone(),
        Arc::new(InMemoryAudit::new()),
        probe(),
        settings,
    )
    .with_ledger(sink);
    // The "crashed" run may end in an error; what matters is what it left on disk.
    let _ = service.load(&[input.to_path_buf()]).await;
}

/// (rows, distinct ids, min id, max id) of the orders table.
fn ids(db: &Path) -> (i64, i64, i64, i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("SELECT count(*), count(DISTINCT id), coalesce(min(id), 0), coalesce(max(id), 0) FROM orders", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerunning_a_finished_load_adds_nothing_and_skips_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    loader_gen::write_files(&input, 3000, 3, 4).unwrap();
    let db = dir.path().join("out.db");
    let first = load(&db, &input, settings(500, 200)).await.unwrap();
    assert!(first.is_success());
    let again = load(&db, &input, settings(700, 300)).await.unwrap();
    assert!(again.is_success());
    assert_eq!(again.rows_loaded(), 0);
    assert_eq!(again.rows_skipped(), 3000);
    for file in &again.files {
        assert_eq!(file.state, FileState::Skipped, "{file:?}");
        assert_eq!(
            file.rows_read,
            file.rows_loaded + file.rows_rejected + file.rows_skipped
        );
        assert!(file.note.as_deref().unwrap().contains(&first.run_id));
    }
    assert_eq!(ids(&db), (3000, 3000, 1, 3000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_crash_with_other_batch_sizes_gives_exactly_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    loader_gen::write_files(&input, 4000, 3, 9).unwrap();
    let db = dir.path().join("out.db");
    crashing_load(&db, &input, settings(600, 250), 7).await;
    let partial = ids(&db).0;
    assert!(
        partial > 0 && partial < 4000,
        "the crash left part of the input: {partial}"
    );
    let report = load(&db, &input, settings(333, 97)).await.unwrap();
    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(report.rows_loaded() + report.rows_skipped(), 4000);
    assert_eq!(
        report.rows_skipped() as i64,
        partial,
        "committed rows are not read again"
    );
    assert_eq!(ids(&db), (4000, 4000, 1, 4000));
}

/// A file read in parts by several threads: a crash in the middle, then a re-run that cuts
/// it otherwise, gives every row once and reads no committed row again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_read_in_parts_resumes_after_a_crash_with_each_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    loader_gen::write_files(&input, 6000, 1, 11).unwrap();
    let db = dir.path().join("out.db");
    crashing_load(&db, &input, in_parts(settings(200, 90), 3), 25).await;
    let partial = ids(&db).0;
    assert!(partial > 0 && partial < 6000, "{partial}");
    let report = load(&db, &input, in_parts(settings(150, 70), 2))
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(report.rows_skipped() as i64, partial);
    assert_eq!(ids(&db), (6000, 6000, 1, 6000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_empties_the_table_once_and_force_loads_a_new_generation() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    loader_gen::write_files(&input, 1000, 2, 5).unwrap();
    let db = dir.path().join("out.db");
    load(&db, &input, settings(300, 100)).await.unwrap();

    let forced = LoadSettings {
        force: true,
        ..settings(300, 100)
    };
    let report = load(&db, &input, forced.clone()).await.unwrap();
    assert_eq!(
        report.rows_loaded(),
        1000,
        "force loads complete content again"
    );
    assert_eq!(ids(&db).0, 2000);

    // A forced reload that dies is finished by running the same command again: 3 copies, no
    // more, whichever files the dead run had completed, started or not reached.
    for commits in [0, 2, 4, 7] {
        let before = ids(&db).0;
        crashing_load(&db, &input, forced.clone(), commits).await;
        let report = load(&db, &input, forced.clone()).await.unwrap();
        assert!(report.is_success(), "{:?}", report.first_error());
        assert_eq!(ids(&db).0, before + 1000, "crash after {commits} commits");
        // And a further forced run, after a clean one, loads another copy.
        let report = load(&db, &input, forced.clone()).await.unwrap();
        assert_eq!(report.rows_loaded(), 1000);
    }
    let copies = ids(&db).0;
    assert_eq!(copies, 10_000);

    let replace = LoadSettings {
        mode: LoadMode::Replace,
        ..settings(300, 100)
    };
    crashing_load(&db, &input, replace.clone(), 2).await;
    let report = load(&db, &input, replace.clone()).await.unwrap();
    assert!(report.is_success());
    assert_eq!(
        ids(&db),
        (1000, 1000, 1, 1000),
        "replace leaves exactly the input"
    );
    load(&db, &input, replace).await.unwrap();
    assert_eq!(ids(&db), (1000, 1000, 1, 1000), "and again");

    // Replacing with a header-only file empties the table too.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(
        empty.join("orders.csv"),
        format!("{}\n", loader_gen::HEADER),
    )
    .unwrap();
    let replace = LoadSettings {
        mode: LoadMode::Replace,
        ..settings(300, 100)
    };
    let report = load(&db, &empty, replace).await.unwrap();
    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(ids(&db).0, 0);
}

/// `id,name` rows `from..=to`, with a header when `from` is 1: a file that grows by
/// appending the next range.
fn numbered_rows(from: u64, to: u64) -> String {
    let header = if from == 1 { "id,name\n" } else { "" };
    let rows: String = (from..=to)
        .map(|i| format!("{i},\"name, {i}\"\n"))
        .collect();
    format!("{header}{rows}")
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// A directory holding `orders.csv` with rows `1..=rows`: (the directory's guard, the
/// input directory, the file, the database path).
fn growing_input(rows: u64) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let file = input.join("orders.csv");
    std::fs::write(&file, numbered_rows(1, rows)).unwrap();
    let db = dir.path().join("out.db");
    (dir, input, file, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_grew_loads_only_its_new_rows() {
    let (_dir, input, file, db) = growing_input(500);
    let first = load(&db, &input, settings(300, 100)).await.unwrap();
    assert_eq!(first.rows_loaded(), 500);

    append(&file, &numbered_rows(501, 800));
    let grown = load(&db, &input, settings(170, 60)).await.unwrap();
    assert!(grown.is_success(), "{:?}", grown.first_error());
    let report = &grown.files[0];
    assert_eq!((report.rows_loaded, report.rows_skipped), (300, 500));
    assert_eq!(report.rows_read, 800);
    let note = report.note.as_deref().unwrap();
    assert!(
        note.contains(&format!("grown since run {}", first.run_id)),
        "{note}"
    );
    assert_eq!(ids(&db), (800, 800, 1, 800));

    // Grown again: resumed after the rows of the grown load, which holds batches only for
    // its own; then the same content is skipped with all its rows counted.
    append(&file, &numbered_rows(801, 1200));
    let again = load(&db, &input, settings(500, 250)).await.unwrap();
    assert_eq!((again.rows_loaded(), again.rows_skipped()), (400, 800));
    let same = load(&db, &input, settings(500, 250)).await.unwrap();
    assert_eq!((same.rows_loaded(), same.rows_skipped()), (0, 1200));
    assert_eq!(same.files[0].state, FileState::Skipped);
    assert_eq!(ids(&db), (1200, 1200, 1, 1200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grown_file_whose_load_died_resumes_with_each_row_once() {
    // The re-run finds the same file, or the file grown once more meanwhile (then the load
    // that died is the newest of the path, and the new rows follow its last commit).
    for (commits, grows_again) in [
        (0, false),
        (1, false),
        (3, false),
        (6, false),
        (0, true),
        (3, true),
    ] {
        let (_dir, input, file, db) = growing_input(400);
        load(&db, &input, settings(150, 50)).await.unwrap();
        append(&file, &numbered_rows(401, 1000));
        crashing_load(&db, &input, settings(150, 50), commits).await;
        let partial = ids(&db).0;
        assert!((400..1000).contains(&partial), "{commits}: {partial}");
        let total = if grows_again {
            append(&file, &numbered_rows(1001, 1300));
            1300
        } else {
            1000
        };
        let report = load(&db, &input, settings(110, 40)).await.unwrap();
        assert!(report.is_success(), "{:?}", report.first_error());
        assert_eq!(
            ids(&db),
            (total, total, 1, total),
            "crash after {commits} commits, grown again: {grows_again}"
        );
        assert_eq!(report.rows_loaded() as i64, total - partial);
        assert_eq!(report.rows_skipped() as i64, partial);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_file_or_a_forced_run_loads_every_row() {
    let (_dir, input, file, db) = growing_input(300);
    let first = load(&db, &input, settings(100, 50)).await.unwrap();

    // Longer, but its first row changed: not the same rows with more after them.
    std::fs::write(&file, numbered_rows(1, 400).replacen("1,", "0,", 1)).unwrap();
    let rewritten = load(&db, &input, settings(100, 50)).await.unwrap();
    assert_eq!(rewritten.rows_loaded(), 400);
    let note = rewritten.files[0].note.as_deref().unwrap();
    assert!(
        note.contains(&format!("other content when run {}", first.run_id)),
        "{note}"
    );

    // Grown, but forced: every row again, as --force says.
    append(&file, &numbered_rows(401, 450));
    let forced = LoadSettings {
        force: true,
        ..settings(100, 50)
    };
    let report = load(&db, &input, forced).await.unwrap();
    assert_eq!(report.rows_loaded(), 450);
    assert_eq!(ids(&db).0, 300 + 400 + 450);
}

mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// For any input and any crash point in the sequence of commits, crash then re-run
        /// (with other batch sizes) gives each row exactly once.
        #[test]
        fn crash_at_any_commit_then_rerun_gives_each_row_once(
            rows in 1u64..600,
            files in 1usize..4,
            seed in any::<u64>(),
            first in (1usize..80, 1usize..40),
            second in (1usize..80, 1usize..40),
            crash_at in 0i64..30,
            read_threads in (2usize..4, 1usize..4),
        ) {
            let runtime = runtime();
            let dir = tempfile::tempdir().unwrap();
            let input = dir.path().join("in");
            std::fs::create_dir(&input).unwrap();
            loader_gen::write_files(&input, rows, files, seed).unwrap();
            let db = dir.path().join("out.db");
            let (report, table) = runtime.block_on(async {
                let crashing = in_parts(settings(first.0, first.1), read_threads.0);
                crashing_load(&db, &input, crashing, crash_at).await;
                let rerun = in_parts(settings(second.0, second.1), read_threads.1);
                let report = load(&db, &input, rerun).await.unwrap();
                (report, ids(&db))
            });
            prop_assert!(report.is_success(), "{:?}", report.first_error());
            prop_assert_eq!(table, (rows as i64, rows as i64, 1, rows as i64));
            prop_assert_eq!(report.rows_loaded() + report.rows_skipped(), rows);
        }

        /// The same with bad rows under `--on-error skip`: after a crash at any commit and a
        /// re-run, each good row is loaded once, each bad row is quarantined once, and
        /// read = loaded + rejected + skipped.
        #[test]
        fn crash_then_rerun_quarantines_each_bad_row_once(
            rows in 1u64..400,
            every in 2u64..9,
            first in (1usize..60, 1usize..30),
            second in (1usize..60, 1usize..30),
            crash_at in 0i64..25,
        ) {
            let runtime = runtime();
            let dir = tempfile::tempdir().unwrap();
            let input = dir.path().join("orders.csv");
            let mut text = String::from("id,amount\r\n");
            let mut bad = 0;
            for id in 1..=rows {
                match id % every {
                    0 => { bad += 1; text.push_str(&format!("{id},oops\r\n")) }
                    1 if id % 3 == 0 => { bad += 1; text.push_str(&format!("{id}\r\n")) }
                    _ => text.push_str(&format!("{id},{id}.5\r\n")),
                }
            }
            std::fs::write(&input, text).unwrap();
            let with_policy = |(batch, sub): (usize, usize)| {
                let mut s = settings(batch, sub);
                s.csv = s.csv.bad_rows(loader_file::BadRowPolicy::skip());
                s.columns = vec![("amount".into(), loader_batch::ColumnType::Real)];
                s
            };
            let db = dir.path().join("out.db");
            let (report, table, quarantine) = runtime.block_on(async {
                crashing_load(&db, &input, with_policy(first), crash_at).await;
                let report = load(&db, &input, with_policy(second)).await.unwrap();
                let c = rusqlite::Connection::open(&db).unwrap();
                let quarantine: (i64, i64) = c
                    .query_row(
                        "SELECT count(*), count(DISTINCT line) FROM _loader_quarantine",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .unwrap_or((0, 0));
                (report, ids(&db), quarantine)
            });
            let good = rows as i64 - bad;
            prop_assert!(report.is_success(), "{:?}", report.first_error());
            prop_assert_eq!((table.0, table.1), (good, good));
            prop_assert_eq!(quarantine, (bad, bad));
            let file = &report.files[0];
            prop_assert_eq!(file.rows_read, rows);
            prop_assert_eq!(file.rows_loaded + file.rows_rejected + file.rows_skipped, rows);
        }
    }
}

/// One load of `input` whose first write runs `change`.
async fn load_changing(
    db: &Path,
    input: &Path,
    change: impl FnOnce() + Send + 'static,
) -> LoadReport {
    let inner = Arc::new(SqliteSink::open(db).unwrap());
    let change = std::sync::Mutex::new(Some(change));
    let sink = Arc::new(super::tests::HookedSink {
        inner: Arc::clone(&inner),
        hook: Box::new(move |_| {
            if let Some(change) = change.lock().unwrap().take() {
                change();
            }
        }),
    });
    DataLoadingService::new(
        sink,
        Arc::new(InMemoryAudit::new()),
        probe(),
        settings(700, 350),
    )
    .with_ledger(inner)
    .load(&[input.to_path_buf()])
    .await
    .unwrap()
}

/// A file cut short at a row boundary while it was read reads to its new end without a
/// fault. It was recorded complete under the hash of its whole content, and a later run of
/// that content skipped every row past the cut: now the file fails, saying it changed, and
/// the whole content, back, resumes after the rows committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_cut_while_it_is_read_fails_and_its_whole_content_resumes_later() {
    let dir = tempfile::tempdir().unwrap();
    let input = loader_gen::write_files(dir.path(), 30_000, 1, 12)
        .unwrap()
        .remove(0);
    let whole = std::fs::read(&input).unwrap();
    let cut = whole[whole.len() * 7 / 10..]
        .iter()
        .position(|&b| b == b'\n')
        .unwrap()
        + whole.len() * 7 / 10
        + 1;
    let db = dir.path().join("out.db");
    let (path, kept) = (input.clone(), whole[..cut].to_vec());
    let report = load_changing(&db, &input, move || std::fs::write(path, kept).unwrap()).await;
    assert_eq!(report.files[0].state, FileState::Failed);
    let error = report.first_error().unwrap();
    assert!(
        error.contains("the file changed while it was read"),
        "{error}"
    );
    let partial = ids(&db).0;
    assert!(partial > 0 && partial < 30_000, "{partial}");
    std::fs::write(&input, &whole).unwrap();
    let report = load(&db, &input, settings(500, 200)).await.unwrap();
    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(report.rows_skipped() as i64, partial);
    assert_eq!(ids(&db), (30_000, 30_000, 1, 30_000));
}

/// A file appended to while it is read holds the content hashed and more: its load stands,
/// and the next run loads the rows added after it as a grown file's, each row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_appended_to_while_it_is_read_loads_and_grows_each_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = loader_gen::write_files(dir.path(), 30_000, 1, 13)
        .unwrap()
        .remove(0);
    let more = dir.path().join("more");
    std::fs::create_dir(&more).unwrap();
    let extra = loader_gen::write_files(&more, 30_100, 1, 13)
        .unwrap()
        .remove(0);
    // The same generator's rows 30,001 to 30,100, without their header.
    let extra = std::fs::read(extra).unwrap();
    let added = extra[std::fs::read(&input).unwrap().len()..].to_vec();
    assert!(added.starts_with(b"30001,"), "{:?}", &added[..10]);
    let db = dir.path().join("out.db");
    let path = input.clone();
    let report = load_changing(&db, &input, move || {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(&added).unwrap();
    })
    .await;
    assert!(report.is_success(), "{:?}", report.first_error());
    let report = load(&db, &input, settings(500, 200)).await.unwrap();
    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(ids(&db), (30_100, 30_100, 1, 30_100));
}
