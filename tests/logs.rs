//! Logs beside spans: each service sends its log records over OTLP to the collector its spans go
//! to, and a request answered 5xx leaves, in its trace and in the span where the failure was seen,
//! a WARN-or-worse record saying why. Each story drives the real platform the way a user would,
//! provokes a failure (author-service down, MongoDB down, the `authorFailureRate` flag), and reads
//! the records back from the test collector, severity, body and typed attributes. Then the
//! settings: `OTEL_LOGS_EXPORTER=none`, a `_LOGS_` endpoint of their own, HTTP, https and gzip.
//!
//! Most stories provoke the same failure, the one a reader meets first: author-service stopped,
//! `GET /blogs` answered 503 ([`list_without_author`]), and blog-service's WARN record saying it
//! got no answer ([`says_author_did_not_answer`]).

use std::time::{Duration, Instant};

use e2e_tests::{
    Authority, Collector, ExportedLogRecord, ExportedSpan, Platform, PlatformOptions, SpanKind,
    TlsFront, Value, describe_records, project_root, severity, span,
};

/// Every `POST /authorize` answer fails, as a flag in a file makes it.
const EVERY_AUTHORIZE_FAILS: &str = r#"{"flags": {"authorFailureRate": {"state": "ENABLED",
    "variants": {"off": 0, "all": 1}, "defaultVariant": "all"}}}"#;

/// Restarts `service` with `variables` added to its environment.
async fn restart_with(platform: &mut Platform, service: &str, variables: &[(&str, &str)]) {
    platform.stop_service(service);
    platform.set_service_env(service, variables);
    platform.start_service(service);
    platform.wait_ready(service).await;
}

/// A platform of its own, and a reader's token.
async fn platform_with_reader() -> (Platform, String) {
    let platform = Platform::start().await;
    let reader = platform.user_token("reader", &["READ"]).await;
    (platform, reader)
}

/// Stops author-service (it stays stopped) and lists blogs with `token`: answered 503. Returns
/// blog-service's SERVER span of that request, once it has arrived at the platform's collector.
async fn list_without_author(platform: &mut Platform, token: &str) -> ExportedSpan {
    platform.stop_service("author");
    let refused = platform.api.list_blogs(Some(token), "").await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    server_span(
        &platform.collector,
        &refused.trace_id(),
        "blog-service",
        "GET /blogs",
    )
    .await
}

/// Waits at `collector` for the record of blog-service saying, in `blog` (its SERVER span of a
/// [`list_without_author`]), that author-service did not answer; checks it and returns it.
async fn says_author_did_not_answer(
    collector: &Collector,
    blog: &ExportedSpan,
) -> ExportedLogRecord {
    let record = collector
        .wait_for_warning(&blog.trace_id, "blog-service", "dependency unavailable")
        .await;
    assert_says_why(&record, blog, severity::WARN, "cause", "no answer");
    assert_eq!(record.attribute("dependency"), Some("author-service"));
    record
}

