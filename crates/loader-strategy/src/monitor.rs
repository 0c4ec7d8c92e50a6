use loader_batch::{AuditEvent, AuditSink, ContextId, EventKind, Scope};
use loader_memory::{ByteSize, PressureMonitor, PressureSample};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// What the monitor saw over a run.
#[derive(Debug, Default, Clone)]
pub(crate) struct MonitorStats {
    pub peak_rss: u64,
    pub changes: Vec<String>,
}

/// Samples memory on its own cadence (never per row) while a run goes on, and records every
/// pressure level change as an audit event with the readings that caused it.
pub(crate) struct Monitor {
    handle: JoinHandle<()>,
    stop: Arc<Notify>,
    stats: Arc<Mutex<MonitorStats>>,
}

impl Monitor {
    pub(crate) fn start(
        pressure: Arc<PressureMonitor>,
        audit: Arc<dyn AuditSink>,
        interval: Duration,
        run: ContextId,
    ) -> Monitor {
        let stop = Arc::new(Notify::new());
        let stats = Arc::new(Mutex::new(MonitorStats::default()));
        let started = Instant::now();
        let handle = tokio::spawn({
            let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
            async move {
                let mut probe_failed = false;
                loop {
                    sample_once(&pressure, &*audit, run, started, &stats, &mut probe_failed).await;
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        _ = stop.notified() => break,
                    }
                }
                sample_once(&pressure, &*audit, run, started, &stats, &mut probe_failed).await;
            }
        });
        Monitor {
            handle,
            stop,
            stats,
        }
    }

    pub(crate) async fn finish(self) -> MonitorStats {
        self.stop.notify_one();
        // A monitor that panicked leaves partial stats; the run itself is not affected.
        let _ = self.handle.await;
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn sample_once(
    pressure: &PressureMonitor,
    audit: &dyn AuditSink,
    run: ContextId,
    started: Instant,
    stats: &Mutex<MonitorStats>,
    probe_failed: &mut bool,
) {
    match pressure.sample() {
        Ok(sample) => {
            {
                let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
                stats.peak_rss = stats.peak_rss.max(sample.reading.process_rss);
                if sample.changed() {
                    stats.changes.push(format!(
                        "{} at {:.1}s",
                        sample.level,
                        started.elapsed().as_secs_f64()
                    ));
                }
            }
            if sample.changed() {
                let event = AuditEvent::new(Scope::Run, EventKind::Pressure, run)
                    .with_reason(describe(&sample));
                // The trail is best effort here: the monitor must not stop the load.
                let _ = audit.record(&event).await;
            }
        }
        Err(e) if !*probe_failed => {
            *probe_failed = true;
            let event = AuditEvent::new(Scope::Run, EventKind::Pressure, run)
                .with_reason(format!("memory probe failed, pressure unknown: {e}"));
            let _ = audit.record(&event).await;
        }
        Err(_) => {}
    }
}

fn describe(sample: &PressureSample) -> String {
    format!(
        "{} -> {}: {} used of {} {} limit ({:.0}%), process rss {}",
        sample.previous,
        sample.level,
        ByteSize(sample.limit.used),
        ByteSize(sample.limit.bytes),
        sample.limit.source.as_str(),
        sample.limit.used_fraction() * 100.0,
        ByteSize(sample.reading.process_rss)
    )
}
