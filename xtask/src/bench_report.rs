//! The bench report: one markdown table of measurements and one of targets, printed and
//! written to `target/bench/report.md`.

use crate::bench::Measure;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Default)]
pub(crate) struct Report {
    rows: Vec<String>,
    targets: Vec<(String, String, bool)>,
}

impl Report {
    /// One measured tool: wall time, throughput and peak RSS; `versus` says what it is
    /// compared with (e.g. `0.38x sqlite3 time`).
    pub(crate) fn row(
        &mut self,
        section: &str,
        tool: &str,
        rows: u64,
        bytes: u64,
        m: &Measure,
        versus: &str,
    ) {
        let secs = m.wall.as_secs_f64().max(1e-9);
        let line = format!(
            "| {section} | {tool} | {secs:.2} | {:.0} | {:.1} | {:.1} | {versus} |",
            rows as f64 / secs,
            bytes as f64 / 1e6 / secs,
            m.peak_rss_kib as f64 / 1024.0,
        );
        println!("{line}");
        self.rows.push(line);
    }

    /// A target, what was measured, and whether it was met.
    pub(crate) fn target(&mut self, name: &str, measured: String, met: bool) {
        println!(
            "target {}: {name}: {measured}",
            if met { "met" } else { "MISSED" }
        );
        self.targets.push((name.to_owned(), measured, met));
    }

    /// The targets missed.
    pub(crate) fn missed(&self) -> Vec<String> {
        self.targets
            .iter()
            .filter(|(_, _, met)| !met)
            .map(|(name, measured, _)| format!("{name}: {measured}"))
            .collect()
    }

    /// Writes the markdown report.
    pub(crate) fn write(&self, path: &Path, header: &str) -> Result<String, String> {
        let mut text = format!("# loader bench\n\n{header}\n\n");
        text.push_str(
            "| section | tool | seconds | rows/s | MB/s | peak RSS MiB | compared |\n|---|---|---:|---:|---:|---:|---|\n",
        );
        for row in &self.rows {
            text.push_str(row);
            text.push('\n');
        }
        text.push_str("\n| target | measured | met |\n|---|---|---|\n");
        for (name, measured, met) in &self.targets {
            let _ = writeln!(
                text,
                "| {name} | {measured} | {} |",
                if *met { "yes" } else { "no" }
            );
        }
        std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(text)
    }
}