/// Waits (at most 5 s: the services read the flags file every half second) until
/// author-service answers `POST /authorize` with `status`, once the flags file changed.
async fn authorize_answers(platform: &Platform, token: &str, status: u16) {
    let started = Instant::now();
    while platform.api.authorize(Some(token), "READ").await.status != status {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the flags file's change applies: POST /authorize answers {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The trace's SERVER span of `service` for `route`, once it has arrived.
async fn server_span(
    collector: &Collector,
    trace_id: &str,
    service: &str,
    route: &str,
) -> ExportedSpan {
    let spans = collector
        .wait_for_spans(trace_id, &[(service, route, SpanKind::Server)])
        .await;
    span(&spans, service, route, SpanKind::Server).clone()
}

/// Checks that `record` says why `service` answered 5xx: WARN or ERROR as the log data model
/// numbers them, in the span `in_span`, with `field` naming the cause.
fn assert_says_why(
    record: &ExportedLogRecord,
    in_span: &ExportedSpan,
    number: i32,
    field: &str,
    cause: &str,
) {
    assert_eq!(record.trace_id, in_span.trace_id, "{}", record.describe());
    assert_eq!(
        record.span_id,
        in_span.span_id,
        "written in {} {}: {}",
        in_span.service,
        in_span.name,
        record.describe()
    );
    assert_eq!(record.severity_number, number, "{}", record.describe());
    let text = if number == severity::ERROR {
        "ERROR"
    } else {
        "WARN"
    };
    assert_eq!(record.severity_text, text);
    let said = record.attribute(field).unwrap_or_else(|| {
        panic!("no string {field} in {}", record.describe());
    });
    assert!(said.contains(cause), "{field} {said:?} says {cause:?}");
    assert_eq!(
        record.resource.get("service.name"),
        Some(&Value::String(in_span.service.clone()))
    );
    // The time the event occurred, and the time the SDK saw it: the same moment, inside the span
    // it was written in.
    assert!(
        (in_span.start_unix_nano..=in_span.end_unix_nano).contains(&record.time_unix_nano),
        "written at {} within its span, {}..{}: {}",
        record.time_unix_nano,
        in_span.start_unix_nano,
        in_span.end_unix_nano,
        record.describe()
    );
    assert_eq!(record.observed_time_unix_nano, record.time_unix_nano);
    assert!(
        !record.event_name.contains(".rs:"),
        "no source path: {}",
        record.event_name
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_5xx_leaves_a_record_saying_why_in_the_span_that_saw_it() {
    let flags_dir = tempfile::tempdir().unwrap();
    let flags = flags_dir.path().join("flags.json");
    std::fs::copy(project_root().join("flags.json"), &flags).unwrap();
    let mut platform = Platform::start_with(PlatformOptions {
        env: vec![("FLAGS_FILE".into(), flags.display().to_string())],
        ..PlatformOptions::default()
    })
    .await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let collector = &platform.collector;

    // A request served well writes no warning.
    let served = platform.api.post_blog(Some(&writer), "Fine", "Body").await;
    assert_eq!(served.status, 201, "{}", served.text);
    let served_trace = served.trace_id();
    collector
        .wait_for_author_hop(&served_trace, "blog-service", "POST /blogs")
        .await;

    std::fs::write(&flags, EVERY_AUTHORIZE_FAILS).unwrap();
    a_failing_author_is_said_by_both_services(&platform, &writer).await;
    std::fs::copy(project_root().join("flags.json"), &flags).unwrap();
    authorize_answers(&platform, &writer, 200).await;

    // author-service down: blog-service could not reach it.
    let blog = list_without_author(&mut platform, &writer).await;
    says_author_did_not_answer(&platform.collector, &blog).await;
    platform.start_service("author");
    platform.wait_ready("author").await;

    if platform.mongo.is_embedded() {
        a_missing_mongodb_is_said_where_it_was_needed(&mut platform, &writer).await;
    } else {
        eprintln!("TEST_MONGODB_URI is set: the tests cannot stop an external MongoDB");
    }

    // Later records of the same services have arrived: the request served well left none at
    // WARN or worse.
    let quiet: Vec<ExportedLogRecord> = platform
        .collector
        .trace_log_records(&served_trace)
        .into_iter()
        .filter(ExportedLogRecord::is_warning_or_worse)
        .collect();
    assert!(quiet.is_empty(), "{}", describe_records(&quiet));
    let records = platform.collector.log_records();
    println!("{} records, among them:\n{}", records.len(), {
        let failures: Vec<ExportedLogRecord> = records
            .into_iter()
            .filter(ExportedLogRecord::is_warning_or_worse)
            .collect();
        describe_records(&failures)
    });
}

/// With every authorization failing on purpose: author-service answers 500 and says so at ERROR
/// in its SERVER span; blog-service answers 503 and says at WARN, in its own, that
/// author-service answered 500.
async fn a_failing_author_is_said_by_both_services(platform: &Platform, writer: &str) {
    let collector = &platform.collector;
    authorize_answers(platform, writer, 500).await;
    let refused = platform.api.post_blog(Some(writer), "Lost", "Body").await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    let hop = collector
        .wait_for_author_hop(&refused.trace_id(), "blog-service", "POST /blogs")
        .await;
    let author_record = collector
        .wait_for_warning(&refused.trace_id(), "author-service", "request failed")
        .await;
    assert_says_why(
        &author_record,
        &hop.author,
        severity::ERROR,
        "cause",
        "authorFailureRate: this answer fails on purpose",
    );
    let blog_record = collector
        .wait_for_warning(
            &refused.trace_id(),
            "blog-service",
            "dependency unavailable",
        )
        .await;
    assert_says_why(
        &blog_record,
        &hop.caller,
        severity::WARN,
        "cause",
        "answered 500 Internal Server Error",
    );
    assert_eq!(blog_record.attribute("dependency"), Some("author-service"));
}

/// MongoDB down: a login (which needs the database) and a listing, each says so in its trace;
/// and nothing a request carried reached a record: the password, the token.
async fn a_missing_mongodb_is_said_where_it_was_needed(platform: &mut Platform, writer: &str) {
    platform.mongo.stop();
    let password = "writer-password";
    let login = platform.api.login("writer", password).await;
    assert_eq!(login.status, 503, "{}", login.text);
    let listing = platform.api.list_blogs(Some(writer), "").await;
    assert_eq!(listing.status, 503, "{}", listing.text);
    for (reply, service, route) in [
        (&login, "authen-service", "POST /login"),
        (&listing, "blog-service", "GET /blogs"),
    ] {
        let server = server_span(&platform.collector, &reply.trace_id(), service, route).await;
        let record = platform
            .collector
            .wait_for_warning(&reply.trace_id(), service, "dependency unavailable")
            .await;
        assert_eq!(record.attribute("dependency"), Some("MongoDB"));
        assert_says_why(&record, &server, severity::WARN, "cause", "");
        assert!(!record.attribute("cause").unwrap().is_empty());
    }
    platform.mongo.start().await;
    let leaks = platform
        .leaks(&[password.to_owned(), writer.to_owned()])
        .await;
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_exporter_none_sends_no_record_while_spans_still_arrive_and_a_typo_stops_the_start() {
    let (mut platform, reader) = platform_with_reader().await;

    platform.stop_service("blog");
    platform.set_service_env("blog", &[("OTEL_LOGS_EXPORTER", "console")]);
    platform.start_service("blog");
    let status = platform.wait_for_refusal("blog");
    assert!(!status.success());
    let log = platform.log("blog");
    assert!(
        log.contains("OTEL_LOGS_EXPORTER") && log.contains("use otlp or none"),
        "one clear line:\n{log}"
    );

    let since = unix_nanos_now();
    platform.set_service_env("blog", &[("OTEL_LOGS_EXPORTER", "none")]);
    platform.start_service("blog");
    platform.wait_ready("blog").await;
    // The span arrives; the record that would have said why does not, nor any other of blog's.
    list_without_author(&mut platform, &reader).await;
    platform.start_service("author");
    platform.wait_ready("author").await;
    platform.collector.wait_until_quiet().await;
    let sent: Vec<ExportedLogRecord> = platform
        .collector
        .log_records()
        .into_iter()
        .filter(|record| record.service == "blog-service" && record.observed_time_unix_nano > since)
        .collect();
    assert!(sent.is_empty(), "{}", describe_records(&sent));
    assert!(
        platform.log("blog").contains("dependency unavailable"),
        "stdout has it all the same"
    );
}

fn unix_nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logs_endpoint_of_their_own_takes_the_records_over_http_and_spans_go_on_as_before() {
    let (mut platform, reader) = platform_with_reader().await;
    let test_began = unix_nanos_now();
    let records_only = Collector::start().await;
    // blog-service: logs over HTTP to a collector of their own, at the URL as given; spans over
    // gRPC to the platform's. author-service: spans to nowhere, logs as before, so its report
    // of the spans it lost arrives as a record, with its counts as integers.
    let logs_url = format!("{}/v1/logs", records_only.http_endpoint());
    restart_with(
        &mut platform,
        "blog",
        &[
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", logs_url.as_str()),
        ],
    )
    .await;
    restart_with(
        &mut platform,
        "author",
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9"),
            // A refused connection is retried until the timeout: give up soon.
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let reply = platform.api.list_blogs(Some(&reader), "").await;
    assert_eq!(reply.status, 200);

    // author-service's report of the spans it could not send: outside any request, typed.
    let started = Instant::now();
    let report = loop {
        let found = platform.collector.log_records().into_iter().find(|record| {
            record.service == "author-service"
                && record
                    .body
                    .to_string()
                    .contains("spans could not be exported")
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no report of lost spans:\n{}",
            describe_records(&platform.collector.log_records())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report.severity_number, severity::WARN);
    assert_eq!(report.trace_id, "", "written outside any request");
    assert!(
        (test_began..=unix_nanos_now()).contains(&report.time_unix_nano),
        "written during the test: {}",
        report.time_unix_nano
    );
    assert!(
        matches!(report.attributes.get("dropped"), Some(Value::Int(n)) if *n > 0),
        "{}",
        report.describe()
    );
    assert!(matches!(
        report.attributes.get("failed_exports_since_last_report"),
        Some(Value::Int(_))
    ));
    assert!(matches!(
        report.attributes.get("endpoint"),
        Some(Value::String(_))
    ));

    let blog = list_without_author(&mut platform, &reader).await;
    says_author_did_not_answer(&records_only, &blog).await;
    assert!(
        records_only.spans().is_empty(),
        "no span went to the logs' endpoint"
    );
    platform.collector.wait_until_quiet().await;
    let elsewhere = platform.collector.trace_log_records(&blog.trace_id);
    assert!(
        elsewhere.is_empty(),
        "blog's records went to their own endpoint only:\n{}",
        describe_records(&elsewhere)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn records_reach_an_https_collector_gzipped_with_a_private_authority() {
    let (mut platform, reader) = platform_with_reader().await;
    let authority = Authority::new("private");
    let grpc = TlsFront::start(platform.collector.grpc_address(), &authority, false).await;
    let ca = authority.certificate().display().to_string();
    let endpoint = grpc.endpoint();
    restart_with(
        &mut platform,
        "blog",
        &[
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", ca.as_str()),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
        ],
    )
    .await;
    let blog = list_without_author(&mut platform, &reader).await;
    says_author_did_not_answer(&platform.collector, &blog).await;
    assert!(grpc.handshakes() > 0, "the records came over TLS");
    let seen = platform.collector.custom_headers();
    assert!(seen.contains("grpc grpc-encoding=gzip"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_general_gzip_setting_compresses_records_on_both_protocols() {
    let (mut platform, reader) = platform_with_reader().await;
    // blog-service's records go to a collector of their own, so the encoding it notes is theirs
    // (the spans, gzipped too, go to the platform's); `OTEL_EXPORTER_OTLP_COMPRESSION`, the
    // general variable, is the only one that asks for gzip.
    for (protocol, noted) in [
        ("grpc", "grpc grpc-encoding=gzip"),
        ("http/protobuf", "http content-encoding=gzip"),
    ] {
        let records_only = Collector::start().await;
        let endpoint = match protocol {
            "grpc" => records_only.endpoint(),
            _ => format!("{}/v1/logs", records_only.http_endpoint()),
        };
        restart_with(
            &mut platform,
            "blog",
            &[
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", protocol),
                ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", endpoint.as_str()),
            ],
        )
        .await;
        let blog = list_without_author(&mut platform, &reader).await;
        says_author_did_not_answer(&records_only, &blog).await;
        let seen = records_only.custom_headers();
        assert!(seen.contains(noted), "{protocol}: {seen:?}");
        assert!(records_only.log_exports() > 0 && records_only.spans().is_empty());
        platform.start_service("author");
        platform.wait_ready("author").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_flushes_buffered_records_with_the_spans_within_5_s() {
    let (mut platform, reader) = platform_with_reader().await;
    // A batch delay far longer than the test: only the shutdown flush can deliver the record.
    restart_with(
        &mut platform,
        "blog",
        &[("OTEL_BLRP_SCHEDULE_DELAY", "600000")],
    )
    .await;
    let blog = list_without_author(&mut platform, &reader).await;
    assert!(
        platform
            .collector
            .trace_log_records(&blog.trace_id)
            .is_empty(),
        "the record is still buffered before the signal"
    );
    let took = platform.stop_service("blog").expect("exits on SIGTERM");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let records = platform.collector.trace_log_records(&blog.trace_id);
    let record = records
        .iter()
        .find(|record| record.body == Value::String("dependency unavailable".into()))
        .unwrap_or_else(|| panic!("flushed on SIGTERM:\n{}", describe_records(&records)));
    assert_says_why(record, &blog, severity::WARN, "cause", "no answer");
}
