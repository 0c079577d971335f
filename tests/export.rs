//! Export to a real collector's front door: over `https://` with a private authority or mutual
//! TLS, gzip-compressed, through a collector that restarts, to one that cannot be trusted, and to
//! one that takes only part of what it is sent. Each story starts the platform, points one or two
//! services at the collector the way a user would (the standard `OTEL_EXPORTER_OTLP_*`
//! variables), and reads the spans back.

use std::time::{Duration, Instant};

use e2e_tests::{Authority, Platform, SpanKind, TlsFront, project_root};

/// Restarts each of `services` with `variables` added to its environment.
async fn restart_with(platform: &mut Platform, services: &[(&str, Vec<(&str, String)>)]) {
    for (service, variables) in services {
        platform.stop_service(service);
        let variables: Vec<(&str, &str)> = variables
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        platform.set_service_env(service, &variables);
        platform.start_service(service);
        platform.wait_ready(service).await;
    }
}

/// blog-service's and author-service's spans of one reader's `GET /blogs`, whose trace id it
/// returns once they have all arrived.
async fn list_blogs_and_wait_for_its_trace(platform: &Platform, reader: &str) -> String {
    let reply = platform.api.list_blogs(Some(reader), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let trace_id = reply.trace_id();
    platform
        .collector
        .wait_for_spans(
            &trace_id,
            &[
                ("blog-service", "GET /blogs", SpanKind::Server),
                ("author-service", "POST /authorize", SpanKind::Server),
                ("mongodb", "find", SpanKind::Client),
            ],
        )
        .await;
    trace_id
}

/// The lines of a service's log that report spans it could not export.
fn export_failures(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains("spans could not be exported"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_reach_an_https_collector_with_a_private_authority_gzipped_over_both_protocols() {
    let mut platform = Platform::start().await;
    let authority = Authority::new("private");
    let grpc = TlsFront::start(platform.collector.grpc_address(), &authority, false).await;
    let http = TlsFront::start(platform.collector.http_address(), &authority, false).await;
    let ca = authority.certificate().display().to_string();
    restart_with(
        &mut platform,
        &[
            (
                "blog",
                vec![
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", http.endpoint()),
                    ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.clone()),
                    ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
                ],
            ),
            (
                "author",
                vec![
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
                    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", grpc.endpoint()),
                    ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", ca),
                    ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip".to_owned()),
                ],
            ),
        ],
    )
    .await;
    let reader = platform.user_token("reader", &["READ"]).await;
    list_blogs_and_wait_for_its_trace(&platform, &reader).await;

    assert!(grpc.handshakes() > 0, "author-service came over TLS");
    assert!(http.handshakes() > 0, "blog-service came over TLS");
    let seen = platform.collector.custom_headers();
    for encoding in ["http content-encoding=gzip", "grpc grpc-encoding=gzip"] {
        assert!(seen.contains(encoding), "{encoding} in {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_reach_a_collector_that_requires_a_client_certificate_over_both_protocols() {
    let mut platform = Platform::start().await;
    let authority = Authority::new("mutual");
    let grpc = TlsFront::start(platform.collector.grpc_address(), &authority, true).await;
    let http = TlsFront::start(platform.collector.http_address(), &authority, true).await;
    let identity = |protocol: &str, endpoint: String| {
        vec![
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                authority.certificate().display().to_string(),
            ),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                authority.client_certificate().display().to_string(),
            ),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                authority.client_key().display().to_string(),
            ),
        ]
    };
    restart_with(
        &mut platform,
        &[
            ("blog", identity("http/protobuf", http.endpoint())),
            ("author", identity("grpc", grpc.endpoint())),
        ],
    )
    .await;
    let reader = platform.user_token("reader", &["READ"]).await;
    list_blogs_and_wait_for_its_trace(&platform, &reader).await;

    assert!(
        http.client_certificates() > 0,
        "blog-service showed its certificate"
    );
    assert!(
        grpc.client_certificates() > 0,
        "author-service showed its certificate"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_that_restarts_for_three_seconds_loses_no_span_and_gets_none_twice() {
    let mut platform = Platform::start().await;
    // Exports every 100 ms, so that many fall inside the outage; blog-service over HTTP, which the
    // collector answers 503 with Retry-After, author-service over gRPC, answered UNAVAILABLE.
    let often = ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned());
    let http_endpoint = platform.collector.http_endpoint();
    restart_with(
        &mut platform,
        &[
            (
                "blog",
                vec![
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", http_endpoint),
                    often.clone(),
                ],
            ),
            ("author", vec![often]),
        ],
    )
    .await;
    let reader = platform.user_token("reader", &["READ"]).await;

    // Ten requests a second for six seconds; the collector refuses everything from the second to
    // the fifth.
    let started = Instant::now();
    let mut trace_ids = Vec::new();
    let mut refusing = false;
    while started.elapsed() < Duration::from_secs(6) {
        let elapsed = started.elapsed();
        let outage = elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5);
        if outage != refusing {
            refusing = outage;
            platform.collector.refuse_exports(refusing);
        }
        let reply = platform.api.list_blogs(Some(&reader), "").await;
        assert_eq!(reply.status, 200, "the outage never reaches a request");
        trace_ids.push(reply.trace_id());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    platform.collector.refuse_exports(false);

    let refused = platform.collector.refused();
    assert!(refused >= 2, "the collector refused only {refused} exports");
    for trace_id in &trace_ids {
        platform
            .collector
            .wait_for_spans(
                trace_id,
                &[
                    ("blog-service", "GET /blogs", SpanKind::Server),
                    ("blog-service", "POST /authorize", SpanKind::Client),
                    ("author-service", "POST /authorize", SpanKind::Server),
                    ("mongodb", "find", SpanKind::Client),
                ],
            )
            .await;
    }
    platform.collector.wait_until_quiet().await;
    assert_eq!(platform.collector.duplicates(), Vec::<String>::new());
    for service in ["blog", "author"] {
        let log = platform.log(service);
        assert_eq!(
            export_failures(&log),
            Vec::<&str>::new(),
            "{service}: nothing was dropped"
        );
    }
    println!(
        "{} requests, {refused} exports refused over 3 s, every span delivered once",
        trace_ids.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_collector_costs_requests_nothing_and_is_reported_once() {
    let mut platform = Platform::start().await;
    // blog-service trusts the system's roots, which never signed this collector's certificate;
    // author-service shows no client certificate to a collector that requires one.
    let stranger = Authority::new("stranger");
    let untrusted = TlsFront::start(platform.collector.grpc_address(), &stranger, false).await;
    let demanding = TlsFront::start(platform.collector.http_address(), &stranger, true).await;
    let often = ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned());
    restart_with(
        &mut platform,
        &[
            (
                "blog",
                vec![
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", untrusted.endpoint()),
                    often.clone(),
                ],
            ),
            (
                "author",
                vec![
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", demanding.endpoint()),
                    (
                        "OTEL_EXPORTER_OTLP_CERTIFICATE",
                        stranger.certificate().display().to_string(),
                    ),
                    often,
                ],
            ),
        ],
    )
    .await;
    // What the services sent before they were pointed at the stranger's collector.
    let before = platform.collector.counts().by_service;
    let reader = platform.user_token("reader", &["READ"]).await;
    let started = Instant::now();
    let mut requests = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let reply = platform.api.list_blogs(Some(&reader), "").await;
        assert_eq!(reply.status, 200);
        requests += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Wait until each service has reported (a failure that is not retried is reported at once).
    let reported = Instant::now();
    while ["blog", "author"]
        .iter()
        .any(|service| export_failures(&platform.log(service)).is_empty())
    {
        assert!(
            reported.elapsed() < Duration::from_secs(15),
            "no export failure reported:\n{}\n{}",
            platform.log("blog"),
            platform.log("author")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for service in ["blog", "author"] {
        assert!(platform.is_running(service), "{service}-service still runs");
        let log = platform.log(service);
        let failures = export_failures(&log);
        assert_eq!(failures.len(), 1, "{service}: reported once: {failures:#?}");
        println!("{service}-service: {}", failures[0]);
        assert!(
            failures[0].to_lowercase().contains("certificate"),
            "{service}: the line says why: {}",
            failures[0]
        );
        assert!(
            !log.contains("BatchSpanProcessor.ExportError"),
            "{service}: the SDK does not repeat it:\n{log}"
        );
    }
    let after = platform.collector.counts().by_service;
    for service in ["blog-service", "author-service"] {
        assert_eq!(
            after.get(service),
            before.get(service),
            "nothing of {service} got through"
        );
    }
    println!("{requests} requests served while every export was refused for its certificate");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_success_is_logged_once_per_message_with_its_count() {
    let mut platform = Platform::start().await;
    restart_with(
        &mut platform,
        &[("blog", vec![("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned())])],
    )
    .await;
    let reader = platform.user_token("reader", &["READ"]).await;
    for message in ["span too large", "quota exceeded"] {
        platform.collector.answer_partial_success(2, message);
        for _ in 0..3 {
            list_blogs_and_wait_for_its_trace(&platform, &reader).await;
        }
    }
    let log = platform.log("blog");
    for message in ["span too large", "quota exceeded"] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("refused part of an export") && line.contains(message))
            .collect();
        assert_eq!(lines.len(), 1, "{message}: once: {lines:#?}\n{log}");
        assert!(lines[0].contains("\"rejected_spans\":2"), "{}", lines[0]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_services_trust_the_gateway_certificate_the_secrets_script_makes() {
    // What Kubernetes and the production compose file run with: the script's authority and the
    // gateway's certificate, here on a front named `localhost`, one of the names it is made for.
    let (keys, secrets) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let script = std::process::Command::new("bash")
        .arg(project_root().join("scripts/k8s-secrets.sh"))
        .arg("--keys-dir")
        .arg(keys.path())
        .arg("--out-dir")
        .arg(secrets.path())
        .output()
        .expect("running scripts/k8s-secrets.sh");
    assert!(
        script.status.success(),
        "{}",
        String::from_utf8_lossy(&script.stderr)
    );
    let mut platform = Platform::start().await;
    let authority = Authority::from_secrets_script(secrets.path());
    let gateway = TlsFront::start(platform.collector.grpc_address(), &authority, false).await;
    let endpoint = gateway.endpoint().replace("127.0.0.1", "localhost");
    restart_with(
        &mut platform,
        &[(
            "blog",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
                (
                    "OTEL_EXPORTER_OTLP_CERTIFICATE",
                    authority.certificate().display().to_string(),
                ),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
            ],
        )],
    )
    .await;
    let reader = platform.user_token("reader", &["READ"]).await;
    list_blogs_and_wait_for_its_trace(&platform, &reader).await;
    assert!(gateway.handshakes() > 0, "blog-service came over TLS");
}
