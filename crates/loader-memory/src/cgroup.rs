use crate::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Limits at or above this are the kernel's way of saying "no limit" on cgroup v1
/// (`9223372036854771712`, `i64::MAX` rounded down to a page).
const V1_UNLIMITED_FLOOR: u64 = 1 << 62;

/// Which cgroup hierarchy the memory controller was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgroupVersion {
    /// The legacy per-controller hierarchy (`/sys/fs/cgroup/memory/...`).
    V1,
    /// The unified hierarchy (`memory.max`, `memory.current`).
    V2,
}

/// The memory limit and usage of this process's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupReading {
    /// Hierarchy version.
    pub version: CgroupVersion,
    /// The cgroup directory whose limit is the tightest (or this process's own when unlimited).
    pub path: PathBuf,
    /// The tightest limit on the way up to the root; `None` when unlimited.
    pub limit: Option<u64>,
    /// Usage charged to `path`; on v1 this includes page cache.
    pub usage: u64,
    /// Inactive file-backed pages in `usage`, which the kernel reclaims before it kills.
    pub inactive_file: u64,
}

impl CgroupReading {
    /// Usage that is not reclaimable page cache: what counts toward an out-of-memory kill.
    pub fn working_set(&self) -> u64 {
        self.usage.saturating_sub(self.inactive_file)
    }
}

/// Finds and reads this process's memory cgroup.
///
/// The paths are parameters so that tests can point the reader at a fake tree.
///
/// # Example
///
/// ```
/// use loader_memory::CgroupReader;
/// // On a machine without cgroups this is Ok(None); it never panics.
/// let reading = CgroupReader::system().read();
/// assert!(reading.is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct CgroupReader {
    proc_cgroup: PathBuf,
    mount_root: PathBuf,
}

impl CgroupReader {
    /// Reads `/proc/self/cgroup` and `/sys/fs/cgroup`.
    pub fn system() -> Self {
        CgroupReader::with_paths("/proc/self/cgroup", "/sys/fs/cgroup")
    }

    /// Reads the given membership file and cgroup mount root.
    pub fn with_paths(proc_cgroup: impl Into<PathBuf>, mount_root: impl Into<PathBuf>) -> Self {
        CgroupReader {
            proc_cgroup: proc_cgroup.into(),
            mount_root: mount_root.into(),
        }
    }

    /// Reads this process's memory cgroup; `Ok(None)` when there is none to read.
    ///
    /// # Errors
    ///
    /// [`Error::Probe`] when a cgroup file exists but cannot be parsed.
    pub fn read(&self) -> Result<Option<CgroupReading>> {
        let Ok(membership) = fs::read_to_string(&self.proc_cgroup) else {
            return Ok(None);
        };
        let mut v1_path = None;
        let mut v2_path = None;
        for line in membership.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if controllers.split(',').any(|c| c == "memory") {
                v1_path = Some(path.to_owned());
            } else if id == "0" && controllers.is_empty() {
                v2_path = Some(path.to_owned());
            }
        }
        let v1_root = self.mount_root.join("memory");
        if let Some(path) = v1_path
            && v1_root.is_dir()
        {
            return read_hierarchy(CgroupVersion::V1, &v1_root, &path).map(Some);
        }
        if let Some(path) = v2_path {
            let controllers = fs::read_to_string(self.mount_root.join("cgroup.controllers"));
            if controllers.is_ok_and(|c| c.split_whitespace().any(|c| c == "memory")) {
                return read_hierarchy(CgroupVersion::V2, &self.mount_root, &path).map(Some);
            }
        }
        Ok(None)
    }
}

fn read_hierarchy(version: CgroupVersion, root: &Path, relative: &str) -> Result<CgroupReading> {
    let own = root.join(relative.trim_start_matches('/'));
    // Inside a cgroup namespace the membership path may not exist under our mount; the
    // mount root then is our own cgroup.
    let own = if own.is_dir() {
        own
    } else {
        root.to_path_buf()
    };
    let (limit_file, usage_file) = match version {
        CgroupVersion::V1 => ("memory.limit_in_bytes", "memory.usage_in_bytes"),
        CgroupVersion::V2 => ("memory.max", "memory.current"),
    };
    let mut tightest: Option<(u64, PathBuf)> = None;
    let mut dir = own.clone();
    loop {
        if let Some(limit) = read_limit(&dir.join(limit_file))?
            && tightest.as_ref().is_none_or(|(best, _)| limit < *best)
        {
            tightest = Some((limit, dir.clone()));
        }
        if dir == root || !dir.pop() || !dir.starts_with(root) {
            break;
        }
    }
    let (limit, path) = match tightest {
        Some((limit, path)) => (Some(limit), path),
        None => (None, own),
    };
    let usage = read_u64(&path.join(usage_file))?.unwrap_or(0);
    let stat_key = match version {
        CgroupVersion::V1 => "total_inactive_file",
        CgroupVersion::V2 => "inactive_file",
    };
    let inactive_file = read_stat(&path.join("memory.stat"), stat_key)?.unwrap_or(0);
    Ok(CgroupReading {
        version,
        path,
        limit,
        usage,
        inactive_file,
    })
}

