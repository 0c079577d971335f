//! Who may do what: anonymous, READ, WRITE and ADMIN callers against every endpoint, with the
//! exact codes, and proof in the database that refused writes store nothing.

use e2e_tests::{Platform, WithToken};
use mongodb::bson::doc;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Garbage,
    Read,
    Write,
    Admin,
}

const CALLERS: [Caller; 5] = [
    Caller::Anonymous,
    Caller::Garbage,
    Caller::Read,
    Caller::Write,
    Caller::Admin,
];

/// An endpoint (service, method, path, body) and its code for each of the `CALLERS`.
type Case = (&'static str, Method, String, Option<Value>, [u16; 5]);

/// What each endpoint answers each of the `CALLERS`; `blog` and `user` are paths of a blog and
/// a user that exist. A body of `None` on `POST /users` stands for a new user each time.
#[rustfmt::skip]
fn expected_codes(blog: &str, user: &str) -> Vec<Case> {
    let (get, post) = (Method::GET, Method::POST);
    let blog_body = json!({ "title": "T", "content": "C" });
    let authorize = |permission| Some(json!({ "permission": permission }));
    //    service   method        path                   body             anonymous garbage READ WRITE ADMIN
    vec![
        ("blog",   get.clone(),  "/blogs".into(),     None,              [401, 401, 200, 403, 403]),
        ("blog",   get.clone(),  blog.into(),         None,              [401, 401, 200, 403, 403]),
        ("blog",   post.clone(), "/blogs".into(),     Some(blog_body),   [401, 401, 403, 201, 403]),
        ("user",   post.clone(), "/users".into(),     None,              [401, 401, 403, 403, 201]),
        ("user",   get,          user.into(),         None,              [401, 401, 403, 403, 200]),
        ("author", post.clone(), "/authorize".into(), authorize("READ"),  [401, 401, 200, 403, 403]),
        ("author", post.clone(), "/authorize".into(), authorize("WRITE"), [401, 401, 403, 200, 403]),
        ("author", post,         "/authorize".into(), authorize("ADMIN"), [401, 401, 403, 403, 200]),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_answers_each_caller_with_the_exact_code() {
    let platform = Platform::start().await;
    let api = &platform.api;
    let read = platform.user_token("only-read", &["READ"]).await;
    let write = platform.user_token("only-write", &["WRITE"]).await;
    let admin = platform.user_token("only-admin", &["ADMIN"]).await;
    let full = platform.user_token("read-write", &["READ", "WRITE"]).await;
    let blog = api
        .post_blog(Some(&full), "Existing", "A blog to read.")
        .await;
    assert_eq!(blog.status, 201);
    let blog_path = format!("/blogs/{}", blog.body["id"].as_str().unwrap());
    let user_path = format!("/users/{}", blog.body["author_id"].as_str().unwrap());

    let token = |caller: Caller| match caller {
        Caller::Anonymous => None,
        Caller::Garbage => Some("not.a.token".to_owned()),
        Caller::Read => Some(read.clone()),
        Caller::Write => Some(write.clone()),
        Caller::Admin => Some(admin.clone()),
    };
    // Each successful user creation needs a fresh name.
    let mut counter = 0;
    let mut new_user = || {
        counter += 1;
        json!({ "username": format!("made-{counter}"), "password": "a-good-password", "permissions": ["READ"] })
    };
    let mut failures = Vec::new();
    for (service, method, path, body, expected) in expected_codes(&blog_path, &user_path) {
        for (caller, expected) in CALLERS.into_iter().zip(expected) {
            let body = match (service, &path[..], &body) {
                ("user", "/users", None) => Some(new_user()),
                _ => body.clone(),
            };
            let mut request = api
                .request(service, method.clone(), &path)
                .token(token(caller).as_deref());
            if let Some(body) = body {
                request = request.json(&body);
            }
            let reply = api.execute(request).await;
            if reply.status != expected {
                failures.push(format!(
                    "{caller:?} {method} {service}{path}: expected {expected}, got {} {}",
                    reply.status, reply.text
                ));
            }
            if reply.status >= 400 {
                assert_eq!(
                    reply.header("content-type"),
                    Some("application/problem+json"),
                    "{method} {path}"
                );
                assert_eq!(reply.body["status"], reply.status);
            }
            if reply.status == 401 {
                assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "unexpected codes:\n{}",
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn author_service_names_the_tokens_holder() {
    let platform = Platform::start().await;
    let read = platform.user_token("only-read", &["READ"]).await;
    let principal = platform.api.authorize(Some(&read), "READ").await;
    assert_eq!(principal.status, 200, "{}", principal.text);
    assert_eq!(principal.body["username"], "only-read");
    assert_eq!(principal.body["permissions"], json!(["READ"]));
    assert_eq!(principal.body["sub"].as_str().unwrap().len(), 24);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_writes_store_nothing() {
    let platform = Platform::start().await;
    let api = &platform.api;
    let read = platform.user_token("reader", &["READ"]).await;
    let users = platform.mongo.collection("users").await;
    let users_before = users.count_documents(doc! {}).await.unwrap();

    for token in [None, Some("garbage"), Some(read.as_str())] {
        let reply = api.post_blog(token, "Sneaky", "should not be stored").await;
        assert!(matches!(reply.status, 401 | 403), "{}", reply.text);
        let reply = api
            .create_user(
                token.unwrap_or(""),
                "sneaky-user",
                "sneaky-password",
                &["ADMIN"],
            )
            .await;
        assert!(matches!(reply.status, 401 | 403), "{}", reply.text);
    }
    // A valid writer with an invalid body stores nothing either.
    let write = platform.user_token("writer", &["WRITE"]).await;
    let reply = api.post_blog(Some(&write), "", "empty title").await;
    assert_eq!(reply.status, 400);

    let blogs = platform.mongo.collection("blogs").await;
    assert_eq!(blogs.count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(
        users
            .count_documents(doc! { "username": "sneaky-user" })
            .await
            .unwrap(),
        0
    );
    // Only the reader and the writer were added.
    assert_eq!(
        users.count_documents(doc! {}).await.unwrap(),
        users_before + 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_cannot_choose_the_author() {
    let platform = Platform::start().await;
    let write = platform.user_token("writer", &["WRITE"]).await;
    let body = json!({ "title": "T", "content": "C", "author_id": "000000000000000000000000" });
    let request = platform.api.request("blog", Method::POST, "/blogs");
    let reply = platform
        .api
        .execute(request.bearer_auth(&write).json(&body))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(reply.body["detail"].as_str().unwrap().contains("author_id"));
}
