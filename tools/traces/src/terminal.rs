//! What the terminal commands print: the waterfall of one trace, a line per found trace, the
//! service graph. Colours are ANSI styles; the caller prints through `anstream`, which drops them
//! unless stdout is a terminal (and always under `NO_COLOR`).
//!
//! Everything from spans goes through [`clean`] first: a span name is data from any process that
//! can reach the receiver, and must not move the cursor or rewrite the screen.

mod diff;
mod logs;
#[cfg(test)]
mod tests;
mod top;

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
};

use anstyle::{AnsiColor, Effects, Style};

pub use diff::diff;
pub use top::top;

use crate::{
    client::Segment,
    log_records::{self, Record},
    store::Dependency,
    units::{human, utc},
    waterfall::{PALETTE_SIZE, Palette, Row, Waterfall},
};

/// Columns of the bars' time axis.
const BAR_WIDTH: usize = 40;
/// The operation column (indentation included) is cut to this many characters.
const MAX_OPERATION_WIDTH: usize = 56;

const ERROR: Style = AnsiColor::Red.on_default().effects(Effects::BOLD);
const WARN: Style = AnsiColor::Yellow.on_default().effects(Effects::BOLD);
const DIM: Style = Style::new().effects(Effects::DIMMED);
const BOLD: Style = Style::new().effects(Effects::BOLD);

const PALETTE: [AnsiColor; PALETTE_SIZE] = [
    AnsiColor::Blue,
    AnsiColor::Yellow,
    AnsiColor::Green,
    AnsiColor::Magenta,
    AnsiColor::Cyan,
    AnsiColor::BrightYellow,
    AnsiColor::BrightBlue,
    AnsiColor::BrightMagenta,
    AnsiColor::BrightBlack,
];

fn service_style(palette: &Palette, service: &str) -> Style {
    PALETTE[palette.colour(service)].on_default()
}

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// The trace as a waterfall: a header, then one line per span in tree order with its service,
/// its operation indented under its parent, its duration, its bar on the trace's time axis, and
/// `✗ ERROR` with the status message when it failed. A broken trace's orphans (spans whose
/// parent is not in the trace) are named under the header with their missing parent.
///
/// With the critical path, a span on it is marked `▶`, its pieces on the path are solid in its
/// bar (`█`) and the rest of every bar is light (`░`); a summary of the time on the path by span
/// ends the output.
///
/// With log records (`--logs`), each span's records are on the lines under it, and those whose
/// span is not in the trace follow the waterfall.
pub fn waterfall(
    trace: &Waterfall,
    link: &str,
    critical: Option<&[Segment]>,
    records: Option<&[Record]>,
) -> String {
    let records = records.map(|records| log_records::place(records, &trace.rows));
    let mut out = String::new();
    let mut pieces: HashMap<&str, Vec<(u64, u64)>> = HashMap::new();
    for segment in critical.unwrap_or_default() {
        pieces
            .entry(segment.span_id.as_str())
            .or_default()
            .push((segment.start_time_unix_nano, segment.end_time_unix_nano));
    }
    let ids: HashSet<&str> = trace.rows.iter().map(|row| row.span_id.as_str()).collect();
    let is_orphan =
        |row: &Row| !row.parent_span_id.is_empty() && !ids.contains(row.parent_span_id.as_str());
    let palette = Palette::new(trace.services());
    let orphans: Vec<&Row> = trace.rows.iter().filter(|row| is_orphan(row)).collect();
    out.push_str(&header(trace, link, &orphans));
    let _ = writeln!(out);
    let marker = |on_path: bool| match (critical, on_path) {
        (None, _) => "",
        (Some(_), true) => "▶ ",
        (Some(_), false) => "  ",
    };

    let service_width = trace
        .rows
        .iter()
        .map(|row| width(&clean(&row.service)))
        .chain([width("SERVICE")])
        .max()
        .unwrap_or(0);
    let operations: Vec<String> = trace
        .rows
        .iter()
        .map(|row| {
            cut(
                &format!("{}{}", "  ".repeat(row.depth), clean(&row.name)),
                MAX_OPERATION_WIDTH,
            )
        })
        .collect();
    let operation_width = column_width(&operations, "OPERATION");
    let total = human(trace.duration());
    let axis = format!("0{total:>width$}", width = BAR_WIDTH - 1);
    let _ = writeln!(
        out,
        "{}",
        paint(
            DIM,
            &format!(
                "{}{:<service_width$}  {:<operation_width$}  {:>8}  {axis}",
                marker(false),
                "SERVICE",
                "OPERATION",
                "DURATION"
            )
        )
    );
    for (row, operation) in trace.rows.iter().zip(&operations) {
        let style = service_style(&palette, &row.service);
        let service = clean(&row.service);
        let on_path = pieces.get(row.span_id.as_str());
        let bar = match critical {
            None => bar(trace, row.start, row.end),
            Some(_) => critical_bar(
                trace,
                row.start,
                row.end,
                on_path.map_or(&[][..], Vec::as_slice),
            ),
        };
        let mut line = format!(
            "{}{}{}  {}{}  {:>8}  {}",
            marker(on_path.is_some()),
            paint(style, &service),
            " ".repeat(service_width - width(&service)),
            operation,
            " ".repeat(operation_width - width(operation)),
            human(row.end - row.start),
            paint(style, bar.trim_end()),
        );
        let mut marks = Vec::new();
        if row.error {
            let message = cut(&clean(&row.status_message), 60);
            marks.push(paint(ERROR, format!("✗ ERROR {message}").trim_end()));
        }
        if is_orphan(row) {
            marks.push(paint(WARN, "orphan"));
        }
        if !marks.is_empty() {
            let padding = width(&bar) - width(bar.trim_end());
            line.push_str(&" ".repeat(padding + 2));
            line.push_str(&marks.join("  "));
        }
        let _ = writeln!(out, "{line}");
        if let Some(under) = records
            .as_ref()
            .and_then(|records| records.by_span.get(row.span_id.as_str()))
        {
            let indent = width(marker(false)) + service_width + 2 + 2 * (row.depth + 1);
            logs::under_span(&mut out, under, trace.start, indent);
        }
    }
    if let Some(records) = &records {
        logs::after(&mut out, records, trace.start);
    }
    if let Some(critical) = critical {
        out.push_str(&critical_summary(trace, critical));
    }
    out
}

