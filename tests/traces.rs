//! One request is one trace across every service it touches, with each MongoDB command inside it.

use e2e_tests::{ExportedSpan, Platform, PlatformOptions, SpanKind};

fn find<'a>(
    spans: &'a [ExportedSpan],
    service: &str,
    name: &str,
    kind: SpanKind,
) -> Option<&'a ExportedSpan> {
    spans
        .iter()
        .find(|s| s.service == service && s.name == name && s.kind == kind)
}

fn descends_from(spans: &[ExportedSpan], span: &ExportedSpan, ancestor: &ExportedSpan) -> bool {
    let mut current = span;
    loop {
        if current.parent_span_id == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|s| s.span_id == current.parent_span_id) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
}

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
        .wait_for_trace(&trace_id, |spans| {
            find(spans, "blog-service", "POST /blogs", SpanKind::Server).is_some()
                && find(spans, "author-service", "POST /authorize", SpanKind::Server).is_some()
                && spans
                    .iter()
                    .any(|s| s.service == "mongodb" && s.name == "insert")
        })
        .await;

    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "exactly one root: {roots:#?}");
    let server = find(&spans, "blog-service", "POST /blogs", SpanKind::Server).unwrap();
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
    assert_eq!(server.attribute("http.response.status_code"), Some("201"));
    assert_eq!(
        server.resource.get("service.version").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION"))
    );

    let client = find(&spans, "blog-service", "POST /authorize", SpanKind::Client)
        .expect("blog's CLIENT span to author");
    assert!(descends_from(&spans, client, server));
    let author = find(
        &spans,
        "author-service",
        "POST /authorize",
        SpanKind::Server,
    )
    .unwrap();
    assert_eq!(
        author.parent_span_id, client.span_id,
        "author's SERVER span is the child of blog's CLIENT span"
    );
    assert_eq!(author.attribute("http.response.status_code"), Some("200"));
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
    assert_eq!(insert.attribute("db.operation.name"), Some("insert"));
    assert_eq!(
        insert.resource.get("service.name").map(String::as_str),
        Some("mongodb")
    );
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
