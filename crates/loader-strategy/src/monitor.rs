use crate::reaction::{Controls, describe_change};
use loader_batch::{AuditEvent, AuditSink, ContextId, EventKind, MemoryFigures, Scope};
use loader_memory::{ByteSize, CleanupHooks, CleanupOutcome, PressureMonitor, PressureSample};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// What the monitor saw over a run.
#[derive(Debug, Default, Clone)]
pub(crate) struct MonitorStats {
    pub peak_rss: u64,
    pub changes: Vec<String>,
    pub cleanups: Vec<CleanupOutcome>,
    /// When the last `sampled` event was recorded.
    last_recorded: Option<Instant>,
}

/// How often a memory reading goes into the audit trail as a `sampled` event (the monitor
/// samples more often; the trail needs enough for a chart, not every reading).
const RECORD_EVERY: Duration = Duration::from_millis(500);

/// What the monitor acts through.
pub(crate) struct Reactor {
    pub pressure: Arc<PressureMonitor>,
    pub audit: Arc<dyn AuditSink>,
    pub controls: Arc<Controls>,
    pub hooks: CleanupHooks,
    pub run: ContextId,
    pub live: Arc<crate::LiveProgress>,
}

/// Samples memory on its own cadence (never per row) while a run goes on. On every pressure
/// level change it applies the level's reaction (sub-batch size, writers, admission, budget),
/// runs the cleanup hooks when pressure rises to high or critical, and records one audit
/// event with the readings that caused the change and everything it did.
pub(crate) struct Monitor {
    handle: JoinHandle<()>,
    stop: Arc<Notify>,
    stats: Arc<Mutex<MonitorStats>>,
}

