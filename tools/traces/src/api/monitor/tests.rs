use opentelemetry_proto::tonic::trace::v1::{
    Status, span::SpanKind, status::StatusCode as SpanStatus,
};
use serde_json::Value;

use super::*;
use crate::testing::{export, get_json, span};

fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn parameters_take_jaegers_defaults() {
    let query = metrics_query(
        &pairs(&[("service", "blog"), ("service", "user")]),
        1_000_000,
    )
    .unwrap();
    assert_eq!(
        query,
        MetricsQuery {
            services: vec!["blog".to_owned(), "user".to_owned()],
            group_by_operation: false,
            span_kinds: vec![2],
            end_ms: 1_000_000,
            lookback_ms: 3_600_000,
            step_ms: 5_000,
            rate_per_ms: 600_000,
        }
    );
    let query = metrics_query(
        &pairs(&[
            ("service", "blog"),
            ("groupByOperation", "true"),
            ("spanKind", "client"),
            ("spanKind", "internal"),
            ("endTs", "1700000000000"),
            ("lookback", "60000"),
            ("step", "60000"),
            ("ratePer", "120000"),
        ]),
        0,
    )
    .unwrap();
    assert!(query.group_by_operation);
    assert_eq!(query.span_kinds, [3, 1]);
    assert_eq!(
        (
            query.end_ms,
            query.lookback_ms,
            query.step_ms,
            query.rate_per_ms
        ),
        (1_700_000_000_000, 60_000, 60_000, 120_000)
    );
}

#[test]
fn bad_parameters_get_jaegers_messages() {
    let refused = |query: &[(&str, &str)]| metrics_query(&pairs(query), 0).unwrap_err();
    assert_eq!(
        refused(&[("lookback", "60000")]),
        "unable to parse param 'service': please provide at least one service name"
    );
    assert_eq!(
        refused(&[("service", "blog"), ("step", "5s")]),
        "unable to parse param 'step': strconv.ParseInt: parsing \"5s\": invalid syntax"
    );
    assert_eq!(
        refused(&[("service", "blog"), ("endTs", "99999999999999999999")]),
        "unable to parse param 'endTs': strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
    );
    assert_eq!(
        refused(&[("service", "blog"), ("groupByOperation", "yes")]),
        "unable to parse param 'groupByOperation': strconv.ParseBool: parsing \"yes\": invalid syntax"
    );
    assert_eq!(
        refused(&[("service", "blog"), ("spanKind", "SERVER")]),
        "unable to parse param 'spanKind': unsupported span kind: 'SERVER'"
    );
    assert!(refused(&[("service", "blog"), ("step", "0")]).contains("zero or negative"));
    assert!(refused(&[("service", "blog"), ("lookback", "-1")]).contains("before start time"));
    assert!(refused(&[("service", "blog"), ("step", "1")]).contains("11,000 points"));
    assert!(
        refused(&[("service", "blog"), ("ratePer", "0")])
            .starts_with("unable to parse param 'ratePer'")
    );
    assert_eq!(
        quantile(&pairs(&[("service", "blog")])).unwrap_err(),
        "unable to parse param 'quantile': strconv.ParseFloat: parsing \"\": invalid syntax"
    );
    assert!(quantile(&pairs(&[("quantile", "1.5")])).is_err());
    assert_eq!(quantile(&pairs(&[("quantile", "0.95")])), Ok(0.95));
}

async fn get(store: Arc<Store>, uri: &str) -> (u16, Value) {
    get_json(router(store), uri).await
}

/// Two minutes ago, on a whole minute, in milliseconds.
fn a_minute_ms() -> i64 {
    (monitor::now_ms() / 60_000 - 2) * 60_000
}

fn served_store() -> Arc<Store> {
    let store = Arc::new(Store::new(10));
    let at = a_minute_ms() as u64 * 1_000_000 + 30_000_000_000;
    let mut spans = Vec::new();
    for i in 0..4u8 {
        let mut served = span(
            i + 1,
            1,
            None,
            if i < 3 { "GET /blogs" } else { "POST /blogs" },
            at - 10_000_000,
            at,
        );
        served.kind = SpanKind::Server as i32;
        if i == 0 {
            served.status = Some(Status {
                code: SpanStatus::Error as i32,
                message: String::new(),
            });
        }
        spans.push(served);
    }
    store.ingest(export("blog-service", spans)).unwrap();
    store
}

#[tokio::test]
async fn calls_answer_jaegers_metric_family() {
    let minute = a_minute_ms();
    let (status, body) = get(
        served_store(),
        &format!("/api/metrics/calls?service=blog-service&groupByOperation=true&endTs={minute}&lookback=0&ratePer=60000"),
    )
    .await;
    assert_eq!(status, 200);
    let timestamp = OffsetDateTime::from_unix_timestamp(minute / 1000)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let point =
        |value: f64| json!([{"gaugeValue": {"doubleValue": value}, "timestamp": timestamp}]);
    assert_eq!(
        body,
        json!({
            "name": "service_operation_call_rate",
            "type": "GAUGE",
            "help": "calls/sec, grouped by service & operation",
            "metrics": [
                {"labels": [{"name": "service_name", "value": "blog-service"}, {"name": "operation", "value": "GET /blogs"}],
                 "metricPoints": point(3.0 / 60.0)},
                {"labels": [{"name": "service_name", "value": "blog-service"}, {"name": "operation", "value": "POST /blogs"}],
                 "metricPoints": point(1.0 / 60.0)},
            ]
        })
    );
}

#[tokio::test]
async fn errors_and_latencies_are_shares_and_milliseconds() {
    let minute = a_minute_ms();
    let window = format!("service=blog-service&endTs={minute}&lookback=0&ratePer=60000");
    let (_, errors) = get(served_store(), &format!("/api/metrics/errors?{window}")).await;
    assert_eq!(errors["name"], "service_error_rate");
    assert_eq!(
        errors["metrics"][0]["labels"],
        json!([{"name": "service_name", "value": "blog-service"}])
    );
    assert_eq!(
        errors["metrics"][0]["metricPoints"][0]["gaugeValue"]["doubleValue"],
        0.25
    );
    let (_, latencies) = get(
        served_store(),
        &format!("/api/metrics/latencies?quantile=0.95&{window}"),
    )
    .await;
    assert_eq!(latencies["name"], "service_latencies");
    assert_eq!(
        latencies["help"],
        "0.95th quantile latency, grouped by service"
    );
    let p95 = latencies["metrics"][0]["metricPoints"][0]["gaugeValue"]["doubleValue"]
        .as_f64()
        .unwrap();
    assert!(
        (p95 - 10.0).abs() <= 10.0 * monitor::RELATIVE_ERROR,
        "{p95}"
    );
}

#[tokio::test]
async fn a_request_without_service_is_refused_as_jaeger_refuses_it() {
    let (status, body) = get(served_store(), "/api/metrics/calls?lookback=60000").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0, "errors": [
            {"code": 400, "msg": "unable to parse param 'service': please provide at least one service name"}]})
    );
    let (status, body) = get(
        served_store(),
        "/api/metrics/latencies?service=blog-service",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["msg"],
        "unable to parse param 'quantile': strconv.ParseFloat: parsing \"\": invalid syntax"
    );
}

#[tokio::test]
async fn a_service_without_calls_has_no_series() {
    let (status, body) = get(served_store(), "/api/metrics/errors?service=nobody").await;
    assert_eq!(status, 200);
    assert_eq!(body["metrics"], json!([]));
}
