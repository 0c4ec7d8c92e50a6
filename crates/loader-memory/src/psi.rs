use crate::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Pressure stall information for memory: the share of the last 10 seconds in which some
/// (or all) runnable tasks were stalled waiting for memory, in percent.
///
/// The kernel reports it in `/proc/pressure/memory` and, on cgroup v2, per cgroup in
/// `memory.pressure`. Stalls show trouble that usage figures miss: a process can be far from
/// its limit and still thrash because the machine is short.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PsiReading {
    /// `some avg10`: percent of time at least one task stalled on memory.
    pub some_avg10: f64,
    /// `full avg10`: percent of time all non-idle tasks stalled on memory.
    pub full_avg10: f64,
}

/// Reads PSI from the first readable of several files (the cgroup's own, then the system's).
#[derive(Debug, Clone)]
pub struct PsiReader {
    candidates: Vec<PathBuf>,
}

impl PsiReader {
    /// Reads `/proc/pressure/memory`; [`CgroupReader`](crate::CgroupReader) puts the cgroup's
    /// `memory.pressure` first when it has one.
    pub fn system() -> Self {
        PsiReader::with_paths(["/proc/pressure/memory"])
    }

    /// Reads the first of `paths` that exists.
    pub fn with_paths(paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        PsiReader {
            candidates: paths.into_iter().map(Into::into).collect(),
        }
    }

    /// Puts `path` before the other candidates.
    pub fn prefer(mut self, path: impl Into<PathBuf>) -> Self {
        self.candidates.insert(0, path.into());
        self
    }

    /// The reading, or `Ok(None)` where the kernel has no PSI.
    ///
    /// # Errors
    ///
    /// [`Error::Probe`] when a PSI file exists but cannot be parsed.
    pub fn read(&self) -> Result<Option<PsiReading>> {
        for path in &self.candidates {
            if let Ok(text) = fs::read_to_string(path) {
                return parse(path, &text).map(Some);
            }
        }
        Ok(None)
    }
}

fn parse(path: &Path, text: &str) -> Result<PsiReading> {
    let mut reading = PsiReading::default();
    let mut found = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let avg10 = words
            .find_map(|w| w.strip_prefix("avg10="))
            .and_then(|v| v.parse::<f64>().ok());
        match (kind, avg10) {
            (Some("some"), Some(v)) => {
                reading.some_avg10 = v;
                found = true;
            }
            (Some("full"), Some(v)) => reading.full_avg10 = v,
            _ => {}
        }
    }
    if found {
        Ok(reading)
    } else {
        Err(Error::Probe {
            path: path.to_path_buf(),
            reason: "no 'some avg10=' line".into(),
        })
    }
}

/// This process's resident set size from `/proc/self/status` (`VmRSS`), in bytes: one small
/// read, cheap enough to take around every cleanup hook. `None` where there is no procfs.
pub fn process_rss() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_format_and_prefers_the_cgroup_file() {
        let dir = std::env::temp_dir().join(format!("loader-psi-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let system = dir.join("system");
        let cgroup = dir.join("memory.pressure");
        fs::write(&system, "some avg10=1.50 avg60=0.00 avg300=0.00 total=10\nfull avg10=0.25 avg60=0.00 avg300=0.00 total=3\n").unwrap();
        let reading = PsiReader::with_paths([&system]).read().unwrap().unwrap();
        assert_eq!(
            reading,
            PsiReading {
                some_avg10: 1.5,
                full_avg10: 0.25
            }
        );

        fs::write(&cgroup, "some avg10=42.00 avg60=0.00 avg300=0.00 total=1\n").unwrap();
        let reading = PsiReader::with_paths([&system])
            .prefer(&cgroup)
            .read()
            .unwrap()
            .unwrap();
        assert_eq!(reading.some_avg10, 42.0);

        fs::write(&cgroup, "garbage\n").unwrap();
        assert!(PsiReader::with_paths([&cgroup]).read().is_err());
        assert_eq!(
            PsiReader::with_paths([dir.join("absent")]).read().unwrap(),
            None
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_rss_is_plausible() {
        let rss = process_rss().unwrap();
        assert!(rss > 1 << 20 && rss < 1 << 40, "{rss}");
    }
}
