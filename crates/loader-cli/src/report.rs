//! `loader report [RUN_ID] --html FILE`: one self-contained HTML page drawn from a run's
//! ledger records and audit trail (inline SVG and CSS, no script, nothing fetched): throughput
//! over time, memory in use against the budget and the limit with pressure levels shaded,
//! per-file bars, and the table of events.

use crate::args::ReportArgs;
use crate::format::{bytes, count};
use anyhow::{Context, Result, bail};
use loader_batch::{AuditEvent, EventKind, FileRecord, RunRecord, Scope};
use std::fmt::Write as _;
use std::process::ExitCode;

pub async fn run(args: ReportArgs) -> Result<ExitCode> {
    let (target, ledger) =
        crate::history::open_ledger(&args.ledger.into, args.ledger.schema.as_deref()).await?;
    let runs = ledger.runs().await?;
    let run = match &args.run {
        Some(id) => runs.iter().find(|r| &r.run_id == id),
        None => runs.iter().max_by(|a, b| a.run_id.cmp(&b.run_id)),
    };
    let Some(run) = run else {
        bail!("no such run in {target}; `loader history --into {target}` lists the runs");
    };
    let files = ledger.files(&run.run_id).await?;
    let events = ledger.events(&run.run_id).await?;
    if args.json {
        let value = serde_json::json!({ "run": run, "files": files, "events": events });
        crate::outln!("{}", serde_json::to_string_pretty(&value)?);
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html(run, &files, &events))
            .with_context(|| format!("writing {}", path.display()))?;
        if !args.json {
            crate::outln!("wrote {} (run {})", path.display(), run.run_id);
        }
    }
    if !args.json && args.html.is_none() {
        bail!("say what to write: --html FILE or --json");
    }
    Ok(ExitCode::SUCCESS)
}

