//! The trace viewer: without Jaeger, the services export to `traces serve`, which answers Jaeger's
//! query API as Jaeger does, shows the traces on web pages a real browser renders, and prints them
//! in the terminal; and no input, however hostile, stops it or gets into its pages.

use std::{collections::HashMap, io::Write as _, path::PathBuf};

use e2e_tests::{
    Api, Browser, Collector, MongoServer, Platform, PlatformOptions, SERVICES, ViewedSpan, Viewer,
    free_port, generate_keys, run_cli, spans_of,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_client::TraceServiceClient,
    },
    common::v1::{AnyValue, KeyValue, any_value::Value as Any},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span, Status},
};
use prost::Message as _;
use serde_json::{Value, json};

const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const MS: u64 = 1_000_000;

/// Jaeger's own snapshots of its API v3 answers (tests/fixtures/jaeger-api-v3/README.md).
fn snapshot(name: &str) -> Value {
    let path = format!(
        "{}/fixtures/jaeger-api-v3/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("a snapshot file")).expect("JSON")
}

// The services export to the viewer, and its API answers as Jaeger's does.

#[tokio::test(flavor = "multi_thread")]
async fn services_export_over_grpc_and_every_api_path_answers_like_jaeger() {
    let viewer = Viewer::start().await;
    let platform = Platform::start_with(PlatformOptions {
        env: viewer.grpc_env(),
        ..PlatformOptions::default()
    })
    .await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let reply = platform
        .api
        .post_blog(Some(&writer), "Seen", "in the viewer")
        .await;
    assert_eq!(reply.status, 201);
    let trace_id = reply.trace_id();
    let trace = viewer
        .wait_for_trace(&trace_id, post_blog_is_complete)
        .await;

    assert_shape(&trace, &snapshot("GetTrace"), "GET /api/v3/traces/{id}");
    assert_otlp_json_types(&trace);
    assert_services_are_the_platforms(&viewer).await;
    assert_operations_have_their_kinds(&viewer).await;
    let found = find(
        &viewer,
        "query.service_name=blog-service&query.operation_name=POST%20/blogs",
    )
    .await;
    assert_shape(&found, &snapshot("FindTraces"), "GET /api/v3/traces?...");
    let only_ours = spans_of(&found)
        .iter()
        .all(|span| trace_of(&found, span) == trace_id);
    assert!(only_ours, "the only POST /blogs is ours: {found}");
    assert_no_traces(&viewer, "/api/v3/traces/0123456789abcdef0123456789abcdef").await;
    let nobody = format!("/api/v3/traces?query.service_name=nobody&{}", window(3600));
    assert_no_traces(&viewer, &nobody).await;
    assert_blog_service_calls_author_and_mongodb(&viewer).await;
}

async fn assert_services_are_the_platforms(viewer: &Viewer) {
    let (_, services) = viewer.get("/api/v3/services").await;
    assert_shape(&services, &snapshot("GetServices"), "GET /api/v3/services");
    let listed = services["services"].as_array().unwrap();
    for service in [
        "author-service",
        "authen-service",
        "user-service",
        "blog-service",
        "mongodb",
    ] {
        assert!(listed.contains(&json!(service)), "{service} in {services}");
    }
}

async fn assert_operations_have_their_kinds(viewer: &Viewer) {
    let (_, operations) = viewer.get("/api/v3/operations?service=blog-service").await;
    let what = "GET /api/v3/operations";
    assert_shape(&operations, &snapshot("GetOperations"), what);
    let listed = operations["operations"].as_array().unwrap();
    for operation in [
        json!({"name": "POST /blogs", "spanKind": "server"}),
        json!({"name": "POST /authorize", "spanKind": "client"}),
    ] {
        assert!(listed.contains(&operation), "{operation} in {operations}");
    }
    let (_, clients) = viewer
        .get("/api/v3/operations?service=blog-service&span_kind=client")
        .await;
    let kinds: Vec<&Value> = clients["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| &op["spanKind"])
        .collect();
    assert!(
        !kinds.is_empty() && kinds.iter().all(|kind| *kind == "client"),
        "{clients}"
    );
}

/// The service graph of the last hour holds blog-service → author-service and → mongodb.
async fn assert_blog_service_calls_author_and_mongodb(viewer: &Viewer) {
    let (status, dependencies) = viewer.get("/api/dependencies?lookback=3600000").await;
    assert_eq!(status, 200, "{dependencies}");
    for (parent, child) in [
        ("blog-service", "author-service"),
        ("blog-service", "mongodb"),
    ] {
        let link = dependencies["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|link| link["parent"] == parent && link["child"] == child);
        let calls = link.and_then(|link| link["callCount"].as_u64());
        assert!(
            calls.is_some_and(|calls| calls >= 1),
            "no {parent} → {child} in {dependencies}"
        );
    }
}

/// The trace of `POST /blogs` has arrived whole: blog's request, author's check, MongoDB's insert.
fn post_blog_is_complete(spans: &[ViewedSpan]) -> bool {
    let has = |service: &str, name: &str, kind: i64| {
        spans
            .iter()
            .any(|s| s.service == service && s.name == name && s.kind == kind)
    };
    has("blog-service", "POST /blogs", SERVER)
        && has("blog-service", "POST /authorize", CLIENT)
        && has("author-service", "POST /authorize", SERVER)
        && has("mongodb", "insert", CLIENT)
}

#[tokio::test(flavor = "multi_thread")]
async fn services_export_over_http_protobuf() {
    let viewer = Viewer::start().await;
    let platform = Platform::start_with(PlatformOptions {
        env: viewer.http_env(),
        ..PlatformOptions::default()
    })
    .await;
    let reply = platform
        .api
        .login(e2e_tests::ADMIN_USERNAME, e2e_tests::ADMIN_PASSWORD)
        .await;
    assert_eq!(reply.status, 200);
    let trace = viewer
        .wait_for_trace(&reply.trace_id(), |spans| {
            spans
                .iter()
                .any(|s| s.service == "authen-service" && s.name == "POST /login")
                && spans
                    .iter()
                    .any(|s| s.service == "authen-service" && s.name == "token.sign")
                && spans.iter().any(|s| s.service == "mongodb")
        })
        .await;
    assert_otlp_json_types(&trace);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_jaegers_own_snapshots_exactly() {
    let viewer = Viewer::start().await;
    // The span of Jaeger's snapshots: no resource attributes, no scope, no times.
    let foobar = span(
        "00000000000000000000000000000001",
        "0000000000000002",
        "",
        "foobar",
        2,
        (0, 0),
        Some(""),
    );
    let mut request = export("", vec![foobar]);
    request.resource_spans[0].resource = Some(Resource::default());
    request.resource_spans[0].scope_spans[0].scope = None;
    post_protobuf(&viewer, &request).await;
    let users = span(
        "00000000000000000000000000000003",
        "0000000000000004",
        "",
        "get_users",
        2,
        (1, 2),
        None,
    );
    post_protobuf(&viewer, &export("foo", vec![users])).await;

    for (path, name) in [
        (
            "/api/v3/traces/00000000000000000000000000000001",
            "GetTrace",
        ),
        (
            "/api/v3/traces?query.start_time_min=1970-01-01T00:00:00Z\
             &query.start_time_max=2100-01-01T00:00:00Z&query.operation_name=foobar",
            "FindTraces",
        ),
        ("/api/v3/services", "GetServices"),
        ("/api/v3/operations?service=foo", "GetOperations"),
    ] {
        let (status, answer) = viewer.get(path).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(
            answer,
            snapshot(name),
            "{path} differs from Jaeger's {name}.json"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_are_jaegers() {
    let viewer = Viewer::start().await;
    let error =
        |status: u64, message: &str| json!({"error": {"httpCode": status, "message": message}});
    assert_eq!(
        viewer
            .get("/api/v3/traces/0af7651916cd43dd8448eb211c80319c")
            .await,
        (404, error(404, "No traces found"))
    );
    assert_eq!(
        viewer.get("/api/v3/traces?query.service_name=x").await,
        (
            400,
            error(
                400,
                "query.startTimeMin and query.startTimeMax are required"
            )
        )
    );
    let window = window(60);
    for (bad, parameter) in [
        (
            format!("{window}&query.num_traces=many"),
            "query.num_traces",
        ),
        (
            format!("{window}&query.duration_min=100"),
            "query.duration_min",
        ),
        (
            format!("{window}&query.durationMax=fast"),
            "query.durationMax",
        ),
        (
            "query.start_time_min=yesterday&query.start_time_max=2100-01-01T00:00:00Z".to_owned(),
            "query.start_time_min",
        ),
        // Not JSON, and a value that is not a string.
        (format!("{window}&query.attributes=%7B"), "query.attributes"),
        (
            format!("{window}&query.attributes=%7B%22code%22%3A503%7D"),
            "query.attributes",
        ),
    ] {
        let (status, body) = viewer.get(&format!("/api/v3/traces?{bad}")).await;
        assert_eq!(
            (status, body["error"]["httpCode"].as_u64()),
            (400, Some(400)),
            "{bad}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("malformed parameter {parameter}:")),
            "{bad}: {message}"
        );
    }
    // Ids of the wrong length: longer than 32 hex digits, or not hex at all.
    for id in [
        "0af7651916cd43dd8448eb211c80319c0",
        "not-a-trace-id",
        "%3Cscript%3E",
    ] {
        let (status, body) = viewer.get(&format!("/api/v3/traces/{id}")).await;
        assert_eq!(status, 400, "{id}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("malformed parameter trace_id:"),
            "{body}"
        );
    }
    let (status, body) = viewer.get("/api/dependencies?endTs=tomorrow").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["code"], 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn searches_filter_by_service_operation_duration_time_and_limit() {
    let viewer = Viewer::start().await;
    let now = now_nanos();
    let minutes_ago = |minutes: u64| now - minutes * 60_000 * MS;
    // Oldest first: the API lists the most recent first.
    for (trace, service, name, start, duration, error) in [
        ("a1", "shop", "GET /cart", minutes_ago(120), 10 * MS, false),
        ("a2", "shop", "GET /cart", minutes_ago(30), 15 * MS, false),
        ("a3", "shop", "POST /order", minutes_ago(20), 250 * MS, true),
        ("a4", "ledger", "GET /cart", minutes_ago(10), 40 * MS, false),
    ] {
        let root = span(
            &format!("{trace:0>32}"),
            &format!("{trace:0>16}"),
            "",
            name,
            2,
            (start, start + duration),
            error.then_some("declined"),
        );
        post_protobuf(&viewer, &export(service, vec![root])).await;
    }
    let hour = window(3600);
    let error = "&query.attributes=%7B%22error%22%3A%22true%22%7D"; // {"error":"true"}
    for (filters, expected) in [
        ("", &["a4", "a3", "a2"][..]),
        ("&query.service_name=shop", &["a3", "a2"]),
        (
            "&query.serviceName=shop&query.operationName=GET%20/cart",
            &["a2"],
        ),
        ("&query.operation_name=GET%20/cart", &["a4", "a2"]),
        ("&query.duration_min=20ms", &["a4", "a3"]),
        ("&query.duration_min=20ms&query.duration_max=100ms", &["a4"]),
        ("&query.num_traces=2", &["a4", "a3"]),
        (error, &["a3"]),
        // {"service.name":"ledger"}: a resource attribute, without a service name.
        (
            "&query.attributes=%7B%22service.name%22%3A%22ledger%22%7D",
            &["a4"],
        ),
    ] {
        let found = found_traces(&viewer, format!("{hour}{filters}")).await;
        assert_eq!(
            found, expected,
            "the last hour, most recent first, {filters}"
        );
    }
    let found = found_traces(&viewer, window(3 * 3600)).await;
    assert_eq!(found, ["a4", "a3", "a2", "a1"], "the last 3 hours");

    // The terminal's search sends the same parameters.
    for (arguments, expected) in [
        (&[][..], &["a4", "a3", "a2"][..]),
        (&["--since", "3h", "--limit", "3"], &["a4", "a3", "a2"]),
        (&["--service", "shop", "--operation", "GET /cart"], &["a2"]),
        (&["--min-duration", "100ms"], &["a3"]),
        (&["--errors"], &["a3"]),
        (&["--attr", "service.name=ledger"], &["a4"]),
        (&["--attr", "service.name=shop", "--errors"], &["a3"]),
        (&["--attr", "service.name=nobody"], &[]),
        (&["--service", "nobody"], &[]),
    ] {
        let run = viewer.cli(&[&["search"], arguments].concat());
        assert!(run.success, "{arguments:?}: {}", run.stderr);
        let found: Vec<&str> = run
            .stdout
            .lines()
            .map(|line| line.rsplit('/').next().unwrap().trim_start_matches('0'))
            .collect();
        assert_eq!(found, expected, "traces search {arguments:?}");
    }
}

// The terminal.

#[tokio::test(flavor = "multi_thread")]
async fn the_terminal_prints_a_known_trace_line_by_line() {
    let viewer = Viewer::start().await;
    let (status, _, body) = viewer
        .export_http(&[JSON], checkout_trace_json().to_string().into_bytes())
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let run = viewer.cli(&["show", "4bf92f3577b34da6a3ce929d0e0e4736"]);
    assert!(run.success, "{}", run.stderr);
    let link = format!("{}/trace/4bf92f3577b34da6a3ce929d0e0e4736", viewer.ui);
    let expected = [
        "frontend: GET /checkout",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 · 2026-11-29 10:00:00.000 UTC · 120ms · 6 spans · 3 services · 2 errors",
        &link,
        "",
        "SERVICE   OPERATION          DURATION  0                                  120ms",
        "frontend  GET /checkout         120ms  ████████████████████████████████████████",
        "frontend    GET /cart          30.0ms   ███████████",
        "cart          GET /cart        24.0ms    █████████",
        "frontend    POST /charge       70.0ms               ████████████████████████     ✗ ERROR",
        "payment       POST /charge     60.0ms                 ████████████████████       ✗ ERROR card declined",
        "payment         fraud.check    20.0ms                  ████████",
    ];
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines, expected, "\n{}", run.stdout);
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let coloured = run_cli(
        [
            "show",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "--from",
            &viewer.ui,
        ],
        &[("CLICOLOR_FORCE", "1")],
    );
    assert!(
        coloured.stdout.contains("\x1b[31m"),
        "errors in red on a terminal:\n{}",
        coloured.stdout
    );
}

/// A checkout: frontend calls cart, then payment, whose charge fails.
fn checkout_trace_json() -> Value {
    let start: u64 = 1_795_946_400_000_000_000; // 2026-11-29T10:00:00Z
    let span = |id: &str,
                parent: &str,
                name: &str,
                kind: u8,
                from_ms: u64,
                to_ms: u64,
                error: Option<&str>| {
        let mut span = json!({
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": format!("{id:0>16}"), "name": name, "kind": kind,
            "startTimeUnixNano": (start + from_ms * MS).to_string(), "endTimeUnixNano": (start + to_ms * MS).to_string(),
        });
        if !parent.is_empty() {
            span["parentSpanId"] = json!(format!("{parent:0>16}"));
        }
        if let Some(message) = error {
            span["status"] = json!({"code": 2, "message": message});
        }
        span
    };
    let process = |service: &str, spans: Vec<Value>| {
        json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
               "scopeSpans": [{"scope": {"name": "checkout-test"}, "spans": spans}]})
    };
    json!({"resourceSpans": [
        process("frontend", vec![
            span("1", "", "GET /checkout", 2, 0, 120, None),
            span("2", "1", "GET /cart", 3, 5, 35, None),
            span("4", "1", "POST /charge", 3, 40, 110, Some("")),
        ]),
        process("cart", vec![span("3", "2", "GET /cart", 2, 8, 32, None)]),
        process("payment", vec![
            span("5", "4", "POST /charge", 2, 45, 105, Some("card declined")),
            span("6", "5", "fraud.check", 1, 50, 70, None),
        ]),
    ]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_trace_or_an_unreachable_server_is_one_line_and_a_failure() {
    let viewer = Viewer::start().await;
    let missing = viewer.cli(&["show", "0af7651916cd43dd8448eb211c80319c"]);
    assert!(!missing.success);
    assert_eq!(
        missing.stderr,
        format!(
            "traces: trace 0af7651916cd43dd8448eb211c80319c not found at {}\n",
            viewer.ui
        )
    );
    let malformed = viewer.cli(&["show", "0af7651916cd43dd8448eb211c80319c00"]);
    assert!(!malformed.success);
    assert_eq!(malformed.stderr.lines().count(), 1, "{}", malformed.stderr);
    let nobody = format!("http://127.0.0.1:{}", e2e_tests::free_port());
    for command in [
        &["show", "0af7651916cd43dd8448eb211c80319c"][..],
        &["search"],
        &["graph"],
    ] {
        let run = run_cli(
            command.iter().copied().chain(["--from", nobody.as_str()]),
            &[],
        );
        assert!(!run.success, "{command:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{command:?}: {}", run.stderr);
        assert!(
            run.stderr
                .starts_with(&format!("traces: cannot reach {nobody} (")),
            "{}",
            run.stderr
        );
    }
}

// Hostile input.

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
const JSON: (&str, &str) = ("content-type", "application/json");
const GZIP: (&str, &str) = ("content-encoding", "gzip");

#[tokio::test(flavor = "multi_thread")]
async fn exports_that_do_not_decode_are_refused_in_their_own_encoding() {
    let mut viewer = Viewer::start().await;
    // Field 1 claims more bytes than there are.
    let truncated = vec![0x0a, 0xff, 0xff, 0xff, 0x0f, 1];
    let (status, content_type, body) = viewer.export_http(&[PROTOBUF], truncated).await;
    assert_eq!(
        (status, content_type.as_str()),
        (400, "application/x-protobuf")
    );
    let rpc_status = RpcStatus::decode(&body[..]).expect("a google.rpc.Status");
    assert_eq!(
        rpc_status.code, 3,
        "INVALID_ARGUMENT: {}",
        rpc_status.message
    );
    let cut_short = br#"{"resourceSpans": [{"scopeSpans": "#.to_vec();
    let (status, content_type, body) = viewer.export_http(&[JSON], cut_short).await;
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["code"], 3);
    let text = [("content-type", "text/plain")];
    assert_eq!(viewer.export_http(&text, b"hello".to_vec()).await.0, 415);
    assert_nothing_stored(&mut viewer).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_with_an_id_of_the_wrong_length_is_refused_whole() {
    let mut viewer = Viewer::start().await;
    let short_trace_id = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "4bf92f3577b34da6a3ce929d0e0e47", "spanId": "00f067aa0ba902b7", "name": "x"}]}]}]});
    let (status, _, body) = viewer
        .export_http(&[JSON], short_trace_id.to_string().into_bytes())
        .await;
    assert_eq!(status, 400);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("spans[0].trace_id has 15 bytes"),
        "says which span: {message}"
    );
    // A good span, and the same with a span id of 9 bytes.
    let mut long_span_id = shop_export(&"ab".repeat(16));
    let spans = &mut long_span_id.resource_spans[0].scope_spans[0].spans;
    spans.push(spans[0].clone());
    spans[1].span_id.push(0xaa);
    let (status, _, _) = viewer
        .export_http(&[PROTOBUF], long_span_id.encode_to_vec())
        .await;
    assert_eq!(status, 400);
    assert_nothing_stored(&mut viewer).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_over_8_mib_on_the_wire_or_decompressed_are_refused() {
    let mut viewer = Viewer::start().await;
    assert_eq!(viewer.export_raw(&[PROTOBUF], &vec![0; 9 << 20]).await, 413);
    let bomb = gzip(&vec![0; 64 << 20]);
    assert!(
        bomb.len() < 200 << 10,
        "a gzip bomb is small on the wire: {} bytes",
        bomb.len()
    );
    assert_eq!(viewer.export_raw(&[PROTOBUF, GZIP], &bomb).await, 413);
    let (status, _, _) = viewer
        .export_http(&[PROTOBUF, GZIP], b"not gzip".to_vec())
        .await;
    assert_eq!(status, 400);
    assert_nothing_stored(&mut viewer).await;

    let good = gzip(&shop_export(&"cd".repeat(16)).encode_to_vec());
    assert_eq!(viewer.export_http(&[PROTOBUF, GZIP], good).await.0, 200);
    let (_, services) = viewer.get("/api/v3/services").await;
    assert_eq!(
        services,
        json!({"services": ["shop"]}),
        "a good gzip export is stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_exports_over_grpc_are_invalid_arguments_and_change_nothing() {
    let mut viewer = Viewer::start().await;
    let channel = tonic::transport::Endpoint::from_shared(viewer.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();

    // Field 1 (resource_spans) must be a message; a varint there does not decode.
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    let codec = tonic_prost::ProstCodec::<Garbage, ExportTraceServiceResponse>::default();
    let status = grpc
        .unary(
            tonic::Request::new(Garbage { resource_spans: 1 }),
            path,
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    let mut client = TraceServiceClient::new(channel).max_encoding_message_size(usize::MAX);
    let bad_id = shop_export(&"ab".repeat(15));
    let status = client.export(bad_id).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("trace_id has 15 bytes"),
        "{}",
        status.message()
    );
    let mut huge = shop_export(&"ab".repeat(16));
    huge.resource_spans[0].scope_spans[0].spans[0]
        .attributes
        .push(string_attribute("blob", &"x".repeat(9 << 20)));
    let status = client.export(huge).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");

    assert_nothing_stored(&mut viewer).await;
    let good = shop_export(&"ab".repeat(16));
    client
        .export(good)
        .await
        .expect("a valid export after all that");
}

/// A message whose field 1 has the wrong wire type for `ExportTraceServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct Garbage {
    #[prost(uint64, tag = "1")]
    resource_spans: u64,
}

/// `google.rpc.Status`, the body of OTLP/HTTP's errors.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn script_in_span_names_and_attributes_is_text_in_the_browser() {
    let viewer = Viewer::start().await;
    let browser = Browser::find();
    let now = now_nanos();
    let script = "<script>document.title='pwned'</script>";
    let mut root = span(
        &"ee".repeat(16),
        "00000000000000e1",
        "",
        script,
        2,
        (now - 60_000 * MS, now - 59_000 * MS),
        Some(script),
    );
    root.attributes.push(string_attribute(
        "note",
        "\"><img src=x onerror=\"document.title='pwned'\">",
    ));
    post_protobuf(&viewer, &export(script, vec![root])).await;
    let child = span(
        &"ee".repeat(16),
        "00000000000000e2",
        "00000000000000e1",
        "child",
        3,
        (now - 60_000 * MS, now - 59_500 * MS),
        None,
    );
    post_protobuf(&viewer, &export("shop", vec![child])).await;

    let (_, json) = viewer
        .get(&format!("/api/v3/traces/{}", "ee".repeat(16)))
        .await;
    assert!(
        spans_of(&json).iter().any(|span| span.name == script),
        "the API gives the name as it came"
    );
    for path in [
        format!("/trace/{}", "ee".repeat(16)),
        "/search".to_owned(),
        "/dependencies".to_owned(),
    ] {
        let dom = browser.dom(&format!("{}{path}", viewer.ui));
        assert!(
            dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
            "{path}: the name is text:\n{dom}"
        );
        assert!(
            !dom.contains("<script"),
            "{path}: a script element got in:\n{dom}"
        );
        assert!(
            !dom.contains("<img"),
            "{path}: an attribute value became an element:\n{dom}"
        );
        assert!(
            !dom.contains("<title>pwned"),
            "{path}: a script ran:\n{dom}"
        );
    }
}

