//! The job's behaviour, with loader's mocks standing in for the loader, the memory probe,
//! the database sink and the audit trail.

use loader_batch::{EventKind, MockAuditSink, MockBatchSink};
use loader_memory::{MemoryReading, MockMemoryProbe};
use loader_strategy::{
    DataLoadingService, FileReport, FileState, LoadReport, LoadSettings, MockLoader,
};
use nightly_import::{NightlyImport, Outcome};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn reading(available: u64) -> MemoryReading {
    MemoryReading {
        total: 8 << 30,
        available,
        process_rss: 20 << 20,
        cgroup: None,
        psi: None,
    }
}

fn probe(available: u64) -> MockMemoryProbe {
    let mut probe = MockMemoryProbe::new();
    probe
        .expect_read()
        .returning(move || Ok(reading(available)));
    probe
}

fn file(name: &str, state: FileState, rows: u64, error: Option<&str>) -> FileReport {
    FileReport {
        path: name.into(),
        table: name.trim_end_matches(".csv").into(),
        state,
        size: 100,
        rows_read: rows,
        rows_loaded: rows,
        rows_rejected: 0,
        rows_skipped: 0,
        bytes_loaded: 100,
        batches: 1,
        retries: 0,
        duration: Duration::from_millis(5),
        estimated_peak: 1 << 20,
        measured_peak: 1 << 19,
        fell_back: false,
        error: error.map(str::to_owned),
        note: None,
        rejected_by_kind: Vec::new(),
        first_reject: None,
    }
}

fn report(files: Vec<FileReport>) -> LoadReport {
    LoadReport {
        files,
        duration: Duration::from_millis(10),
        memory_limit: 8 << 30,
        memory_limit_source: "physical",
        budget: 1 << 30,
        peak_reserved: 1 << 20,
        peak_rss: 30 << 20,
        workers: 2,
        fallback: None,
        pressure_changes: Vec::new(),
        cleanups: Vec::new(),
        run_id: "run-1".into(),
    }
}

#[tokio::test]
async fn short_of_memory_the_job_postpones_itself_and_never_loads() {
    let mut loader = MockLoader::new();
    loader.expect_load().times(0);
    let mut audit = MockAuditSink::new();
    audit
        .expect_record()
        .withf(|e| {
            e.kind == EventKind::Skipped
                && e.reason.as_deref().is_some_and(|r| r.contains("postponed"))
        })
        .times(1)
        .returning(|_| Ok(()));
    let job = NightlyImport::new(
        Arc::new(loader),
        Arc::new(probe(100 << 20)),
        Arc::new(audit),
        1 << 30,
    );
    let outcome = job.run("incoming".as_ref()).await.unwrap();
    assert!(matches!(outcome, Outcome::Postponed { .. }), "{outcome:?}");
}

#[tokio::test]
async fn a_failed_file_makes_a_partial_outcome_naming_it() {
    let mut loader = MockLoader::new();
    loader.expect_load().times(1).returning(|_| {
        Ok(report(vec![
            file("a.csv", FileState::Loaded, 10, None),
            file(
                "b.csv",
                FileState::Failed,
                0,
                Some("b.csv:3: expected 2 fields, found 3"),
            ),
        ]))
    });
    let mut audit = MockAuditSink::new();
    audit
        .expect_record()
        .withf(|e| e.kind == EventKind::Committed && e.rows == Some(10))
        .times(1)
        .returning(|_| Ok(()));
    let job = NightlyImport::new(
        Arc::new(loader),
        Arc::new(probe(4 << 30)),
        Arc::new(audit),
        1 << 30,
    );
    let outcome = job.run("incoming".as_ref()).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Partial {
            failed: vec!["b.csv".into()],
            error: "b.csv:3: expected 2 fields, found 3".into(),
        }
    );
}

/// The real loading service, with the memory probe, the database sink and the audit sink
/// mocked: every row reaches the sink once, and the job reports them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_loaders_service_every_row_reaches_the_mocked_sink_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,name\n");
    for id in 1..=250 {
        text.push_str(&format!("{id},name {id}\n"));
    }
    std::fs::write(dir.path().join("people.csv"), text).unwrap();

    let written = Arc::new(AtomicU64::new(0));
    let mut sink = MockBatchSink::new();
    sink.expect_prepare()
        .withf(|t| t.table == "people" && t.schema.len() == 2)
        .times(1)
        .returning(|_| Ok(()));
    // No table to match: the file's names and types stand.
    sink.expect_table_columns().times(1).returning(|_| Ok(None));
    let counter = Arc::clone(&written);
    sink.expect_write().returning(move |_, _, rows| {
        counter.fetch_add(rows.len() as u64, Ordering::SeqCst);
        Ok(rows.len() as u64)
    });
    let mut service_audit = MockAuditSink::new();
    service_audit.expect_record().returning(|_| Ok(()));
    let settings = LoadSettings {
        sub_batch_rows: 100,
        monitor_interval: Duration::from_millis(20),
        ..LoadSettings::default()
    };
    let service = DataLoadingService::new(
        Arc::new(sink),
        Arc::new(service_audit),
        Arc::new(probe(4 << 30)),
        settings,
    );
    let mut job_audit = MockAuditSink::new();
    job_audit.expect_record().times(1).returning(|_| Ok(()));
    let job = NightlyImport::new(
        Arc::new(service),
        Arc::new(probe(4 << 30)),
        Arc::new(job_audit),
        1 << 30,
    );
    let outcome = job.run(dir.path()).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Done {
            rows: 250,
            rejected: 0
        }
    );
    assert_eq!(written.load(Ordering::SeqCst), 250);
}
