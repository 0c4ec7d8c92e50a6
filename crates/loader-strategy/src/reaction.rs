//! What loader does at each memory pressure level.

use loader_batch::SubBatchLimits;
use loader_memory::{ByteSize, MemoryBudget, PressureLevel};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};

/// The smallest sub-batch pressure shrinks to: below this, per-transaction costs dominate.
pub const MIN_SUB_BATCH_ROWS: usize = 100;
/// The smallest sub-batch in field bytes.
pub const MIN_SUB_BATCH_BYTES: usize = 64 << 10;

/// The settings that pressure adjusts, at their configured (normal) values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    /// Sub-batch rows.
    pub sub_batch_rows: usize,
    /// Sub-batch bytes.
    pub sub_batch_bytes: usize,
    /// Files written at once.
    pub writers: usize,
    /// Budget bytes.
    pub budget: u64,
    /// The least the budget is cut to (see [`LoadPlan::least_budget`](crate::LoadPlan)).
    pub least_budget: u64,
}

/// The settings for one pressure level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaction {
    /// Sub-batch rows.
    pub sub_batch_rows: usize,
    /// Sub-batch bytes.
    pub sub_batch_bytes: usize,
    /// Files whose batches may be written at once.
    pub writers: usize,
    /// Whether new files may start.
    pub admission_open: bool,
    /// Budget capacity: a smaller one makes readers wait until writers drain.
    pub budget: u64,
    /// Whether cleanup hooks run on entering the level.
    pub cleanup: bool,
}

/// The reaction to `level`:
///
/// | level    | sub-batches | writers   | new files | budget | cleanup |
/// |----------|-------------|-----------|-----------|--------|---------|
/// | normal   | configured  | all       | admitted  | 100%   | no      |
/// | elevated | 1/4         | all       | admitted  | 100%   | no      |
/// | high     | 1/16        | half      | paused    | 75%    | yes     |
/// | critical | minimal     | one       | paused    | 50%    | yes     |
///
/// The budget is never cut below [`Baseline::least_budget`], what one file needs to be read:
/// below it every reader would wait for room that never comes, and a tight limit crawled.
///
/// Batches are planned at a third of the budget per worker, so halving the budget never
/// leaves a planned batch larger than the whole budget.
pub fn reaction_for(level: PressureLevel, base: Baseline) -> Reaction {
    let shrink = |divisor: usize| Reaction {
        sub_batch_rows: (base.sub_batch_rows / divisor)
            .max(MIN_SUB_BATCH_ROWS.min(base.sub_batch_rows)),
        sub_batch_bytes: (base.sub_batch_bytes / divisor)
            .max(MIN_SUB_BATCH_BYTES.min(base.sub_batch_bytes)),
        ..Reaction {
            sub_batch_rows: base.sub_batch_rows,
            sub_batch_bytes: base.sub_batch_bytes,
            writers: base.writers,
            admission_open: true,
            budget: base.budget,
            cleanup: false,
        }
    };
    match level {
        PressureLevel::Normal => shrink(1),
        PressureLevel::Elevated => shrink(4),
        PressureLevel::High => Reaction {
            writers: (base.writers / 2).max(1),
            admission_open: false,
            budget: (base.budget / 4 * 3)
                .max(base.least_budget)
                .min(base.budget),
            cleanup: true,
            ..shrink(16)
        },
        PressureLevel::Critical => Reaction {
            writers: 1,
            admission_open: false,
            budget: (base.budget / 2).max(base.least_budget).min(base.budget),
            cleanup: true,
            ..shrink(usize::MAX)
        },
    }
}

/// Describes the change from `before` to `after` for the audit trail ("" when nothing changed).
pub fn describe_change(before: &Reaction, after: &Reaction) -> String {
    let mut text = String::new();
    let mut add = |part: String| {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&part);
    };
    if before.sub_batch_rows != after.sub_batch_rows
        || before.sub_batch_bytes != after.sub_batch_bytes
    {
        add(format!(
            "sub-batches {} rows/{} -> {} rows/{}",
            before.sub_batch_rows,
            ByteSize(before.sub_batch_bytes as u64),
            after.sub_batch_rows,
            ByteSize(after.sub_batch_bytes as u64)
        ));
    }
    if before.writers != after.writers {
        add(format!(
            "concurrent writers {} -> {}",
            before.writers, after.writers
        ));
    }
    if before.admission_open != after.admission_open {
        add(if after.admission_open {
            "admission of new files resumed"
        } else {
            "admission of new files paused"
        }
        .to_owned());
    }
    if before.budget != after.budget {
        let mut part = String::new();
        let _ = write!(
            part,
            "budget {} -> {}",
            ByteSize(before.budget),
            ByteSize(after.budget)
        );
        add(part);
    }
    text
}

/// The live controls a run's workers obey.
pub(crate) struct Controls {
    pub limits: Arc<SubBatchLimits>,
    pub budget: MemoryBudget,
    pub writers: WritePermits,
    admission: watch::Sender<bool>,
    current: Mutex<Reaction>,
    pub base: Baseline,
}

impl Controls {
    pub fn new(base: Baseline, limits: Arc<SubBatchLimits>, budget: MemoryBudget) -> Self {
        let normal = reaction_for(PressureLevel::Normal, base);
        Controls {
            limits,
            budget,
            writers: WritePermits::new(normal.writers),
            admission: watch::Sender::new(true),
            current: Mutex::new(normal),
            base,
        }
    }