// The browser.

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_renders_the_trace_the_search_and_the_dependencies() {
    let viewer = Viewer::start().await;
    let browser = Browser::find();
    let platform = Platform::start_with(PlatformOptions {
        env: viewer.grpc_env(),
        ..PlatformOptions::default()
    })
    .await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let reader = platform.user_token("reader", &["READ"]).await;
    let created = platform
        .api
        .post_blog(Some(&writer), "Hello", "from the viewer")
        .await;
    viewer
        .wait_for_trace(&created.trace_id(), post_blog_is_complete)
        .await;
    let refused = platform
        .api
        .post_blog(Some(&reader), "Nope", "readers cannot write")
        .await;
    assert_eq!(refused.status, 403);
    viewer
        .wait_for_trace(&refused.trace_id(), |spans| spans.iter().any(|s| s.error))
        .await;
    let listed = platform.api.list_blogs(Some(&reader), "").await;
    let trace = viewer
        .wait_for_trace(&listed.trace_id(), |spans| {
            spans.iter().filter(|s| s.service == "mongodb").count() >= 4
        })
        .await;

    let trace_page = assert_trace_page_shows_every_span(&viewer, &browser, &trace);
    assert_search_page_lists_and_marks_failures(
        &viewer,
        &browser,
        &listed.trace_id(),
        &refused.trace_id(),
    );
    assert_dependencies_page_draws_the_platform(&viewer, &browser);

    let dir = screenshots_dir();
    for (name, path) in [
        ("trace", trace_page),
        ("search", "/search".to_owned()),
        ("dependencies", "/dependencies".to_owned()),
    ] {
        let file = dir.join(format!("viewer-{name}.png"));
        browser.screenshot(&format!("{}{path}", viewer.ui), &file, (1280, 800));
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size > 10_000, "{} looks empty", file.display());
    }
}