fn read_limit(path: &Path) -> Result<Option<u64>> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(None);
    };
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    let value = parse_u64(path, text)?;
    Ok((value < V1_UNLIMITED_FLOOR).then_some(value))
}

fn read_u64(path: &Path) -> Result<Option<u64>> {
    match fs::read_to_string(path) {
        Ok(text) => parse_u64(path, text.trim()).map(Some),
        Err(_) => Ok(None),
    }
}

fn read_stat(path: &Path, key: &str) -> Result<Option<u64>> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(None);
    };
    for line in text.lines() {
        if let Some((name, value)) = line.split_once(' ')
            && name == key
        {
            return parse_u64(path, value.trim()).map(Some);
        }
    }
    Ok(None)
}

fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    text.parse().map_err(|_| Error::Probe {
        path: path.to_path_buf(),
        reason: format!("expected a number of bytes, found {text:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn v1_hybrid_takes_tightest_ancestor_and_subtracts_page_cache() {
        let tmp = tempdir();
        let root = tmp.join("sys");
        write(
            &tmp.join("cgroup"),
            "9:name=systemd:/\n4:memory:/jobs/job1\n0::/\n",
        );
        write(
            &root.join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(
            &root.join("memory/jobs/memory.limit_in_bytes"),
            "268435456\n",
        );
        write(
            &root.join("memory/jobs/memory.usage_in_bytes"),
            "200000000\n",
        );
        write(
            &root.join("memory/jobs/memory.stat"),
            "cache 100\ntotal_inactive_file 50000000\n",
        );
        write(
            &root.join("memory/jobs/job1/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(
            &root.join("memory/jobs/job1/memory.usage_in_bytes"),
            "1000\n",
        );
        let reading = CgroupReader::with_paths(tmp.join("cgroup"), &root)
            .read()
            .unwrap()
            .unwrap();
        assert_eq!(reading.version, CgroupVersion::V1);
        assert_eq!(reading.limit, Some(268_435_456));
        assert_eq!(reading.path, root.join("memory/jobs"));
        assert_eq!(reading.working_set(), 150_000_000);
    }

    #[test]
    fn v2_reads_memory_max_and_recognises_unlimited() {
        let tmp = tempdir();
        let root = tmp.join("sys");
        write(&tmp.join("cgroup"), "0::/app\n");
        write(&root.join("cgroup.controllers"), "cpu io memory pids\n");
        write(&root.join("app/memory.max"), "max\n");
        write(&root.join("app/memory.current"), "4096\n");
        write(
            &root.join("app/memory.stat"),
            "anon 4096\ninactive_file 0\n",
        );
        let reading = CgroupReader::with_paths(tmp.join("cgroup"), &root)
            .read()
            .unwrap()
            .unwrap();
        assert_eq!(reading.version, CgroupVersion::V2);
        assert_eq!(reading.limit, None);
        assert_eq!(reading.usage, 4096);

        write(&root.join("app/memory.max"), "1073741824\n");
        let reading = CgroupReader::with_paths(tmp.join("cgroup"), &root)
            .read()
            .unwrap()
            .unwrap();
        assert_eq!(reading.limit, Some(1 << 30));
    }

    #[test]
    fn no_memory_controller_is_none_and_garbage_is_an_error() {
        let tmp = tempdir();
        let root = tmp.join("sys");
        write(&tmp.join("cgroup"), "0::/\n");
        write(&root.join("cgroup.controllers"), "cpu io\n");
        assert_eq!(
            CgroupReader::with_paths(tmp.join("cgroup"), &root)
                .read()
                .unwrap(),
            None
        );

        write(&root.join("cgroup.controllers"), "memory\n");
        write(&root.join("memory.max"), "lots\n");
        let err = CgroupReader::with_paths(tmp.join("cgroup"), &root)
            .read()
            .unwrap_err();
        assert!(err.to_string().contains("memory.max"), "{err}");
    }

    #[test]
    fn real_system_reading_never_fails() {
        let reading = CgroupReader::system().read().unwrap();
        if let Some(reading) = reading {
            assert!(reading.path.exists());
        }
    }

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "loader-memory-cgroup-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
