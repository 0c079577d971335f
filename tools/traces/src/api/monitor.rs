//! Jaeger's monitor API (what Jaeger UI's Monitor tab reads), with Jaeger's paths, parameters,
//! JSON and errors (read from Jaeger's `http_handler.go` and `query_parser.go`, and its
//! Prometheus metric store for what each number is):
//!
//! - `GET /api/metrics/calls`: calls per second over each `ratePer` window;
//! - `GET /api/metrics/errors`: the share of those calls that failed, 0 to 1;
//! - `GET /api/metrics/latencies?quantile=Q`: the quantile of their durations, in milliseconds;
//!
//! each with `service` (repeatable, required), `groupByOperation`, `spanKind` (repeatable,
//! default `server`), `endTs` (ms since the epoch, default now), `lookback` (ms, default an
//! hour), `step` (ms, default 5 s) and `ratePer` (ms, default 10 minutes). An error is Jaeger's
//! `{"data": null, ..., "errors": [{"code": 400, "msg": "unable to parse param 'step': ..."}]}`.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    monitor::{
        self,
        query::{Measure, MetricsQuery, Series},
    },
    store::{SPAN_KINDS, Store},
};

const DEFAULT_LOOKBACK_MS: i64 = 3600 * 1000;
const DEFAULT_STEP_MS: i64 = 5 * 1000;
const DEFAULT_RATE_PER_MS: i64 = 10 * 60 * 1000;
/// About what one point takes in the answer:
/// `{"gaugeValue":{"doubleValue":0.123456789},"timestamp":"2026-12-07T21:59:00Z"},`.
const BYTES_PER_POINT: usize = 80;
/// Prometheus's limit on the points of one series, which Jaeger's answers are bound by too.
const MAX_POINTS: i64 = 11_000;

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/metrics/calls", get(calls))
        .route("/api/metrics/errors", get(errors))
        .route("/api/metrics/latencies", get(latencies))
        .with_state(store)
}

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

async fn calls(State(store): State<Arc<Store>>, params: Params) -> Response {
    answer(&store, params, |_| Ok(Measure::Calls))
}

async fn errors(State(store): State<Arc<Store>>, params: Params) -> Response {
    answer(&store, params, |_| Ok(Measure::Errors))
}

async fn latencies(State(store): State<Arc<Store>>, params: Params) -> Response {
    answer(&store, params, |params| {
        quantile(params).map(|quantile| Measure::Latency { quantile })
    })
}

fn answer(
    store: &Store,
    params: Params,
    measure: impl FnOnce(&[(String, String)]) -> Result<Measure, String>,
) -> Response {
    let params = params.map(|Query(params)| params).unwrap_or_default();
    let parsed = measure(&params).and_then(|measure| {
        metrics_query(&params, monitor::now_ms()).map(|query| (query, measure))
    });
    match parsed {
        Ok((query, measure)) => {
            let series = store.counts().query(&query, measure);
            // A day of points for 20 operations is 2 MB of JSON: written into a buffer of
            // about that size from the start rather than one that doubles its way there.
            let points: usize = series.iter().map(|series| series.points.len()).sum();
            let mut body = Vec::with_capacity(256 + points * BYTES_PER_POINT);
            let family = family(measure, query.group_by_operation, series);
            match serde_json::to_writer(&mut body, &family) {
                Ok(()) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
                Err(error) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
                }
            }
        }
        Err(message) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"data": null, "total": 0, "limit": 0, "offset": 0,
                        "errors": [{"code": 400, "msg": message}]})),
        )
            .into_response(),
    }
}