/// The waterfall's header: the root span, the trace's facts, its link, and a broken trace's
/// `orphans` with their missing parents.
fn header(trace: &Waterfall, link: &str, orphans: &[&Row]) -> String {
    let mut out = String::new();
    let title = trace
        .root()
        .map(|root| format!("{}: {}", clean(&root.service), clean(&root.name)))
        .unwrap_or_default();
    let _ = writeln!(out, "{}", paint(BOLD, &title));
    let errors = trace.errors();
    let mut facts = vec![
        format!("trace {}", trace.trace_id),
        utc(trace.start),
        human(trace.duration()),
        plural(trace.rows.len(), "span"),
        plural(trace.services().len(), "service"),
    ];
    if errors > 0 {
        facts.push(paint(ERROR, &plural(errors, "error")));
    }
    let _ = writeln!(out, "{}", facts.join(" · "));
    let _ = writeln!(out, "{}", paint(DIM, link));
    if !orphans.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint(
                WARN,
                &format!(
                    "broken trace: {} without a parent in the trace",
                    plural(orphans.len(), "span")
                )
            )
        );
        for row in orphans {
            let _ = writeln!(
                out,
                "  orphan {}: {} (span {}), missing parent {}",
                clean(&row.service),
                clean(&row.name),
                row.span_id,
                clean(&row.parent_span_id)
            );
        }
    }
    out
}

/// The time on the critical path by span, the most first (at most ten).
fn critical_summary(trace: &Waterfall, critical: &[Segment]) -> String {
    let mut by_span: Vec<(&Segment, u64)> = Vec::new();
    for segment in critical {
        let time = segment.end_time_unix_nano - segment.start_time_unix_nano;
        match by_span
            .iter_mut()
            .find(|(s, _)| s.span_id == segment.span_id)
        {
            Some((_, total)) => *total += time,
            None => by_span.push((segment, time)),
        }
    }
    by_span.sort_by_key(|(_, time)| std::cmp::Reverse(*time));
    let total: u64 = by_span.iter().map(|(_, time)| time).sum();
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        paint(
            BOLD,
            &format!(
                "critical path: {} in {} (trace {})",
                human(total),
                plural(critical.len(), "piece"),
                human(trace.duration())
            )
        )
    );
    for (segment, time) in by_span.iter().take(10) {
        let share = if total == 0 {
            0.0
        } else {
            *time as f64 * 100.0 / total as f64
        };
        let _ = writeln!(
            out,
            "{:>6.1}%  {:>8}  {}: {}",
            share,
            human(*time),
            clean(&segment.service_name),
            clean(&segment.operation_name)
        );
    }
    if by_span.len() > 10 {
        let _ = writeln!(
            out,
            "{}",
            paint(DIM, &format!("… and {} more spans", by_span.len() - 10))
        );
    }
    out
}

