//! `traces serve --data DIR`: what the viewer received is still there after it restarts. The
//! platform's traffic (successes, and failures from `authorFailureRate` with their log records)
//! into a viewer that is then stopped with SIGTERM and started again on the same directory:
//! the same traces, records and monitor counts answer. Its bound holds on disk; a damaged or
//! foreign directory and a second viewer on the same one are refused with one line; a full
//! disk (a file size limit) answers exporters 503 and `UNAVAILABLE` while the viewer serves on
//! and loses nothing it acknowledged.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use e2e_tests::{Platform, PlatformOptions, SERVICES, Viewer, serve_refused, spans_of};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::{Value, json};

fn flags(path: &Path, failure_rate: f64) {
    let flag = |value: Value| json!({"state": "ENABLED", "variants": {"set": value}, "defaultVariant": "set"});
    let flags = json!({"flags": {"authorFailureRate": flag(json!(failure_rate))}});
    std::fs::write(path, flags.to_string()).expect("writing the flags file");
}

/// `GET /blogs` until the answer has `status` (the services read the flags file on their own
/// schedule), then `count` more: the trace ids of those `count`.
async fn send(platform: &Platform, reader: &str, status: u16, count: usize) -> Vec<String> {
    let started = Instant::now();
    while platform.api.list_blogs(Some(reader), "").await.status != status {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no {status} in 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut sent = Vec::new();
    for _ in 0..count {
        let reply = platform.api.list_blogs(Some(reader), "").await;
        assert_eq!(reply.status, status);
        sent.push(reply.trace_id());
    }
    sent
}

/// What the viewer answers about these traces: each trace, each trace's records, the services,
/// and blog-service's monitor counts over a fixed window.
async fn answers(viewer: &Viewer, traces: &[String], end_ms: u128) -> Vec<(String, u16, Value)> {
    let window = format!(
        "service=blog-service&groupByOperation=true&endTs={end_ms}&lookback=600000&step=60000&ratePer=600000"
    );
    let mut paths = vec![
        "/api/v3/services".to_owned(),
        format!("/api/metrics/calls?{window}"),
        format!("/api/metrics/errors?{window}"),
        format!("/api/metrics/latencies?quantile=0.95&{window}"),
    ];
    for trace_id in traces {
        paths.push(format!("/api/v3/traces/{trace_id}"));
        paths.push(format!("/api/logs?traceId={trace_id}"));
    }
    let mut answers = Vec::new();
    for path in paths {
        let (status, body) = viewer.get(&path).await;
        answers.push((path, status, body));
    }
    answers
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_viewer_answers_the_same_traces_records_and_counts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("traces");
    let data_arg = data.display().to_string();
    let flags_file = dir.path().join("flags.json");
    flags(&flags_file, 0.0);
    let mut viewer = Viewer::start_with(&["--data", &data_arg]).await;
    let mut env = viewer.grpc_env();
    env.push(("FLAGS_FILE".into(), flags_file.display().to_string()));
    let mut platform = Platform::start_with(PlatformOptions {
        env,
        ..PlatformOptions::default()
    })
    .await;
    let reader = platform.user_token("reader", &["READ"]).await;
    let served = send(&platform, &reader, 200, 5).await;
    flags(&flags_file, 1.0);
    let failed = send(&platform, &reader, 503, 3).await;
    for trace_id in served.iter().chain(&failed) {
        viewer
            .wait_for_trace(trace_id, |spans| {
                spans
                    .iter()
                    .any(|s| s.service == "blog-service" && s.name == "GET /blogs")
            })
            .await;
    }
    for trace_id in &failed {
        viewer.wait_for_logs(trace_id, 1).await;
    }
    // The services flush what they still hold as they stop; then nothing more arrives.
    for service in SERVICES {
        platform.stop_service(service.name);
    }
    let end_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let traces: Vec<String> = served.iter().chain(&failed).cloned().collect();
    let before = answers(&viewer, &traces, end_ms).await;
    assert!(
        before
            .iter()
            .all(|(path, status, _)| *status == 200 || path.starts_with("/api/logs")),
        "{before:#?}"
    );
    let calls = &before[1].2["metrics"];
    assert!(calls.as_array().is_some_and(|m| !m.is_empty()), "{calls}");

    viewer.stop();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&data).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "the data directory is private");
    let restarted = Viewer::start_with(&["--data", &data_arg]).await;
    assert!(
        restarted
            .output()
            .contains(&format!("traces in {data_arg}")),
        "the start-up line says where the traces are kept:\n{}",
        restarted.output()
    );
    let after = answers(&restarted, &traces, end_ms).await;
    for ((path, status, body), (_, status_after, body_after)) in before.iter().zip(&after) {
        assert_eq!(
            (status, body),
            (status_after, body_after),
            "{path} before and after the restart"
        );
    }
    let spans = spans_of(&after[4].2);
    assert!(spans.len() >= 3, "a whole trace: {spans:#?}");
}

/// An OTLP/JSON export of one span of trace `[trace; 16]`, with an attribute of `padding` bytes.
fn export(trace: u8, padding: usize) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "disk-test"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": hex(trace, 16),
            "spanId": hex(trace, 8),
            "name": format!("job {trace}"),
            "kind": 2,
            "startTimeUnixNano": (now - 1_000_000).to_string(),
            "endTimeUnixNano": now.to_string(),
            "attributes": [{"key": "padding", "value": {"stringValue": "p".repeat(padding)}}],
        }]}],
    }]})
    .to_string()
    .into_bytes()
}

fn hex(byte: u8, len: usize) -> String {
    format!("{byte:02x}").repeat(len)
}

