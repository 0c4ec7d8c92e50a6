//! Progress while a load runs: bars on a terminal (one per file being loaded and one in
//! total, with rows/s, MB/s, ETA, memory against the budget and the pressure level), a log
//! line every few seconds otherwise. It reads `LiveProgress` snapshots on its own thread,
//! ten times a second at most, so the load never waits for it.

use crate::format::{bytes, count};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use loader_strategy::{LiveProgress, LiveSnapshot, LiveState};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars redrawn in place (stderr is a terminal).
    Bars,
    /// A line every `LINE_EVERY` (stderr is a file or a pipe).
    Lines,
    /// Nothing (`--quiet`).
    Off,
}

/// How often a progress line is written when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

impl Mode {
    /// Bars on a terminal, lines elsewhere, nothing when quiet.
    pub fn choose(quiet: bool) -> Mode {
        if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        }
    }
}

/// A running display; [`finish`](Self::finish) stops it and clears the bars.
pub struct Display {
    /// Dropped to stop the display: its thread wakes at once instead of finishing a sleep,
    /// which held up the end of short loads by up to a tenth of a second.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Display {
    /// Starts showing `live` in `mode`.
    pub fn start(live: Arc<LiveProgress>, mode: Mode) -> Display {
        let (stop, stopped) = channel();
        let thread = match mode {
            Mode::Off => None,
            Mode::Bars => Some(std::thread::spawn(move || bars(&live, &stopped))),
            Mode::Lines => Some(std::thread::spawn(move || lines(&live, &stopped))),
        };
        Display {
            stop: Some(stop),
            thread,
        }
    }

    /// Stops the display (the bars are cleared: the summary follows).
    pub fn finish(mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Totals of a snapshot: rows done, rows expected, input bytes behind commits.
fn totals(snapshot: &LiveSnapshot) -> (u64, u64, u64) {
    let done: u64 = snapshot.files.iter().map(|f| f.rows_done()).sum();
    let expected: u64 = snapshot
        .files
        .iter()
        .map(|f| match f.state {
            LiveState::Done | LiveState::Skipped | LiveState::Failed => f.rows_done(),
            _ => f.estimated_rows.max(f.rows_done()),
        })
        .sum();
    let position: u64 = snapshot.files.iter().map(|f| f.position).sum();
    (done, expected.max(done), position)
}

/// Rows/s and MB/s so far.
fn rates(snapshot: &LiveSnapshot, done: u64, position: u64) -> String {
    let seconds = snapshot.elapsed.max(1e-3);
    format!(
        "{} rows/s, {}/s",
        count((done as f64 / seconds) as u64),
        bytes((position as f64 / seconds) as u64),
    )
}

/// Memory in use against the limit, batches against the budget, and the pressure level.
fn memory(snapshot: &LiveSnapshot) -> String {
    format!(
        "{} of {} limit, batches {} of {} budget, pressure {}",
        bytes(snapshot.memory_used),
        bytes(snapshot.limit),
        bytes(snapshot.memory_reserved),
        bytes(snapshot.budget),
        snapshot.level,
    )
}

fn style(template: &str) -> ProgressStyle {
    let template = if crate::logging::colour() {
        template.to_owned()
    } else {
        // Styles in braces after a dot (`{bar:30.cyan}`) are colours: drop them.
        template.replace(".cyan/blue", "").replace(".green", "")
    };
    ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Waits a tenth of a second; false once the display is stopped.
fn tick(stopped: &Receiver<()>) -> bool {
    matches!(
        stopped.recv_timeout(Duration::from_millis(100)),
        Err(RecvTimeoutError::Timeout)
    )
}

fn bars(live: &LiveProgress, stopped: &Receiver<()>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
    let total = multi.add(ProgressBar::new(0));
    total.set_style(style(
        "{prefix:.green} [{bar:30.cyan/blue}] {percent:>3}% {human_pos}/{human_len} rows, eta {eta}, {msg}",
    ));
    total.set_prefix("total ");
    let status = multi.add(ProgressBar::new(0));
    status.set_style(style("{prefix:.green} {msg}"));
    status.set_prefix("memory");
    let file_style =
        style("  {prefix:<28} [{bar:20.cyan/blue}] {human_pos}/{human_len} rows, eta {eta}{msg}");
    // Each running file's bar, and when it was first seen with its rows and position then
    // (for its own rows/s and MB/s).
    let mut per_file: HashMap<PathBuf, (ProgressBar, Instant, u64, u64)> = HashMap::new();
    loop {
        let snapshot = live.snapshot();
        let (done, expected, position) = totals(&snapshot);
        total.set_length(expected);
        total.set_position(done);
        total.set_message(rates(&snapshot, done, position));
        status.set_message(memory(&snapshot));
        for file in &snapshot.files {
            match file.state {
                LiveState::Running => {
                    let (bar, seen, rows_from, from) =
                        per_file.entry(file.path.clone()).or_insert_with(|| {
                            let bar = multi.add(ProgressBar::new(file.estimated_rows));
                            bar.set_style(file_style.clone());
                            bar.set_prefix(short_name(&file.path));
                            bar.set_position(file.rows_done());
                            (bar, Instant::now(), file.rows_done(), file.position)
                        });
                    bar.set_length(file.estimated_rows.max(file.rows_done()));
                    bar.set_position(file.rows_done());
                    let seconds = seen.elapsed().as_secs_f64().max(1e-3);
                    let rows = file.rows_done().saturating_sub(*rows_from) as f64 / seconds;
                    let rate = file.position.saturating_sub(*from) as f64 / seconds;
                    let mut message =
                        format!(", {} rows/s, {}/s", count(rows as u64), bytes(rate as u64));
                    if file.rows_rejected > 0 {
                        message.push_str(&format!(", {} rejected", count(file.rows_rejected)));
                    }
                    bar.set_message(message);
                }
                _ => {
                    if let Some((bar, ..)) = per_file.remove(&file.path) {
                        bar.finish_and_clear();
                        multi.remove(&bar);
                    }
                }
            }
        }
        if !tick(stopped) {
            break;
        }
    }
    for (bar, ..) in per_file.values() {
        bar.finish_and_clear();
    }
    total.finish_and_clear();
    status.finish_and_clear();
    let _ = multi.clear();
}

fn short_name(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.char_indices().nth(27) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name,
    }
}

fn lines(live: &LiveProgress, stopped: &Receiver<()>) {
    let began = Instant::now();
    let mut last = began;
    while tick(stopped) {
        if last.elapsed() < LINE_EVERY {
            continue;
        }
        last = Instant::now();
        let snapshot = live.snapshot();
        if snapshot.files.is_empty() {
            // No plan yet: the files are being sampled, or the target is slow to open.
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "progress: starting for {:.0}s (sampling the files, opening the target)",
                    began.elapsed().as_secs_f64()
                );
            }
            continue;
        }
        let (done, expected, position) = totals(&snapshot);
        let finished = snapshot
            .files
            .iter()
            .filter(|f| !matches!(f.state, LiveState::Waiting | LiveState::Running))
            .count();
        let rate = done as f64 / snapshot.elapsed.max(1e-3);
        let eta = if rate > 0.0 {
            format!("{:.0}s", expected.saturating_sub(done) as f64 / rate)
        } else {
            "unknown".into()
        };
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "progress: {:.0}% {} of ~{} rows, {}/{} files, eta {eta}, {}; memory {}",
                100.0 * done as f64 / expected.max(1) as f64,
                count(done),
                count(expected),
                finished,
                snapshot.files.len(),
                rates(&snapshot, done, position),
                memory(&snapshot),
            );
        }
    }
}