impl Monitor {
    /// Takes a first sample, and reacts to it, before returning: a run must not admit its
    /// first file blind into a machine that is already short of memory.
    pub(crate) async fn start(reactor: Reactor, interval: Duration) -> Monitor {
        let stop = Arc::new(Notify::new());
        let stats = Arc::new(Mutex::new(MonitorStats::default()));
        let started = Instant::now();
        let mut probe_failed = false;
        sample_once(&reactor, started, &stats, &mut probe_failed).await;
        let handle = tokio::spawn({
            let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
            async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        _ = stop.notified() => break,
                    }
                    sample_once(&reactor, started, &stats, &mut probe_failed).await;
                }
                sample_once(&reactor, started, &stats, &mut probe_failed).await;
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
    reactor: &Reactor,
    started: Instant,
    stats: &Mutex<MonitorStats>,
    probe_failed: &mut bool,
) {
    let sample = match reactor.pressure.sample() {
        Ok(sample) => sample,
        Err(e) => {
            if !*probe_failed {
                *probe_failed = true;
                let event = AuditEvent::new(Scope::Run, EventKind::Pressure, reactor.run)
                    .with_reason(format!("memory probe failed, pressure unknown: {e}"));
                let _ = reactor.audit.record(&event).await;
            }
            return;
        }
    };
    let budget = &reactor.controls.budget;
    let figures = MemoryFigures {
        used: sample.limit.used,
        reserved: budget.reserved(),
        budget: budget.capacity(),
        limit: sample.limit.bytes,
    };
    reactor
        .live
        .memory(figures.used, figures.reserved, figures.budget, sample.level);
    let record = {
        let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.peak_rss = stats.peak_rss.max(sample.reading.process_rss);
        let due = stats
            .last_recorded
            .is_none_or(|at| at.elapsed() >= RECORD_EVERY);
        if due {
            stats.last_recorded = Some(Instant::now());
        }
        due
    };
    if record && !sample.changed() {
        let mut event = AuditEvent::new(Scope::Run, EventKind::Sampled, reactor.run)
            .with_reason(sample.level.to_string());
        event.memory = Some(figures);
        // Best effort, like every monitor event.
        let _ = reactor.audit.record(&event).await;
    }
    if !sample.changed() {
        return;
    }
    // Restrictions take effect before anything else (the event can wait a moment); a
    // relaxation is recorded first, so that no work the trail shows runs under a reaction
    // that the trail has not announced yet.
    let rising = sample.level > sample.previous;
    let (before, after) = reactor.controls.planned(sample.level);
    if rising {
        reactor.controls.apply(sample.level);
    }
    let mut reason = describe(&sample);
    let change = describe_change(&before, &after);
    if !change.is_empty() {
        reason.push_str("; reactions: ");
        reason.push_str(&change);
    }
    let mut cleanups = Vec::new();
    if after.cleanup && rising {
        let hooks = reactor.hooks.clone();
        // Hooks may block (a database shrinking its cache waits for the connection).
        cleanups = tokio::task::spawn_blocking(move || hooks.run_all())
            .await
            .unwrap_or_default();
        let figures: Vec<String> = cleanups.iter().map(ToString::to_string).collect();
        reason.push_str("; cleanup: ");
        reason.push_str(&figures.join("; "));
    }
    {
        let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.changes.push(format!(
            "{} at {:.1}s",
            sample.level,
            started.elapsed().as_secs_f64()
        ));
        stats.cleanups.extend(cleanups);
    }
    tracing::warn!(level = %sample.level, "memory pressure: {reason}");
    let mut event =
        AuditEvent::new(Scope::Run, EventKind::Pressure, reactor.run).with_reason(reason);
    event.memory = Some(figures);
    // The trail is best effort here: the monitor must not stop the load.
    let _ = reactor.audit.record(&event).await;
    if !rising {
        reactor.controls.apply(sample.level);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reaction::{Baseline, MIN_SUB_BATCH_ROWS};
    use loader_batch::{InMemoryAudit, SubBatchLimits};
    use loader_memory::{
        MemoryBudget, MemoryReading, PressureLevel, PressureThresholds, ScriptedProbe,
    };

    fn rss(mib: u64) -> MemoryReading {
        MemoryReading {
            total: 16 << 30,
            available: 8 << 30,
            process_rss: mib << 20,
            cgroup: None,
            psi: None,
        }
    }

    #[tokio::test]
    async fn scripted_readings_give_level_changes_reactions_and_audit_events() {
        // RSS against an explicit 100 MiB limit: 50% normal, 72% elevated, 90% high, 97%
        // critical, 92% still critical (hysteresis), 84% high, 81% still high, 60% normal.
        let script = [50, 72, 90, 97, 92, 84, 81, 60].map(rss);
        let probe = Arc::new(ScriptedProbe::strict(script));
        let base = Baseline {
            sub_batch_rows: 10_000,
            sub_batch_bytes: 4 << 20,
            writers: 2,
            budget: 50 << 20,
            least_budget: 0,
        };
        let limits = Arc::new(SubBatchLimits::new(
            base.sub_batch_rows,
            base.sub_batch_bytes,
        ));
        let budget = MemoryBudget::new(base.budget);
        let controls = Arc::new(Controls::new(base, limits.clone(), budget.clone()));
        let audit = Arc::new(InMemoryAudit::new());
        let hooks = CleanupHooks::new();
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        hooks.register_fn("flush test buffers", move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            1024
        });
        let reactor = Reactor {
            pressure: Arc::new(PressureMonitor::new(
                probe,
                PressureThresholds::default(),
                Some(100 << 20),
            )),
            audit: audit.clone(),
            controls,
            hooks,
            run: ContextId::next(),
            live: Arc::new(crate::LiveProgress::new()),
        };
        let stats = Mutex::new(MonitorStats::default());
        let mut failed = false;
        let mut seen = Vec::new();
        for _ in 0..8 {
            sample_once(&reactor, Instant::now(), &stats, &mut failed).await;
            seen.push((
                reactor.pressure.level(),
                limits.rows(),
                budget.capacity() >> 20,
            ));
        }
        use PressureLevel::*;
        assert_eq!(
            seen,
            [
                (Normal, 10_000, 50),
                (Elevated, 2_500, 50),
                (High, 625, 37),
                (Critical, MIN_SUB_BATCH_ROWS, 25),
                (Critical, MIN_SUB_BATCH_ROWS, 25),
                (High, 625, 37),
                (High, 625, 37),
                (Normal, 10_000, 50),
            ]
        );
        let reasons: Vec<String> = audit
            .events()
            .into_iter()
            .filter(|e| e.kind == EventKind::Pressure)
            .map(|e| e.reason.unwrap())
            .collect();
        assert_eq!(reasons.len(), 5, "one event per change: {reasons:#?}");
        assert!(
            reasons[0]
                .starts_with("normal -> elevated: 72.0 MiB used of 100.0 MiB explicit limit (72%)"),
            "{}",
            reasons[0]
        );
        assert!(
            reasons[1].contains("admission of new files paused")
                && reasons[1].contains("concurrent writers 2 -> 1")
        );
        assert!(
            reasons[1].contains("cleanup: flush test buffers: reported 1.0 KiB"),
            "{}",
            reasons[1]
        );
        assert!(
            reasons[2].contains("malloc_trim"),
            "cleanup runs again on rising to critical"
        );
        assert!(
            !reasons[3].contains("cleanup"),
            "no cleanup when pressure falls"
        );
        assert!(reasons[4].contains("admission of new files resumed"));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
        let stats = stats.into_inner().unwrap();
        assert_eq!(stats.changes.len(), 5);
        assert_eq!(stats.cleanups.len(), 4, "two runs of (hook + malloc_trim)");
        assert_eq!(stats.peak_rss, 97 << 20);
    }
}
