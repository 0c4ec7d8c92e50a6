use crate::{CgroupReading, Error, PsiReading, Result};
use std::collections::VecDeque;
use std::sync::Mutex;

/// One reading of the machine's and this process's memory, in bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemoryReading {
    /// Physical memory of the machine.
    pub total: u64,
    /// Memory the system could hand out now without swapping.
    pub available: u64,
    /// Resident set size of this process.
    pub process_rss: u64,
    /// This process's memory cgroup, when the system has one.
    pub cgroup: Option<CgroupReading>,
    /// Memory pressure stall information, where the kernel has it.
    pub psi: Option<PsiReading>,
}

/// Where the effective memory limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitSource {
    /// Physical memory of the machine.
    Physical,
    /// The limit of this process's cgroup (or an ancestor's).
    Cgroup,
    /// A limit given by the operator (`--memory-limit`).
    Explicit,
}

impl LimitSource {
    /// A short lower-case name: `physical`, `cgroup` or `explicit`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitSource::Physical => "physical",
            LimitSource::Cgroup => "cgroup",
            LimitSource::Explicit => "explicit",
        }
    }
}

/// The smallest limit that applies to this process, and how much of it is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveLimit {
    /// The limit in bytes.
    pub bytes: u64,
    /// Which limit won.
    pub source: LimitSource,
    /// Bytes in use that count against this limit: the process RSS for an explicit limit,
    /// the cgroup usage less reclaimable page cache for a cgroup limit, and the system's used
    /// memory for the physical limit.
    pub used: u64,
}

impl EffectiveLimit {
    /// The share of the limit in use, from 0.0 upwards (it can exceed 1.0 briefly).
    pub fn used_fraction(&self) -> f64 {
        if self.bytes == 0 {
            return 1.0;
        }
        self.used as f64 / self.bytes as f64
    }
}

impl MemoryReading {
    /// The effective limit: the smallest of physical memory, the cgroup limit and `explicit`.
    ///
    /// # Example
    ///
    /// ```
    /// use loader_memory::{LimitSource, MemoryReading};
    /// let reading = MemoryReading { total: 8 << 30, available: 6 << 30, process_rss: 50 << 20, cgroup: None, psi: None };
    /// let limit = reading.effective_limit(Some(64 << 20));
    /// assert_eq!(limit.source, LimitSource::Explicit);
    /// assert_eq!(limit.used, 50 << 20);
    /// ```
    pub fn effective_limit(&self, explicit: Option<u64>) -> EffectiveLimit {
        let mut limit = EffectiveLimit {
            bytes: self.total,
            source: LimitSource::Physical,
            used: self.total.saturating_sub(self.available),
        };
        if let Some(cgroup) = &self.cgroup
            && let Some(bytes) = cgroup.limit
            && bytes < limit.bytes
        {
            limit = EffectiveLimit {
                bytes,
                source: LimitSource::Cgroup,
                used: cgroup.working_set(),
            };
        }
        if let Some(bytes) = explicit
            && bytes < limit.bytes
        {
            limit = EffectiveLimit {
                bytes,
                source: LimitSource::Explicit,
                used: self.process_rss,
            };
        }
        limit
    }
}

/// Reads memory figures. Implementations must be cheap enough to call every few hundred
/// milliseconds, and are called from a monitoring cadence, never per row.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait MemoryProbe: Send + Sync {
    /// Takes one reading.
    ///
    /// # Errors
    ///
    /// An [`Error`] when the system figures cannot be read; a scripted probe that has run out
    /// of readings returns [`Error::ScriptExhausted`].
    fn read(&self) -> Result<MemoryReading>;
}

/// A probe that always returns the same reading.
///
/// # Example
///
/// ```
/// use loader_memory::{FixedProbe, MemoryProbe, MemoryReading};
/// let probe = FixedProbe(MemoryReading { total: 1 << 30, available: 1 << 29, process_rss: 1 << 20, cgroup: None, psi: None });
/// assert_eq!(probe.read().unwrap().available, 1 << 29);
/// ```
#[derive(Debug, Clone)]
pub struct FixedProbe(pub MemoryReading);

impl MemoryProbe for FixedProbe {
    fn read(&self) -> Result<MemoryReading> {
        Ok(self.0.clone())
    }
}

/// A probe that plays back a sequence of readings, then keeps returning the last one
/// (or fails with [`Error::ScriptExhausted`] when built with [`ScriptedProbe::strict`]).
///
/// # Example
///
/// ```
/// use loader_memory::{MemoryProbe, MemoryReading, ScriptedProbe};
/// let at = |rss| MemoryReading { total: 100, available: 50, process_rss: rss, cgroup: None, psi: None };
/// let probe = ScriptedProbe::new([at(10), at(20)]);
/// assert_eq!(probe.read().unwrap().process_rss, 10);
/// assert_eq!(probe.read().unwrap().process_rss, 20);
/// assert_eq!(probe.read().unwrap().process_rss, 20);
/// ```
#[derive(Debug)]
pub struct ScriptedProbe {
    readings: Mutex<VecDeque<MemoryReading>>,
    last: Mutex<Option<MemoryReading>>,
    strict: bool,
}

impl ScriptedProbe {
    /// Plays back `readings`, repeating the last one forever.
    pub fn new(readings: impl IntoIterator<Item = MemoryReading>) -> Self {
        ScriptedProbe {
            readings: Mutex::new(readings.into_iter().collect()),
            last: Mutex::new(None),
            strict: false,
        }
    }

    /// Plays back `readings`, then fails.
    pub fn strict(readings: impl IntoIterator<Item = MemoryReading>) -> Self {
        ScriptedProbe {
            strict: true,
            ..ScriptedProbe::new(readings)
        }
    }
}

impl MemoryProbe for ScriptedProbe {
    fn read(&self) -> Result<MemoryReading> {
        let next = self.readings.lock().expect("probe lock").pop_front();
        let mut last = self.last.lock().expect("probe lock");
        match next {
            Some(reading) => {
                *last = Some(reading.clone());
                Ok(reading)
            }
            None if self.strict => Err(Error::ScriptExhausted),
            None => last.clone().ok_or(Error::ScriptExhausted),
        }
    }
}