/// The trace of `GET /blogs`, with MongoDB's find command opened (as in Jaeger UI, `uiFind`
/// marks a span; here it also opens it onto its attributes). Returns the page's path.
fn assert_trace_page_shows_every_span(viewer: &Viewer, browser: &Browser, trace: &Value) -> String {
    let spans = spans_of(trace);
    let trace_id = trace_of(trace, &spans[0]);
    let command = spans
        .iter()
        .find(|s| s.service == "mongodb" && s.name == "find")
        .expect("the find command");
    let page = format!("/trace/{trace_id}?uiFind={}", command.span_id);
    let dom = browser.dom(&format!("{}{page}", viewer.ui));
    assert!(
        dom.contains(&format!("<code id=\"trace-id\">{trace_id}</code>")),
        "{dom}"
    );
    assert!(dom.contains("<h1>blog-service: GET /blogs</h1>"), "{dom}");
    let rows = dom.matches("<details class=\"span ").count();
    assert_eq!(rows, spans.len(), "a row per span:\n{dom}");
    let opened = format!("data-span-id=\"{}\" open=\"\"", command.span_id);
    assert!(dom.contains(&opened), "the find command is open:\n{dom}");
    for text in [
        "author-service",
        "POST /authorize",
        "token.verify",
        "db.query.text",
    ] {
        assert!(dom.contains(text), "the trace page shows {text}:\n{dom}");
    }
    page
}