/// Seconds from `start` to an RFC 3339 time.
fn offset(start: chrono::DateTime<chrono::Utc>, at: &str) -> Option<f64> {
    let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    Some((at.with_timezone(&chrono::Utc) - start).num_milliseconds() as f64 / 1000.0)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The pressure level an event announces: a `sampled` event's reason is the level; a
/// `pressure` event's reads `before -> after: ...`.
fn level_of(event: &AuditEvent) -> Option<String> {
    let reason = event.reason.as_deref()?;
    match event.kind {
        EventKind::Sampled => Some(reason.to_owned()),
        EventKind::Pressure => {
            let after = reason.split_once("-> ")?.1;
            Some(after.split(':').next()?.trim().to_owned())
        }
        _ => None,
    }
}

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 70.0;
/// Room right of the plot for the last time label.
const RIGHT: f64 = 24.0;
/// Room above the plot for the top value label.
const TOP: f64 = 12.0;
const BOTTOM: f64 = 24.0;

/// An SVG frame with axes for `x` in `[0, x_max]` seconds and `y` in `[0, y_max]`.
struct Frame {
    x_max: f64,
    y_max: f64,
    svg: String,
}

impl Frame {
    fn new(title: &str, x_max: f64, y_max: f64, y_label: impl Fn(f64) -> String) -> Frame {
        let (x_max, y_max) = (x_max.max(1e-3), y_max.max(1.0));
        let mut svg = format!(
            r#"<svg viewBox="0 -{TOP} {WIDTH} {h}" role="img" aria-label="{title}"><title>{title}</title>"#,
            h = TOP + HEIGHT + BOTTOM
        );
        for step in 0..=4 {
            let y = HEIGHT - HEIGHT * f64::from(step) / 4.0;
            let value = y_max * f64::from(step) / 4.0;
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" class="grid"/><text x="{x:.1}" y="{ty:.1}" class="axis" text-anchor="end">{label}</text>"##,
                x = LEFT - 6.0,
                ty = y + 4.0,
                right = WIDTH - RIGHT,
                label = escape(&y_label(value)),
            );
        }
        for step in 0..=5 {
            let x = LEFT + (WIDTH - LEFT - RIGHT) * f64::from(step) / 5.0;
            let _ = write!(
                svg,
                r##"<text x="{x:.1}" y="{y:.1}" class="axis" text-anchor="middle">{t:.1}s</text>"##,
                y = HEIGHT + 16.0,
                t = x_max * f64::from(step) / 5.0,
            );
        }
        Frame { x_max, y_max, svg }
    }

    fn x(&self, seconds: f64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * (seconds / self.x_max).clamp(0.0, 1.0)
    }

    fn y(&self, value: f64) -> f64 {
        HEIGHT - HEIGHT * (value / self.y_max).clamp(0.0, 1.0)
    }

    fn line(&mut self, points: &[(f64, f64)], class: &str) {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", self.x(*x), self.y(*y)))
            .collect();
        let _ = write!(
            self.svg,
            r#"<polyline class="{class}" points="{}"/>"#,
            path.join(" ")
        );
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// Rows committed per second, in bins over the run.
fn throughput(events: &[(f64, &AuditEvent)], duration: f64) -> String {
    // Bins of at least half a second: finer ones show each commit, not a rate.
    let width = (duration / 60.0).max(0.5);
    let bins = (duration / width).ceil() as usize;
    let mut rows = vec![0u64; bins + 1];
    for (t, event) in events {
        if event.scope == Scope::SubBatch && event.kind == EventKind::Committed {
            let bin = ((t / width) as usize).min(bins);
            rows[bin] += event.rows.unwrap_or(0);
        }
    }
    let rates: Vec<f64> = rows.iter().map(|r| *r as f64 / width).collect();
    let peak = rates.iter().copied().fold(0.0, f64::max);
    let mut frame = Frame::new("Rows committed per second", duration, peak * 1.1, |v| {
        count(v as u64)
    });
    let mut points = Vec::with_capacity(rates.len() * 2);
    for (i, rate) in rates.iter().enumerate() {
        points.push((i as f64 * width, *rate));
        points.push(((i + 1) as f64 * width, *rate));
    }
    frame.line(&points, "rows");
    frame.finish()
}

/// Memory in use, reserved, the budget and the limit, with pressure levels shaded.
fn memory(events: &[(f64, &AuditEvent)], duration: f64) -> String {
    let samples: Vec<(f64, loader_batch::MemoryFigures)> = events
        .iter()
        .filter_map(|(t, e)| Some((*t, e.memory?)))
        .collect();
    let peak = samples
        .iter()
        .map(|(_, m)| m.limit.max(m.used) as f64)
        .fold(0.0, f64::max);
    let mut frame = Frame::new("Memory", duration, peak * 1.05, |v| bytes(v as u64));
    let levels: Vec<(f64, String)> = events
        .iter()
        .filter_map(|(t, e)| Some((*t, level_of(e)?)))
        .collect();
    for (i, (start, level)) in levels.iter().enumerate() {
        let end = levels.get(i + 1).map_or(duration, |(t, _)| *t);
        if level != "normal" {
            let (x0, x1) = (frame.x(*start), frame.x(end));
            let _ = write!(
                frame.svg,
                r#"<rect class="level-{level}" x="{x0:.1}" y="0" width="{w:.1}" height="{HEIGHT}"><title>{level}</title></rect>"#,
                level = escape(level),
                w = (x1 - x0).max(1.0),
            );
        }
    }
    let series = |f: fn(&loader_batch::MemoryFigures) -> u64| -> Vec<(f64, f64)> {
        samples.iter().map(|(t, m)| (*t, f(m) as f64)).collect()
    };
    frame.line(&series(|m| m.limit), "limit");
    frame.line(&series(|m| m.budget), "budget");
    frame.line(&series(|m| m.used), "used");
    frame.line(&series(|m| m.reserved), "reserved");
    frame.finish()
}

/// One bar per file: rows loaded, rejected and skipped, with its time.
fn file_bars(files: &[FileRecord]) -> String {
    let row_height = 26.0;
    let height = row_height * files.len().max(1) as f64 + 10.0;
    let widest = files.iter().map(|f| f.rows_read).max().unwrap_or(1).max(1) as f64;
    let label_width = 300.0;
    let scale = (WIDTH - label_width - 280.0) / widest;
    let mut svg = format!(
        r#"<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="Files"><title>Rows per file</title>"#
    );
    for (i, file) in files.iter().enumerate() {
        let y = 5.0 + i as f64 * row_height;
        let name = std::path::Path::new(&file.path)
            .file_name()
            .map_or(file.path.clone(), |n| n.to_string_lossy().into_owned());
        let seconds = offset_between(&file.started_at, file.ended_at.as_deref())
            .map(|s| format!("{s:.2}s"))
            .unwrap_or_default();
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{ty:.1}" class="label" text-anchor="end">{name}</text>"#,
            x = label_width - 8.0,
            ty = y + 16.0,
            name = escape(&name),
        );
        let mut x = label_width;
        for (value, class) in [
            (file.rows_loaded, "loaded"),
            (file.rows_rejected, "rejected"),
            (file.rows_skipped, "skipped"),
        ] {
            let w = value as f64 * scale;
            if value > 0 {
                let _ = write!(
                    svg,
                    r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="18"><title>{} {class}</title></rect>"#,
                    count(value)
                );
            }
            x += w;
        }
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{ty:.1}" class="label">{} rows{}{} {seconds} {}</text>"#,
            count(file.rows_read),
            if file.rows_rejected > 0 {
                format!(", {} rejected", count(file.rows_rejected))
            } else {
                String::new()
            },
            if file.rows_skipped > 0 {
                format!(", {} skipped", count(file.rows_skipped))
            } else {
                String::new()
            },
            file.state.as_str(),
            x = x + 6.0,
            ty = y + 14.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn offset_between(start: &str, end: Option<&str>) -> Option<f64> {
    let start = chrono::DateTime::parse_from_rfc3339(start).ok()?;
    offset(start.with_timezone(&chrono::Utc), end?)
}

/// Events of the table: everything but the per-sub-batch chatter, which the charts show.
const MAX_TABLE_EVENTS: usize = 2000;

fn event_table(events: &[(f64, &AuditEvent)]) -> String {
    let mut html = String::from(
        "<table><thead><tr><th>t</th><th>scope</th><th>event</th><th>file</th><th>batch</th><th>rows</th><th>lines</th><th>why</th></tr></thead><tbody>",
    );
    let shown: Vec<_> = events
        .iter()
        .filter(|(_, e)| e.scope != Scope::SubBatch || e.kind != EventKind::Started)
        .filter(|(_, e)| e.kind != EventKind::Sampled)
        .collect();
    for (t, e) in shown.iter().take(MAX_TABLE_EVENTS) {
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let scope = serde_json::to_value(e.scope)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr class=\"{kind}\"><td>{t:.2}s</td><td>{scope}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(e.file.as_deref().unwrap_or("")),
            e.batch.map(|b| b.to_string()).unwrap_or_default(),
            e.rows.map(count).unwrap_or_default(),
            e.lines.map(|[a, b]| format!("{a}-{b}")).unwrap_or_default(),
            escape(e.reason.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</tbody></table>");
    if shown.len() > MAX_TABLE_EVENTS {
        let _ = write!(
            html,
            "<p>{} more events: <code>loader history RUN_ID --json</code> lists them all.</p>",
            shown.len() - MAX_TABLE_EVENTS
        );
    }
    html
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:900px}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}svg{width:100%;height:auto;background:#fafafa;border:1px solid #ddd}\
.grid{stroke:#e4e4e4}.axis,.label{font-size:11px;fill:#555}polyline{fill:none;stroke-width:2}\
.rows{stroke:#2b7bb9}.used{stroke:#2b7bb9}.reserved{stroke:#59a14f}.budget{stroke:#f28e2b;stroke-dasharray:6 3}\
.limit{stroke:#e15759;stroke-dasharray:2 3}.level-elevated{fill:#fff3bf}.level-high{fill:#ffd8a8}.level-critical{fill:#ffc9c9}\
.loaded{fill:#59a14f}.rejected{fill:#e15759}.skipped{fill:#bab0ac}.key span{display:inline-block;margin-right:14px}\
.key i{display:inline-block;width:18px;height:4px;margin-right:4px;vertical-align:middle}\
table{border-collapse:collapse;font-size:12px;width:100%}td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top}\
tr.failed td,tr.fell_back td{background:#fff0f0}tr.pressure td{background:#fff8e6}dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{color:#666}dd{margin:0;overflow-wrap:anywhere}";

/// The whole page.
pub fn html(run: &RunRecord, files: &[FileRecord], events: &[AuditEvent]) -> String {
    let start = chrono::DateTime::parse_from_rfc3339(&run.started_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    let timed: Vec<(f64, &AuditEvent)> = events
        .iter()
        .filter_map(|e| Some((offset(start, &e.at)?.max(0.0), e)))
        .collect();
    let duration = run
        .ended_at
        .as_deref()
        .and_then(|end| offset(start, end))
        .or_else(|| timed.last().map(|(t, _)| *t))
        .unwrap_or(0.0)
        .max(0.001);
    let rows: u64 = files.iter().map(|f| f.rows_loaded).sum();
    let rejected: u64 = files.iter().map(|f| f.rows_rejected).sum();
    let mut page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>loader run {id}</title><style>{STYLE}</style></head><body>\
<h1>loader run {id}</h1><dl><dt>outcome</dt><dd>{outcome}</dd><dt>started</dt><dd>{started}</dd><dt>duration</dt><dd>{duration:.2}s</dd>\
<dt>rows loaded</dt><dd>{rows} ({rate} rows/s)</dd><dt>rows rejected</dt><dd>{rejected}</dd><dt>files</dt><dd>{nfiles}</dd><dt>settings</dt><dd><code>{settings}</code></dd>{error}</dl>",
        id = escape(&run.run_id),
        outcome = escape(&run.outcome),
        started = escape(&run.started_at),
        rows = count(rows),
        rate = count((rows as f64 / duration) as u64),
        rejected = count(rejected),
        nfiles = files.len(),
        settings = escape(&run.settings),
        error = run
            .error
            .as_ref()
            .map(|e| format!("<dt>error</dt><dd>{}</dd>", escape(e)))
            .unwrap_or_default(),
    );
    let _ = write!(
        page,
        "<h2>Throughput</h2>{}<h2>Memory</h2><p class=\"key\"><span><i style=\"background:#2b7bb9\"></i>in use</span><span><i style=\"background:#59a14f\"></i>reserved by batches</span><span><i style=\"background:#f28e2b\"></i>budget</span><span><i style=\"background:#e15759\"></i>limit</span><span><i style=\"background:#ffd8a8;height:10px\"></i>pressure elevated / high / critical</span></p>{}\
<h2>Files</h2><p class=\"key\"><span><i style=\"background:#59a14f;height:10px\"></i>loaded</span><span><i style=\"background:#e15759;height:10px\"></i>rejected</span><span><i style=\"background:#bab0ac;height:10px\"></i>skipped (loaded by an earlier run)</span></p>{}<h2>Events</h2>{}</body></html>",
        throughput(&timed, duration),
        memory(&timed, duration),
        file_bars(files),
        event_table(&timed),
    );
    page
}
