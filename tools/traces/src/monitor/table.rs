//! The monitor's table, one row per operation: its rate, error share and p95 over a lookback. The
//! page and `traces top` show the same rows, read from the same answers of the monitor API.

use std::time::Duration;

use crate::{
    api::monitor::MetricFamily,
    client::{Client, ClientError},
};

/// The quantile of the table's latency column.
pub const TABLE_QUANTILE: f64 = 0.95;

/// An operation over the lookback.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRow {
    pub service: String,
    pub operation: String,
    pub calls_per_second: f64,
    /// None without calls.
    pub error_share: Option<f64>,
    /// Milliseconds; None without calls.
    pub p95_ms: Option<f64>,
}

/// Calls per second as a person reads it: per minute when under one every ten seconds.
pub fn rate(calls_per_second: f64) -> String {
    if calls_per_second >= 10.0 {
        format!("{calls_per_second:.0}/s")
    } else if calls_per_second >= 0.1 {
        format!("{calls_per_second:.2}/s")
    } else {
        format!("{:.1}/min", calls_per_second * 60.0)
    }
}

/// An error share as a percentage, `-` without calls.
pub fn share(error_share: Option<f64>) -> String {
    match error_share {
        None => "-".to_owned(),
        Some(share) => format!("{:.1}%", share * 100.0),
    }
}

/// The monitor API's parameters for a table of `service`'s server operations over the last
/// `lookback`: one point, now, whose window is the whole lookback.
pub fn table_params(service: &str, lookback: Duration, now_ms: i64) -> Vec<(&'static str, String)> {
    vec![
        ("service", service.to_owned()),
        ("groupByOperation", "true".to_owned()),
        ("spanKind", "server".to_owned()),
        ("endTs", now_ms.to_string()),
        ("lookback", "0".to_owned()),
        ("step", "60000".to_owned()),
        (
            "ratePer",
            lookback
                .as_millis()
                .clamp(60_000, i64::MAX as u128)
                .to_string(),
        ),
    ]
}

/// The rows from the answers to [`table_params`] for calls, errors and the p95 latency, by
/// service and operation.
pub fn rows(calls: &MetricFamily, errors: &MetricFamily, p95: &MetricFamily) -> Vec<OperationRow> {
    let last = |family: &MetricFamily, service: &str, operation: &str| {
        family
            .metrics
            .iter()
            .find(|m| {
                m.label("service_name") == Some(service) && m.label("operation") == Some(operation)
            })
            .and_then(|m| m.metric_points.last())
            .map(|point| point.gauge_value.double_value)
    };
    let mut rows: Vec<OperationRow> = calls
        .metrics
        .iter()
        .filter_map(|metric| {
            let service = metric.label("service_name")?;
            let operation = metric.label("operation")?;
            Some(OperationRow {
                service: service.to_owned(),
                operation: operation.to_owned(),
                calls_per_second: last(calls, service, operation).unwrap_or(0.0),
                error_share: last(errors, service, operation),
                p95_ms: last(p95, service, operation),
            })
        })
        .collect();
    rows.sort_by(|a, b| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)));
    rows
}

/// The rows of `services` (every service the server knows when none is given) over the last
/// `lookback`, from the server's monitor API: this viewer's, or a Jaeger's with metrics.
pub async fn fetch_rows(
    client: &Client,
    services: &[String],
    lookback: Duration,
) -> Result<Vec<OperationRow>, ClientError> {
    let services = if services.is_empty() {
        client.services().await?
    } else {
        services.to_vec()
    };
    let now_ms = super::now_ms();
    let mut rows = Vec::new();
    for service in &services {
        let params = table_params(service, lookback, now_ms);
        let mut latency_params = params.clone();
        latency_params.push(("quantile", TABLE_QUANTILE.to_string()));
        let (calls, errors, p95) = tokio::try_join!(
            client.metrics("calls", &params),
            client.metrics("errors", &params),
            client.metrics("latencies", &latency_params),
        )?;
        rows.extend(self::rows(&calls, &errors, &p95));
    }
    rows.sort_by(|a, b| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)));
    Ok(rows)
}
