use crate::{EffectiveLimit, MemoryProbe, MemoryReading, PsiReading, Result};
use std::fmt;
use std::sync::{Arc, Mutex};

/// How close this process is to its effective memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum PressureLevel {
    /// Plenty of room.
    #[default]
    Normal,
    /// Getting close: shrink sub-batches.
    Elevated,
    /// Close: pause admission of new files, lower concurrency, run cleanup.
    High,
    /// At the edge: continue sequentially with minimal sub-batches.
    Critical,
}

impl PressureLevel {
    /// Lower-case name: `normal`, `elevated`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            PressureLevel::Normal => "normal",
            PressureLevel::Elevated => "elevated",
            PressureLevel::High => "high",
            PressureLevel::Critical => "critical",
        }
    }
}

impl fmt::Display for PressureLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shares of the effective limit at which each level starts, and how far usage must fall
/// below a threshold before the level drops again.
///
/// # Example
///
/// ```
/// use loader_memory::{PressureLevel, PressureThresholds};
/// let t = PressureThresholds::default();
/// assert_eq!(t.classify(0.50), PressureLevel::Normal);
/// assert_eq!(t.classify(0.90), PressureLevel::High);
/// // Coming down from High, 0.84 is not yet low enough to leave it (hysteresis 0.05).
/// assert_eq!(t.next_level(PressureLevel::High, 0.84), PressureLevel::High);
/// assert_eq!(t.next_level(PressureLevel::High, 0.79), PressureLevel::Elevated);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressureThresholds {
    /// Share at which [`PressureLevel::Elevated`] starts (default 0.70).
    pub elevated: f64,
    /// Share at which [`PressureLevel::High`] starts (default 0.85).
    pub high: f64,
    /// Share at which [`PressureLevel::Critical`] starts (default 0.95).
    pub critical: f64,
    /// How far below a level's threshold usage must fall to leave it (default 0.05).
    pub hysteresis: f64,
    /// PSI `some avg10` (percent) at which pressure is at least elevated (default 10).
    pub psi_elevated: f64,
    /// PSI `some avg10` at which pressure is at least high (default 30).
    pub psi_high: f64,
    /// PSI `full avg10` at which pressure is critical (default 20): every task stalled.
    pub psi_critical_full: f64,
}

impl Default for PressureThresholds {
    fn default() -> Self {
        PressureThresholds {
            elevated: 0.70,
            high: 0.85,
            critical: 0.95,
            hysteresis: 0.05,
            psi_elevated: 10.0,
            psi_high: 30.0,
            psi_critical_full: 20.0,
        }
    }
}

impl PressureThresholds {
    /// The level for a share of the limit in use, without history.
    pub fn classify(&self, used_fraction: f64) -> PressureLevel {
        if used_fraction >= self.critical {
            PressureLevel::Critical
        } else if used_fraction >= self.high {
            PressureLevel::High
        } else if used_fraction >= self.elevated {
            PressureLevel::Elevated
        } else {
            PressureLevel::Normal
        }
    }

    /// The level stall information alone calls for.
    pub fn classify_psi(&self, psi: Option<PsiReading>) -> PressureLevel {
        let Some(psi) = psi else {
            return PressureLevel::Normal;
        };
        if psi.full_avg10 >= self.psi_critical_full {
            PressureLevel::Critical
        } else if psi.some_avg10 >= self.psi_high {
            PressureLevel::High
        } else if psi.some_avg10 >= self.psi_elevated {
            PressureLevel::Elevated
        } else {
            PressureLevel::Normal
        }
    }

    /// Like [`next_level`](Self::next_level), with stall information able to raise the level
    /// (never to lower it below what usage says) and to hold it while stalls go on.
    pub fn next_level_with_psi(
        &self,
        current: PressureLevel,
        used_fraction: f64,
        psi: Option<PsiReading>,
    ) -> PressureLevel {
        self.next_level(current, used_fraction)
            .max(self.classify_psi(psi))
    }

    fn threshold(&self, level: PressureLevel) -> f64 {
        match level {
            PressureLevel::Normal => 0.0,
            PressureLevel::Elevated => self.elevated,
            PressureLevel::High => self.high,
            PressureLevel::Critical => self.critical,
        }
    }

    /// The level after `current`, given a new share: rising takes effect at once, falling
    /// only once the share is below the current level's threshold minus the hysteresis, and
    /// then to whichever lower level that share belongs to.
    pub fn next_level(&self, current: PressureLevel, used_fraction: f64) -> PressureLevel {
        let raw = self.classify(used_fraction);
        if raw >= current {
            return raw;
        }
        if used_fraction < self.threshold(current) - self.hysteresis {
            // Falling past several levels at once is fine, but each lower level must also be
            // cleared with hysteresis so that a share just under `high` lands in Elevated.
            let mut level = current;
            while level > raw && used_fraction < self.threshold(level) - self.hysteresis {
                level = lower(level);
            }
            level
        } else {
            current
        }
    }
}

fn lower(level: PressureLevel) -> PressureLevel {
    match level {
        PressureLevel::Critical => PressureLevel::High,
        PressureLevel::High => PressureLevel::Elevated,
        _ => PressureLevel::Normal,
    }
}

/// One sample taken by a [`PressureMonitor`].
#[derive(Debug, Clone, PartialEq)]
pub struct PressureSample {
    /// The raw reading.
    pub reading: MemoryReading,
    /// The effective limit and the usage that counts against it.
    pub limit: EffectiveLimit,
    /// The level before this sample.
    pub previous: PressureLevel,
    /// The level after this sample.
    pub level: PressureLevel,
}