fn assert_search_page_lists_and_marks_failures(
    viewer: &Viewer,
    browser: &Browser,
    listed: &str,
    refused: &str,
) {
    let dom = browser.dom(&format!("{}/search?lookback=1h&limit=50", viewer.ui));
    for trace_id in [listed, refused] {
        let link = format!("href=\"/trace/{trace_id}\"");
        assert!(dom.contains(&link), "the search links {trace_id}:\n{dom}");
    }
    assert!(
        dom.contains("class=\"error-badge\""),
        "the refused write is marked:\n{dom}"
    );
    let dom = browser.dom(&format!(
        "{}/search?service=blog-service&errors=true",
        viewer.ui
    ));
    let rows = dom.matches("<tr class=\"trace").count();
    assert_eq!(rows, 1, "only the refused write failed:\n{dom}");
}

fn assert_dependencies_page_draws_the_platform(viewer: &Viewer, browser: &Browser) {
    let dom = browser.dom(&format!("{}/dependencies", viewer.ui));
    assert!(dom.contains("<svg class=\"graph\""), "{dom}");
    for service in [
        "blog-service",
        "author-service",
        "user-service",
        "authen-service",
        "mongodb",
    ] {
        let node = format!(">{service}</text>");
        assert!(
            dom.contains(&node),
            "the graph has a {service} node:\n{dom}"
        );
    }
    let counted = dom.contains("calls</text>") || dom.contains("call</text>");
    assert!(counted, "edges carry their counts:\n{dom}");
}