/// Jaeger's metric family: what every `/api/metrics/*` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFamily {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    /// Jaeger leaves the field out when there are none.
    #[serde(default)]
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// `service_name`, and `operation` when grouped by operation.
    pub labels: Vec<Label>,
    #[serde(default)]
    pub metric_points: Vec<MetricPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricPoint {
    pub gauge_value: GaugeValue,
    /// RFC 3339, as protobuf's JSON writes a timestamp.
    pub timestamp: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GaugeValue {
    pub double_value: f64,
}

impl Metric {
    /// The value of the label `name`, if it has one.
    pub fn label(&self, name: &str) -> Option<&str> {
        let label = self.labels.iter().find(|label| label.name == name)?;
        Some(&label.value)
    }
}

/// The series as Jaeger names and describes them.
pub(crate) fn family(measure: Measure, by_operation: bool, series: Vec<Series>) -> MetricFamily {
    let (name, help) = match measure {
        Measure::Calls => ("call_rate", "calls/sec".to_owned()),
        Measure::Errors => (
            "error_rate",
            "error rate, computed as a fraction of errors/sec over calls/sec".to_owned(),
        ),
        Measure::Latency { quantile } => ("latencies", format!("{quantile:.2}th quantile latency")),
    };
    let (prefix, grouping) = if by_operation {
        ("service_operation", ", grouped by service & operation")
    } else {
        ("service", ", grouped by service")
    };
    MetricFamily {
        name: format!("{prefix}_{name}"),
        kind: "GAUGE".to_owned(),
        help: help + grouping,
        metrics: metrics(series),
    }
}

/// Each series as Jaeger's metric; every series has the same times, each formatted once.
fn metrics(series: Vec<Series>) -> Vec<Metric> {
    let mut timestamps: HashMap<i64, String> = HashMap::new();
    series
        .into_iter()
        .map(|series| {
            let mut labels = vec![Label {
                name: "service_name".to_owned(),
                value: series.service,
            }];
            if let Some(operation) = series.operation {
                labels.push(Label {
                    name: "operation".to_owned(),
                    value: operation,
                });
            }
            let metric_points = series
                .points
                .into_iter()
                .map(|point| MetricPoint {
                    gauge_value: GaugeValue {
                        double_value: point.value,
                    },
                    timestamp: timestamps
                        .entry(point.timestamp_ms)
                        .or_insert_with(|| rfc3339(point.timestamp_ms))
                        .clone(),
                })
                .collect();
            Metric {
                labels,
                metric_points,
            }
        })
        .collect()
}

/// A time as protobuf's JSON writes a timestamp.
fn rfc3339(timestamp_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp_ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// `quantile`, read first as Jaeger reads it; unlike Jaeger (whose Prometheus answers ±Inf),
/// one outside 0 to 1 is refused.
fn quantile(params: &[(String, String)]) -> Result<f64, String> {
    let text = first(params, "quantile").unwrap_or_default();
    let quantile: f64 = text
        .parse()
        .map_err(|_| go_syntax_error("quantile", "ParseFloat", text))?;
    if !(0.0..=1.0).contains(&quantile) {
        return Err(format!(
            "unable to parse param 'quantile': {text} is not between 0 and 1"
        ));
    }
    Ok(quantile)
}

/// The parameters every `/api/metrics/*` takes, with Jaeger's defaults and errors.
pub(crate) fn metrics_query(
    params: &[(String, String)],
    now_ms: i64,
) -> Result<MetricsQuery, String> {
    let services: Vec<String> = all(params, "service").map(str::to_owned).collect();
    if services.is_empty() {
        return Err(
            "unable to parse param 'service': please provide at least one service name".to_owned(),
        );
    }
    let group_by_operation = match first(params, "groupByOperation").unwrap_or_default() {
        "" => false,
        "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
        "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
        text => return Err(go_syntax_error("groupByOperation", "ParseBool", text)),
    };
    let mut span_kinds: Vec<u8> = Vec::new();
    for kind in all(params, "spanKind") {
        match SPAN_KINDS.iter().position(|name| *name == kind) {
            Some(number) => span_kinds.push(number as u8),
            None => {
                return Err(format!(
                    "unable to parse param 'spanKind': unsupported span kind: '{kind}'"
                ));
            }
        }
    }
    if span_kinds.is_empty() {
        span_kinds.push(2); // server
    }
    let integer = |name: &str, default: i64| -> Result<i64, String> {
        match first(params, name).unwrap_or_default() {
            "" => Ok(default),
            text => text.parse().map_err(|error: std::num::ParseIntError| {
                let problem = match error.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                        "value out of range"
                    }
                    _ => "invalid syntax",
                };
                format!(
                    "unable to parse param '{name}': strconv.ParseInt: parsing {text:?}: {problem}"
                )
            }),
        }
    };
    let end_ms = integer("endTs", now_ms)?;
    let lookback_ms = integer("lookback", DEFAULT_LOOKBACK_MS)?;
    let step_ms = integer("step", DEFAULT_STEP_MS)?;
    let rate_per_ms = integer("ratePer", DEFAULT_RATE_PER_MS)?;
    // What Prometheus refuses, Jaeger passes on as its error: refused here before any work.
    if step_ms <= 0 {
        return Err("unable to parse param 'step': zero or negative query resolution step widths are not accepted. Try a positive integer".to_owned());
    }
    if lookback_ms < 0 || end_ms.checked_sub(lookback_ms).is_none() {
        return Err(
            "unable to parse param 'lookback': end timestamp must not be before start time"
                .to_owned(),
        );
    }
    if lookback_ms / step_ms >= MAX_POINTS {
        return Err("unable to parse param 'step': exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".to_owned());
    }
    if rate_per_ms <= 0 {
        return Err("unable to parse param 'ratePer': the rate window must be positive".to_owned());
    }
    Ok(MetricsQuery {
        services,
        group_by_operation,
        span_kinds,
        end_ms,
        lookback_ms,
        step_ms,
        rate_per_ms,
    })
}

/// Go's `r.URL.Query().Get(name)`: the first value.
fn first<'a>(params: &'a [(String, String)], name: &'a str) -> Option<&'a str> {
    all(params, name).next()
}

fn all<'a>(params: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    params
        .iter()
        .filter(move |(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Jaeger's message for a number Go's `strconv` cannot read.
fn go_syntax_error(name: &str, function: &str, text: &str) -> String {
    format!("unable to parse param '{name}': strconv.{function}: parsing {text:?}: invalid syntax")
}

#[cfg(test)]
mod tests;
