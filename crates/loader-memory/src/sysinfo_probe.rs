use crate::{CgroupReader, CgroupVersion, Error, MemoryProbe, MemoryReading, PsiReader, Result};
use std::sync::Mutex;
use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// The real machine: system memory and this process's RSS from sysinfo, the cgroup from the
/// kernel's files (see [`CgroupReader`]).
///
/// # Example
///
/// ```
/// use loader_memory::{MemoryProbe, SysinfoProbe};
/// let probe = SysinfoProbe::new().unwrap();
/// let reading = probe.read().unwrap();
/// assert!(reading.total > 0 && reading.process_rss > 0);
/// ```
pub struct SysinfoProbe {
    system: Mutex<System>,
    pid: Pid,
    cgroup: CgroupReader,
}

impl std::fmt::Debug for SysinfoProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SysinfoProbe")
            .field("pid", &self.pid)
            .finish()
    }
}

impl SysinfoProbe {
    /// A probe of this process on this machine.
    ///
    /// # Errors
    ///
    /// [`Error::Probe`] when sysinfo cannot initialise on this platform.
    pub fn new() -> Result<Self> {
        Self::with_cgroup_reader(CgroupReader::system())
    }

    /// A probe that reads the cgroup through `cgroup` (for tests with a fake tree).
    ///
    /// # Errors
    ///
    /// [`Error::Probe`] when sysinfo cannot initialise on this platform.
    pub fn with_cgroup_reader(cgroup: CgroupReader) -> Result<Self> {
        let probe_error = |reason: String| Error::Probe {
            path: "/proc".into(),
            reason,
        };
        let system = System::new().map_err(|e| probe_error(e.to_string()))?;
        let pid = sysinfo::get_current_pid().map_err(|e| probe_error(e.to_string()))?;
        Ok(SysinfoProbe {
            system: Mutex::new(system),
            pid,
            cgroup,
        })
    }
}

impl MemoryProbe for SysinfoProbe {
    fn read(&self) -> Result<MemoryReading> {
        let mut system = self.system.lock().expect("sysinfo lock");
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            true,
            ProcessRefreshKind::nothing().with_memory(),
        );
        let process_rss = system.process(self.pid).map_or(0, |p| p.memory());
        let cgroup = self.cgroup.read()?;
        // A cgroup v2 has its own stall figures, closer to what an OOM kill would look at.
        let psi = match &cgroup {
            Some(c) if c.version == CgroupVersion::V2 => PsiReader::system()
                .prefer(c.path.join("memory.pressure"))
                .read()?,
            _ => PsiReader::system().read()?,
        };
        Ok(MemoryReading {
            total: system.total_memory(),
            available: system.available_memory(),
            process_rss,
            cgroup,
            psi,
        })
    }
}
