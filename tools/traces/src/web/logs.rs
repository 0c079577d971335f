//! Log records on the trace page: under the span each was written in, its severity coloured,
//! its time from the trace's start, its body, and its attributes on demand (`<details>`).

use maud::{Markup, html};

use super::display_service;
use crate::{log_records::Record, units::human};

/// A span's records, indented as its row is.
pub fn under_span(records: &[&Record], trace_start: u64, indent: usize) -> Markup {
    html! {
        div.records style={"padding-left:" (indent) "px"} {
            @for record in records { (record_line(record, trace_start, false)) }
        }
    }
}

/// The trace's records whose span is not in the trace shown, after the waterfall.
pub fn elsewhere(records: &[&Record], trace_start: u64) -> Markup {
    html! {
        section #other-records {
            h2 { "Log records outside these spans" }
            p.meta { "Written outside any span, or in a span that is not in the trace (not received, or evicted)." }
            div.records { @for record in records { (record_line(record, trace_start, true)) } }
        }
    }
}

fn record_line(record: &Record, trace_start: u64, with_service: bool) -> Markup {
    let offset = match record.time.checked_sub(trace_start) {
        Some(after) => format!("+{}", human(after)),
        None => format!("−{}", human(trace_start - record.time)),
    };
    html! {
        details class={"record sev-" (record.severity.name())} data-span-id=(record.span_id) {
            summary {
                span.sev { (record.severity_text) }
                span.at { (offset) }
                @if with_service { span.svc { (display_service(&record.service)) } }
                span.body { (record.body) }
            }
            table.kv {
                @if !record.span_id.is_empty() { tr { td { "Span" } td { (record.span_id) } } }
                @for (key, value) in &record.attributes { tr { td { (key) } td { (value) } } }
            }
        }
    }
}