/// Where the screenshots go: `VIEWER_SCREENSHOTS` (relative to the project; `docs/images`
/// refreshes the documentation's), else the target directory.
fn screenshots_dir() -> PathBuf {
    let dir = match std::env::var_os("VIEWER_SCREENSHOTS").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(dir),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("viewer-screenshots"),
    };
    std::fs::create_dir_all(&dir).expect("a directory for screenshots");
    dir
}

// Helpers.

/// `actual` has the snapshot's structure: each key the snapshot has (but a status code, which
/// OTLP/JSON leaves out when unset), with a value of the same JSON type; each element of an array
/// like the snapshot's first.
fn assert_shape(actual: &Value, snapshot: &Value, what: &str) {
    fn check(actual: &Value, snapshot: &Value, path: &str) -> Result<(), String> {
        match (actual, snapshot) {
            (Value::Object(actual), Value::Object(snapshot)) => {
                for (key, expected) in snapshot {
                    match actual.get(key) {
                        Some(value) => check(value, expected, &format!("{path}.{key}"))?,
                        None if key == "code" => {}
                        None => return Err(format!("{path}.{key} is missing")),
                    }
                }
                Ok(())
            }
            (Value::Array(actual), Value::Array(snapshot)) => match snapshot.first() {
                Some(expected) if actual.is_empty() => {
                    Err(format!("{path} is empty, expected {expected}"))
                }
                Some(expected) => actual
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, item)| check(item, expected, &format!("{path}[{i}]"))),
                None => Ok(()),
            },
            (Value::String(_), Value::String(_))
            | (Value::Number(_), Value::Number(_))
            | (Value::Bool(_), Value::Bool(_)) => Ok(()),
            (actual, snapshot) => Err(format!("{path} is {actual}, where Jaeger has {snapshot}")),
        }
    }
    if let Err(problem) = check(actual, snapshot, "") {
        panic!("{what} does not have Jaeger's shape: {problem}\n{actual}");
    }
}

