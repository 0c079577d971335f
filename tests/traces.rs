//! One request is one trace across every service it touches, with each MongoDB command inside it.

use e2e_tests::{AuthorHop, Platform, PlatformOptions, SpanKind, descends_from, find, span};

#[tokio::test(flavor = "multi_thread")]
async fn post_blog_is_one_trace_through_author_and_mongodb() {
    let platform = Platform::start().await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let reply = platform
        .api
        .post_blog(Some(&writer), "Traced", "Follow me.")
        .await;
    assert_eq!(reply.status, 201);
    let trace_id = reply.trace_id();

    let spans = platform
        .collector
        .wait_for_spans(
            &trace_id,
            &[
                ("blog-service", "POST /blogs", SpanKind::Server),
                ("author-service", "POST /authorize", SpanKind::Server),
                ("mongodb", "insert", SpanKind::Client),
            ],
        )
        .await;

    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "exactly one root: {roots:#?}");
    let server = span(&spans, "blog-service", "POST /blogs", SpanKind::Server);
    assert_eq!(
        roots[0].span_id, server.span_id,
        "the root is blog's SERVER span"
    );
    assert_eq!(
        reply.span_id(),
        server.span_id,
        "traceresponse names the SERVER span"
    );
    assert_eq!(server.attribute("http.route"), Some("/blogs"));
    assert_eq!(server.attribute("http.request.method"), Some("POST"));
    assert_eq!(server.int("http.response.status_code"), Some(201));
    assert_eq!(server.attribute("url.scheme"), Some("http"));
    assert_eq!(server.attribute("server.address"), Some("127.0.0.1"));
    assert_eq!(
        server.int("server.port"),
        Some(port_of(&platform.url("blog")))
    );
    assert_eq!(
        server.resource_attribute("service.version"),
        Some(env!("CARGO_PKG_VERSION"))
    );

    let client = find(&spans, "blog-service", "POST /authorize", SpanKind::Client)
        .expect("blog's CLIENT span to author");
    assert!(descends_from(&spans, client, server));
    let author = span(
        &spans,
        "author-service",
        "POST /authorize",
        SpanKind::Server,
    );
    assert_eq!(
        author.parent_span_id, client.span_id,
        "author's SERVER span is the child of blog's CLIENT span"
    );
    assert_eq!(author.int("http.response.status_code"), Some(200));
    assert_eq!(client.int("http.response.status_code"), Some(200));
    assert_eq!(client.attribute("server.address"), Some("127.0.0.1"));
    assert_eq!(
        client.int("server.port"),
        Some(port_of(&platform.url("author")))
    );
    let verify = find(&spans, "author-service", "token.verify", SpanKind::Internal)
        .expect("a token.verify span");
    assert!(descends_from(&spans, verify, author));

    let insert = spans
        .iter()
        .find(|s| s.service == "mongodb" && s.name == "insert" && s.kind == SpanKind::Client)
        .expect("a CLIENT span for the insert command");
    assert!(
        descends_from(&spans, insert, server),
        "the insert descends from the blog request"
    );
    assert_eq!(insert.attribute("db.system.name"), Some("mongodb"));
    assert_eq!(insert.attribute("db.system"), Some("mongodb"));
    assert_eq!(
        insert.attribute("db.namespace"),
        Some(platform.mongo.database_name().as_str())
    );
    assert_eq!(insert.attribute("db.collection.name"), Some("blogs"));
    assert_eq!(insert.attribute("server.address"), Some("127.0.0.1"));
    assert_eq!(
        insert.int("server.port"),
        Some(port_of(&platform.mongo.uri()))
    );
    assert_eq!(insert.attribute("db.operation.name"), Some("insert"));
    assert_eq!(insert.resource_attribute("service.name"), Some("mongodb"));
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_never_hold_tokens_passwords_or_hashes() {
    let platform = Platform::start().await;
    let admin = platform.admin_token().await;
    let created = platform
        .api
        .create_user(
            &admin,
            "secretive",
            "my-very-secret-password",
            &["READ", "WRITE"],
        )
        .await;
    assert_eq!(created.status, 201);
    let token = platform
        .api
        .token("secretive", "my-very-secret-password")
        .await;
    let wrong = platform
        .api
        .login("secretive", "a-wrong-secret-password")
        .await;
    assert_eq!(wrong.status, 401);
    let posted = platform.api.post_blog(Some(&token), "Hi", "there").await;
    assert_eq!(posted.status, 201);
    let stored_hash = platform
        .mongo
        .collection("users")
        .await
        .find_one(mongodb::bson::doc! { "username": "secretive" })
        .await
        .unwrap()
        .unwrap()
        .get_str("password_hash")
        .unwrap()
        .to_owned();
    platform
        .collector
        .wait_for_trace(&posted.trace_id(), |spans| {
            spans.iter().any(|s| s.service == "mongodb")
        })
        .await;

    let spans = platform.collector.spans();
    assert!(
        spans.len() > 20,
        "the test saw the traffic: {} spans",
        spans.len()
    );
    let hash_body = stored_hash.rsplit('$').next().unwrap();
    let signature = token.rsplit('.').next().unwrap();
    for span in &spans {
        let text = span.all_text();
        for secret in [
            "my-very-secret-password",
            "a-wrong-secret-password",
            signature,
            &admin,
            hash_body,
            "argon2id",
            "Bearer ",
        ] {
            assert!(
                !text.contains(secret),
                "span {} of {} leaks {secret:?}: {text}",
                span.name,
                span.service
            );
        }
    }
    for service in ["authen", "user", "blog", "author"] {
        let log = platform.log(service);
        for secret in [
            "my-very-secret-password",
            "a-wrong-secret-password",
            signature,
            hash_body,
        ] {
            assert!(!log.contains(secret), "{service}'s log leaks {secret:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_sdk_disabled_services_work_and_export_nothing() {
    let options = PlatformOptions {
        env: vec![("OTEL_SDK_DISABLED".into(), "true".into())],
        ..PlatformOptions::default()
    };
    let platform = Platform::start_with(options).await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let reply = platform
        .api
        .post_blog(Some(&writer), "Quiet", "No traces.")
        .await;
    assert_eq!(reply.status, 201);
    reply.trace_id();
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert!(
        platform.collector.spans().is_empty(),
        "{} spans exported",
        platform.collector.spans().len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_finds_the_user_verifies_the_password_then_signs() {
    let platform = Platform::start().await;
    platform.user_token("alice", &["READ"]).await;
    let reply = platform.api.login("alice", "alice-password").await;
    assert_eq!(reply.status, 200);
    let spans = platform
        .collector
        .wait_for_spans(
            &reply.trace_id(),
            &[
                ("authen-service", "POST /login", SpanKind::Server),
                ("authen-service", "token.sign", SpanKind::Internal),
                ("mongodb", "find", SpanKind::Client),
            ],
        )
        .await;
    let server = span(&spans, "authen-service", "POST /login", SpanKind::Server);
    assert!(server.parent_span_id.is_empty(), "login is the root");
    let query = spans
        .iter()
        .find(|s| s.service == "mongodb" && s.name == "find" && s.kind == SpanKind::Client)
        .unwrap();
    let verify = span(
        &spans,
        "authen-service",
        "password.verify",
        SpanKind::Internal,
    );
    let sign = span(&spans, "authen-service", "token.sign", SpanKind::Internal);
    for child in [query, verify, sign] {
        assert!(
            descends_from(&spans, child, server),
            "{} under POST /login",
            child.name
        );
    }
    assert_eq!(query.attribute("db.collection.name"), Some("users"));
    assert_eq!(query.attribute("db.operation.name"), Some("find"));
    assert_eq!(
        query.attribute("db.query.text"),
        None,
        "users' commands carry no query text"
    );
    assert!(
        query.start_unix_nano < verify.start_unix_nano
            && verify.start_unix_nano < sign.start_unix_nano
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_user_is_checked_by_author_then_hashed_and_inserted() {
    let platform = Platform::start().await;
    let admin = platform.admin_token().await;
    let reply = platform
        .api
        .create_user(&admin, "bob", "bob-password", &["READ"])
        .await;
    assert_eq!(reply.status, 201);
    let spans = platform
        .collector
        .wait_for_spans(
            &reply.trace_id(),
            &[
                ("user-service", "POST /users", SpanKind::Server),
                ("author-service", "POST /authorize", SpanKind::Server),
                ("mongodb", "insert", SpanKind::Client),
            ],
        )
        .await;
    let server = span(&spans, "user-service", "POST /users", SpanKind::Server);
    assert!(server.parent_span_id.is_empty());
    let client = span(&spans, "user-service", "POST /authorize", SpanKind::Client);
    let author = span(
        &spans,
        "author-service",
        "POST /authorize",
        SpanKind::Server,
    );
    assert_eq!(author.parent_span_id, client.span_id);
    let hash = span(&spans, "user-service", "password.hash", SpanKind::Internal);
    assert!(descends_from(&spans, hash, server));
    let insert = spans
        .iter()
        .find(|s| s.service == "mongodb" && s.name == "insert" && s.kind == SpanKind::Client)
        .unwrap();
    assert!(descends_from(&spans, insert, server));
    assert_eq!(insert.attribute("db.collection.name"), Some("users"));
    assert_eq!(insert.attribute("db.query.text"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_recorded_on_author_and_blog_spans() {
    let platform = Platform::start().await;
    let reader = platform.user_token("reader", &["READ"]).await;
    for (token, code) in [(Some(reader.as_str()), "403"), (None, "401")] {
        let reply = platform.api.post_blog(token, "No", "Not allowed.").await;
        assert_eq!(reply.status.to_string(), code);
        let AuthorHop {
            caller: blog,
            client,
            author,
            spans,
        } = platform
            .collector
            .wait_for_author_hop(&reply.trace_id(), "blog-service", "POST /blogs")
            .await;
        for span in [&blog, &client, &author] {
            assert_eq!(
                span.int("http.response.status_code")
                    .map(|code| code.to_string()),
                Some(code.to_owned()),
                "{} {}",
                span.service,
                span.name
            );
        }
        // Semantic conventions: a 4xx is an error for the client that got it, not for the server
        // that answered it.
        assert!(
            client.status_error,
            "the CLIENT span of a {code} is an error"
        );
        assert_eq!(client.attribute("error.type"), Some(code));
        assert!(
            !blog.status_error && !author.status_error,
            "SERVER spans of a {code} leave the status unset"
        );
        assert!(
            !spans.iter().any(|s| s.service == "mongodb"),
            "a refused request never reaches MongoDB"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_503_for_a_dead_database_is_an_error_span() {
    let mut platform = Platform::start().await;
    if !platform.mongo.is_embedded() {
        return;
    }
    let reader = platform.user_token("reader", &["READ"]).await;
    platform.mongo.stop();
    let reply = platform.api.list_blogs(Some(&reader), "").await;
    assert_eq!(reply.status, 503);
    let spans = platform
        .collector
        .wait_for_trace(&reply.trace_id(), |spans| {
            find(spans, "blog-service", "GET /blogs", SpanKind::Server).is_some()
                && spans
                    .iter()
                    .any(|s| s.service == "mongodb" && s.status_error)
        })
        .await;
    let server = span(&spans, "blog-service", "GET /blogs", SpanKind::Server);
    assert_eq!(server.int("http.response.status_code"), Some(503));
    assert!(server.status_error, "a 5xx SERVER span is an error");
    assert_eq!(server.attribute("error.type"), Some("503"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incoming_traceparent_is_continued_across_blog_and_author() {
    let platform = Platform::start().await;
    let reader = platform.user_token("reader", &["READ"]).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let reply = platform
        .api
        .execute(
            platform
                .api
                .request("blog", reqwest::Method::GET, "/blogs")
                .bearer_auth(&reader)
                .header("traceparent", &traceparent),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.trace_id(),
        trace_id,
        "the response names the caller's trace"
    );
    let spans = platform
        .collector
        .wait_for_spans(
            trace_id,
            &[
                ("author-service", "POST /authorize", SpanKind::Server),
                ("blog-service", "GET /blogs", SpanKind::Server),
            ],
        )
        .await;
    let blog = span(&spans, "blog-service", "GET /blogs", SpanKind::Server);
    assert_eq!(
        blog.parent_span_id, caller_span,
        "blog's span is the caller's child"
    );
    let author = span(
        &spans,
        "author-service",
        "POST /authorize",
        SpanKind::Server,
    );
    assert!(descends_from(&spans, author, blog));
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hundred_fast_requests_all_have_complete_traces() {
    let platform = Platform::start().await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let mut tasks = tokio::task::JoinSet::new();
    let requests = 300;
    let concurrency = 16;
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    for i in 0..requests {
        let api = platform.api.clone();
        let writer = writer.clone();
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        tasks.spawn(async move {
            let _permit = permit;
            let reply = if i % 3 == 0 {
                api.post_blog(Some(&writer), &format!("Post {i}"), "Load.")
                    .await
            } else {
                api.list_blogs(Some(&writer), "?limit=5").await
            };
            assert!(matches!(reply.status, 200 | 201), "{}", reply.text);
            (i % 3 == 0, reply.trace_id())
        });
    }
    let replies = tasks.join_all().await;
    assert_eq!(replies.len(), requests);

    // Every trace: one root (blog's SERVER span), blog's CLIENT span, author's SERVER span and its
    // token check, and the MongoDB operation and command spans, every parent present.
    for (is_write, trace_id) in replies {
        let mongo_spans = if is_write { 2 } else { 4 }; // insert; or find and count, each op + command
        let spans = platform
            .collector
            .wait_for_trace(&trace_id, |spans| spans.len() >= 4 + mongo_spans)
            .await;
        assert_eq!(
            spans.len(),
            4 + mongo_spans,
            "{}",
            e2e_tests::describe(&spans)
        );
        let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
        assert_eq!(roots, 1, "{}", e2e_tests::describe(&spans));
        for span in &spans {
            assert!(
                span.parent_span_id.is_empty()
                    || spans.iter().any(|p| p.span_id == span.parent_span_id),
                "orphan span {} in\n{}",
                span.name,
                e2e_tests::describe(&spans)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sampler_comes_from_the_standard_variables() {
    let options = PlatformOptions {
        env: vec![
            (
                "OTEL_TRACES_SAMPLER".into(),
                "parentbased_traceidratio".into(),
            ),
            ("OTEL_TRACES_SAMPLER_ARG".into(), "0.001".into()),
        ],
        ..PlatformOptions::default()
    };
    let platform = Platform::start_with(options).await;
    let reader = platform.user_token("reader", &["READ"]).await;
    let mut sampled = std::collections::HashSet::new();
    let mut unsampled = std::collections::HashSet::new();
    for _ in 0..30 {
        let reply = platform.api.list_blogs(Some(&reader), "").await;
        assert_eq!(reply.status, 200);
        let flags = reply
            .header("traceresponse")
            .unwrap()
            .rsplit('-')
            .next()
            .unwrap()
            .to_owned();
        match flags.as_str() {
            "01" => sampled.insert(reply.trace_id()),
            "00" => unsampled.insert(reply.trace_id()),
            other => panic!("flags {other}"),
        };
    }
    assert!(
        !unsampled.is_empty(),
        "at a ratio of 0.001, some of 30 requests go unsampled"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let exported: std::collections::HashSet<String> = platform
        .collector
        .spans()
        .into_iter()
        .map(|s| s.trace_id)
        .collect();
    for trace_id in &unsampled {
        assert!(
            !exported.contains(trace_id),
            "unsampled trace {trace_id} was exported"
        );
    }
    for trace_id in &sampled {
        assert!(
            exported.contains(trace_id),
            "sampled trace {trace_id} was not exported"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn log_lines_inside_a_request_carry_its_trace_and_span() {
    let platform = Platform::start().await;
    let reply = platform.api.login("nobody", "some-password").await;
    assert_eq!(reply.status, 401);
    let trace_id = reply.trace_id();
    let log = platform.log("authen");
    // The last refusal is ours (start-up polls the login until the bootstrap admin exists).
    let line = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .rfind(|line| line["message"] == "login refused")
        .unwrap_or_else(|| panic!("no JSON 'login refused' line in:\n{log}"));
    assert_eq!(line["trace_id"], trace_id.as_str());
    assert_eq!(line["span_id"].as_str().map(str::len), Some(16));
    assert_eq!(line["level"], "INFO");
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_flushes_buffered_spans_and_exits_within_5_s() {
    // A batch delay far longer than the test: only the shutdown flush can deliver the spans.
    let options = PlatformOptions {
        env: vec![("OTEL_BSP_SCHEDULE_DELAY".into(), "600000".into())],
        ..PlatformOptions::default()
    };
    let mut platform = Platform::start_with(options).await;
    let reader = platform.user_token("reader", &["READ"]).await;
    let reply = platform.api.list_blogs(Some(&reader), "").await;
    assert_eq!(reply.status, 200);
    let trace_id = reply.trace_id();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        find(
            &platform.collector.trace(&trace_id),
            "blog-service",
            "GET /blogs",
            SpanKind::Server
        )
        .is_none(),
        "the span is still buffered before the signal"
    );
    let took = platform
        .stop_service("blog")
        .expect("blog-service exits on SIGTERM");
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    let spans = platform.collector.trace(&trace_id);
    assert!(
        find(&spans, "blog-service", "GET /blogs", SpanKind::Server).is_some(),
        "flushed on SIGTERM"
    );
    assert!(
        spans.iter().any(|s| s.service == "mongodb"),
        "the database provider is flushed too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_can_leave_over_otlp_http_protobuf() {
    let mut platform = Platform::start().await;
    // Restart blog-service alone with the HTTP exporter, pointed at the collector's HTTP port.
    platform.stop_service("blog");
    platform.set_service_env(
        "blog",
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &platform.collector.http_endpoint(),
            ),
        ],
    );
    platform.start_service("blog");
    platform.wait_ready("blog").await;
    let reader = platform.user_token("reader", &["READ"]).await;
    let reply = platform.api.list_blogs(Some(&reader), "").await;
    assert_eq!(reply.status, 200);
    let spans = platform
        .collector
        .wait_for_spans(
            &reply.trace_id(),
            &[
                ("blog-service", "GET /blogs", SpanKind::Server),
                ("author-service", "POST /authorize", SpanKind::Server),
                ("mongodb", "find", SpanKind::Client),
            ],
        )
        .await;
    // blog-service exports only over HTTP: its spans and its database spans came that way.
    assert!(find(&spans, "blog-service", "POST /authorize", SpanKind::Client).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_receiver_gets_the_exporters_headers_over_both_protocols() {
    let mut platform = Platform::start().await;
    // blog-service sends over HTTP with the general list, author-service over gRPC with the
    // traces-only one, whose value is percent-encoded as the specification says.
    for (service, variables) in [
        (
            "blog",
            [
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    platform.collector.http_endpoint(),
                ),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "x-tenant=blog,x-team=a".to_owned(),
                ),
            ],
        ),
        (
            "author",
            [
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", platform.collector.endpoint()),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                    "x-tenant=author%20team".to_owned(),
                ),
            ],
        ),
    ] {
        platform.stop_service(service);
        let variables = variables
            .each_ref()
            .map(|(name, value)| (*name, value.as_str()));
        platform.set_service_env(service, &variables);
        platform.start_service(service);
        platform.wait_ready(service).await;
    }
    let reader = platform.user_token("reader", &["READ"]).await;
    let reply = platform.api.list_blogs(Some(&reader), "").await;
    assert_eq!(reply.status, 200);
    platform
        .collector
        .wait_for_author_hop(&reply.trace_id(), "blog-service", "GET /blogs")
        .await;
    let headers = platform.collector.custom_headers();
    for expected in [
        "http x-tenant=blog",
        "http x-team=a",
        "grpc x-tenant=author team",
    ] {
        assert!(headers.contains(expected), "{expected} in {headers:?}");
    }
}

/// The port at the end of a URL such as `http://127.0.0.1:3003` or `mongodb://127.0.0.1:27017`.
fn port_of(url: &str) -> i64 {
    url.rsplit(':')
        .next()
        .and_then(|port| port.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("{url} ends with no port"))
}
