//! The whole story a newcomer walks through: the bootstrap admin creates a reader and a writer,
//! both log in, the writer posts, the reader reads.

use e2e_tests::{Api, Platform, Reply};

#[tokio::test(flavor = "multi_thread")]
async fn admin_creates_users_who_write_and_read_blogs() {
    let platform = Platform::start().await;
    let api = &platform.api;
    let admin = platform.admin_token().await;

    let (reader, writer_id) = the_admin_creates_a_reader_and_a_writer(api, &admin).await;

    // Both log in.
    let login = api.login("writer", "writer-password").await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body["token_type"], "Bearer");
    assert_eq!(login.body["expires_in"], 3600);
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let writer_token = login.body["access_token"].as_str().unwrap().to_owned();
    let reader_token = api.token("reader", "reader-password").await;

    // READ lists blogs (none yet).
    let empty = api.list_blogs(Some(&reader_token), "").await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(
        empty.body,
        serde_json::json!({ "items": [], "limit": 20, "offset": 0, "total": 0 })
    );

    let (first, second) = the_writer_posts_two(api, &writer_token, &writer_id).await;
    let (listed, got) =
        the_reader_lists_them_and_gets_one(api, &reader_token, &first, &second).await;

    // Every answer names its trace.
    for reply in [&reader, &login, &listed, &got] {
        reply.trace_id();
    }
}

/// The admin creates a READ user and a READ+WRITE user, and reads the first back: its answer
/// and the writer's id.
async fn the_admin_creates_a_reader_and_a_writer(api: &Api, admin: &str) -> (Reply, String) {
    let reader = api
        .create_user(admin, "reader", "reader-password", &["READ"])
        .await;
    assert_eq!(reader.status, 201, "{}", reader.text);
    assert_eq!(reader.body["username"], "reader");
    assert_eq!(reader.body["permissions"], serde_json::json!(["READ"]));
    let reader_id = reader.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reader.header("location"),
        Some(format!("/users/{reader_id}").as_str())
    );
    assert!(reader.body.get("password").is_none() && reader.body.get("password_hash").is_none());

    let writer = api
        .create_user(admin, "writer", "writer-password", &["WRITE", "READ"])
        .await;
    assert_eq!(writer.status, 201, "{}", writer.text);
    assert_eq!(
        writer.body["permissions"],
        serde_json::json!(["READ", "WRITE"])
    );
    let writer_id = writer.body["id"].as_str().unwrap().to_owned();

    let fetched = api.get_user(Some(admin), &reader_id).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, reader.body);
    (reader, writer_id)
}

/// WRITE creates two; the author is the token's subject.
async fn the_writer_posts_two(api: &Api, writer_token: &str, writer_id: &str) -> (Reply, Reply) {
    let first = api
        .post_blog(Some(writer_token), "First", "The first post.")
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = api
        .post_blog(Some(writer_token), "Second", "The second post.")
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let second_id = second.body["id"].as_str().unwrap();
    assert_eq!(
        second.header("location"),
        Some(format!("/blogs/{second_id}").as_str())
    );
    assert_eq!(second.body["author_id"], writer_id);
    assert_eq!(second.body["author_username"], "writer");
    assert_eq!(second.body["title"], "Second");
    let created_at = second.body["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.contains('T'),
        "RFC 3339 UTC: {created_at}"
    );
    (first, second)
}

/// READ lists them newest first, a page at a time, and gets one: the listing and the one.
async fn the_reader_lists_them_and_gets_one(
    api: &Api,
    reader_token: &str,
    first: &Reply,
    second: &Reply,
) -> (Reply, Reply) {
    let listed = api.list_blogs(Some(reader_token), "?limit=20").await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["total"], 2);
    assert_eq!(
        listed.body["items"][0], second.body,
        "the newest is listed first"
    );
    assert_eq!(listed.body["items"][1], first.body);

    let page = api
        .list_blogs(Some(reader_token), "?limit=1&offset=1")
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["items"][0], first.body);
    assert_eq!(
        (page.body["limit"].as_u64(), page.body["offset"].as_u64()),
        (Some(1), Some(1))
    );

    let second_id = second.body["id"].as_str().unwrap();
    let got = api.get_blog(Some(reader_token), second_id).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, second.body);
    (listed, got)
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refusals_look_the_same_for_unknown_users_and_wrong_passwords() {
    let platform = Platform::start().await;
    platform.user_token("alice", &["READ"]).await;
    let wrong_password = platform.api.login("alice", "not-her-password").await;
    let unknown_user = platform.api.login("nobody-here", "whatever-password").await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown_user.status, 401);
    assert_eq!(wrong_password.body, unknown_user.body);
    assert_eq!(
        wrong_password.header("content-type"),
        Some("application/problem+json")
    );
    assert!(!wrong_password.text.contains("not-her-password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_publishes_the_signing_key() {
    let platform = Platform::start().await;
    let jwks = platform.api.jwks().await;
    assert_eq!(jwks.status, 200);
    let key = &jwks.body["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["e"], "AQAB");
    // The token's header names the same key.
    let token = platform.admin_token().await;
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(&base64_url_decode(header)).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], key["kid"]);
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
