//! The monitor: traffic with known successes, failures (`authorFailureRate`) and slow requests
//! (`authorLatencyMs`) through the platform into `traces serve`; its monitor API answers the calls,
//! error share and latency quantiles of what was sent (as Jaeger's monitor API would, with its
//! errors for bad parameters), `/monitor` shows them in a browser with their charts and links to
//! the failing traces, and `traces top` prints them.

use std::time::{Duration, Instant};

use e2e_tests::{Browser, Platform, PlatformOptions, Viewer, spans_of};
use serde_json::{Value, json};

const SERVER: i64 = 2;
/// The latency histogram's relative error, as docs/viewer.md states it.
const RELATIVE_ERROR: f64 = 0.02;
/// A ratePer that covers the whole test: its counts are within the last ten minutes.
const TEN_MINUTES_MS: u64 = 600_000;

/// A flags file with `authorFailureRate` and `authorLatencyMs` set (0: off).
fn flags(path: &std::path::Path, failure_rate: f64, latency_ms: u64) {
    let flag = |value: Value| json!({"state": "ENABLED", "variants": {"set": value}, "defaultVariant": "set"});
    let flags = json!({"flags": {
        "authorFailureRate": flag(json!(failure_rate)),
        "authorLatencyMs": flag(json!(latency_ms)),
    }});
    std::fs::write(path, flags.to_string()).expect("writing the flags file");
}