async fn post(viewer: &Viewer, body: Vec<u8>) -> (u16, Vec<u8>) {
    let (status, _, body) = viewer
        .export_http(&[("content-type", "application/json")], body)
        .await;
    (status, body)
}

#[tokio::test]
async fn only_the_newest_traces_within_max_traces_are_kept_on_disk() {
    let dir = tempfile::tempdir().expect("a data directory");
    let data = dir.path().display().to_string();
    let mut viewer = Viewer::start_with(&["--data", &data, "--max-traces", "3"]).await;
    for trace in 1..=5 {
        assert_eq!(post(&viewer, export(trace, 0)).await.0, 200);
    }
    viewer.stop();
    let restarted = Viewer::start_with(&["--data", &data, "--max-traces", "3"]).await;
    for trace in 1..=5 {
        let (status, _) = restarted
            .get(&format!("/api/v3/traces/{}", hex(trace, 16)))
            .await;
        assert_eq!(status, if trace <= 2 { 404 } else { 200 }, "trace {trace}");
    }
}

#[tokio::test]
async fn a_damaged_or_foreign_directory_is_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(damaged.join("traces.redb"), &garbage).unwrap();
    let foreign = dir.path().join("photos");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("cat.jpg"), b"\xff\xd8\xff\xe0").unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "mine").unwrap();

    for (path, says) in [
        (&damaged, "is damaged or not a traces database"),
        (&foreign, "holds other files and no traces.redb"),
        (&file, "is not a directory"),
    ] {
        let shown = path.display().to_string();
        let run = serve_refused(&["--data", &shown]);
        assert!(!run.success, "{shown}: {run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {run:?}");
        assert!(
            lines[0].contains(&shown) && lines[0].contains(says),
            "{shown}: {run:?}"
        );
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
    assert_eq!(std::fs::read(damaged.join("traces.redb")).unwrap(), garbage);
    assert_eq!(std::fs::read_dir(&damaged).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}

#[tokio::test]
async fn a_second_viewer_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("a data directory");
    let data = dir.path().display().to_string();
    let mut first = Viewer::start_with(&["--data", &data]).await;
    assert_eq!(post(&first, export(1, 0)).await.0, 200);
    let second = serve_refused(&["--data", &data]);
    assert!(!second.success, "{second:?}");
    assert_eq!(second.stderr.lines().count(), 1, "{second:?}");
    assert!(
        second.stderr.contains("is in use by another traces serve")
            && second.stderr.contains(&data),
        "{second:?}"
    );
    assert!(first.is_running());
    let (status, _) = first.get(&format!("/api/v3/traces/{}", hex(1, 16))).await;
    assert_eq!(status, 200, "the first one serves on");
}

#[tokio::test]
async fn a_full_disk_refuses_exports_as_retryable_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("a data directory");
    let data = dir.path().display().to_string();
    let mut viewer = Viewer::start_with(&["--data", &data]).await;
    let mut acknowledged = Vec::new();
    assert_eq!(post(&viewer, export(1, 1000)).await.0, 200);
    acknowledged.push(1);

    // From now on the file may not grow: the limit is its size (a full disk, for this file).
    let size = std::fs::metadata(dir.path().join("traces.redb"))
        .unwrap()
        .len();
    let limited = Command::new("prlimit")
        .args([format!("--pid={}", viewer.pid()), format!("--fsize={size}")])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(limited.success());
    let mut refused = None;
    for trace in 2..=60 {
        let (status, body) = post(&viewer, export(trace, 512 * 1024)).await;
        match status {
            200 => acknowledged.push(trace),
            503 => {
                refused = Some((trace, body));
                break;
            }
            other => panic!("export of trace {trace}: {other}"),
        }
    }
    let (first_refused, body) = refused.expect("an export refused once the file cannot grow");
    let body: Value = serde_json::from_slice(&body).expect("a JSON status");
    assert_eq!(
        body["code"], 14,
        "UNAVAILABLE, which exporters retry: {body}"
    );
    for trace in [first_refused, first_refused + 1] {
        assert_eq!(post(&viewer, export(trace, 512 * 1024)).await.0, 503);
    }
    let request = traces::otlp_json::decode_request(&export(first_refused, 512 * 1024)).unwrap();
    let refused = TraceServiceClient::connect(viewer.grpc.clone())
        .await
        .expect("the gRPC receiver answers")
        .export(request)
        .await
        .expect_err("refused over gRPC too");
    assert_eq!(
        refused.code(),
        tonic::Code::Unavailable,
        "which exporters retry: {refused:?}"
    );
    assert!(viewer.is_running(), "the viewer stays up");
    let output = viewer.output();
    let said: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("cannot write to"))
        .collect();
    assert_eq!(said.len(), 1, "one line for the failing writes:\n{output}");
    assert!(said[0].contains(&data), "{}", said[0]);
    assert!(!output.contains("panicked"), "{output}");
    for trace in &acknowledged {
        let (status, _) = viewer
            .get(&format!("/api/v3/traces/{}", hex(*trace, 16)))
            .await;
        assert_eq!(status, 200, "trace {trace} is still served");
    }

    viewer.stop();
    let restarted = Viewer::start_with(&["--data", &data]).await;
    for trace in &acknowledged {
        let (status, _) = restarted
            .get(&format!("/api/v3/traces/{}", hex(*trace, 16)))
            .await;
        assert_eq!(status, 200, "acknowledged trace {trace} after the restart");
    }
    assert_eq!(post(&restarted, export(99, 0)).await.0, 200, "room again");
}
