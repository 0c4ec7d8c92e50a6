use super::*;
use async_trait::async_trait;
use loader_batch::{InMemoryAudit, SinkError};
use loader_memory::{FixedProbe, MemoryReading};
use loader_sink::SqliteSink;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A machine with plenty of memory, for tests that are not about memory.
pub(super) fn probe() -> Arc<dyn MemoryProbe> {
    Arc::new(FixedProbe(MemoryReading {
        total: 16 << 30,
        available: 12 << 30,
        process_rss: 20 << 20,
        cgroup: None,
        psi: None,
    }))
}

fn settings() -> LoadSettings {
    LoadSettings {
        workers: 2,
        csv: loader_file::CsvOptions::default().batch_rows(700),
        sub_batch_rows: 250,
        table: Some("orders".into()),
        monitor_interval: Duration::from_millis(10),
        ..LoadSettings::default()
    }
}

/// Ids in the table, and how many rows hold each: every id once means no loss, no duplicate.
fn ids(sink: &SqliteSink) -> (i64, i64, i64, i64) {
    sink.with_connection(|c| {
        c.query_row(
            "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM orders",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    })
    .unwrap()
}

/// A sink over a real database that calls `hook` before each write: a fault injected at
/// a chosen write, or a change made to the file being loaded, as a producer would.
pub(super) struct HookedSink {
    pub inner: Arc<SqliteSink>,
    pub hook: Box<dyn Fn(&LoadTarget) + Send + Sync>,
}

#[async_trait]
impl BatchSink for HookedSink {
    async fn prepare(&self, target: &LoadTarget) -> std::result::Result<(), SinkError> {
        self.inner.prepare(target).await
    }

    async fn write(
        &self,
        target: &LoadTarget,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> std::result::Result<u64, SinkError> {
        (self.hook)(target);
        self.inner.write(target, batch, rows).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_several_files_into_sqlite_and_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    loader_gen::write_files(dir.path(), 5000, 4, 11).unwrap();
    let sink = Arc::new(SqliteSink::open(dir.path().join("out.db")).unwrap());
    let audit = Arc::new(InMemoryAudit::new());
    let service = DataLoadingService::new(sink.clone(), audit.clone(), probe(), settings());
    let report = service.load(&[dir.path().to_path_buf()]).await.unwrap();

    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(report.rows_loaded(), 5000);
    for file in &report.files {
        assert_eq!(
            file.rows_read,
            file.rows_loaded + file.rows_rejected + file.rows_skipped
        );
        assert!(!file.fell_back);
    }
    assert_eq!(ids(&sink), (5000, 5000, 1, 5000));
    assert_eq!(report.fallback, None);
    let events = audit.events();
    let ends = events
        .iter()
        .filter(|e| e.kind == EventKind::Committed)
        .count();
    let starts = events
        .iter()
        .filter(|e| e.kind == EventKind::Started)
        .count();
    assert_eq!(starts, ends, "every context that started was committed");
}

/// A file the plan cannot sample (a download cut short, here a gzip stream cut in two) fails
/// alone, with its error, and the others load; before, it stopped the whole run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_sampled_fails_alone_and_the_others_load() {
    let dir = tempfile::tempdir().unwrap();
    loader_gen::write_files(dir.path(), 3000, 2, 3).unwrap();
    let text: String = (0..20_000).map(|i| format!("{i},{}\n", i * 7)).collect();
    let mut packed = zstd::encode_all(format!("id,amount\n{text}").as_bytes(), 1).unwrap();
    packed.truncate(packed.len() / 2);
    std::fs::write(dir.path().join("cut.csv.zst"), packed).unwrap();
    let sink = Arc::new(SqliteSink::open(dir.path().join("out.db")).unwrap());
    let audit = Arc::new(InMemoryAudit::new());
    let service = DataLoadingService::new(sink.clone(), audit.clone(), probe(), settings());
    let plan = service.plan(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!((plan.files.len(), plan.unread_files.len()), (2, 1));
    let report = service.run(plan).await.unwrap();

    assert!(!report.is_success());
    assert_eq!(report.rows_loaded(), 3000);
    assert_eq!(ids(&sink), (3000, 3000, 1, 3000));
    let cut: Vec<_> = report
        .files
        .iter()
        .filter(|f| f.state == FileState::Failed)
        .collect();
    assert_eq!(cut.len(), 1);
    let error = cut[0].error.as_deref().unwrap();
    assert!(
        error.starts_with(&format!("{}", dir.path().join("cut.csv.zst").display())),
        "{error}"
    );
    assert_eq!(report.first_error().as_deref(), Some(error));
    let failed = audit
        .events()
        .iter()
        .filter(|e| {
            e.kind == EventKind::Failed
                && e.file
                    .as_deref()
                    .is_some_and(|f| f.ends_with("cut.csv.zst"))
        })
        .count();
    assert_eq!(failed, 1, "the audit trail says why it was not loaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_files_are_reported_empty_and_the_others_load() {
    let dir = tempfile::tempdir().unwrap();
    loader_gen::write_files(dir.path(), 3000, 2, 3).unwrap();
    std::fs::write(dir.path().join("nothing.csv"), "").unwrap();
    std::fs::write(dir.path().join("blank.csv"), "\n").unwrap();
    let sink = Arc::new(SqliteSink::open(dir.path().join("out.db")).unwrap());
    let audit = Arc::new(InMemoryAudit::new());
    let settings = LoadSettings {
        workers: 4,
        ..settings()
    };
    let service = DataLoadingService::new(sink.clone(), audit.clone(), probe(), settings);
    let plan = service.plan(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(
        (plan.files.len(), plan.empty_files.len(), plan.workers),
        (2, 2, 2),
        "empty files take no worker"
    );
    let report = service.run(plan).await.unwrap();

    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(report.rows_loaded(), 3000);
    assert_eq!(ids(&sink), (3000, 3000, 1, 3000));
    let mut empty: Vec<(&str, FileState, u64, &str)> = report
        .files
        .iter()
        .filter(|f| f.state != FileState::Loaded)
        .map(|f| {
            let name = f.path.file_name().unwrap().to_str().unwrap();
            (name, f.state, f.size, f.table.as_str())
        })
        .collect();
    empty.sort_by_key(|&(name, ..)| name);
    assert_eq!(
        empty,
        [
            ("blank.csv", FileState::Empty, 1, "orders"),
            ("nothing.csv", FileState::Empty, 0, "orders"),
        ]
    );
    assert_eq!(report.files.len(), 4);
    let noted: Vec<String> = audit
        .events()
        .iter()
        .filter(|e| e.kind == EventKind::Skipped)
        .filter_map(|e| e.file.clone())
        .collect();
    assert_eq!(
        noted.len(),
        2,
        "the audit trail says why each was not loaded"
    );
    let tables: Vec<String> = sink
        .with_connection(|c| {
            c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'")?
                .query_map([], |row| row.get(0))?
                .collect()
        })
        .unwrap();
    assert_eq!(tables, ["orders"], "no table is made for an empty file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_pool_failure_falls_back_to_sequential_and_loads_each_row_once() {
    let dir = tempfile::tempdir().unwrap();
    loader_gen::write_files(dir.path(), 6000, 3, 5).unwrap();
    let real = Arc::new(SqliteSink::open(dir.path().join("out.db")).unwrap());
    // A panic on the third write of one file, as a worker dying mid-load would: counting per
    // file keeps the test deterministic under any scheduling.
    let writes = AtomicUsize::new(0);
    let sink = Arc::new(HookedSink {
        inner: real.clone(),
        hook: Box::new(move |target| {
            if target.source.ends_with("part-001.csv") && writes.fetch_add(1, Ordering::SeqCst) == 2
            {
                panic!("injected pool failure");
            }
        }),
    });
    let audit = Arc::new(InMemoryAudit::new());
    let service = DataLoadingService::new(sink, audit.clone(), probe(), settings());
    let report = service.load(&[dir.path().to_path_buf()]).await.unwrap();

    assert!(report.is_success(), "{:?}", report.first_error());
    let reason = report.fallback.as_deref().expect("the pool failed");
    assert!(reason.contains("injected pool failure"), "{reason}");
    assert!(report.files.iter().any(|f| f.fell_back));
    assert_eq!(ids(&real), (6000, 6000, 1, 6000), "every row exactly once");
    for file in &report.files {
        assert_eq!(file.rows_read, file.rows_loaded, "{}", file.path.display());
    }
    let events = audit.events();
    let fell_back = events
        .iter()
        .find(|e| e.kind == EventKind::FellBack)
        .unwrap();
    assert!(
        fell_back
            .reason
            .as_deref()
            .unwrap()
            .contains("continue sequentially")
    );
    assert!(
        events.iter().any(|e| e.scope == Scope::File
            && e.kind == EventKind::Started
            && e.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("resuming at line"))),
        "the failed file resumed after its committed rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_fails_its_file_with_its_location_and_not_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut good = String::from("id,amount\n");
    let mut bad = String::from("id,amount\n");
    for i in 0..3000 {
        good.push_str(&format!("{i},{i}.5\n"));
        bad.push_str(&format!("{i},{i}.5\n"));
    }
    bad.push_str("3000,oops\n");
    std::fs::write(dir.path().join("good.csv"), good).unwrap();
    std::fs::write(dir.path().join("bad.csv"), bad).unwrap();
    let sink = Arc::new(SqliteSink::open(dir.path().join("out.db")).unwrap());
    let settings = LoadSettings {
        table: None,
        ..settings()
    };
    let service = DataLoadingService::new(
        sink.clone(),
        Arc::new(InMemoryAudit::new()),
        probe(),
        settings,
    );
    let report = service.load(&[dir.path().to_path_buf()]).await.unwrap();

    assert!(!report.is_success());
    assert_eq!(report.fallback, None, "a data error is not a pool failure");
    let bad = report.files.iter().find(|f| f.table == "bad").unwrap();
    assert_eq!(bad.state, FileState::Failed);
    let error = bad.error.as_deref().unwrap();
    assert!(
        error.contains("bad.csv:3002: column 2 (\"amount\")"),
        "{error}"
    );
    assert_eq!(
        bad.rows_loaded, 3000,
        "rows before the bad one are committed"
    );
    let good = report.files.iter().find(|f| f.table == "good").unwrap();
    assert_eq!((good.state, good.rows_loaded), (FileState::Loaded, 3000));
}

#[tokio::test]
async fn sink_is_prepared_once_per_file_and_writes_every_row() {
    let dir = tempfile::tempdir().unwrap();
    loader_gen::write_files(dir.path(), 900, 3, 1).unwrap();
    let mut sink = loader_batch::MockBatchSink::new();
    sink.expect_prepare().times(3).returning(|_| Ok(()));
    sink.expect_table_columns().times(3).returning(|_| Ok(None));
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    sink.expect_write().returning(move |_, _, rows| {
        counter.fetch_add(rows.len(), Ordering::SeqCst);
        Ok(rows.len() as u64)
    });
    let service = DataLoadingService::new(
        Arc::new(sink),
        Arc::new(InMemoryAudit::new()),
        probe(),
        settings(),
    );
    let report = service.load(&[dir.path().to_path_buf()]).await.unwrap();
    assert!(report.is_success());
    assert_eq!(written.load(Ordering::SeqCst), 900);
}

/// A stop raised while the first file is being written: the file stops once its batch in
/// hand has committed, naming the first line not loaded; the files after it never start,
/// and nothing falls back to sequential loading.
#[tokio::test]
async fn a_stop_ends_the_file_between_batches_and_starts_no_other() {
    let dir = tempfile::tempdir().unwrap();
    loader_gen::write_files(dir.path(), 9000, 3, 5).unwrap();
    let stop = crate::StopSignal::new();
    let raise = stop.clone();
    let mut sink = loader_batch::MockBatchSink::new();
    sink.expect_prepare().times(1).returning(|_| Ok(()));
    sink.expect_table_columns().times(1).returning(|_| Ok(None));
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    sink.expect_write().returning(move |_, _, rows| {
        counter.fetch_add(rows.len(), Ordering::SeqCst);
        raise.stop();
        Ok(rows.len() as u64)
    });
    let settings = LoadSettings {
        workers: 1,
        ..settings()
    };
    let service = DataLoadingService::new(
        Arc::new(sink),
        Arc::new(InMemoryAudit::new()),
        probe(),
        settings,
    )
    .with_stop(stop);
    let report = service.load(&[dir.path().to_path_buf()]).await.unwrap();
    let states: Vec<_> = report.files.iter().map(|f| f.state).collect();
    assert_eq!(
        states,
        [
            FileState::Stopped,
            FileState::NotStarted,
            FileState::NotStarted
        ]
    );
    let stopped = &report.files[0];
    // The first batch, all of its sub-batches (250 rows each), and no more.
    let written = written.load(Ordering::SeqCst) as u64;
    assert_eq!(stopped.rows_loaded, written);
    assert!(written > 250 && written <= 700, "{written}");
    let error = stopped.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("stopped on request; rows before line"),
        "{error}"
    );
    assert!(report.fallback.is_none() && !report.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_pressure_pauses_admission_runs_cleanup_and_the_load_still_completes() {
    let dir = tempfile::tempdir().unwrap();
    loader_gen::write_files(dir.path(), 4000, 2, 8).unwrap();
    let sink = Arc::new(SqliteSink::open(dir.path().join("out.db")).unwrap());
    let reading = |rss_mib: u64| MemoryReading {
        total: 16 << 30,
        available: 12 << 30,
        process_rss: rss_mib << 20,
        cgroup: None,
        psi: None,
    };
    // One reading for the plan, then 15 critical samples (10 ms apart), then normal for good.
    let mut script = vec![reading(10)];
    script.extend(std::iter::repeat_n(reading(125), 15));
    script.push(reading(10));
    let probe = Arc::new(loader_memory::ScriptedProbe::new(script));
    let audit = Arc::new(InMemoryAudit::new());
    let settings = LoadSettings {
        memory_limit: Some(128 << 20),
        ..settings()
    };
    let service = DataLoadingService::new(sink.clone(), audit.clone(), probe, settings);
    service.cleanup_hooks().register_fn("test cache", || 4096);
    let report = service.load(&[dir.path().to_path_buf()]).await.unwrap();

    assert!(report.is_success(), "{:?}", report.first_error());
    assert_eq!(ids(&sink), (4000, 4000, 1, 4000));
    assert!(
        report.pressure_changes[0].starts_with("critical"),
        "{:?}",
        report.pressure_changes
    );
    let names: Vec<&str> = report.cleanups.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["test cache", "malloc_trim"]);
    // Admission was paused: with one file running the other waited until the first
    // committed or admission resumed, whichever came first (an idle run still admits one).
    let events = audit.events();
    let starts: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.scope == Scope::File && e.kind == EventKind::Started)
        .map(|(i, _)| i)
        .collect();
    let first_commit = events
        .iter()
        .position(|e| e.scope == Scope::File && e.kind == EventKind::Committed)
        .unwrap();
    let resumed = events
        .iter()
        .position(|e| {
            e.reason
                .as_deref()
                .is_some_and(|r| r.contains("admission of new files resumed"))
        })
        .unwrap_or(usize::MAX);
    assert_eq!(starts.len(), 2);
    assert!(
        starts[1] > first_commit.min(resumed),
        "the second file waited"
    );
    for file in &report.files {
        assert!(
            file.measured_peak > 0 && file.measured_peak <= file.estimated_peak,
            "{file:?}"
        );
    }
}

/// Live counters and metrics follow the run: after it, each file's snapshot holds what the
/// report holds, and the metrics recorder saw the same rows, rejects and batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_progress_and_metrics_match_the_report() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // Each test runs in its own process under nextest; elsewhere a recorder may exist.
    let installed = recorder.install().is_ok();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,amount\n");
    for id in 1..=900 {
        if id % 100 == 0 {
            text.push_str(&format!("{id},bad\n"));
        } else {
            text.push_str(&format!("{id},{id}.5\n"));
        }
    }
    std::fs::write(dir.path().join("orders.csv"), text).unwrap();
    let sink = Arc::new(SqliteSink::open(dir.path().join("out.db")).unwrap());
    let mut settings = settings();
    settings.csv = settings.csv.bad_rows(loader_file::BadRowPolicy::skip());
    settings.columns = vec![("amount".into(), loader_batch::ColumnType::Real)];
    let live = Arc::new(crate::LiveProgress::new());
    let service = DataLoadingService::new(sink, Arc::new(InMemoryAudit::new()), probe(), settings)
        .with_live(Arc::clone(&live));
    let report = service.load(&[dir.path().to_path_buf()]).await.unwrap();
    assert!(report.is_success());
    let snapshot = live.snapshot();
    let file = &snapshot.files[0];
    assert_eq!((file.rows_loaded, file.rows_rejected), (891, 9));
    assert_eq!(file.state, crate::LiveState::Done);
    assert_eq!(
        file.position, file.size,
        "the whole file is behind the last commit"
    );
    assert!(snapshot.limit > 0 && snapshot.budget > 0);
    if installed {
        let counters: std::collections::HashMap<String, u64> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => Some((key.key().name().to_owned(), n)),
                _ => None,
            })
            .collect();
        assert_eq!(counters.get("loader_rows_loaded_total"), Some(&891));
        assert_eq!(counters.get("loader_rows_rejected_total"), Some(&9));
        assert_eq!(
            counters.get("loader_batches_total"),
            Some(&report.files[0].batches)
        );
    }
}

/// An upsert asks the sink once per file, before any write, whether the table can take it,
/// with the key as the indices of its columns among those loaded (each once); a refusal stops the file
/// with the sink's words and nothing is written. A key without the mode, or the mode
/// without a key, fails the plan.
#[tokio::test]
async fn an_upsert_asks_whether_the_table_takes_its_key_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("people.csv"), "name,id\nann,1\n").unwrap();
    let mut sink = loader_batch::MockBatchSink::new();
    sink.expect_prepare().times(1).returning(|_| Ok(()));
    sink.expect_table_columns().times(1).returning(|_| Ok(None));
    sink.expect_check_upsert_key()
        .times(1)
        .withf(|target| target.upsert_key.as_deref() == Some(&[1][..]))
        .returning(|_| Err(SinkError::terminal("people: no unique index on (\"id\")")));
    sink.expect_write().never();
    let upsert = LoadSettings {
        mode: crate::LoadMode::Upsert,
        // Named twice, as `--key id,id` would: one column of the key.
        upsert_key: vec!["id".into(), "id".into()],
        table: None,
        ..settings()
    };
    let service = DataLoadingService::new(
        Arc::new(sink),
        Arc::new(InMemoryAudit::new()),
        probe(),
        upsert.clone(),
    );
    let report = service.load(&[dir.path().to_path_buf()]).await.unwrap();
    assert!(!report.is_success());
    let error = report.files[0].error.as_deref().unwrap();
    assert!(error.contains("no unique index on (\"id\")"), "{error}");

    for settings in [
        LoadSettings {
            upsert_key: Vec::new(),
            ..upsert.clone()
        },
        LoadSettings {
            mode: crate::LoadMode::Append,
            ..upsert
        },
    ] {
        let service = DataLoadingService::new(
            Arc::new(loader_batch::MockBatchSink::new()),
            Arc::new(InMemoryAudit::new()),
            probe(),
            settings,
        );
        let refused = service.plan(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(matches!(refused, crate::Error::UpsertKey(_)), "{refused}");
    }
}
