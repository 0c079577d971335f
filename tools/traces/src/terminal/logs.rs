//! `traces show --logs`: each span's log records on the lines under it, and the records whose
//! span is not in the trace at the end.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{DIM, ERROR, WARN, clean, paint};
use crate::{
    log_records::{Placed, Record, Severity},
    units::human,
};

const INFO: Style = AnsiColor::Blue.on_default();

/// A span's records, each on a line starting at `indent` columns: `│ SEVERITY +offset body`, the
/// offset from the trace's start, then its attributes dimmed.
pub(super) fn under_span(out: &mut String, records: &[&Record], trace_start: u64, indent: usize) {
    for record in records {
        let _ = writeln!(
            out,
            "{}{}",
            " ".repeat(indent),
            line(record, trace_start, false)
        );
    }
}

/// What follows the waterfall: the records outside its spans, or that there are none at all.
pub(super) fn after(out: &mut String, records: &Placed, trace_start: u64) {
    if records.by_span.is_empty() && records.elsewhere.is_empty() {
        let _ = writeln!(out, "\nno log records found for this trace");
        return;
    }
    if records.elsewhere.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nlog records outside these spans:");
    for record in &records.elsewhere {
        let _ = writeln!(out, "  {}", line(record, trace_start, true));
    }
}

fn line(record: &Record, trace_start: u64, with_service: bool) -> String {
    let style = match record.severity {
        Severity::Error | Severity::Fatal => ERROR,
        Severity::Warn => WARN,
        Severity::Info => INFO,
        _ => DIM,
    };
    let offset = match record.time.checked_sub(trace_start) {
        Some(after) => format!("+{}", human(after)),
        None => format!("-{}", human(trace_start - record.time)),
    };
    let mut line = format!(
        "│ {} {offset:>8}  ",
        paint(style, &format!("{:<5}", clean(&record.severity_text)))
    );
    if with_service {
        let _ = write!(line, "{}: ", clean(&record.service));
    }
    line.push_str(&clean(&record.body));
    if !record.attributes.is_empty() {
        let attributes: Vec<String> = record
            .attributes
            .iter()
            .map(|(key, value)| format!("{}={}", clean(key), clean(value)))
            .collect();
        line.push_str("  ");
        line.push_str(&paint(DIM, &attributes.join(" ")));
    }
    line
}
