//! `/trace/{trace_id}`: the waterfall. Every span is a bar on the trace's time axis, nested
//! under its parent and coloured by service; a failed span is marked. Each span opens (HTML's
//! `<details>`, no script) onto its attributes, events, links and resource. As in Jaeger UI,
//! `?uiFind=TEXT` marks the spans whose id is TEXT or whose service or name contains it; here
//! they are also opened.
//!
//! The root span's critical path is drawn over the bars (a dark line on each piece of a span
//! that is on it, the span's name in bold), and a broken trace's orphans (spans whose parent is
//! not in the trace) are named with their missing parent, above the waterfall and on their rows.
//! The page links to the trace's comparison with the typical trace of its kind, and each span
//! link to the linked trace, its linked span found (`?uiFind=`).
//!
//! The trace's log records are under their spans, and those whose span is not in the trace at
//! the end (see `logs.rs`).

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Section, display_service, layout, logs, palette, problem, service_chip};
use crate::{
    analysis::{Tree, critical_path::critical_path},
    ids::TraceId,
    log_records::{self, Placed},
    store::{SPAN_KINDS, Store},
    units::{human, utc},
    waterfall::{Palette, Row, Waterfall},
};

/// Indentation per level of nesting, in pixels.
const INDENT: usize = 16;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Find {
    ui_find: String,
}

impl Find {
    fn matches(&self, row: &Row) -> bool {
        let text = self.ui_find.trim().to_lowercase();
        !text.is_empty()
            && (row.span_id == text
                || row.service.to_lowercase().contains(&text)
                || row.name.to_lowercase().contains(&text))
    }
}

pub async fn page(
    State(store): State<Arc<Store>>,
    Path(trace_id): Path<String>,
    find: Result<Query<Find>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(find) = find.unwrap_or_default();
    let id = match TraceId::parse(&trace_id) {
        Ok(id) => id,
        Err(detail) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Not a trace id",
                &format!("{detail}. A trace id is 32 hex digits, as in a traceresponse header."),
            );
        }
    };
    let Some(resource_spans) = store.trace(id) else {
        return problem(
            StatusCode::NOT_FOUND,
            "Trace not found",
            &format!(
                "No trace {id} here: it may not have arrived yet, or it was evicted to make room for \
             newer ones."
            ),
        );
    };
    let Some(waterfall) = Waterfall::all(&resource_spans).into_iter().next() else {
        return problem(
            StatusCode::NOT_FOUND,
            "Trace not found",
            "The trace has no spans.",
        );
    };
    let title = waterfall
        .root()
        .map(|root| format!("{}: {}", display_service(&root.service), root.name))
        .unwrap_or_default();
    let analysis = Analysis::of(store.analysis_spans(id).map(Tree::new));
    let records = log_records::records(&store.logs(id).unwrap_or_default());
    let placed = log_records::place(&records, &waterfall.rows);
    let body = view(
        &waterfall,
        &title,
        &palette(&store),
        &find,
        &analysis,
        &placed,
    );
    (StatusCode::OK, layout(&title, Section::Trace, body)).into_response()
}

/// What the page shows of the analyses, by span id (hex).
#[derive(Default)]
struct Analysis {
    /// The pieces of each span on the critical path, in nanoseconds since the epoch.
    critical: HashMap<String, Vec<(u64, u64)>>,
    /// Each orphan's missing parent.
    orphans: HashMap<String, String>,
}

impl Analysis {
    fn of(tree: Option<Tree>) -> Self {
        let Some(tree) = tree else {
            return Self::default();
        };
        let mut critical: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
        for segment in critical_path(&tree) {
            critical
                .entry(tree.spans[segment.span].span_id.to_string())
                .or_default()
                .push((segment.start, segment.end));
        }
        let orphans = tree
            .orphans()
            .iter()
            .map(|o| (o.span_id.to_string(), o.missing_parent.to_string()))
            .collect();
        Self { critical, orphans }
    }
}