impl PressureSample {
    /// Whether the level changed with this sample.
    pub fn changed(&self) -> bool {
        self.previous != self.level
    }
}

/// Turns probe readings into pressure levels, remembering the current level for hysteresis.
///
/// The monitor does not run on its own: its owner calls [`sample`](Self::sample) on a
/// cadence (the strategy layer does it from a timer task), so tests drive it step by step.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use loader_memory::{MemoryReading, PressureLevel, PressureMonitor, PressureThresholds, ScriptedProbe};
/// let rss = |mib: u64| MemoryReading { total: 8 << 30, available: 4 << 30, process_rss: mib << 20, cgroup: None, psi: None };
/// let probe = Arc::new(ScriptedProbe::new([rss(10), rss(90), rss(50)]));
/// let monitor = PressureMonitor::new(probe, PressureThresholds::default(), Some(100 << 20));
/// assert_eq!(monitor.sample().unwrap().level, PressureLevel::Normal);
/// assert_eq!(monitor.sample().unwrap().level, PressureLevel::High);
/// assert_eq!(monitor.sample().unwrap().level, PressureLevel::Normal);
/// ```
pub struct PressureMonitor {
    probe: Arc<dyn MemoryProbe>,
    thresholds: PressureThresholds,
    explicit_limit: Option<u64>,
    level: Mutex<PressureLevel>,
}

impl fmt::Debug for PressureMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PressureMonitor")
            .field("thresholds", &self.thresholds)
            .field("explicit_limit", &self.explicit_limit)
            .field("level", &self.level())
            .finish()
    }
}

impl PressureMonitor {
    /// A monitor over `probe`; `explicit_limit` is the operator's `--memory-limit`, if any.
    pub fn new(
        probe: Arc<dyn MemoryProbe>,
        thresholds: PressureThresholds,
        explicit_limit: Option<u64>,
    ) -> Self {
        PressureMonitor {
            probe,
            thresholds,
            explicit_limit,
            level: Mutex::new(PressureLevel::Normal),
        }
    }

    /// The level after the last sample.
    pub fn level(&self) -> PressureLevel {
        *self.level.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the probe once and updates the level.
    ///
    /// # Errors
    ///
    /// Whatever the probe returns; the level is then left unchanged.
    pub fn sample(&self) -> Result<PressureSample> {
        let reading = self.probe.read()?;
        let limit = reading.effective_limit(self.explicit_limit);
        let mut level = self.level.lock().unwrap_or_else(|p| p.into_inner());
        let previous = *level;
        *level = self
            .thresholds
            .next_level_with_psi(previous, limit.used_fraction(), reading.psi);
        Ok(PressureSample {
            reading,
            limit,
            previous,
            level: *level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MockMemoryProbe, ScriptedProbe};
    use PressureLevel::*;

    fn at_share(share: f64) -> MemoryReading {
        MemoryReading {
            total: 1000,
            available: 1000 - (share * 1000.0) as u64,
            process_rss: 1,
            cgroup: None,
            psi: None,
        }
    }

    #[test]
    fn stalls_raise_the_level_even_with_room_left() {
        let stalled = |some: f64, full: f64| MemoryReading {
            psi: Some(PsiReading {
                some_avg10: some,
                full_avg10: full,
            }),
            ..at_share(0.2)
        };
        let probe = Arc::new(ScriptedProbe::strict([
            stalled(0.0, 0.0),
            stalled(12.0, 0.0),
            stalled(35.0, 5.0),
            stalled(80.0, 40.0),
            stalled(0.0, 0.0),
        ]));
        let monitor = PressureMonitor::new(probe, PressureThresholds::default(), None);
        let levels: Vec<_> = (0..5).map(|_| monitor.sample().unwrap().level).collect();
        assert_eq!(levels, [Normal, Elevated, High, Critical, Normal]);
    }

    #[test]
    fn scripted_readings_drive_the_expected_level_changes() {
        let shares = [0.10, 0.72, 0.86, 0.97, 0.93, 0.88, 0.81, 0.60, 0.20];
        let probe = Arc::new(ScriptedProbe::strict(shares.map(at_share)));
        let monitor = PressureMonitor::new(probe, PressureThresholds::default(), None);
        let levels: Vec<_> = shares
            .iter()
            .map(|_| monitor.sample().unwrap().level)
            .collect();
        assert_eq!(
            levels,
            [
                Normal, Elevated, High, Critical, Critical, High, High, Normal, Normal
            ]
        );
        assert!(monitor.sample().is_err(), "strict script is exhausted");
        assert_eq!(
            monitor.level(),
            Normal,
            "a failed sample leaves the level alone"
        );
    }

    #[test]
    fn hysteresis_stops_flapping_around_a_threshold() {
        let t = PressureThresholds::default();
        let mut level = Normal;
        let mut changes = 0;
        for share in [0.71, 0.69, 0.71, 0.68, 0.70, 0.66, 0.71] {
            let next = t.next_level(level, share);
            changes += usize::from(next != level);
            level = next;
        }
        assert_eq!(changes, 1, "only the first crossing changes the level");
        assert_eq!(t.next_level(Elevated, 0.64), Normal);
    }

    #[test]
    fn mocked_probe_is_read_once_per_sample() {
        let mut probe = MockMemoryProbe::new();
        probe.expect_read().times(2).returning(|| Ok(at_share(0.5)));
        let monitor = PressureMonitor::new(Arc::new(probe), PressureThresholds::default(), None);
        monitor.sample().unwrap();
        let sample = monitor.sample().unwrap();
        assert!(!sample.changed());
    }
}