    /// The reaction in force and the one `level` calls for, without applying it.
    pub fn planned(&self, level: PressureLevel) -> (Reaction, Reaction) {
        let current = *self.current.lock().unwrap_or_else(|p| p.into_inner());
        (current, reaction_for(level, self.base))
    }

    /// Applies the reaction for `level`; returns the reaction before and after.
    pub fn apply(&self, level: PressureLevel) -> (Reaction, Reaction) {
        let next = reaction_for(level, self.base);
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let before = *current;
        self.limits.set(next.sub_batch_rows, next.sub_batch_bytes);
        self.writers.set_allowed(next.writers);
        self.budget.set_capacity(next.budget);
        self.admission.send_replace(next.admission_open);
        *current = next;
        (before, next)
    }

    /// Waits while admission of new files is paused, unless no file is running: then nothing
    /// could bring memory down but the run itself, so one file goes ahead (the run continues
    /// sequentially instead of waiting for ever).
    pub async fn admitted(&self, running: &AtomicUsize) {
        while !*self.admission.borrow() && running.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// A counting gate whose size can change while it is in use: how many files may have a
/// batch in the writer at once.
pub(crate) struct WritePermits {
    state: Mutex<(usize, usize)>,
    changed: Notify,
}

pub(crate) struct WritePermit<'a> {
    permits: &'a WritePermits,
}

impl WritePermits {
    fn new(allowed: usize) -> Self {
        WritePermits {
            state: Mutex::new((0, allowed.max(1))),
            changed: Notify::new(),
        }
    }

    fn set_allowed(&self, allowed: usize) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = allowed.max(1);
        self.changed.notify_waiters();
    }

    pub async fn acquire(&self) -> WritePermit<'_> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.0 < state.1 {
                    state.0 += 1;
                    return WritePermit { permits: self };
                }
            }
            changed.await;
        }
    }
}

impl Drop for WritePermit<'_> {
    fn drop(&mut self) {
        self.permits
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0 -= 1;
        self.permits.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PressureLevel::*;

    const BASE: Baseline = Baseline {
        sub_batch_rows: 10_000,
        sub_batch_bytes: 4 << 20,
        writers: 4,
        budget: 64 << 20,
        least_budget: 0,
    };

    #[test]
    fn the_budget_is_never_cut_below_what_one_file_needs() {
        let tight = Baseline {
            budget: 900 << 10,
            least_budget: 600 << 10,
            ..BASE
        };
        assert_eq!(reaction_for(High, tight).budget, 675 << 10);
        assert_eq!(reaction_for(Critical, tight).budget, 600 << 10);
        let roomy = Baseline {
            least_budget: 1 << 20,
            ..BASE
        };
        assert_eq!(reaction_for(Critical, roomy).budget, 32 << 20);
    }

    #[test]
    fn each_level_reacts_as_documented_and_normal_restores_everything() {
        let normal = reaction_for(Normal, BASE);
        assert_eq!(
            (
                normal.sub_batch_rows,
                normal.writers,
                normal.admission_open,
                normal.budget,
                normal.cleanup
            ),
            (10_000, 4, true, 64 << 20, false)
        );
        let elevated = reaction_for(Elevated, BASE);
        assert_eq!(
            (
                elevated.sub_batch_rows,
                elevated.writers,
                elevated.admission_open
            ),
            (2_500, 4, true)
        );
        let high = reaction_for(High, BASE);
        assert_eq!(
            (
                high.sub_batch_rows,
                high.writers,
                high.admission_open,
                high.budget,
                high.cleanup
            ),
            (625, 2, false, 48 << 20, true)
        );
        let critical = reaction_for(Critical, BASE);
        assert_eq!(
            (
                critical.sub_batch_rows,
                critical.sub_batch_bytes,
                critical.writers,
                critical.budget
            ),
            (MIN_SUB_BATCH_ROWS, MIN_SUB_BATCH_BYTES, 1, 32 << 20)
        );
        assert!(describe_change(&normal, &critical).contains("admission of new files paused"));
        assert_eq!(describe_change(&normal, &normal), "");
    }

    #[tokio::test]
    async fn controls_apply_to_limits_budget_writers_and_admission() {
        let limits = Arc::new(SubBatchLimits::new(
            BASE.sub_batch_rows,
            BASE.sub_batch_bytes,
        ));
        let budget = MemoryBudget::new(BASE.budget);
        let controls = Arc::new(Controls::new(BASE, limits.clone(), budget.clone()));
        controls.apply(Critical);
        assert_eq!(limits.rows(), MIN_SUB_BATCH_ROWS);
        assert_eq!(budget.capacity(), 32 << 20);
        let first = controls.writers.acquire().await;
        let running = Arc::new(AtomicUsize::new(1));
        let waiter = tokio::spawn({
            let (controls, running) = (Arc::clone(&controls), Arc::clone(&running));
            async move {
                controls.admitted(&running).await;
                let _second = controls.writers.acquire().await;
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "admission paused and one writer at a time"
        );
        controls.apply(Normal);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        drop(first);
        assert_eq!(budget.capacity(), 64 << 20);
    }
}
