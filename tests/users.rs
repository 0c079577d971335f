//! Administrators create users: every field validated, usernames unique even under a race,
//! passwords stored only as argon2id hashes.

use e2e_tests::Platform;
use futures_util::future::join_all;
use mongodb::bson::doc;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_field_is_validated_and_bad_input_changes_nothing() {
    let platform = Platform::start().await;
    let admin = platform.admin_token().await;
    let long = "x".repeat(33);
    let long_password = "p".repeat(129);
    let cases = [
        json!({ "username": "ab", "password": "a-good-password", "permissions": ["READ"] }),
        json!({ "username": long, "password": "a-good-password", "permissions": ["READ"] }),
        json!({ "username": "has space", "password": "a-good-password", "permissions": ["READ"] }),
        json!({ "username": "émile", "password": "a-good-password", "permissions": ["READ"] }),
        json!({ "username": { "$ne": null }, "password": "a-good-password", "permissions": ["READ"] }),
        json!({ "username": "valid-name", "password": "short", "permissions": ["READ"] }),
        json!({ "username": "valid-name", "password": long_password, "permissions": ["READ"] }),
        json!({ "username": "valid-name", "password": 12345678, "permissions": ["READ"] }),
        json!({ "username": "valid-name", "password": "a-good-password", "permissions": [] }),
        json!({ "username": "valid-name", "password": "a-good-password", "permissions": ["SUPERUSER"] }),
        json!({ "username": "valid-name", "password": "a-good-password", "permissions": "READ" }),
        json!({ "username": "valid-name", "password": "a-good-password" }),
        json!({ "username": "valid-name", "password": "a-good-password", "permissions": ["READ"], "admin": true }),
        json!(["not", "an", "object"]),
    ];
    for body in cases {
        let reply = platform
            .api
            .execute(
                platform
                    .api
                    .request("user", Method::POST, "/users")
                    .bearer_auth(&admin)
                    .json(&body),
            )
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text);
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
        assert!(
            !reply.text.contains("a-good-password") && !reply.text.contains("12345678"),
            "{}",
            reply.text
        );
    }
    // Malformed JSON, a body that is not JSON, and one over the size limit.
    for (content_type, body, status) in [
        ("application/json", "{\"username\":".to_owned(), 400),
        ("text/plain", "hello".to_owned(), 415),
        (
            "application/json",
            format!("{{\"username\":\"{}\"}}", "x".repeat(70 * 1024)),
            413,
        ),
    ] {
        let request = platform
            .api
            .request("user", Method::POST, "/users")
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body);
        assert_eq!(platform.api.execute(request).await.status, status);
    }

    let users = platform.mongo.collection("users").await;
    assert_eq!(
        users.count_documents(doc! {}).await.unwrap(),
        1,
        "only the admin exists"
    );

    // Unknown and malformed ids are 404.
    for id in ["000000000000000000000000", "not-an-id"] {
        let reply = platform.api.get_user(Some(&admin), id).await;
        assert_eq!(reply.status, 404, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn usernames_are_unique_even_when_twenty_requests_race() {
    let platform = Platform::start().await;
    let admin = platform.admin_token().await;
    let first = platform
        .api
        .create_user(&admin, "taken", "first-password", &["READ"])
        .await;
    assert_eq!(first.status, 201);
    let again = platform
        .api
        .create_user(&admin, "taken", "second-password", &["WRITE"])
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(
        again.header("content-type"),
        Some("application/problem+json")
    );

    let attempts = (0..20).map(|i| {
        let api = platform.api.clone();
        let admin = admin.clone();
        async move {
            api.create_user(&admin, "contested", &format!("password-{i:02}"), &["READ"])
                .await
                .status
        }
    });
    let mut statuses = join_all(attempts).await;
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );

    let users = platform.mongo.collection("users").await;
    assert_eq!(
        users
            .count_documents(doc! { "username": "contested" })
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_are_stored_only_as_argon2id_hashes() {
    let platform = Platform::start().await;
    let admin = platform.admin_token().await;
    let reply = platform
        .api
        .create_user(&admin, "hashed", "plain-text-secret", &["READ"])
        .await;
    assert_eq!(reply.status, 201);
    let users = platform.mongo.collection("users").await;
    let stored = users
        .find_one(doc! { "username": "hashed" })
        .await
        .unwrap()
        .expect("the stored user");
    let hash = stored.get_str("password_hash").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let keys: Vec<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(
        keys.iter()
            .filter(|k| k.contains("password"))
            .collect::<Vec<_>>(),
        vec![&"password_hash"]
    );
    assert!(!format!("{stored:?}").contains("plain-text-secret"));
    // And the password works.
    platform.api.token("hashed", "plain-text-secret").await;
}