/// blog-service's `GET /blogs` server span of a trace, once the viewer has it: its duration in
/// milliseconds and whether it failed.
async fn served(viewer: &Viewer, trace_id: &str) -> (f64, bool) {
    let answer = viewer
        .wait_for_trace(trace_id, |spans| {
            spans
                .iter()
                .any(|s| s.service == "blog-service" && s.name == "GET /blogs" && s.kind == SERVER)
        })
        .await;
    let viewed = spans_of(&answer);
    let spans = answer["result"]["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|s| s["spans"].as_array().into_iter().flatten());
    for (span, view) in spans.zip(&viewed) {
        if view.service == "blog-service" && view.name == "GET /blogs" && view.kind == SERVER {
            let nanos = |key: &str| {
                span[key]
                    .as_str()
                    .and_then(|t| t.parse::<u64>().ok())
                    .expect("a time")
            };
            let millis = (nanos("endTimeUnixNano") - nanos("startTimeUnixNano")) as f64 / 1e6;
            return (millis, view.error);
        }
    }
    unreachable!("the trace has the span waited for")
}

/// Sends `GET /blogs` until `until` says the answer shows the flags applied, then `count` more:
/// the trace ids of every request sent.
async fn send(
    platform: &Platform,
    reader: &str,
    count: usize,
    until: impl Fn(u16, Duration) -> bool,
) -> Vec<String> {
    let mut sent = Vec::new();
    let started = Instant::now();
    loop {
        let began = Instant::now();
        let reply = platform.api.list_blogs(Some(reader), "").await;
        sent.push(reply.trace_id());
        if until(reply.status, began.elapsed()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the flags never applied"
        );
        // Not a wait for spans: the services read the flags file again on their own schedule.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..count {
        sent.push(platform.api.list_blogs(Some(reader), "").await.trace_id());
    }
    sent
}

/// The one point of a series (the query's lookback is 0), as a number.
fn only_point(answer: &Value, operation: &str) -> f64 {
    let metric = answer["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| {
            m["labels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["name"] == "operation" && l["value"] == operation)
        })
        .unwrap_or_else(|| panic!("no series of {operation} in {answer}"));
    assert_eq!(
        metric["labels"][0],
        json!({"name": "service_name", "value": "blog-service"})
    );
    let points = metric["metricPoints"].as_array().expect("points");
    assert_eq!(points.len(), 1, "{metric}");
    points[0]["gaugeValue"]["doubleValue"]
        .as_f64()
        .expect("a number")
}

/// A duration as `traces top` prints it (`850µs`, `12.4ms`, `1.20s`), in milliseconds.
fn printed_millis(text: &str) -> f64 {
    let number = |suffix: &str| {
        text.strip_suffix(suffix)
            .and_then(|n| n.parse::<f64>().ok())
    };
    number("µs")
        .map(|n| n / 1e3)
        .or_else(|| number("ms"))
        .or_else(|| number("s").map(|n| n * 1e3))
        .unwrap_or_else(|| panic!("{text:?} is not a duration"))
}

#[tokio::test(flavor = "multi_thread")]
async fn known_traffic_shows_as_rate_errors_and_latency_in_the_api_the_page_and_top() {
    let dir = tempfile::tempdir().expect("a directory for the flags file");
    let flags_file = dir.path().join("flags.json");
    flags(&flags_file, 0.0, 0);
    let viewer = Viewer::start().await;
    let platform =
        Platform::start_with(PlatformOptions::with_flags(&flags_file, viewer.grpc_env())).await;
    let reader = platform.user_token("reader", &["READ"]).await;

    // Successes, then failures from author-service, then slow answers.
    let mut sent = send(&platform, &reader, 39, |_, _| true).await;
    flags(&flags_file, 0.3, 0);
    sent.extend(send(&platform, &reader, 40, |status, _| status == 503).await);
    flags(&flags_file, 0.0, 300);
    sent.extend(
        send(&platform, &reader, 9, |status, took| {
            status == 200 && took >= Duration::from_millis(300)
        })
        .await,
    );

    // What was sent, from the spans themselves.
    let mut durations = Vec::new();
    let mut failed = 0;
    for trace_id in &sent {
        let (millis, error) = served(&viewer, trace_id).await;
        durations.push(millis);
        failed += usize::from(error);
    }
    durations.sort_by(f64::total_cmp);
    let calls = sent.len();
    assert!(
        failed >= 5 && durations[calls - 1] >= 300.0,
        "{failed} failed, slowest {}",
        durations[calls - 1]
    );
    let share = the_api_counts_what_was_sent(&viewer, &durations, failed).await;
    top_shows_the_same_figures(&viewer, &durations, share);
    the_page_shows_them_and_links_the_failures(&viewer, share, failed);
}

/// `/api/metrics/*` of blog's `GET /blogs`: the calls, the error share and p50/p95/p99 of the
/// spans' `durations` (in ms, sorted), `failed` of which failed, within the histogram's error.
/// Returns the error share.
async fn the_api_counts_what_was_sent(viewer: &Viewer, durations: &[f64], failed: usize) -> f64 {
    let calls = durations.len();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let window = format!(
        "service=blog-service&groupByOperation=true&endTs={now_ms}&lookback=0&ratePer={TEN_MINUTES_MS}"
    );
    let (status, rate) = viewer.get(&format!("/api/metrics/calls?{window}")).await;
    assert_eq!(status, 200, "{rate}");
    assert_eq!(rate["name"], "service_operation_call_rate");
    let counted = only_point(&rate, "GET /blogs") * (TEN_MINUTES_MS / 1000) as f64;
    assert_eq!(counted.round() as usize, calls, "calls/s {rate}");
    let (_, errors) = viewer.get(&format!("/api/metrics/errors?{window}")).await;
    let share = only_point(&errors, "GET /blogs");
    assert!(
        (share - failed as f64 / calls as f64).abs() < 1e-9,
        "{share} vs {failed}/{calls}"
    );
    for quantile in [0.5, 0.95, 0.99] {
        let (_, latencies) = viewer
            .get(&format!(
                "/api/metrics/latencies?quantile={quantile}&{window}"
            ))
            .await;
        let measured = only_point(&latencies, "GET /blogs");
        let truth = durations[(quantile * (calls - 1) as f64).floor() as usize];
        assert!(
            (measured - truth).abs() <= truth * RELATIVE_ERROR,
            "p{quantile}: {measured} ms, the spans say {truth} ms ({durations:?})"
        );
    }
    share
}

/// `traces top`: the same error share and p95.
fn top_shows_the_same_figures(viewer: &Viewer, durations: &[f64], share: f64) {
    let calls = durations.len();
    let top = viewer.cli(&["top", "--service", "blog-service", "--lookback", "10m"]);
    assert!(top.success, "{}", top.stderr);
    let line = top
        .stdout
        .lines()
        .find(|line| line.contains("GET /blogs"))
        .unwrap_or_else(|| panic!("no GET /blogs in:\n{}", top.stdout));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[0], "blog-service", "{line}");
    assert_eq!(cells[4], format!("{:.1}%", share * 100.0), "{line}");
    let p95 = durations[(0.95 * (calls - 1) as f64).floor() as usize];
    assert!(
        (printed_millis(cells[5]) - p95).abs() <= p95 * RELATIVE_ERROR + 0.05,
        "{line} vs {p95}"
    );
    assert!(top.stdout.lines().nth(2).unwrap().split_whitespace().eq([
        "SERVICE",
        "OPERATION",
        "RATE",
        "ERRORS",
        "P95"
    ]));
}

