//! JSON bodies: hostile bodies are refused and store nothing.

use e2e_tests::{ADMIN_PASSWORD, ADMIN_USERNAME, Api, Platform, Reply};
use reqwest::{
    Method,
    header::{AUTHORIZATION, CONTENT_TYPE},
};
use serde_json::{Value, json};

use crate::checks::*;

/// What a body field holds, which decides the wrong values to try in it.
#[derive(Clone, Copy)]
enum Field {
    Text,
    Permission,
    Permissions,
}

/// An endpoint that reads a JSON body, with a token that may use it.
struct BodyEndpoint {
    service: &'static str,
    path: &'static str,
    token: Option<String>,
    /// A body that succeeds; `n` makes it unique where that matters.
    valid: fn(usize) -> Value,
    fields: &'static [(&'static str, Field)],
    success: u16,
}

/// How a case's body is sent.
enum Body {
    Json(Value),
    /// Bytes with this `Content-Type` (or none), and a `Content-Length`.
    Raw(Option<&'static str>, Vec<u8>),
    /// Bytes as `application/json` in chunks, without a `Content-Length`.
    Chunked(Vec<u8>),
}

const OPERATORS: [&str; 4] = [
    r#"{"$ne": null}"#,
    r#"{"$gt": ""}"#,
    r#"{"$where": "sleep(1000) || true"}"#,
    r#"{"$regex": ".*"}"#,
];

const LIMIT: usize = 64 * 1024;

/// `valid` as JSON text padded with spaces to exactly `size` bytes: still the same document.
fn padded(valid: &Value, size: usize) -> Vec<u8> {
    let text = valid.to_string();
    let open = &text[..text.len() - 1];
    format!("{open}{}}}", " ".repeat(size - text.len())).into_bytes()
}

/// Every hostile variant of `endpoint`'s body, with its expected status. `n` numbers the bodies.
fn hostile_bodies(endpoint: &BodyEndpoint, n: &mut usize) -> Vec<(String, Body, u16)> {
    let mut bodies = Bodies {
        endpoint,
        n: *n,
        cases: Vec::new(),
    };
    for &(field, kind) in endpoint.fields {
        bodies.operators_in(field, kind);
        bodies.wrong_values_in(field, kind);
        bodies.missing(field);
        if let Field::Text = kind {
            // One MiB in a field is refused for its size before anything looks at it.
            let huge = bodies.with(field, json!("x".repeat(MIB)));
            bodies.json(format!("1 MiB in `{field}`"), huge, 413);
        }
    }
    bodies.unknown_fields();
    bodies.malformed_documents();
    bodies.sizes();
    bodies.content_types();
    // Control: the body done right.
    let valid = bodies.valid();
    bodies.json("the valid body".into(), valid, endpoint.success);
    *n = bodies.n;
    bodies.cases
}

/// The cases of one endpoint, as they are made.
struct Bodies<'a> {
    endpoint: &'a BodyEndpoint,
    /// The number of the last valid body made.
    n: usize,
    cases: Vec<(String, Body, u16)>,
}