/// OTLP/JSON as Jaeger writes it: hex ids, numeric kinds and status codes, times as decimal
/// strings, integer attributes as strings.
fn assert_otlp_json_types(answer: &Value) {
    let is_hex = |value: &Value, length: usize| {
        value.as_str().is_some_and(|text| {
            text.len() == length
                && text
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
    };
    let is_decimal = |value: &Value| {
        value
            .as_str()
            .is_some_and(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut spans = 0;
    for resource_spans in answer["result"]["resourceSpans"].as_array().unwrap() {
        for scope_spans in resource_spans["scopeSpans"].as_array().unwrap() {
            for span in scope_spans["spans"].as_array().unwrap() {
                spans += 1;
                assert!(
                    is_hex(&span["traceId"], 32) && is_hex(&span["spanId"], 16),
                    "{span}"
                );
                assert!(
                    span.get("parentSpanId")
                        .is_none_or(|parent| is_hex(parent, 16)),
                    "{span}"
                );
                assert!(span["kind"].is_u64(), "{span}");
                assert!(
                    is_decimal(&span["startTimeUnixNano"]) && is_decimal(&span["endTimeUnixNano"]),
                    "{span}"
                );
                assert!(
                    span["status"].is_object()
                        && span["status"].get("code").is_none_or(Value::is_u64),
                    "{span}"
                );
                for attribute in span["attributes"].as_array().into_iter().flatten() {
                    if let Some(integer) = attribute["value"].get("intValue") {
                        assert!(is_decimal(integer), "{attribute}");
                    }
                }
            }
        }
    }
    assert!(spans > 0, "{answer}");
}

async fn assert_no_traces(viewer: &Viewer, path: &str) {
    let answer = viewer.get(path).await;
    assert_eq!(
        answer,
        (
            404,
            json!({"error": {"httpCode": 404, "message": "No traces found"}})
        ),
        "{path}"
    );
}

/// The trace id of a span in an answer.
fn trace_of(answer: &Value, span: &ViewedSpan) -> String {
    for resource_spans in answer["result"]["resourceSpans"].as_array().unwrap() {
        for scope_spans in resource_spans["scopeSpans"].as_array().unwrap() {
            for candidate in scope_spans["spans"].as_array().unwrap() {
                if candidate["spanId"] == span.span_id.as_str() {
                    return candidate["traceId"].as_str().unwrap().to_owned();
                }
            }
        }
    }
    panic!("{span:?} is not in {answer}")
}

/// `query.start_time_min` and `_max` for the last `seconds` (and a second ahead).
fn window(seconds: u64) -> String {
    window_from(now_nanos() - seconds * 1_000 * MS)
}

/// `query.start_time_min` and `_max` from `start` (Unix nanoseconds) to a second ahead of now.
fn window_from(start: u64) -> String {
    let rfc3339 = |nanos: u64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    format!(
        "query.start_time_min={}&query.start_time_max={}",
        rfc3339(start),
        rfc3339(now_nanos() + 1_000 * MS)
    )
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

async fn find(viewer: &Viewer, query: &str) -> Value {
    let (status, answer) = viewer
        .get(&format!("/api/v3/traces?{query}&{}", window(3600)))
        .await;
    assert_eq!(status, 200, "{query}: {answer}");
    answer
}

/// The traces a search finds, as the last digits of their ids (`a1` for `000...0a1`), in the
/// order of the answer.
async fn found_traces(viewer: &Viewer, query: String) -> Vec<String> {
    let (status, answer) = viewer.get(&format!("/api/v3/traces?{query}")).await;
    assert!(status == 200 || status == 404, "{query}: {answer}");
    let mut ids: Vec<String> = Vec::new();
    for span in spans_of(&answer) {
        let id = trace_of(&answer, &span).trim_start_matches('0').to_owned();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

async fn post_protobuf(viewer: &Viewer, request: &ExportTraceServiceRequest) {
    let (status, _, body) = viewer
        .export_http(&[PROTOBUF], request.encode_to_vec())
        .await;
    assert_eq!(status, 200, "{:?}", RpcStatus::decode(&body[..]));
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(value.to_owned())),
        }),
    }
}

/// An export of one span of `shop` in this trace.
fn shop_export(trace_id: &str) -> ExportTraceServiceRequest {
    export(
        "shop",
        vec![span(
            trace_id,
            "00f067aa0ba902b7",
            "",
            "checkout",
            1,
            (1, 2),
            None,
        )],
    )
}

/// The viewer still runs and holds no span: what it refused changed nothing.
async fn assert_nothing_stored(viewer: &mut Viewer) {
    assert!(viewer.is_running());
    let (_, services) = viewer.get("/api/v3/services").await;
    assert_eq!(services, json!({"services": []}), "nothing was stored");
}

/// An export from one process of `service` (no `service.name` when empty).
fn export(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    let attributes = if service.is_empty() {
        vec![]
    } else {
        vec![string_attribute("service.name", service)]
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(Default::default()),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A span with hex ids, a kind, `(start, end)` in nanoseconds, and an error status with this
/// message if `error` is given.
fn span(
    trace_id: &str,
    span_id: &str,
    parent: &str,
    name: &str,
    kind: i32,
    (start, end): (u64, u64),
    error: Option<&str>,
) -> Span {
    let bytes = |hex: &str| {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    Span {
        trace_id: bytes(trace_id),
        span_id: bytes(span_id),
        parent_span_id: bytes(parent),
        name: name.to_owned(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        status: error.map(|message| Status {
            message: message.to_owned(),
            code: 2,
        }),
        ..Span::default()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

// Finding the cause: the critical path and the comparison of a request `authorLatencyMs` delayed.

/// A flags file with `authorLatencyMs` at `ms` (0: off).
fn author_latency(path: &std::path::Path, ms: u64) {
    one_flag(path, "authorLatencyMs", json!(ms));
}

/// A flags file with only `flag`, at `value`.
fn one_flag(path: &std::path::Path, flag: &str, value: Value) {
    let flags = json!({"flags": {flag: {
        "state": "ENABLED", "variants": {"set": value}, "defaultVariant": "set"}}});
    std::fs::write(path, flags.to_string()).expect("writing the flags file");
}

/// A `GET /blogs` trace with author's answer and MongoDB's spans in (and the delay's, if asked).
fn get_blogs_is_complete(delayed: bool) -> impl Fn(&[ViewedSpan]) -> bool {
    move |spans: &[ViewedSpan]| {
        let has = |service: &str, name: &str| {
            spans.iter().any(|s| s.service == service && s.name == name)
        };
        has("blog-service", "GET /blogs")
            && spans.iter().any(|s| {
                s.service == "author-service" && s.name == "POST /authorize" && s.kind == SERVER
            })
            && spans.iter().any(|s| s.service == "mongodb")
            && (!delayed || has("author-service", "authorize.delay"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delayed_request_s_critical_path_and_comparison_point_at_the_delay() {
    let flags_dir = tempfile::tempdir().expect("a directory for the flags file");
    let flags = flags_dir.path().join("flags.json");
    author_latency(&flags, 0);
    let viewer = Viewer::start().await;
    let platform =
        Platform::start_with(PlatformOptions::with_flags(&flags, viewer.grpc_env())).await;
    let reader = platform.user_token("reader", &["READ"]).await;
    let mut normal = Vec::new();
    for _ in 0..3 {
        let reply = platform.api.list_blogs(Some(&reader), "").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        normal.push(reply.trace_id());
    }
    for trace_id in &normal {
        viewer
            .wait_for_trace(trace_id, get_blogs_is_complete(false))
            .await;
    }
    author_latency(&flags, 400);
    let slow = a_delayed_request(&platform, &reader).await;
    viewer
        .wait_for_trace(&slow, get_blogs_is_complete(true))
        .await;

    the_critical_path_runs_through_the_delay(&viewer, &slow).await;
    the_comparisons_put_the_delay_first(&viewer, &slow, &normal[0]).await;
    the_pages_show_the_delay_in_a_browser(&viewer, &slow);
}

/// `GET /blogs` until one takes the 400 ms `authorLatencyMs` was just set to (the services read
/// the flags file again within 2 s): its trace id.
async fn a_delayed_request(platform: &Platform, reader: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let began = std::time::Instant::now();
        let reply = platform.api.list_blogs(Some(reader), "").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        if began.elapsed() >= std::time::Duration::from_millis(400) {
            return reply.trace_id();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the delay never applied"
        );
        // Not a wait for spans: the services read the file again on their own schedule.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The API's critical path covers the root span without gaps or overlap and runs through the
/// delay; `traces show --critical-path` marks it.
async fn the_critical_path_runs_through_the_delay(viewer: &Viewer, slow: &str) {
    let (status, path) = viewer
        .get(&format!("/api/analysis/critical-path/{slow}"))
        .await;
    assert_eq!(status, 200, "{path}");
    let segments = path["data"]["segments"].as_array().expect("segments");
    let time = |segment: &Value, field: &str| -> u64 {
        segment[field]
            .as_str()
            .expect("a decimal string")
            .parse()
            .expect("a time")
    };
    for pair in segments.windows(2) {
        assert_eq!(
            time(&pair[0], "endTimeUnixNano"),
            time(&pair[1], "startTimeUnixNano"),
            "{path}"
        );
    }
    let covered =
        time(segments.last().unwrap(), "endTimeUnixNano") - time(&segments[0], "startTimeUnixNano");
    assert_eq!(
        covered,
        path["data"]["durationNanos"].as_u64().unwrap(),
        "{path}"
    );
    let on_path = |service: &str, name: &str| {
        segments
            .iter()
            .find(|s| s["serviceName"] == service && s["operationName"] == name)
    };
    assert!(
        on_path("author-service", "POST /authorize").is_some(),
        "{path}"
    );
    let delay = on_path("author-service", "authorize.delay").expect("the delay is on the path");
    assert!(
        time(delay, "endTimeUnixNano") - time(delay, "startTimeUnixNano") >= 400 * MS,
        "{path}"
    );

    let run = viewer.cli(&["show", slow, "--critical-path"]);
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("▶ author-service") && line.contains("authorize.delay")),
        "{}",
        run.stdout
    );
}

/// Against a normal request and against the typical trace, in the API and in `traces diff`: the
/// delay is the first row, with its 400 ms.
async fn the_comparisons_put_the_delay_first(viewer: &Viewer, slow: &str, normal: &str) {
    for query in [
        format!("trace={slow}&baseline={normal}"),
        format!("trace={slow}"),
    ] {
        let (status, diff) = viewer.get(&format!("/api/analysis/compare?{query}")).await;
        assert_eq!(status, 200, "{diff}");
        let first = &diff["data"]["rows"][0];
        assert_eq!(first["operationName"], "authorize.delay", "{query}: {diff}");
        assert!(
            first["selfDeltaNanos"].as_i64().unwrap() >= 400 * MS as i64,
            "{diff}"
        );
    }
    let run = viewer.cli(&["diff", slow]);
    assert!(run.success, "{}", run.stderr);
    let first_row = run.stdout.lines().nth(3).unwrap_or_default();
    assert!(
        first_row.contains("author-service: authorize.delay"),
        "{}",
        run.stdout
    );
}

/// In a real browser: the comparison's first row is the delay, only in the slow trace; the trace
/// page draws the path over the delay's bar. Screenshots of both are taken (`screenshots_dir`).
fn the_pages_show_the_delay_in_a_browser(viewer: &Viewer, slow: &str) {
    let browser = Browser::find();
    let compare = format!("/compare?trace={slow}");
    let dom = browser.dom(&format!("{}{compare}", viewer.ui));
    let first_row = dom
        .split("<tr class=\"diff")
        .nth(1)
        .expect("rows on the compare page");
    assert!(
        first_row.contains("authorize.delay") && first_row.starts_with(" only-trace"),
        "{dom}"
    );
    let trace_page = format!("/trace/{slow}");
    let dom = browser.dom(&format!("{}{trace_page}", viewer.ui));
    let delay_row = dom
        .split("<details ")
        .find(|row| row.contains(">authorize.delay<"))
        .expect("the delay's row");
    assert!(
        delay_row.contains("critical") && delay_row.contains("class=\"cp\""),
        "{delay_row}"
    );
    let dir = screenshots_dir();
    for (name, path) in [("compare", compare), ("critical-path", trace_page)] {
        let file = dir.join(format!("viewer-{name}.png"));
        browser.screenshot(&format!("{}{path}", viewer.ui), &file, (1280, 640));
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size > 10_000, "{} looks empty", file.display());
    }
}

/// The ids of the traces (started after `start`, in Unix nanoseconds; at most 1 000) that have
/// a span with every pair of `attributes` (a JSON object of strings), as the API's search finds
/// them.
async fn traces_with(viewer: &Viewer, start: u64, attributes: &Value) -> TraceIds {
    let query = format!(
        "/api/v3/traces?{}&query.num_traces=1000&query.attributes={}",
        window_from(start),
        percent_encode(&attributes.to_string())
    );
    let (status, answer) = viewer.get(&query).await;
    assert!(status == 200 || status == 404, "{query}: {answer}");
    let mut ids = std::collections::BTreeSet::new();
    for resource_spans in answer["result"]["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for scope_spans in resource_spans["scopeSpans"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for span in scope_spans["spans"].as_array().into_iter().flatten() {
                ids.insert(span["traceId"].as_str().expect("a trace id").to_owned());
            }
        }
    }
    ids
}

/// `text` as a URL's query value: every byte but letters and digits percent-encoded.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

type TraceIds = std::collections::BTreeSet<String>;

#[tokio::test(flavor = "multi_thread")]
async fn the_requests_author_failure_rate_failed_are_found_by_status_error_and_flag() {
    let flags_dir = tempfile::tempdir().expect("a directory for the flags file");
    let flags = flags_dir.path().join("flags.json");
    one_flag(&flags, "authorFailureRate", json!(0));
    let viewer = Viewer::start().await;
    // The services draw their failures from one seed: the same share in every run.
    let platform =
        Platform::start_with(PlatformOptions::with_flags(&flags, viewer.grpc_env())).await;
    let reader = platform.user_token("reader", &["READ"]).await;

    // The searches look at these requests only: the platform's start may leave 503s of its own
    // (a readiness check answered before a dependency did).
    let start = now_nanos();
    one_flag(&flags, "authorFailureRate", json!(0.5));
    let replies = requests_until_some_failed(&platform, &reader).await;
    let with_status = |wanted: u16| -> TraceIds {
        replies
            .iter()
            .filter(|(status, _)| *status == wanted)
            .map(|(_, trace_id)| trace_id.clone())
            .collect()
    };
    let (failed, answered) = (with_status(503), with_status(200));
    assert!(
        failed.len() > 1 && failed.len() + answered.len() == replies.len() && answered.len() > 1,
        "{replies:?}"
    );
    wait_for_failed_and_answered(&viewer, &replies).await;

    // blog's answer (an int attribute, matched by its text), the failed spans, and the flag's
    // evaluation event on author's span: each finds the failed requests and nothing else.
    for attributes in [
        json!({"http.response.status_code": "503"}),
        json!({"error": "true"}),
        json!({"feature_flag.key": "authorFailureRate"}),
        // Two attributes of one span: blog's, which answered 503 to a GET.
        json!({"http.response.status_code": "503", "http.request.method": "GET"}),
    ] {
        assert_eq!(
            traces_with(&viewer, start, &attributes).await,
            failed,
            "{attributes}"
        );
        the_terminal_finds_what_the_api_finds(&viewer, &attributes, &failed).await;
    }
    // The good requests carry 200, and a value no span has finds nothing.
    let ok = traces_with(
        &viewer,
        start,
        &json!({"http.response.status_code": "200", "http.route": "/blogs"}),
    )
    .await;
    assert!(
        ok.is_superset(&answered) && ok.is_disjoint(&failed),
        "{ok:?}"
    );
    assert!(
        traces_with(
            &viewer,
            start,
            &json!({"feature_flag.key": "authorLatencyMs"})
        )
        .await
        .is_empty()
    );
}

/// `GET /blogs` until one has failed (the services read the flags file again within 2 s), then
/// 20 more: each reply's status and trace id.
async fn requests_until_some_failed(platform: &Platform, reader: &str) -> Vec<(u16, String)> {
    let started = std::time::Instant::now();
    let mut replies = Vec::new();
    while !replies.iter().any(|(status, _)| *status == 503) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the flag never applied"
        );
        let reply = platform.api.list_blogs(Some(reader), "").await;
        replies.push((reply.status, reply.trace_id()));
        // Not a wait for spans: the services read the file again on their own schedule.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for _ in 0..20 {
        let reply = platform.api.list_blogs(Some(reader), "").await;
        replies.push((reply.status, reply.trace_id()));
    }
    replies
}

/// Waits for every request's spans: an answered one's whole trace, a failed one's blog and
/// author spans (it never reaches MongoDB).
async fn wait_for_failed_and_answered(viewer: &Viewer, replies: &[(u16, String)]) {
    for (status, trace_id) in replies {
        let answered = *status == 200;
        viewer
            .wait_for_trace(trace_id, move |spans: &[ViewedSpan]| {
                get_blogs_is_complete(false)(spans)
                    || (!answered
                        && spans
                            .iter()
                            .any(|s| s.service == "blog-service" && s.name == "GET /blogs")
                        && spans.iter().any(|s| {
                            s.service == "author-service"
                                && s.name == "POST /authorize"
                                && s.kind == SERVER
                        }))
            })
            .await;
    }
}

/// `traces search --attr KEY=VALUE ...` finds what the API finds over its last hour (the
/// platform's start included), which holds the `failed` requests.
async fn the_terminal_finds_what_the_api_finds(
    viewer: &Viewer,
    attributes: &Value,
    failed: &TraceIds,
) {
    let hour = traces_with(viewer, now_nanos() - 3_600_000 * MS, attributes).await;
    assert!(hour.is_superset(failed), "{attributes}: {hour:?}");
    let pairs: Vec<String> = attributes
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap()))
        .collect();
    let mut arguments = vec!["search", "--since", "1h", "--limit", "1000"];
    for pair in &pairs {
        arguments.extend(["--attr", pair]);
    }
    let run = viewer.cli(&arguments);
    assert!(run.success, "{arguments:?}: {}", run.stderr);
    let found: TraceIds = run
        .stdout
        .lines()
        .map(|line| line.rsplit('/').next().unwrap().trim().to_owned())
        .collect();
    assert_eq!(found, hour, "traces {arguments:?}:\n{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exported_trace_imports_whole_into_another_viewer_which_names_its_orphan() {
    let first = Viewer::start().await;
    let second = Viewer::start().await;
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let now = now_nanos();
    let request = export(
        "shop",
        vec![
            span(
                trace_id,
                "0000000000000001",
                "",
                "GET /checkout",
                SERVER as i32,
                (now, now + 50 * MS),
                None,
            ),
            // Its parent never arrived: an orphan.
            span(
                trace_id,
                "0000000000000002",
                "00000000000000ff",
                "charge",
                CLIENT as i32,
                (now + MS, now + 9 * MS),
                None,
            ),
        ],
    );
    post_protobuf(&first, &request).await;
    let exported = first.cli(&["export", trace_id]);
    assert!(exported.success, "{}", exported.stderr);
    let dir = tempfile::tempdir().expect("a directory for the export");
    let file = dir.path().join("trace.json");
    std::fs::write(&file, &exported.stdout).expect("writing the export");
    let imported = run_cli(["import", file.to_str().unwrap(), "--to", &second.ui], &[]);
    assert!(imported.success, "{}", imported.stderr);
    assert!(
        imported.stderr.contains("stored 2 spans"),
        "{}",
        imported.stderr
    );
    let path = format!("/api/v3/traces/{trace_id}");
    assert_eq!(
        first.get(&path).await,
        second.get(&path).await,
        "every span, as it was"
    );

    let shown = second.cli(&["show", trace_id]);
    assert!(
        shown.stdout.contains(
            "orphan shop: charge (span 0000000000000002), missing parent 00000000000000ff"
        ),
        "{}",
        shown.stdout
    );
    let (_, page) = second.page(&format!("/trace/{trace_id}")).await;
    assert!(
        page.contains(r#"missing parent <code class="missing-parent">00000000000000ff</code>"#),
        "{page}"
    );
}

// The launcher (`scripts/up.sh`) starts the viewer when nothing receives spans.

/// The launcher with its own keys and data directory, every process on a port of its choosing,
/// the services exporting to `otlp_endpoint`, against `mongo`.
struct Launched {
    process: launcher::Process,
    /// Each process's name (`traces`, `authen-service`, ...) and URL, from its state file.
    urls: HashMap<String, String>,
    _dir: tempfile::TempDir,
}

impl Launched {
    async fn start(mongo: &MongoServer, otlp_endpoint: &str, ui_port: u16) -> Self {
        let dir = tempfile::tempdir().expect("a directory for the launcher");
        generate_keys(dir.path()).expect("a key pair");
        let state = dir.path().join("platform.json");
        let launcher =
            launcher::paths::binary("launcher").unwrap_or_else(|error| panic!("{error}"));
        let mut command = std::process::Command::new(launcher);
        command
            .current_dir(dir.path())
            .args([
                "--any-port",
                "--data-dir",
                "data",
                "--state",
                "platform.json",
            ])
            .args(["--trace-viewer-ui-port", &ui_port.to_string()])
            .env("MONGODB_URI", mongo.uri())
            .env("MONGODB_DB", mongo.database_name())
            .env("JWT_PRIVATE_KEY", dir.path().join("private.pem"))
            .env("JWT_PUBLIC_KEY", dir.path().join("public.pem"))
            .env("ADMIN_USERNAME", e2e_tests::ADMIN_USERNAME)
            .env("ADMIN_PASSWORD", e2e_tests::ADMIN_PASSWORD)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .env_remove("OTEL_SDK_DISABLED");
        let process =
            launcher::Process::spawn("launcher", command, &dir.path().join("launcher.log"))
                .expect("the launcher starts");
        let started = std::time::Instant::now();
        while !state.exists() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the platform was not ready within 60 s:\n{}",
                process.log_tail()
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let text = std::fs::read_to_string(&state).expect("the state file");
        let state: Value = serde_json::from_str(&text).expect("JSON");
        let urls = state["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .map(|process| {
                let field = |name: &str| process[name].as_str().expect("a string").to_owned();
                (field("name"), field("url"))
            })
            .collect();
        Self {
            process,
            urls,
            _dir: dir,
        }
    }

    fn api(&self) -> Api {
        let ports = SERVICES
            .iter()
            .map(|service| {
                let url = &self.urls[service.binary];
                let port = url.rsplit(':').next().and_then(|port| port.parse().ok());
                (service.name, port.expect("a port in the URL"))
            })
            .collect();
        Api::new(&ports)
    }

    /// SIGTERM, as Ctrl-C in `scripts/up.sh`; how long the launcher took to stop everything.
    fn stop(mut self) -> Option<std::time::Duration> {
        self.process.stop(
            nix::sys::signal::Signal::SIGTERM,
            std::time::Duration::from_secs(30),
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_launcher_starts_the_viewer_where_nothing_receives_spans_and_stops_it_last() {
    let mongo = MongoServer::start_new().await;
    let ui_port = free_port();
    let launched = Launched::start(
        &mongo,
        &format!("http://localhost:{}", free_port()),
        ui_port,
    )
    .await;
    let ui = format!("http://127.0.0.1:{ui_port}");
    assert_eq!(launched.urls["traces"], format!("{ui}/search"));

    let login = launched
        .api()
        .login(e2e_tests::ADMIN_USERNAME, e2e_tests::ADMIN_PASSWORD)
        .await;
    assert_eq!(login.status, 200);
    let trace_url = format!("{ui}/api/v3/traces/{}", login.trace_id());
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    // Each service and the MongoDB spans export on their own schedule, so the
    // trace can be found before authen-service's part of it has arrived.
    let mut trace = Value::Null;
    while !trace.to_string().contains("\"authen-service\"") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "authen-service's spans of the login never reached the viewer; last answer: {trace}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let reply = client
            .get(&trace_url)
            .send()
            .await
            .expect("the viewer answers");
        if reply.status() == 200 {
            trace = reply.json::<Value>().await.expect("JSON");
        }
    }

    let took = launched.stop().expect("the launcher stops on SIGTERM");
    assert!(
        took < std::time::Duration::from_secs(20),
        "stopping took {took:?}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", ui_port)).is_err(),
        "the viewer stopped with the platform"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_launcher_leaves_a_receiver_that_listens_alone() {
    let mongo = MongoServer::start_new().await;
    let collector = Collector::start().await;
    let launched = Launched::start(&mongo, &collector.endpoint(), free_port()).await;
    assert!(
        !launched.urls.contains_key("traces"),
        "no viewer beside a collector: {:?}",
        launched.urls
    );
    let login = launched
        .api()
        .login(e2e_tests::ADMIN_USERNAME, e2e_tests::ADMIN_PASSWORD)
        .await;
    collector
        .wait_for_trace(&login.trace_id(), |spans| {
            spans.iter().any(|span| span.name == "POST /login")
        })
        .await;
    launched.stop().expect("the launcher stops on SIGTERM");
}
