//! `/monitor`: each service's operations (its server spans) with their rate, error share and p95
//! latency over a lookback, each with a chart over that time: calls as bars with the failed ones
//! in red, and the p95 as a line. Each operation links to its slowest and its failing traces on
//! `/search`. The numbers are the monitor API's (`/api/metrics/*`), read from the same counts.

use std::{collections::HashMap, fmt::Write as _, sync::Arc, time::Duration};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use maud::{Markup, PreEscaped, html};

use super::{Lookback, Section, display_service, layout};
use crate::{
    api::monitor::{family, metrics_query},
    monitor::{
        self,
        query::{Measure, MetricsQuery},
        table::{self, OperationRow, TABLE_QUANTILE, rate, share},
    },
    store::Store,
    units::{human, parse_go},
};

/// The lookbacks offered, as `/search` names them (so its links keep them).
const LOOKBACKS: [(&str, &str); 6] = [
    ("5m", "5 minutes"),
    ("15m", "15 minutes"),
    ("1h", "hour"),
    ("6h", "6 hours"),
    ("24h", "day"),
    ("168h", "week"),
];
const DEFAULT_LOOKBACK: &str = "1h";
/// Bars per chart (fewer when the lookback has fewer minutes).
const CHART_BARS: i64 = 60;
const SERVER: u8 = 2;
const MINUTE_MS: i64 = 60_000;

/// The chart's drawing, in SVG user units.
const CHART_WIDTH: f64 = 300.0;
const CHART_HEIGHT: f64 = 48.0;

pub async fn page(
    State(store): State<Arc<Store>>,
    query: Result<Query<Lookback>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let asked = Lookback::from_query(query);
    let lookback_text = asked.or(DEFAULT_LOOKBACK);
    let lookback = match parse_go(lookback_text) {
        Ok(lookback) if lookback >= Duration::from_secs(60) => lookback,
        Ok(_) => return refused(lookback_text, "lookback: at least a minute"),
        Err(problem) => return refused(lookback_text, &format!("lookback: {problem}")),
    };
    let now_ms = monitor::now_ms();
    let services: Vec<(String, Vec<OperationRow>, HashMap<String, Chart>)> = store
        .counts()
        .services(SERVER)
        .into_iter()
        .filter_map(|service| {
            let rows = rows(&store, &service, lookback, now_ms);
            let charts = charts(&store, &service, lookback, now_ms);
            (!rows.is_empty()).then_some((service, rows, charts))
        })
        .collect();
    let body = html! {
        (heading(lookback_text))
        @if services.is_empty() {
            p.empty { "No server spans ended in the last " (lookback_text) ". Counts are kept per minute as spans arrive." }
        }
        @for (service, rows, charts) in &services {
            section.service {
                h2 { (display_service(service)) }
                table.list.monitor {
                    thead { tr {
                        th { "Operation" } th.num { "Rate" } th.num { "Errors" } th.num { "P95" }
                        th { "Calls, failed in red; p95 as a line" } th { "Traces" }
                    } }
                    tbody {
                        @for row in rows {
                            (operation_row(row, charts.get(&row.operation), lookback_text))
                        }
                    }
                }
            }
        }
    };
    layout("Monitor", Section::Monitor, body).into_response()
}

fn heading(lookback: &str) -> Markup {
    html! {
        style { (PreEscaped(CSS)) }
        h1 { "Monitor" }
        p.meta {
            span { "Server spans over the last" }
            @for (value, text) in LOOKBACKS {
                @if value == lookback { b.lookback { (text) } }
                @else { a.lookback href={"/monitor?lookback=" (value)} { (text) } }
            }
        }
    }
}

fn refused(lookback: &str, problem: &str) -> Response {
    let body = html! { (heading(lookback)) p.problem { (problem) } };
    (
        StatusCode::BAD_REQUEST,
        layout("Monitor", Section::Monitor, body),
    )
        .into_response()
}

/// The table's rows for `service`, from the monitor API's answers (what `traces top` prints).
fn rows(store: &Store, service: &str, lookback: Duration, now_ms: i64) -> Vec<OperationRow> {
    let params: Vec<(String, String)> = table::table_params(service, lookback, now_ms)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    let Ok(query) = metrics_query(&params, now_ms) else {
        return Vec::new();
    };
    let family = |measure| family(measure, true, store.counts().query(&query, measure));
    table::rows(
        &family(Measure::Calls),
        &family(Measure::Errors),
        &family(Measure::Latency {
            quantile: TABLE_QUANTILE,
        }),
    )
}

/// An operation's bars: calls and failed calls per bar, and the bar's p95 in milliseconds.
#[derive(Default)]
struct Chart {
    calls: Vec<f64>,
    errors: Vec<f64>,
    p95_ms: Vec<Option<f64>>,
    bar_minutes: i64,
}