impl Bodies<'_> {
    /// A valid body, unique where that matters.
    fn valid(&mut self) -> Value {
        self.n += 1;
        (self.endpoint.valid)(self.n)
    }

    /// A valid body but for `field`, which holds `value`.
    fn with(&mut self, field: &str, value: Value) -> Value {
        let mut body = self.valid();
        body[field] = value;
        body
    }

    fn json(&mut self, name: String, body: Value, status: u16) {
        self.cases.push((name, Body::Json(body), status));
    }

    fn bytes(&mut self, name: &str, bytes: Vec<u8>, status: u16) {
        let body = Body::Raw(Some("application/json"), bytes);
        self.cases.push((name.to_owned(), body, status));
    }

    /// MongoDB's query operators where a value belongs (and inside a list of permissions).
    fn operators_in(&mut self, field: &str, kind: Field) {
        for operator in OPERATORS {
            let operator: Value = serde_json::from_str(operator).unwrap();
            let body = self.with(field, operator.clone());
            self.json(format!("`{field}`: {operator}"), body, 400);
            if let Field::Permissions = kind {
                let body = self.with(field, json!([operator]));
                self.json(format!("`{field}`: [{operator}]"), body, 400);
                let body = self.with(field, json!(["READ", operator]));
                self.json(format!("`{field}`: [\"READ\", {operator}]"), body, 400);
            }
        }
    }

    /// Values of the wrong type, or of the right type but not one the field takes.
    fn wrong_values_in(&mut self, field: &str, kind: Field) {
        let wrong: Vec<Value> = match kind {
            Field::Text => vec![
                json!(12345678),
                json!(1.5),
                json!(true),
                json!(null),
                json!([]),
                json!(["text"]),
                json!({}),
            ],
            Field::Permission => vec![
                json!("read"),
                json!("SUPERUSER"),
                json!(""),
                json!("READ "),
                json!(1),
                json!(null),
                json!(["READ"]),
            ],
            Field::Permissions => vec![
                json!("READ"),
                json!(["read"]),
                json!([1]),
                json!([null]),
                json!([["READ"]]),
                json!({}),
                json!(null),
            ],
        };
        for value in wrong {
            let body = self.with(field, value.clone());
            self.json(format!("`{field}`: {value}"), body, 400);
        }
    }

    fn missing(&mut self, field: &str) {
        let mut body = self.valid();
        body.as_object_mut().unwrap().remove(field);
        self.json(format!("no `{field}`"), body, 400);
    }

    /// Fields the endpoint does not take, among them what an attacker would like to set.
    fn unknown_fields(&mut self) {
        for (key, value) in [
            ("admin", json!(true)),
            ("$where", json!("1 == 1")),
            ("_id", json!("000000000000000000000000")),
            (
                "password_hash",
                json!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"),
            ),
            ("author_username", json!(ADMIN_USERNAME)),
        ] {
            let body = self.with(key, value);
            self.json(format!("unknown field `{key}`"), body, 400);
        }
    }

    /// Documents that are not one JSON object, or not valid JSON, or not valid UTF-8.
    fn malformed_documents(&mut self) {
        let (first, _) = self.endpoint.fields[0];
        let text = self.valid().to_string();
        // The first field's value replaced by raw JSON text (maybe invalid) of our own.
        let mut first_field_as = |raw: &[u8]| {
            let text = self.with(first, json!("@@FIELD@@")).to_string();
            let (before, after) = text.split_once("\"@@FIELD@@\"").unwrap();
            [before.as_bytes(), raw, after.as_bytes()].concat()
        };
        let field_cases = [
            ("NaN", first_field_as(b"NaN")),
            (
                "bytes that are not UTF-8",
                first_field_as(b"\"\xff\xfe\xfd\""),
            ),
            ("overlong UTF-8", first_field_as(b"\"\xc0\xaf\"")),
            ("a lone surrogate", first_field_as(br#""\ud800""#)),
            (
                "an operator behind an escaped key",
                first_field_as(br#"{"\u0024ne": null}"#),
            ),
            (
                "30 000 nested arrays in a field",
                first_field_as("[".repeat(30_000).as_bytes()),
            ),
        ];
        let duplicate = {
            let alternative = self.valid()[first].clone();
            format!("{},\"{first}\":{alternative}}}", &text[..text.len() - 1])
        };
        let document_cases = [
            ("an empty body", vec![]),
            ("malformed JSON", b"{\"a\":".to_vec()),
            ("truncated JSON", text.as_bytes()[..text.len() / 2].to_vec()),
            ("an array", format!("[{text}]").into_bytes()),
            ("an empty array", b"[]".to_vec()),
            ("a string", b"\"text\"".to_vec()),
            ("null", b"null".to_vec()),
            ("a number", b"42".to_vec()),
            ("an empty object", b"{}".to_vec()),
            ("a duplicate key", duplicate.into_bytes()),
            ("trailing garbage", format!("{text} x").into_bytes()),
            ("two documents", format!("{text}{text}").into_bytes()),
            ("a comment", format!("/* hi */{text}").into_bytes()),
            ("single quotes", text.replace('"', "'").into_bytes()),
            ("30 000 nested arrays", "[".repeat(30_000).into_bytes()),
        ];
        for (name, bytes) in document_cases.into_iter().chain(field_cases) {
            self.bytes(name, bytes, 400);
        }
    }

    /// 64 KiB is the most a body may have, counted in bytes on the wire, with a
    /// `Content-Length` or chunked.
    fn sizes(&mut self) {
        let success = self.endpoint.success;
        for (name, size, status) in [
            ("exactly 64 KiB", LIMIT, success),
            ("64 KiB and one byte", LIMIT + 1, 413),
            ("1 MiB", MIB, 413),
        ] {
            let body = padded(&self.valid(), size);
            self.bytes(name, body, status);
            let body = Body::Chunked(padded(&self.valid(), size));
            self.cases.push((format!("{name}, chunked"), body, status));
        }
    }

    /// Only JSON is read: not a form a browser could post across sites, not untyped text.
    fn content_types(&mut self) {
        let (first, _) = self.endpoint.fields[0];
        let text = self.valid().to_string().into_bytes();
        for (name, content_type, bytes) in [
            ("no content-type", None, text.clone()),
            ("text/plain", Some("text/plain"), text),
            (
                "a form",
                Some("application/x-www-form-urlencoded"),
                format!("{first}=value").into_bytes(),
            ),
        ] {
            self.cases
                .push((name.to_owned(), Body::Raw(content_type, bytes), 415));
        }
    }
}

/// Sends a case's body to `endpoint` with the endpoint's token.
async fn send_body(api: &Api, endpoint: &BodyEndpoint, body: Body) -> Reply {
    let authorization = endpoint
        .token
        .as_ref()
        .map(|token| format!("Bearer {token}"));
    let (content_type, bytes) = match body {
        Body::Json(value) => (
            Some("application/json"),
            serde_json::to_vec(&value).unwrap(),
        ),
        Body::Raw(content_type, bytes) => (content_type, bytes),
        Body::Chunked(bytes) => {
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(authorization) = &authorization {
                headers.push(("Authorization", authorization));
            }
            let request = http_request("POST", endpoint.path, &headers, &bytes, true);
            return api.send_raw(endpoint.service, request).await;
        }
    };
    let mut request = api.request(endpoint.service, Method::POST, endpoint.path);
    if let Some(authorization) = authorization {
        request = request.header(AUTHORIZATION, authorization);
    }
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    api.execute(request.body(bytes)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_json_bodies_are_refused_and_store_nothing() {
    let platform = Platform::start().await;
    let api = &platform.api;
    let admin = platform.admin_token().await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let endpoints = [
        BodyEndpoint {
            service: "authen",
            path: "/login",
            token: None,
            valid: |_| json!({ "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD }),
            fields: &[("username", Field::Text), ("password", Field::Text)],
            success: 200,
        },
        BodyEndpoint {
            service: "user",
            path: "/users",
            token: Some(admin.clone()),
            valid: |n| {
                json!({
                    "username": format!("made-{n}"),
                    "password": "a-made-up-password",
                    "permissions": ["READ"],
                })
            },
            fields: &[
                ("username", Field::Text),
                ("password", Field::Text),
                ("permissions", Field::Permissions),
            ],
            success: 201,
        },
        BodyEndpoint {
            service: "blog",
            path: "/blogs",
            token: Some(writer.clone()),
            valid: |n| json!({ "title": format!("Title {n}"), "content": "Content." }),
            fields: &[("title", Field::Text), ("content", Field::Text)],
            success: 201,
        },
        BodyEndpoint {
            service: "author",
            path: "/authorize",
            token: Some(admin.clone()),
            valid: |_| json!({ "permission": "READ" }),
            fields: &[("permission", Field::Permission)],
            success: 200,
        },
    ];

    let users_before = count(&platform, "users").await;
    let blogs_before = count(&platform, "blogs").await;
    let mut stored = std::collections::HashMap::<&str, u64>::new();
    let mut checks = Checks::default();
    let mut n = 0;
    for endpoint in &endpoints {
        for (name, body, status) in hostile_bodies(endpoint, &mut n) {
            let reply = send_body(api, endpoint, body).await;
            let case = format!("{} {}: {name}", endpoint.service, endpoint.path);
            if checks.expect(&case, &reply, status) && status < 300 {
                *stored.entry(endpoint.path).or_default() += 1;
            }
            if status >= 400 && reply.body.get("access_token").is_some() {
                checks.fail(&case, "a refused login answered with a token");
            }
        }
    }
    // A parser that keeps the last of two keys would log in with the right password after a
    // wrong one; this one refuses the document.
    let duplicate = format!(
        r#"{{"username":"{ADMIN_USERNAME}","password":"wrong-password-1","password":"{ADMIN_PASSWORD}"}}"#
    );
    let reply = api
        .execute(
            api.request("authen", Method::POST, "/login")
                .header(CONTENT_TYPE, "application/json")
                .body(duplicate),
        )
        .await;
    checks.expect("login with the right password as a second key", &reply, 400);
    checks.assert_all_passed("body");

    // The database holds what the controls stored and nothing else.
    assert_eq!(
        count(&platform, "users").await,
        users_before + stored["/users"]
    );
    assert_eq!(
        count(&platform, "blogs").await,
        blogs_before + stored["/blogs"]
    );
    // The services still answer after the deepest and largest bodies.
    for service in ["authen", "user", "blog", "author"] {
        let reply = api
            .execute(api.request(service, Method::GET, "/healthz"))
            .await;
        assert_eq!(reply.status, 200, "{service}");
    }
    let secrets = [
        ADMIN_PASSWORD,
        "a-made-up-password",
        "wrong-password-1",
        "writer-password",
        &admin,
        &writer,
    ];
    assert_nothing_leaks(&platform, secrets.map(str::to_owned).into()).await;
}
