//! Memory awareness for loader: what the machine has, what this process may use, and a byte
//! budget that makes work wait instead of allocating past the limit.
//!
//! # What is here
//!
//! - [`MemoryProbe`] reads a [`MemoryReading`]: total and available system memory, this
//!   process's resident set size, and the limit and usage of the process's own cgroup (v1 and
//!   v2). [`SysinfoProbe`] reads the real machine; [`FixedProbe`] and [`ScriptedProbe`] stand
//!   in for it in tests.
//! - [`EffectiveLimit`] is the smallest of physical memory, the cgroup limit and an explicit
//!   limit given by the operator, together with the usage figure that belongs to it.
//! - [`MemoryBudget`] hands out byte [`Reservation`]s that are released when dropped.
//!   `reserve` waits asynchronously, `reserve_blocking` waits on a thread, `try_reserve`
//!   never waits. A request larger than the whole budget is an error, not a deadlock.
//! - [`PressureThresholds`] and [`PressureMonitor`] turn readings (usage against the limit,
//!   and pressure stall information where the kernel has it) into [`PressureLevel`]s, with
//!   hysteresis so that a level does not flap around a threshold.
//! - [`CleanupHooks`] is the public list of things that give memory back under pressure;
//!   every run ends by returning freed heap pages to the operating system (`malloc_trim`).
//!
//! # Design decisions
//!
//! Budgets are in bytes, never in rows: a row of a wide file can be a hundred times a row of
//! a narrow one. The budget is an accounting device, not an allocator: callers reserve what
//! they are about to hold (a batch, a decoder buffer) and keep the guard alongside the data,
//! so that dropping the data releases the bytes.
//!
//! The cgroup is read from the files the kernel exposes (`/proc/self/cgroup`, then
//! `/sys/fs/cgroup/...`), walking up the hierarchy for the tightest limit, because a container
//! limit is usually set on an ancestor and sysinfo reads only the root cgroup. Cgroup v1
//! usage includes page cache, so reclaimable inactive file pages are subtracted.
//!
//! # Invariants
//!
//! - The sum of live reservations never exceeds the capacity at the moment each was granted;
//!   when the capacity shrinks, new reservations wait until usage is back under it.
//! - This crate knows nothing about files, rows or databases, and it never prints.

mod budget;
mod cgroup;
mod cleanup;
mod error;
mod pressure;
mod probe;
mod psi;
mod size;
mod sysinfo_probe;

pub use budget::{MemoryBudget, Reservation, Tally};
pub use cgroup::{CgroupReader, CgroupReading, CgroupVersion};
pub use cleanup::{CleanupHook, CleanupHooks, CleanupOutcome, keep_freed_memory};
pub use error::{Error, Result};
pub use pressure::{PressureLevel, PressureMonitor, PressureSample, PressureThresholds};
pub use probe::{
    EffectiveLimit, FixedProbe, LimitSource, MemoryProbe, MemoryReading, ScriptedProbe,
};
pub use psi::{PsiReader, PsiReading, process_rss};
pub use size::{ByteSize, parse_byte_size};
pub use sysinfo_probe::SysinfoProbe;

#[cfg(any(test, feature = "mock"))]
pub use cleanup::MockCleanupHook;
#[cfg(any(test, feature = "mock"))]
pub use probe::MockMemoryProbe;