fn charts(store: &Store, service: &str, lookback: Duration, now_ms: i64) -> HashMap<String, Chart> {
    let lookback_ms = i64::try_from(lookback.as_millis()).unwrap_or(i64::MAX);
    let bar_minutes = ((lookback_ms / CHART_BARS + MINUTE_MS - 1) / MINUTE_MS).max(1);
    let bars = (lookback_ms / (bar_minutes * MINUTE_MS)).max(1);
    let step_ms = bar_minutes * MINUTE_MS;
    let query = MetricsQuery {
        services: vec![service.to_owned()],
        group_by_operation: true,
        span_kinds: vec![SERVER],
        end_ms: now_ms,
        lookback_ms: step_ms * (bars - 1),
        step_ms,
        rate_per_ms: step_ms,
    };
    let first_ms = now_ms - query.lookback_ms;
    let mut charts: HashMap<String, Chart> = HashMap::new();
    for measure in [
        Measure::Calls,
        Measure::Errors,
        Measure::Latency {
            quantile: TABLE_QUANTILE,
        },
    ] {
        for series in store.counts().query(&query, measure) {
            let chart = charts
                .entry(series.operation.unwrap_or_default())
                .or_insert_with(|| Chart {
                    calls: vec![0.0; bars as usize],
                    errors: vec![0.0; bars as usize],
                    p95_ms: vec![None; bars as usize],
                    bar_minutes,
                });
            for point in series.points {
                let bar = ((point.timestamp_ms - first_ms) / step_ms) as usize;
                match measure {
                    Measure::Calls => chart.calls[bar] = point.value * (step_ms / 1000) as f64,
                    Measure::Errors => chart.errors[bar] = point.value * chart.calls[bar],
                    Measure::Latency { .. } => chart.p95_ms[bar] = Some(point.value),
                }
            }
        }
    }
    charts
}

fn operation_row(row: &OperationRow, chart: Option<&Chart>, lookback: &str) -> Markup {
    let failed = row.error_share.is_some_and(|share| share > 0.0);
    let search = |extra: (&str, String)| {
        let mut url = form_urlencoded::Serializer::for_suffix(String::from("/search?"), 8);
        url.append_pair("service", &row.service)
            .append_pair("operation", &row.operation)
            .append_pair("lookback", lookback)
            .append_pair(extra.0, &extra.1);
        url.finish()
    };
    html! {
        tr.operation.failed[failed] {
            td.op { (row.operation) }
            td.num.rate { (rate(row.calls_per_second)) }
            td.num.errors.bad[failed] { (share(row.error_share)) }
            td.num.p95 { (row.p95_ms.map_or("-".to_owned(), |ms| human((ms * 1e6) as u64))) }
            td { @if let Some(chart) = chart { (svg(chart)) } }
            td.links.nowrap {
                @if let Some(p95) = row.p95_ms {
                    a.slowest href=(search(("minDuration", format!("{}us", (p95 * 1e3).floor() as u64)))) { "slowest" }
                    " · "
                }
                a.failing href=(search(("errors", "true".to_owned()))) { "failing" }
            }
        }
    }
}

/// Calls as bars on a scale of the busiest bar, the failed part of each in red on top of it, and
/// the p95 as a line on a scale of its highest; each bar says its figures when hovered.
fn svg(chart: &Chart) -> Markup {
    let bars = chart.calls.len().max(1);
    let most_calls = chart.calls.iter().copied().fold(0.0, f64::max).max(1.0);
    let slowest = chart.p95_ms.iter().flatten().copied().fold(0.0, f64::max);
    let bar_width = CHART_WIDTH / bars as f64;
    let height = |value: f64, of: f64| value / of * (CHART_HEIGHT - 4.0);
    let mut line = String::new();
    for (i, p95) in chart.p95_ms.iter().enumerate() {
        if let Some(p95) = p95.filter(|_| slowest > 0.0) {
            let x = (i as f64 + 0.5) * bar_width;
            let y = CHART_HEIGHT - height(p95, slowest);
            let _ = write!(line, "{x:.1},{y:.1} ");
        }
    }
    let minutes = chart.bar_minutes;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (CHART_WIDTH) " " (CHART_HEIGHT)}
            width=(CHART_WIDTH) height=(CHART_HEIGHT) role="img" aria-label="calls, failed calls and p95 over time" {
            @for (i, calls) in chart.calls.iter().enumerate() {
                @let x = i as f64 * bar_width;
                @let errors = chart.errors[i];
                g {
                    title {
                        (format!("{calls:.0} calls, {errors:.0} failed")) " in " (minutes) " min"
                        @if let Some(p95) = chart.p95_ms[i] { ", p95 " (human((p95 * 1e6) as u64)) }
                    }
                    rect.calls x=(format!("{x:.1}")) width=(format!("{:.1}", (bar_width - 1.0).max(0.5)))
                        y=(format!("{:.1}", CHART_HEIGHT - height(*calls, most_calls)))
                        height=(format!("{:.1}", height(*calls, most_calls))) {}
                    @if errors > 0.0 {
                        rect.errors x=(format!("{x:.1}")) width=(format!("{:.1}", (bar_width - 1.0).max(0.5)))
                            y=(format!("{:.1}", CHART_HEIGHT - height(*calls, most_calls)))
                            height=(format!("{:.1}", height(errors, most_calls).max(2.0))) {}
                    }
                }
            }
            @if !line.is_empty() {
                polyline.p95 points=(line.trim_end()) {}
            }
        }
    }
}

const CSS: &str = r#"
.meta a.lookback, .meta b.lookback { margin-left: 2px; }
section.service { margin-bottom: 22px; }
table.monitor td { vertical-align: middle; }
table.monitor td.bad { color: var(--error); font-weight: 700; }
svg.chart { display: block; background: var(--bg-soft); border: 1px solid var(--line); border-radius: 4px; }
svg.chart rect.calls { fill: #8c959f; }
svg.chart rect.errors { fill: var(--error); }
svg.chart polyline.p95 { fill: none; stroke: #0969da; stroke-width: 1.5; }
@media (prefers-color-scheme: dark) { svg.chart rect.calls { fill: #656c76; } svg.chart polyline.p95 { stroke: #4493f8; } }
"#;

#[cfg(test)]
mod tests;
