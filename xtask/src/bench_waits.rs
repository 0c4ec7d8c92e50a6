//! What PostgreSQL's backends did while a bench load ran: one psql session samples
//! `pg_stat_activity` about every 10 ms (`\watch`), and each active client backend of the
//! bench's database counts once per sample, as on CPU or as waiting on its wait event. The
//! sampling takes CPU of its own, so it runs beside loads that are not timed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};

const SAMPLE: &str = "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') \
    FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
    AND state = 'active' AND backend_type = 'client backend'";

pub(crate) struct WaitSampler {
    psql: Child,
}

/// How often each state was seen, over all samples and backends.
#[derive(Debug, Default)]
pub(crate) struct Waits {
    counts: BTreeMap<String, u64>,
}

impl WaitSampler {
    pub(crate) fn start(url: &str) -> Result<Self, String> {
        let mut psql = Command::new("psql")
            .args([url, "-X", "-q", "-t", "-A"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("psql: {e}"))?;
        let mut stdin = psql.stdin.take().ok_or("psql: no stdin")?;
        writeln!(stdin, "{SAMPLE}\n\\watch 0.01").map_err(|e| format!("psql: {e}"))?;
        Ok(WaitSampler { psql })
    }

    /// Ends the sampling: SIGINT stops `\watch`, and psql then reads the end of its input
    /// and exits, flushing what it printed.
    pub(crate) fn stop(self) -> Result<Waits, String> {
        Command::new("kill")
            .args(["-INT", &self.psql.id().to_string()])
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        let output = self
            .psql
            .wait_with_output()
            .map_err(|e| format!("psql: {e}"))?;
        let mut waits = Waits::default();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if !line.trim().is_empty() {
                *waits.counts.entry(line.trim().to_owned()).or_default() += 1;
            }
        }
        Ok(waits)
    }
}

impl Waits {
    fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The share of samples in `state` (`CPU`, or `type:event` such as `Lock:extend`).
    pub(crate) fn share(&self, state: &str) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        self.counts.get(state).copied().unwrap_or(0) as f64 / total as f64
    }

    /// The most frequent states with their shares, e.g. `CPU 81%, Lock:extend 12%`.
    pub(crate) fn summary(&self, most: usize) -> String {
        let mut states: Vec<(&String, &u64)> = self.counts.iter().collect();
        states.sort_by(|a, b| b.1.cmp(a.1));
        let parts: Vec<String> = states
            .iter()
            .take(most)
            .map(|(state, _)| format!("{state} {:.0}%", 100.0 * self.share(state)))
            .collect();
        if parts.is_empty() {
            "no samples".to_owned()
        } else {
            parts.join(", ")
        }
    }
}