/// A span's bar with its pieces on the critical path solid and the rest light.
fn critical_bar(trace: &Waterfall, start: u64, end: u64, pieces: &[(u64, u64)]) -> String {
    let cells = |start: u64, end: u64| {
        let from = ((trace.position(start) * BAR_WIDTH as f64).floor() as usize).min(BAR_WIDTH - 1);
        let to =
            ((trace.position(end) * BAR_WIDTH as f64).ceil() as usize).clamp(from + 1, BAR_WIDTH);
        from..to
    };
    let span = cells(start, end);
    (0..BAR_WIDTH)
        .map(|cell| {
            if pieces.iter().any(|(s, e)| cells(*s, *e).contains(&cell)) {
                '█'
            } else if span.contains(&cell) {
                '░'
            } else {
                ' '
            }
        })
        .collect()
}

/// The span's bar: blocks from its start to its end on the trace's axis, at least one.
fn bar(trace: &Waterfall, start: u64, end: u64) -> String {
    let from = ((trace.position(start) * BAR_WIDTH as f64).floor() as usize).min(BAR_WIDTH - 1);
    let to = ((trace.position(end) * BAR_WIDTH as f64).ceil() as usize).clamp(from + 1, BAR_WIDTH);
    format!(
        "{}{}{}",
        " ".repeat(from),
        "█".repeat(to - from),
        " ".repeat(BAR_WIDTH - to)
    )
}

/// One found trace on one line: when it started, how long it took, its spans, its root span, its
/// errors, and where it opens.
pub fn search_line(trace: &Waterfall, link: &str) -> String {
    let (service, name) = trace
        .root()
        .map(|root| (clean(&root.service), clean(&root.name)))
        .unwrap_or_default();
    let palette = Palette::new(trace.services());
    let style = trace
        .root()
        .map(|root| service_style(&palette, &root.service))
        .unwrap_or_default();
    let root = format!("{}: {name}", paint(style, &service));
    let root_width = width(&service) + 2 + width(&name);
    let errors = match trace.errors() {
        0 => String::new(),
        n => paint(ERROR, &format!("✗ {}", plural(n, "error"))),
    };
    let errors_width = match trace.errors() {
        0 => 0,
        n => width(&plural(n, "error")) + 2,
    };
    format!(
        "{}  {:>8}  {:>9}  {root}{}  {errors}{}  {}",
        utc(trace.start),
        human(trace.duration()),
        plural(trace.rows.len(), "span"),
        " ".repeat(40usize.saturating_sub(root_width)),
        " ".repeat(10usize.saturating_sub(errors_width)),
        link,
    )
}

/// The service graph as text: each caller, the services it calls, and how often.
pub fn graph(links: &[Dependency]) -> String {
    let parent_width = links
        .iter()
        .map(|l| width(&clean(&l.parent)))
        .max()
        .unwrap_or(0);
    let child_width = links
        .iter()
        .map(|l| width(&clean(&l.child)))
        .max()
        .unwrap_or(0);
    let palette = Palette::new(
        links
            .iter()
            .flat_map(|l| [l.parent.as_str(), l.child.as_str()]),
    );
    let mut out = String::new();
    for link in links {
        let (parent, child) = (clean(&link.parent), clean(&link.child));
        let _ = writeln!(
            out,
            "{}{} → {}{}  {:>7}",
            paint(service_style(&palette, &link.parent), &parent),
            " ".repeat(parent_width - width(&parent)),
            paint(service_style(&palette, &link.child), &child),
            " ".repeat(child_width - width(&child)),
            plural_count(link.call_count, "call"),
        );
    }
    out
}

fn plural(count: usize, noun: &str) -> String {
    plural_count(count as u64, noun)
}

fn plural_count(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The width of a column: its widest cell or its header.
fn column_width(cells: &[String], header: &str) -> usize {
    cells
        .iter()
        .map(|cell| width(cell))
        .chain([width(header)])
        .max()
        .unwrap_or(0)
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// At most `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if width(text) <= max {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(max - 1).collect();
        format!("{kept}…")
    }
}

/// Text from a span, safe to print: control characters (escape sequences, carriage returns,
/// newlines) and the invisible characters that reorder text are shown as `\u{..}` escapes.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || invisible {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
