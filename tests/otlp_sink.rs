//! `otlp-sink`, scripts/bench.sh's trace sink: a process that receives the services' spans over
//! OTLP/gRPC and counts them per service.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use e2e_tests::{Platform, PlatformOptions};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use serde_json::Value;

/// The sink process, stopped (SIGKILL) if the test fails before it stops it itself.
struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_sink_counts_the_spans_of_each_service_and_prints_them_when_stopped() {
    let mut sink = Sink(
        Command::new(env!("CARGO_BIN_EXE_otlp-sink"))
            .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting otlp-sink"),
    );
    let mut stdout = BufReader::new(sink.0.stdout.take().expect("the sink's stdout"));
    // "otlp-sink: OTLP/gRPC on http://A, OTLP/HTTP on http://B (GET /stats for the counts)"
    let mut banner = String::new();
    stdout
        .read_line(&mut banner)
        .expect("the sink's first line");
    let urls: Vec<&str> = banner
        .split_whitespace()
        .filter(|word| word.starts_with("http://"))
        .map(|word| word.trim_end_matches(','))
        .collect();
    let [grpc, http] = urls[..] else {
        panic!("unexpected first line: {banner}");
    };

    let options = PlatformOptions {
        env: vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), grpc.to_owned())],
        ..PlatformOptions::default()
    };
    let platform = Platform::start_with(options).await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let reply = platform
        .api
        .post_blog(Some(&writer), "Counted", "by the sink")
        .await;
    assert_eq!(reply.status, 201);

    // The write alone makes spans in blog-service, author-service and mongodb.
    let started = Instant::now();
    let stats = loop {
        let stats: Value = reqwest::get(format!("{http}/stats"))
            .await
            .expect("GET /stats")
            .json()
            .await
            .expect("JSON stats");
        let of = |service: &str| stats["by_service"][service].as_u64().unwrap_or(0);
        if ["blog-service", "author-service", "mongodb"]
            .iter()
            .all(|service| of(service) > 0)
        {
            break stats;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "spans of every service did not arrive in 15 s: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let by_service = stats["by_service"].as_object().expect("by_service");
    let sum: u64 = by_service.values().filter_map(Value::as_u64).sum();
    assert_eq!(stats["spans"].as_u64(), Some(sum), "{stats}");
    assert!(stats["exports"].as_u64() > Some(0), "{stats}");
    // The in-process collector got nothing: the services exported to the sink.
    assert!(platform.collector.spans().is_empty());

    drop(platform);
    kill(Pid::from_raw(sink.0.id() as i32), Signal::SIGTERM).expect("SIGTERM to the sink");
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("the sink's last output");
    let status = sink.0.wait().expect("waiting for the sink");
    assert!(status.success(), "otlp-sink exited with {status}");
    let last: Value = serde_json::from_str(rest.trim()).expect("the final counts as JSON");
    assert!(last["spans"].as_u64() >= stats["spans"].as_u64(), "{last}");
}

/// scripts/bench.sh's `tls-gzip` mode: the services export to the sink over TLS, trusting the
/// authority whose certificate file the sink names, with gzip on.
#[tokio::test(flavor = "multi_thread")]
async fn otlp_sink_with_tls_takes_spans_over_https_from_services_trusting_its_authority() {
    let mut sink = Sink(
        Command::new(env!("CARGO_BIN_EXE_otlp-sink"))
            .args(["--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tls"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting otlp-sink"),
    );
    let mut stdout = BufReader::new(sink.0.stdout.take().expect("the sink's stdout"));
    let mut banner = String::new();
    for _ in 0..2 {
        stdout.read_line(&mut banner).expect("the sink's banner");
    }
    // "otlp-sink: OTLP/gRPC over TLS on https://A, certified by PATH"
    let (https, certificate) = banner
        .lines()
        .find_map(|line| line.strip_prefix("otlp-sink: OTLP/gRPC over TLS on "))
        .and_then(|rest| rest.split_once(", certified by "))
        .unwrap_or_else(|| panic!("no TLS endpoint in the banner: {banner}"));
    assert!(https.starts_with("https://127.0.0.1:"), "{banner}");
    let http = banner
        .split_whitespace()
        .find(|word| word.starts_with("http://") && !word.ends_with(','))
        .expect("the HTTP endpoint in the banner");

    let options = PlatformOptions {
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), https.to_owned()),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE".into(),
                certificate.to_owned(),
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION".into(), "gzip".to_owned()),
        ],
        ..PlatformOptions::default()
    };
    let platform = Platform::start_with(options).await;
    let reader = platform.user_token("reader", &["READ"]).await;
    assert_eq!(platform.api.list_blogs(Some(&reader), "").await.status, 200);

    let started = Instant::now();
    loop {
        let stats: Value = reqwest::get(format!("{http}/stats"))
            .await
            .expect("GET /stats")
            .json()
            .await
            .expect("JSON stats");
        if stats["by_service"]["blog-service"].as_u64() > Some(0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "blog-service's spans did not arrive over TLS in 15 s: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(platform.collector.spans().is_empty());
}