fn view(
    waterfall: &Waterfall,
    title: &str,
    palette: &Palette,
    find: &Find,
    analysis: &Analysis,
    records: &Placed,
) -> Markup {
    let depth = waterfall
        .rows
        .iter()
        .map(|row| row.depth + 1)
        .max()
        .unwrap_or(0);
    let errors = waterfall.errors();
    html! {
        h1 { (title) }
        p.meta {
            span { "Trace " code #trace-id { (waterfall.trace_id) } }
            span { "Started " b { (utc(waterfall.start)) } }
            span { "Duration " b #duration { (human(waterfall.duration())) } }
            span { b { (waterfall.rows.len()) } " spans" }
            span { b { (waterfall.services().len()) } " services" }
            span { "Depth " b { (depth) } }
            @let count = records.by_span.values().map(Vec::len).sum::<usize>() + records.elsewhere.len();
            @if count > 0 { span #record-count { b { (count) } " log record" @if count != 1 { "s" } } }
            @if errors > 0 { span.error-badge { (errors) " error" @if errors != 1 { "s" } } }
            span { a #compare-typical href={"/compare?trace=" (waterfall.trace_id)} { "Compare with typical" } }
        }
        @if !analysis.orphans.is_empty() { (orphans(waterfall, analysis)) }
        p.legend {
            @for service in waterfall.services() { (service_chip(palette, service, None)) }
            @if !analysis.critical.is_empty() {
                span.critical-key title="The pieces of spans that, end to end, make the root span's duration" {
                    span.cp-sample {} "critical path"
                }
            }
        }
        div.waterfall {
            div.axis {
                div.name { "Service and operation" }
                div.ticks {
                    @for quarter in 0..=4u64 {
                        span style={"left:" (quarter * 25) "%"} { (human(waterfall.duration() * quarter / 4)) }
                    }
                }
            }
            @for row in &waterfall.rows {
                (span_row(waterfall, row, palette, find.matches(row), analysis))
                @if let Some(under) = records.by_span.get(row.span_id.as_str()) {
                    (logs::under_span(under, waterfall.start, 10 + (row.depth + 1) * INDENT))
                }
            }
        }
        @if !records.elsewhere.is_empty() { (logs::elsewhere(&records.elsewhere, waterfall.start)) }
    }
}

/// A broken trace: each orphan with its missing parent.
fn orphans(waterfall: &Waterfall, analysis: &Analysis) -> Markup {
    let rows: Vec<&Row> = waterfall
        .rows
        .iter()
        .filter(|row| analysis.orphans.contains_key(&row.span_id))
        .collect();
    html! {
        div.problem #orphans {
            b { "Broken trace: " (rows.len()) " span" @if rows.len() != 1 { "s" } " without " @if rows.len() != 1 { "their" } @else { "its" } " parent." }
            " The parent was not received (not exported, dropped, or still on its way); the span is shown as a root."
            ul {
                @for row in rows {
                    li {
                        (display_service(&row.service)) ": " (row.name) " (span " code { (row.span_id) } ")"
                        " — missing parent " code.missing-parent { (analysis.orphans[&row.span_id]) }
                    }
                }
            }
        }
    }
}

fn span_row(
    waterfall: &Waterfall,
    row: &Row,
    palette: &Palette,
    found: bool,
    analysis: &Analysis,
) -> Markup {
    let critical = analysis.critical.get(&row.span_id);
    let missing_parent = analysis.orphans.get(&row.span_id);
    let left = waterfall.position(row.start) * 100.0;
    let width = (waterfall.position(row.end) * 100.0 - left).max(0.0);
    let duration = human(row.end - row.start);
    // The duration label goes after the bar; inside its end when the bar reaches the right
    // edge from near the start; before it otherwise.
    let label_style = if left + width <= 75.0 {
        format!("left:calc({:.3}% + 6px)", left + width)
    } else if left < 20.0 {
        format!("right:calc({:.3}% + 6px)", 100.0 - left - width)
    } else {
        format!("right:calc({:.3}% + 6px)", 100.0 - left)
    };
    html! {
        details class={"span c" (palette.colour(&row.service)) @if critical.is_some() { " critical" } @if found { " found" }}
            data-span-id=(row.span_id) open[found] {
            summary {
                span.label style={"padding-left:" (10 + row.depth * INDENT) "px"} title=(row.name) {
                    span.dot {}
                    span.svc { (display_service(&row.service)) }
                    span.op { (row.name) }
                    @if row.error { span.failed-mark title="status ERROR" { "⚠ error" } }
                    @if let Some(parent) = missing_parent {
                        span.orphan-mark title={"parent " (parent) " is not in this trace"} { "orphan" }
                    }
                }
                span.track {
                    span.bar.failed[row.error] style={"left:" (format!("{left:.3}")) "%;width:" (format!("{width:.3}")) "%"} {}
                    @for (start, end) in critical.into_iter().flatten() {
                        @let from = waterfall.position(*start) * 100.0;
                        @let to = waterfall.position(*end) * 100.0;
                        span.cp style={"left:" (format!("{from:.3}")) "%;width:" (format!("{:.3}", (to - from).max(0.0))) "%"}
                            title={"on the critical path for " (human(end - start))} {}
                    }
                    span.took style=(label_style) { (duration) }
                }
            }
            (details(waterfall, row, critical))
        }
    }
}

fn details(waterfall: &Waterfall, row: &Row, critical: Option<&Vec<(u64, u64)>>) -> Markup {
    let kind = SPAN_KINDS
        .get(row.kind as usize)
        .copied()
        .unwrap_or("unspecified");
    html! {
        div.detail {
            table.kv {
                tr { td { "Span" } td { (row.span_id) } }
                @if !row.parent_span_id.is_empty() { tr { td { "Parent" } td { (row.parent_span_id) } } }
                @if critical.is_some_and(|c| !c.is_empty()) {
                    tr { td { "Critical path" } td { (human(critical.into_iter().flatten().map(|(s, e)| e - s).sum())) } }
                }
                tr { td { "Kind" } td { (kind) } }
                tr { td { "Start" } td { "+" (human(row.start - waterfall.start)) " (" (utc(row.start)) ")" } }
                tr { td { "Duration" } td { (human(row.end - row.start)) } }
                @if row.error || !row.status_message.is_empty() {
                    tr { td { "Status" } td { @if row.error { "ERROR " } (row.status_message) } }
                }
                @if !row.scope.is_empty() { tr { td { "Scope" } td { (row.scope) } } }
            }
            @if !row.attributes.is_empty() {
                h3 { "Attributes" }
                (pairs(&row.attributes))
            }
            @if !row.events.is_empty() {
                h3 { "Events" }
                @for event in &row.events {
                    p { b { (event.name) } " at +" (human(event.time.saturating_sub(waterfall.start))) }
                    (pairs(&event.attributes))
                }
            }
            @if !row.links.is_empty() {
                h3 { "Links" }
                @for link in &row.links {
                    @let (trace, span) = link.split_once('/').unwrap_or((link.as_str(), ""));
                    p.mono { a.span-link href={"/trace/" (trace) "?uiFind=" (span)} { (link) } }
                }
            }
            h3 { "Resource" }
            (pairs(&row.resource))
        }
    }
}

fn pairs(pairs: &[(String, String)]) -> Markup {
    html! {
        table.kv { @for (key, value) in pairs { tr { td { (key) } td { (value) } } } }
    }
}