/// The page, in a browser: the operation, its error share, its chart with failed calls drawn,
/// and its links to the failing and the slowest traces, which list the `failed` ones.
fn the_page_shows_them_and_links_the_failures(viewer: &Viewer, share: f64, failed: usize) {
    let browser = Browser::find();
    let page = browser.dom(&format!("{}/monitor?lookback=15m", viewer.ui));
    assert!(page.contains("<h2>blog-service</h2>"), "{page}");
    let row = page
        .split("<tr class=\"operation")
        .find(|row| row.contains("GET /blogs"))
        .unwrap_or_else(|| panic!("no GET /blogs row in {page}"));
    assert!(row.contains(&format!("{:.1}%", share * 100.0)), "{row}");
    assert!(
        row.contains("<svg class=\"chart\"") && row.contains("class=\"errors\""),
        "{row}"
    );
    assert!(row.contains("href=\"/search?service=blog-service&amp;operation=GET+%2Fblogs&amp;lookback=15m&amp;errors=true\""), "{row}");
    assert!(row.contains("class=\"slowest\""), "{row}");
    assert!(
        page.contains("href=\"/monitor\""),
        "the navigation links the monitor"
    );
    let failing = browser.dom(&format!(
        "{}/search?service=blog-service&operation=GET+%2Fblogs&lookback=15m&errors=true",
        viewer.ui
    ));
    let listed = failing.matches("class=\"trace failed\"").count();
    assert_eq!(listed, failed.min(20), "{failing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_parameters_are_refused_as_jaeger_refuses_them() {
    let viewer = Viewer::start().await;
    let refused = |message: &str| json!({"data": null, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": 400, "msg": message}]});
    for (path, message) in [
        (
            "/api/metrics/calls?lookback=60000",
            "unable to parse param 'service': please provide at least one service name",
        ),
        (
            "/api/metrics/errors?service=blog-service&step=5s",
            "unable to parse param 'step': strconv.ParseInt: parsing \"5s\": invalid syntax",
        ),
        (
            "/api/metrics/calls?service=blog-service&endTs=now",
            "unable to parse param 'endTs': strconv.ParseInt: parsing \"now\": invalid syntax",
        ),
        (
            "/api/metrics/calls?service=blog-service&spanKind=SERVER",
            "unable to parse param 'spanKind': unsupported span kind: 'SERVER'",
        ),
        (
            "/api/metrics/calls?service=blog-service&groupByOperation=yes",
            "unable to parse param 'groupByOperation': strconv.ParseBool: parsing \"yes\": invalid syntax",
        ),
        (
            "/api/metrics/latencies?service=blog-service",
            "unable to parse param 'quantile': strconv.ParseFloat: parsing \"\": invalid syntax",
        ),
    ] {
        let (status, body) = viewer.get(path).await;
        assert_eq!((status, body), (400, refused(message)), "{path}");
    }
    // Nothing counted yet: a family without series.
    let (status, body) = viewer.get("/api/metrics/calls?service=blog-service").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"name": "service_call_rate", "type": "GAUGE", "help": "calls/sec, grouped by service", "metrics": []})
    );
    let top = viewer.cli(&["top"]);
    assert!(top.success, "{}", top.stderr);
    assert!(
        top.stdout.contains("no server spans in this time"),
        "{}",
        top.stdout
    );
}
