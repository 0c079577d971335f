//! `/compare?trace=ID[&baseline=ID]`: a trace beside a baseline trace, or beside the typical
//! trace of its kind, span path by span path (as `GET /api/analysis/compare` answers). What
//! changed most comes first; each row's change in self time is drawn as a bar, slower to the
//! right in red, faster to the left in green; a path on one side only is marked.

use std::sync::Arc;

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use serde::Deserialize;

use super::{Section, display_service, layout, palette, problem, service_chip};
use crate::{
    analysis::compare::{Row, Stats},
    api::analysis::{Comparison, comparison},
    ids::TraceId,
    store::Store,
    units::human,
    waterfall::Palette,
};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Ids {
    trace: String,
    baseline: String,
}

pub async fn page(
    State(store): State<Arc<Store>>,
    ids: Result<Query<Ids>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(ids) = ids.unwrap_or_default();
    let parse = |text: &str, what: &str| {
        TraceId::parse(text.trim()).map_err(|detail| {
            Box::new(problem(
                StatusCode::BAD_REQUEST,
                "Not a trace id",
                &format!("The {what} id: {detail}. A trace id is 32 hex digits."),
            ))
        })
    };
    let trace = match parse(&ids.trace, "trace") {
        Ok(trace) => trace,
        Err(page) => return *page,
    };
    let baseline = match ids.baseline.trim() {
        "" => None,
        text => match parse(text, "baseline") {
            Ok(baseline) => Some(baseline),
            Err(page) => return *page,
        },
    };
    let comparison = match comparison(&store, trace, baseline) {
        Ok(comparison) => comparison,
        Err(error) => {
            return problem(
                error.status,
                "Trace not found",
                &format!(
                    "{}. It may not have arrived yet, or it was evicted to make room for newer \
                     ones.",
                    error.message
                ),
            );
        }
    };
    let title = match baseline {
        Some(_) => "Comparison",
        None => "Comparison with the typical trace",
    };
    let body = view(&comparison, title, &palette(&store));
    (StatusCode::OK, layout(title, Section::Trace, body)).into_response()
}

fn view(comparison: &Comparison, title: &str, palette: &Palette) -> Markup {
    let (trace, trace_duration) = comparison.trace;
    let (baseline, baseline_duration) = comparison.baseline;
    let kind = comparison
        .rows
        .iter()
        .find(|row| row.path.len() == 1 && row.trace.is_some())
        .map(|row| format!("{}: {}", display_service(row.service()), row.operation()));
    let widest = comparison
        .rows
        .iter()
        .map(|row| row.self_delta.unsigned_abs())
        .max()
        .unwrap_or(0);
    html! {
        h1 { (title) }
        p.meta {
            span { "Trace " a href={"/trace/" (trace)} { code #trace-id { (trace) } } " took " b { (human(trace_duration)) } }
            @match baseline {
                Some(baseline) => span { "Baseline " a href={"/trace/" (baseline)} { code #baseline-id { (baseline) } } " took " b { (human(baseline_duration)) } },
                None => span {
                    "Typical: the median of " b #typical-count { (comparison.baseline_traces) } " stored trace"
                    @if comparison.baseline_traces != 1 { "s" }
                    @if let Some(kind) = &kind { " of " b { (kind) } }
                    ", " b { (human(baseline_duration)) }
                },
            }
            span { "Difference " b { (signed(i128::from(trace_duration) - i128::from(baseline_duration))) } }
        }
        @if baseline.is_none() && comparison.baseline_traces == 0 {
            p.problem { "No other trace of this kind is stored: every span is on the trace's side only. Send more requests, or choose a baseline." }
        }
        form.filters method="get" action="/compare" {
            input type="hidden" name="trace" value=(trace);
            label { "Baseline trace id (empty: the typical trace)"
                input type="text" name="baseline" value=[baseline.map(|id| id.to_string())] placeholder="32 hex digits";
            }
            button type="submit" { "Compare" }
        }
        @if comparison.rows.is_empty() {
            p.empty { "Neither side has spans." }
        } @else {
            table.list.compare {
                thead { tr {
                    th { "Span (its callers above it)" }
                    th.num { "Trace self time" }
                    th.num { "Baseline self time" }
                    th.num { "Change" }
                    th.deltas { span { "faster" } span { "slower" } }
                } }
                tbody {
                    @for row in &comparison.rows { (row_view(row, palette, widest)) }
                }
            }
            p.empty { "Self time: a span's duration less the time its children cover. Spans with the same callers, service and operation add up (×count)." }
        }
    }
}

fn row_view(row: &Row, palette: &Palette, widest: u64) -> Markup {
    let side = match (row.trace, row.baseline) {
        (Some(_), None) => Some(("only-trace", "only in the trace")),
        (None, Some(_)) => Some(("only-baseline", "only in the baseline")),
        _ => None,
    };
    let share = match widest {
        0 => 0.0,
        widest => row.self_delta.unsigned_abs() as f64 / widest as f64 * 50.0,
    };
    let (bar_class, bar_style) = if row.self_delta >= 0 {
        ("slower", format!("left:50%;width:{share:.3}%"))
    } else {
        (
            "faster",
            format!("left:{:.3}%;width:{share:.3}%", 50.0 - share),
        )
    };
    let callers = &row.path[..row.path.len().saturating_sub(1)];
    html! {
        tr class={"diff" @if let Some((class, _)) = side { " " (class) }} {
            td {
                @if !callers.is_empty() {
                    div.callers {
                        @for (service, operation) in callers { span { (display_service(service)) ": " (operation) } " › " }
                    }
                }
                (service_chip(palette, row.service(), None))
                span.op { (row.operation()) }
                @if let Some((_, text)) = side { " " span.side-mark { (text) } }
            }
            td.num { (self_time(row.trace)) }
            td.num { (self_time(row.baseline)) }
            td.num.change { (signed(i128::from(row.self_delta))) }
            td.deltas { span class={"delta " (bar_class)} style=(bar_style) {} }
        }
    }
}

fn self_time(stats: Option<Stats>) -> Markup {
    html! {
        @match stats {
            Some(stats) => {
                (human(stats.self_time))
                @if stats.count != 1 { " " span.count { "×" (stats.count) } }
            },
            None => span.absent { "—" },
        }
    }
}

/// A change: `+12.0ms`, `-850µs`, `0ns`.
pub fn signed(nanos: i128) -> String {
    let size = human(u64::try_from(nanos.unsigned_abs()).unwrap_or(u64::MAX));
    match nanos {
        0 => size,
        n if n > 0 => format!("+{size}"),
        _ => format!("-{size}"),
    }
}
