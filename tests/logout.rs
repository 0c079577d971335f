//! `POST /logout` revokes the presented token until it expires: author-service refuses it from the
//! next request on, across restarts, and whichever path the revocation reaches it by.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e_tests::{Platform, SpanKind, descends_from, span};
use mongodb::bson::{DateTime, doc};
use serde_json::Value;

/// The token's claims, read without checking (the test only needs `jti` and `exp`).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logged_out_token_is_refused_everywhere_and_others_keep_working() {
    let platform = Platform::start().await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let other_session = platform.api.token("writer", "writer-password").await;
    assert_eq!(platform.api.list_blogs(Some(&writer), "").await.status, 200);

    let logout = platform.api.logout(Some(&writer)).await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    assert!(logout.text.is_empty());

    // Refused from the very next request: author-service was told at once.
    let authorize = platform.api.authorize(Some(&writer), "READ").await;
    assert_eq!(authorize.status, 401, "{}", authorize.text);
    assert_eq!(authorize.header("www-authenticate"), Some("Bearer"));
    assert_eq!(platform.api.list_blogs(Some(&writer), "").await.status, 401);
    let refused_write = platform
        .api
        .post_blog(Some(&writer), "No", "Revoked.")
        .await;
    assert_eq!(refused_write.status, 401);
    let blogs = platform.mongo.collection("blogs").await;
    assert_eq!(blogs.count_documents(doc! {}).await.unwrap(), 0);

    // Only that token: the same user's other session is untouched.
    assert_eq!(
        platform
            .api
            .authorize(Some(&other_session), "WRITE")
            .await
            .status,
        200
    );

    // Logging out again is harmless; without a usable token it is a 401.
    assert_eq!(platform.api.logout(Some(&writer)).await.status, 204);
    for token in [None, Some("garbage"), Some("a.b.c")] {
        let reply = platform.api.logout(token).await;
        assert_eq!(reply.status, 401, "{token:?}: {}", reply.text);
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
    }

    // The durable record: one document, keyed by jti, expiring with the token.
    let claims = claims(&writer);
    let revoked = platform.mongo.collection("revoked_tokens").await;
    assert_eq!(revoked.count_documents(doc! {}).await.unwrap(), 1);
    let document = revoked
        .find_one(doc! { "_id": claims["jti"].as_str().unwrap() })
        .await
        .unwrap()
        .expect("the revocation is stored under the token's jti");
    let expires_at = document.get_datetime("expires_at").unwrap();
    assert_eq!(
        expires_at.timestamp_millis(),
        claims["exp"].as_i64().unwrap() * 1000
    );
    let revoked_at = document.get_datetime("revoked_at").unwrap();
    assert!(DateTime::now().timestamp_millis() - revoked_at.timestamp_millis() < 60_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn revocations_expire_with_their_tokens_through_a_ttl_index() {
    let platform = Platform::start().await;
    let revoked = platform.mongo.collection("revoked_tokens").await;
    let started = Instant::now();
    loop {
        let mut cursor = revoked.list_indexes().await.unwrap();
        let mut ttl = None;
        while cursor.advance().await.unwrap() {
            let index = cursor.deserialize_current().unwrap();
            if index.keys == doc! { "expires_at": 1 } {
                ttl = index.options.and_then(|options| options.expire_after);
            }
        }
        if ttl.is_some() {
            assert_eq!(
                ttl,
                Some(Duration::ZERO),
                "deleted as soon as the token expires"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no TTL index on revoked_tokens.expires_at"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn revocations_survive_an_author_restart_and_reach_it_while_it_is_down() {
    let mut platform = Platform::start().await;
    let before_restart = platform.user_token("reader", &["READ"]).await;
    let during_outage = platform.api.token("reader", "reader-password").await;
    let untouched = platform.api.token("reader", "reader-password").await;
    assert_eq!(platform.api.logout(Some(&before_restart)).await.status, 204);

    platform.stop_service("author");
    // authen-service cannot tell author-service; the revocation is durable all the same.
    let logout = platform.api.logout(Some(&during_outage)).await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    platform.start_service("author");
    platform.wait_ready("author").await;

    for token in [&before_restart, &during_outage] {
        assert_eq!(
            platform.api.authorize(Some(token), "READ").await.status,
            401
        );
    }
    assert_eq!(
        platform
            .api
            .authorize(Some(&untouched), "READ")
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_recorded_by_another_authen_replica_is_found_by_polling() {
    let platform = Platform::start().await;
    let token = platform.user_token("reader", &["READ"]).await;
    assert_eq!(
        platform.api.authorize(Some(&token), "READ").await.status,
        200
    );

    // What another authen-service replica writes; this author-service is not told.
    let claims = claims(&token);
    let revoked = platform.mongo.collection("revoked_tokens").await;
    revoked
        .insert_one(doc! {
            "_id": claims["jti"].as_str().unwrap(),
            "expires_at": DateTime::from_millis(claims["exp"].as_i64().unwrap() * 1000),
            "revoked_at": DateTime::now(),
        })
        .await
        .unwrap();
    let started = Instant::now();
    while platform.api.authorize(Some(&token), "READ").await.status == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "still accepted 3 s after the revocation was recorded (the poll runs every half second)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        platform.api.authorize(Some(&token), "READ").await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn author_refuses_to_decide_until_it_has_read_the_revocations() {
    let mut platform = Platform::start().await;
    let token = platform.user_token("reader", &["READ"]).await;
    if !platform.mongo.is_embedded() {
        eprintln!("TEST_MONGODB_URI is set: MongoDB cannot be stopped");
        return;
    }
    platform.stop_service("author");
    platform.mongo.stop();
    platform.start_service("author");
    let healthz = format!("{}/healthz", platform.url("author"));
    let listening = Instant::now();
    while platform.api.http().get(&healthz).send().await.is_err() {
        assert!(
            listening.elapsed() < Duration::from_secs(10),
            "author-service did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Not ready, and no decision: it cannot know whether the token was revoked.
    let started = Instant::now();
    let authorize = platform.api.authorize(Some(&token), "READ").await;
    assert_eq!(authorize.status, 503, "{}", authorize.text);
    assert!(started.elapsed() < Duration::from_secs(5));
    let ready = platform
        .api
        .http()
        .get(format!("{}/readyz", platform.url("author")))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    platform.mongo.start().await;
    platform.wait_ready("author").await;
    assert_eq!(
        platform.api.authorize(Some(&token), "READ").await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_is_one_trace_from_authen_to_author() {
    let platform = Platform::start().await;
    let token = platform.user_token("reader", &["READ"]).await;
    let logout = platform.api.logout(Some(&token)).await;
    assert_eq!(logout.status, 204);
    let spans = platform
        .collector
        .wait_for_spans(
            &logout.trace_id(),
            &[
                ("authen-service", "POST /logout", SpanKind::Server),
                ("author-service", "POST /revocations", SpanKind::Server),
                ("mongodb", "insert", SpanKind::Client),
            ],
        )
        .await;
    let server = span(&spans, "authen-service", "POST /logout", SpanKind::Server);
    assert_eq!(server.span_id, logout.span_id());
    let verify = span(&spans, "authen-service", "token.verify", SpanKind::Internal);
    let insert = span(&spans, "mongodb", "insert", SpanKind::Client);
    assert_eq!(
        insert.attribute("db.collection.name"),
        Some("revoked_tokens")
    );
    let client = span(
        &spans,
        "authen-service",
        "POST /revocations",
        SpanKind::Client,
    );
    let author = span(
        &spans,
        "author-service",
        "POST /revocations",
        SpanKind::Server,
    );
    assert_eq!(author.parent_span_id, client.span_id);
    for span in [verify, insert, client] {
        assert!(descends_from(&spans, span, server), "{}", span.name);
    }
    for span in &spans {
        let text = span.all_text();
        assert!(!text.contains(&token), "{} holds the token", span.name);
        assert!(
            !text.contains("Bearer "),
            "{} holds an Authorization header",
            span.name
        );
    }
}
