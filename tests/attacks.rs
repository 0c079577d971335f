//! Hostile input: nothing gets in.
//!
//! Forged, stale and malformed tokens; MongoDB operators, broken, odd and oversized JSON; absurd
//! paging; malformed ids; awkward Unicode. Each case is sent to the running services and must get
//! its exact status, as a problem document when it is an error, and the database must hold
//! exactly what the accepted requests stored. Every group has positive controls (the same request
//! done right succeeds), so a refusal proves the attack was refused, not that the request was
//! broken. At the end of each test no answer, log line or span may hold a password or token used.
//!
//! Starting a platform costs seconds, so each group shares one and its cases are tables.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use e2e_tests::{ADMIN_PASSWORD, ADMIN_USERNAME, Api, Platform, Reply, generate_keys};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, ThumbprintHash},
};
use mongodb::bson::doc;
use reqwest::{
    Method, RequestBuilder,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Checking answers
// ---------------------------------------------------------------------------------------------

/// Every case that did not get its expected answer, so that one run reports all of them.
#[derive(Default)]
struct Checks {
    cases: usize,
    failures: Vec<String>,
}

impl Checks {
    /// `reply` must have `status`; an error must be a problem document, and a 401 must name the
    /// Bearer scheme. Returns whether it passed.
    fn expect(&mut self, case: &str, reply: &Reply, status: u16) -> bool {
        self.cases += 1;
        let mut wrong = Vec::new();
        if reply.status != status {
            wrong.push(format!("expected {status}"));
        }
        if reply.status >= 400 {
            if reply.header("content-type") != Some("application/problem+json") {
                wrong.push(format!(
                    "content-type {:?}, not application/problem+json",
                    reply.header("content-type")
                ));
            }
            let body = &reply.body;
            if body["status"] != reply.status
                || !body["type"].is_string()
                || !body["title"].is_string()
                || !body["detail"].is_string()
            {
                wrong.push("not an RFC 9457 problem document".to_owned());
            }
        }
        if reply.status == 401 && reply.header("www-authenticate") != Some("Bearer") {
            wrong.push("no `WWW-Authenticate: Bearer`".to_owned());
        }
        if !wrong.is_empty() {
            self.fail(
                case,
                &format!(
                    "{}; got {} {}",
                    wrong.join(", "),
                    reply.status,
                    shorten(&reply.text)
                ),
            );
        }
        wrong.is_empty()
    }

    fn fail(&mut self, case: &str, why: &str) {
        self.failures.push(format!("{case}: {why}"));
    }

    fn assert_all_passed(&self, group: &str) {
        assert!(
            self.failures.is_empty(),
            "{} of {} {group} cases failed:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
        println!("{group}: {} cases passed", self.cases);
    }
}

fn shorten(text: &str) -> String {
    let short: String = text.chars().take(160).collect();
    if short.len() < text.len() {
        format!("{short}...")
    } else {
        short
    }
}

/// Asserts that no answer, log line or span holds any of `secrets`, and that the spans of all
/// that hostile input still follow the semantic conventions.
async fn assert_nothing_leaks(platform: &Platform, secrets: Vec<String>) {
    let leaks = platform.leaks(&secrets).await;
    assert!(
        leaks.is_empty(),
        "secrets leaked ({} checked):\n{}",
        secrets.len(),
        leaks.join("\n")
    );
    e2e_tests::conventions::assert_conventions(&platform.collector.spans());
}

/// The user id a token belongs to, as author-service reads it.
async fn subject_of(api: &Api, token: &str) -> String {
    let reply = api
        .execute(
            api.request("author", Method::POST, "/authorize")
                .bearer_auth(token)
                .json(&json!({ "permission": "READ" })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["sub"].as_str().unwrap().to_owned()
}

async fn count(platform: &Platform, collection: &str) -> u64 {
    platform
        .mongo
        .collection(collection)
        .await
        .count_documents(doc! {})
        .await
        .unwrap()
}

/// A whole HTTP/1.1 request, for [`Api::send_raw`]. With `chunked`, the body goes in 8 KiB chunks
/// and no `Content-Length`.
fn http_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunked: bool,
) -> Vec<u8> {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if chunked {
        request.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    }
    let mut bytes = request.into_bytes();
    if chunked {
        for chunk in body.chunks(8 * 1024) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
    } else {
        bytes.extend_from_slice(body);
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// An RSA private key and the `kid` a token names it by (its RFC 7638 thumbprint, as the
/// ours is derived).
struct SigningKey {
    private: EncodingKey,
    public_pem: String,
    kid: String,
}

impl SigningKey {
    fn read(dir: &std::path::Path) -> Self {
        let private_pem = std::fs::read(dir.join("private.pem")).expect("private.pem");
        let private = EncodingKey::from_rsa_pem(&private_pem).expect("an RSA private key");
        let kid = Jwk::from_encoding_key(&private, Algorithm::RS256)
            .and_then(|jwk| jwk.thumbprint(ThumbprintHash::SHA256))
            .expect("a thumbprint");
        Self {
            private,
            public_pem: std::fs::read_to_string(dir.join("public.pem")).expect("public.pem"),
            kid,
        }
    }

    fn header(&self, algorithm: Algorithm, kid: Option<&str>) -> Header {
        let mut header = Header::new(algorithm);
        header.typ = Some("JWT".to_owned());
        header.kid = kid.map(str::to_owned);
        header
    }

    /// RS256 with this key, naming it by its own kid: the way authen-service signs.
    fn sign(&self, claims: &Value) -> String {
        self.sign_with(self.header(Algorithm::RS256, Some(&self.kid)), claims)
    }

    fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.private).expect("signing")
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims authen-service would issue to `sub`, with every permission.
fn admin_claims(sub: &str) -> Value {
    json!({
        "iss": "blog-authen",
        "aud": "blog-api",
        "sub": sub,
        "username": ADMIN_USERNAME,
        "permissions": ["READ", "WRITE", "ADMIN"],
        "iat": now(),
        "exp": now() + 600,
        "jti": format!("{:x}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()),
    })
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[key] = value;
    claims
}

fn without(claims: &Value, key: &str) -> Value {
    let mut claims = claims.clone();
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
}

/// Base64url without padding: the length of `bytes` bytes encoded.
fn b64_len(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

/// Two of our own valid tokens, made long with an extra claim: the longest whose
/// `Bearer <token>` header is at most `limit` bytes, and the shortest over it.
fn tokens_around(key: &SigningKey, claims: &Value, limit: usize) -> (String, String) {
    let header_len = key.sign(claims).split('.').next().unwrap().len();
    let signature_len = b64_len(256); // RSA-2048
    let payload = serde_json::to_vec(&with(claims, "pad", json!("")))
        .unwrap()
        .len();
    let header_bytes =
        |pad: usize| "Bearer ".len() + header_len + 1 + b64_len(payload + pad) + 1 + signature_len;
    let longest_within = (0..limit)
        .rev()
        .find(|&pad| header_bytes(pad) <= limit)
        .unwrap();
    let shortest_over = (0..limit).find(|&pad| header_bytes(pad) > limit).unwrap();
    let token = |pad: usize| {
        let token = key.sign(&with(claims, "pad", json!("x".repeat(pad))));
        assert_eq!(format!("Bearer {token}").len(), header_bytes(pad));
        token
    };
    (token(longest_within), token(shortest_over))
}

/// The endpoints that take a token, and a request to each that a token with every permission
/// may make.
#[derive(Clone)]
enum TokenEndpoint {
    Authorize,
    CreateUser,
    GetUser(String),
    ListBlogs,
    GetBlog(String),
    CreateBlog,
}

impl TokenEndpoint {
    /// The request; `tag` makes what it would create unique and recognisable.
    fn request(&self, api: &Api, tag: &str) -> RequestBuilder {
        match self {
            Self::Authorize => api
                .request("author", Method::POST, "/authorize")
                .json(&json!({ "permission": "ADMIN" })),
            Self::CreateUser => api.request("user", Method::POST, "/users").json(&json!({
                "username": tag,
                "password": "a-password-never-stored",
                "permissions": ["ADMIN"],
            })),
            Self::GetUser(id) => api.request("user", Method::GET, &format!("/users/{id}")),
            Self::ListBlogs => api.request("blog", Method::GET, "/blogs"),
            Self::GetBlog(id) => api.request("blog", Method::GET, &format!("/blogs/{id}")),
            Self::CreateBlog => api
                .request("blog", Method::POST, "/blogs")
                .json(&json!({ "title": tag, "content": "Should only exist if allowed." })),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Authorize => "author POST /authorize",
            Self::CreateUser => "user POST /users",
            Self::GetUser(_) => "user GET /users/{id}",
            Self::ListBlogs => "blog GET /blogs",
            Self::GetBlog(_) => "blog GET /blogs/{id}",
            Self::CreateBlog => "blog POST /blogs",
        }
    }

    fn success(&self) -> u16 {
        match self {
            Self::CreateUser | Self::CreateBlog => 201,
            _ => 200,
        }
    }
}

/// The `Authorization` headers (none, one, or several) to try on every endpoint.
struct Credential {
    name: String,
    headers: Vec<Vec<u8>>,
}

fn credential(name: impl Into<String>, header: impl Into<Vec<u8>>) -> Credential {
    Credential {
        name: name.into(),
        headers: vec![header.into()],
    }
}

fn bearer(name: impl Into<String>, token: &str) -> Credential {
    credential(name, format!("Bearer {token}"))
}

/// Every way a request could present a token that is not ours and valid, and the controls:
/// tokens that are ours and valid, so that a 401 for the others is the token's doing.
struct Credentials {
    refused: Vec<Credential>,
    admitted: Vec<Credential>,
    /// What they hold that no answer, log or span may repeat: tokens, signatures, passwords.
    secrets: Vec<String>,
}

impl Credentials {
    /// Forged as an attacker would, with our key (`ours`) and another (`foreign`), for the
    /// administrator `admin_id`; `admin` and `writer` are real tokens the platform issued.
    fn forge(
        ours: &SigningKey,
        foreign: &SigningKey,
        admin_id: &str,
        admin: &str,
        writer: &str,
    ) -> Self {
        let claims = admin_claims(admin_id);
        let (within_8_kib, over_8_kib) = tokens_around(ours, &claims, 8 * 1024);
        // The writer's real token with ADMIN in its payload, under its original signature.
        let tampered = {
            let parts: Vec<&str> = writer.split('.').collect();
            let payload: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            let escalated = with(&payload, "permissions", json!(["READ", "WRITE", "ADMIN"]));
            format!("{}.{}.{}", parts[0], b64(&escalated), parts[2])
        };
        let alg_none = {
            let header = json!({ "alg": "none", "typ": "JWT", "kid": ours.kid });
            format!("{}.{}", b64(&header), b64(&claims))
        };
        let hs256_public_key = jsonwebtoken::encode(
            &ours.header(Algorithm::HS256, Some(&ours.kid)),
            &claims,
            &EncodingKey::from_secret(ours.public_pem.as_bytes()),
        )
        .unwrap();
        // The old trick of pointing `kid` at a file whose content is known (empty) to sign with it.
        let kid_traversal = jsonwebtoken::encode(
            &ours.header(Algorithm::HS256, Some("../../../../../../dev/null")),
            &claims,
            &EncodingKey::from_secret(b""),
        )
        .unwrap();
        // A foreign key that ships itself in the header (CVE-2018-0114) or names where to fetch it.
        let embedded_jwk = {
            let mut header = foreign.header(Algorithm::RS256, Some(&ours.kid));
            header.jwk = Some(Jwk::from_encoding_key(&foreign.private, Algorithm::RS256).unwrap());
            foreign.sign_with(header, &claims)
        };
        let jku = {
            let mut header = foreign.header(Algorithm::RS256, Some(&foreign.kid));
            header.jku = Some("http://127.0.0.1:1/.well-known/jwks.json".to_owned());
            foreign.sign_with(header, &claims)
        };
        // Signed with our key exactly as authen-service signs: the forgery that must get in.
        let good = ours.sign(&claims);
        let basic = STANDARD.encode(format!("{ADMIN_USERNAME}:{ADMIN_PASSWORD}"));

        let refused: Vec<Credential> = vec![
            Credential {
                name: "no Authorization header".into(),
                headers: Vec::new(),
            },
            Credential {
                name: "two Authorization headers, ours first".into(),
                headers: vec![format!("Bearer {good}").into(), b"Bearer garbage".to_vec()],
            },
            Credential {
                name: "two Authorization headers, ours second".into(),
                headers: vec![b"Bearer garbage".to_vec(), format!("Bearer {good}").into()],
            },
            credential("an empty header", ""),
            credential("`Bearer` without a token", "Bearer"),
            credential("`Bearer` and white space", "Bearer    "),
            credential("a token without a scheme", good.as_str()),
            credential("Basic with the admin's password", format!("Basic {basic}")),
            credential("scheme `Token`", format!("Token {good}")),
            credential("scheme `JWT`", format!("JWT {good}")),
            bearer("two tokens", &format!("{good} {good}")),
            bearer("alg none, no signature", &format!("{alg_none}.")),
            bearer("alg none, no signature part", &alg_none),
            bearer(
                "alg none with a valid signature",
                &format!("{alg_none}.{}", good.rsplit('.').next().unwrap()),
            ),
            bearer("HS256 with the public key as secret", &hs256_public_key),
            bearer(
                "kid path traversal, HS256 with an empty secret",
                &kid_traversal,
            ),
            bearer(
                "RS512 with our key",
                &ours.sign_with(ours.header(Algorithm::RS512, Some(&ours.kid)), &claims),
            ),
            bearer(
                "PS256 with our key",
                &ours.sign_with(ours.header(Algorithm::PS256, Some(&ours.kid)), &claims),
            ),
            bearer(
                "our key, unknown kid",
                &ours.sign_with(ours.header(Algorithm::RS256, Some("key-2")), &claims),
            ),
            bearer(
                "our key, no kid",
                &ours.sign_with(ours.header(Algorithm::RS256, None), &claims),
            ),
            bearer(
                "foreign key, our kid",
                &foreign.sign_with(foreign.header(Algorithm::RS256, Some(&ours.kid)), &claims),
            ),
            bearer("foreign key, its own kid", &foreign.sign(&claims)),
            bearer("foreign key embedded as `jwk`", &embedded_jwk),
            bearer("foreign key named by `jku`", &jku),
            bearer(
                "expired 60 s ago",
                &ours.sign(&with(&claims, "exp", json!(now() - 60))),
            ),
            bearer(
                "nbf 120 s ahead",
                &ours.sign(&with(&claims, "nbf", json!(now() + 120))),
            ),
            bearer(
                "iat 120 s ahead",
                &ours.sign(&with(&claims, "iat", json!(now() + 120))),
            ),
            bearer("no exp", &ours.sign(&without(&claims, "exp"))),
            bearer(
                "wrong issuer",
                &ours.sign(&with(&claims, "iss", json!("someone-else"))),
            ),
            bearer(
                "wrong audience",
                &ours.sign(&with(&claims, "aud", json!("another-api"))),
            ),
            bearer("tampered payload (escalated permissions)", &tampered),
            bearer("truncated signature", &good[..good.len() - 10]),
            bearer("no signature", good.rsplit_once('.').unwrap().0),
            bearer("garbage", "not.a.token"),
            bearer("three empty parts", ".."),
            bearer("not base64", "!!!.???.###"),
            bearer("random base64", &URL_SAFE_NO_PAD.encode([0x5a_u8; 300])),
            bearer("our valid token, header over 8 KiB", &over_8_kib),
            bearer("64 KiB of garbage", &"A".repeat(64 * 1024)),
            credential("bytes that are not ASCII", {
                let mut header = format!("Bearer {good}").into_bytes();
                header.extend_from_slice(b"\xff\xfe");
                header
            }),
        ];
        // Controls: the same requests with tokens that are ours and valid get in, so a 401 above is
        // the token's doing.
        let admitted = vec![
            bearer("our key, forged like authen-service signs", &good),
            credential("lower-case `bearer`", format!("bearer {admin}")),
            credential("upper-case `BEARER`", format!("BEARER {admin}")),
            bearer("our valid token, header of at most 8 KiB", &within_8_kib),
        ];
        let mut secrets = vec![basic];
        for header in refused.iter().chain(&admitted).flat_map(|c| &c.headers) {
            let header = String::from_utf8_lossy(header);
            let token = header.split_once(' ').map_or(&*header, |(_, token)| token);
            // Tokens and their signatures; the garbage cases (no dots, or short) are no secrets.
            if token.contains('.') {
                for secret in [token, token.rsplit('.').next().unwrap()] {
                    if secret.len() >= 20 {
                        secrets.push(secret.to_owned());
                    }
                }
            }
        }
        Self {
            refused,
            admitted,
            secrets,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_our_own_valid_tokens_get_in_anywhere() {
    let platform = Platform::start().await;
    let api = &platform.api;
    let admin = platform.admin_token().await;
    let writer = platform.user_token("writer", &["READ", "WRITE"]).await;
    let admin_id = subject_of(api, &admin).await;
    let blog = api
        .post_blog(Some(&writer), "Target", "A blog to read.")
        .await;
    assert_eq!(blog.status, 201, "{}", blog.text);
    let blog_id = blog.body["id"].as_str().unwrap().to_owned();

    // Our key is what the platform signs with; the kid we compute must be the one it publishes.
    let ours = SigningKey::read(platform.keys_dir());
    let jwks = api.jwks().await;
    assert_eq!(jwks.body["keys"][0]["kid"], ours.kid.as_str());
    let foreign_dir = tempfile::tempdir().unwrap();
    generate_keys(foreign_dir.path()).expect("a foreign key pair");
    let foreign = SigningKey::read(foreign_dir.path());

    let credentials = Credentials::forge(&ours, &foreign, &admin_id, &admin, &writer);

    let endpoints = [
        TokenEndpoint::Authorize,
        TokenEndpoint::CreateUser,
        TokenEndpoint::GetUser(admin_id.clone()),
        TokenEndpoint::ListBlogs,
        TokenEndpoint::GetBlog(blog_id),
        TokenEndpoint::CreateBlog,
    ];
    let users_before = count(&platform, "users").await;
    let blogs_before = count(&platform, "blogs").await;
    let mut checks = Checks::default();
    let mut n = 0;
    for endpoint in &endpoints {
        let lists = [(&credentials.refused, false), (&credentials.admitted, true)];
        for (list, allowed) in lists {
            for credential in list {
                n += 1;
                let tag = if allowed { "allowed" } else { "attacker" };
                let mut request = endpoint.request(api, &format!("{tag}-{n}"));
                for header in &credential.headers {
                    request =
                        request.header(AUTHORIZATION, HeaderValue::from_bytes(header).unwrap());
                }
                let reply = api.execute(request).await;
                let expected = if allowed { endpoint.success() } else { 401 };
                checks.expect(
                    &format!("{} with {}", endpoint.name(), credential.name),
                    &reply,
                    expected,
                );
            }
        }
    }
    checks.assert_all_passed("token");

    // Only the controls stored anything.
    let users = platform.mongo.collection("users").await;
    let blogs = platform.mongo.collection("blogs").await;
    let controls = credentials.admitted.len() as u64;
    assert_eq!(count(&platform, "users").await, users_before + controls);
    assert_eq!(count(&platform, "blogs").await, blogs_before + controls);
    let by_attacker = doc! { "$regex": "^attacker-" };
    assert_eq!(
        users
            .count_documents(doc! { "username": by_attacker.clone() })
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        blogs
            .count_documents(doc! { "title": by_attacker })
            .await
            .unwrap(),
        0
    );

    // No answer, log or span repeats a credential, forged or real.
    let mut secrets = credentials.secrets;
    secrets
        .extend([ADMIN_PASSWORD, "writer-password", "a-password-never-stored"].map(str::to_owned));
    secrets.extend([admin, writer]);
    assert_nothing_leaks(&platform, secrets).await;
}

// ---------------------------------------------------------------------------------------------
// JSON bodies
// ---------------------------------------------------------------------------------------------

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
const MIB: usize = 1024 * 1024;

/// `valid` as JSON text padded with spaces to exactly `size` bytes: still the same document.
fn padded(valid: &Value, size: usize) -> Vec<u8> {
    let text = valid.to_string();
    let open = &text[..text.len() - 1];
    format!("{open}{}}}", " ".repeat(size - text.len())).into_bytes()
}

/// Every hostile variant of `endpoint`'s body, with its expected status. `n` numbers the bodies.
fn hostile_bodies(endpoint: &BodyEndpoint, n: &mut usize) -> Vec<(String, Body, u16)> {
    let counter = std::cell::Cell::new(*n);
    let valid = || {
        counter.set(counter.get() + 1);
        (endpoint.valid)(counter.get())
    };
    let mut cases = Vec::new();
    let mut json_case = |name: String, body: Value, status: u16| {
        cases.push((name, Body::Json(body), status));
    };
    for &(field, kind) in endpoint.fields {
        let set = |value: Value| {
            let mut body = valid();
            body[field] = value;
            body
        };
        for operator in OPERATORS {
            let operator: Value = serde_json::from_str(operator).unwrap();
            json_case(format!("`{field}`: {operator}"), set(operator.clone()), 400);
            if let Field::Permissions = kind {
                json_case(
                    format!("`{field}`: [{operator}]"),
                    set(json!([operator])),
                    400,
                );
                json_case(
                    format!("`{field}`: [\"READ\", {operator}]"),
                    set(json!(["READ", operator])),
                    400,
                );
            }
        }
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
            json_case(format!("`{field}`: {value}"), set(value), 400);
        }
        let mut missing = valid();
        missing.as_object_mut().unwrap().remove(field);
        json_case(format!("no `{field}`"), missing, 400);
        // One MiB in a field is refused for its size before anything looks at it.
        if let Field::Text = kind {
            json_case(
                format!("1 MiB in `{field}`"),
                set(json!("x".repeat(MIB))),
                413,
            );
        }
    }
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
        let mut body = valid();
        body[key] = value;
        json_case(format!("unknown field `{key}`"), body, 400);
    }

    let (first, _) = endpoint.fields[0];
    let text = valid().to_string();
    let json_bytes = |name: &str, bytes: Vec<u8>, status| {
        (
            name.to_owned(),
            Body::Raw(Some("application/json"), bytes),
            status,
        )
    };
    // The first field's value replaced by raw JSON text (maybe invalid) of our own.
    let first_field_as = |raw: &[u8]| {
        let mut body = valid();
        body[first] = json!("@@FIELD@@");
        let text = body.to_string();
        let (before, after) = text.split_once("\"@@FIELD@@\"").unwrap();
        [before.as_bytes(), raw, after.as_bytes()].concat()
    };
    let duplicate = {
        let alternative = valid()[first].clone();
        format!("{},\"{first}\":{alternative}}}", &text[..text.len() - 1])
    };
    cases.extend([
        json_bytes("an empty body", vec![], 400),
        json_bytes("malformed JSON", b"{\"a\":".to_vec(), 400),
        json_bytes(
            "truncated JSON",
            text.as_bytes()[..text.len() / 2].to_vec(),
            400,
        ),
        json_bytes("an array", format!("[{text}]").into_bytes(), 400),
        json_bytes("an empty array", b"[]".to_vec(), 400),
        json_bytes("a string", b"\"text\"".to_vec(), 400),
        json_bytes("null", b"null".to_vec(), 400),
        json_bytes("a number", b"42".to_vec(), 400),
        json_bytes("an empty object", b"{}".to_vec(), 400),
        json_bytes("a duplicate key", duplicate.into_bytes(), 400),
        json_bytes("trailing garbage", format!("{text} x").into_bytes(), 400),
        json_bytes("two documents", format!("{text}{text}").into_bytes(), 400),
        json_bytes("a comment", format!("/* hi */{text}").into_bytes(), 400),
        json_bytes("single quotes", text.replace('"', "'").into_bytes(), 400),
        json_bytes("NaN", first_field_as(b"NaN"), 400),
        json_bytes(
            "bytes that are not UTF-8",
            first_field_as(b"\"\xff\xfe\xfd\""),
            400,
        ),
        json_bytes("overlong UTF-8", first_field_as(b"\"\xc0\xaf\""), 400),
        json_bytes("a lone surrogate", first_field_as(br#""\ud800""#), 400),
        json_bytes(
            "an operator behind an escaped key",
            first_field_as(br#"{"\u0024ne": null}"#),
            400,
        ),
        json_bytes("30 000 nested arrays", "[".repeat(30_000).into_bytes(), 400),
        json_bytes(
            "30 000 nested arrays in a field",
            first_field_as("[".repeat(30_000).as_bytes()),
            400,
        ),
        // Sizes: 64 KiB is the most a body may have, counted in bytes on the wire.
        json_bytes("exactly 64 KiB", padded(&valid(), LIMIT), endpoint.success),
        json_bytes("64 KiB and one byte", padded(&valid(), LIMIT + 1), 413),
        json_bytes("1 MiB", padded(&valid(), MIB), 413),
        (
            "exactly 64 KiB, chunked".into(),
            Body::Chunked(padded(&valid(), LIMIT)),
            endpoint.success,
        ),
        (
            "64 KiB and one byte, chunked".into(),
            Body::Chunked(padded(&valid(), LIMIT + 1)),
            413,
        ),
        (
            "1 MiB, chunked".into(),
            Body::Chunked(padded(&valid(), MIB)),
            413,
        ),
        // Only JSON is read: not a form a browser could post across sites, not untyped text.
        (
            "no content-type".into(),
            Body::Raw(None, text.clone().into_bytes()),
            415,
        ),
        (
            "text/plain".into(),
            Body::Raw(Some("text/plain"), text.clone().into_bytes()),
            415,
        ),
        (
            "a form".into(),
            Body::Raw(
                Some("application/x-www-form-urlencoded"),
                format!("{first}=value").into_bytes(),
            ),
            415,
        ),
        // Control: the body done right.
        (
            "the valid body".into(),
            Body::Json(valid()),
            endpoint.success,
        ),
    ]);
    *n = counter.get();
    cases
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

// ---------------------------------------------------------------------------------------------
// Paging, ids, Unicode and lengths
// ---------------------------------------------------------------------------------------------

/// `bytes` percent-encoded, every byte, so the path goes on the wire exactly as meant.
fn percent_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("%{byte:02X}")).collect()
}

/// The callers of the third test.
struct Callers {
    admin: String,
    reader: String,
    writer: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_ids_unicode_and_lengths_are_exact() {
    let platform = Platform::start().await;
    let callers = Callers {
        admin: platform.admin_token().await,
        reader: platform.user_token("reader", &["READ"]).await,
        writer: platform.user_token("writer", &["READ", "WRITE"]).await,
    };
    let mut checks = Checks::default();
    paging(&platform, &callers, &mut checks).await;
    ids(&platform, &callers, &mut checks).await;
    unicode_round_trips(&platform, &callers, &mut checks).await;
    blog_lengths(&platform, &callers, &mut checks).await;
    let mut secrets = usernames_and_passwords(&platform, &callers, &mut checks).await;
    checks.assert_all_passed("paging, id, Unicode and length");

    secrets.extend([
        ADMIN_PASSWORD.to_owned(),
        "reader-password".to_owned(),
        "writer-password".to_owned(),
        callers.admin,
        callers.reader,
        callers.writer,
    ]);
    assert_nothing_leaks(&platform, secrets).await;
}

/// `limit` is 1-100 and `offset` 0-4 294 967 295 (README): anything else, and any other
/// parameter, is a 400; an offset past the end is an empty page.
async fn paging(platform: &Platform, callers: &Callers, checks: &mut Checks) {
    let api = &platform.api;
    assert_eq!(
        count(platform, "blogs").await,
        0,
        "paging starts from no blogs"
    );
    for title in ["First", "Second", "Third"] {
        let reply = api.post_blog(Some(&callers.writer), title, "Paging.").await;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    // The page an accepted query must give: its limit, offset and number of items.
    type Page = (u64, u64, usize);
    let pages: Vec<(&str, Option<Page>)> = vec![
        ("", Some((20, 0, 3))),
        ("?limit=1", Some((1, 0, 1))),
        ("?limit=100", Some((100, 0, 3))),
        ("?limit=2&offset=2", Some((2, 2, 1))),
        ("?offset=3", Some((20, 3, 0))),
        ("?offset=1000000", Some((20, 1_000_000, 0))),
        ("?offset=4294967295", Some((20, 4_294_967_295, 0))),
        ("?limit=0", None),
        ("?limit=-1", None),
        ("?limit=101", None),
        ("?limit=1e9", None),
        ("?limit=1000000000", None),
        ("?limit=18446744073709551616", None),
        ("?limit=abc", None),
        ("?limit=", None),
        ("?limit=1.5", None),
        ("?limit=%00", None),
        ("?limit=0x10", None),
        ("?offset=-1", None),
        ("?offset=1.5", None),
        ("?offset=4294967296", None),
        ("?offset=9223372036854775808", None),
        ("?offset=abc", None),
        ("?limit[$gt]=0", None),
        ("?limit%5B%24gt%5D=0", None),
        ("?offset[$ne]=1", None),
        ("?limit=%7B%22%24gt%22%3A0%7D", None),
        ("?limit[]=1", None),
        ("?limit=1&limit=2", None),
        ("?sort=title", None),
        ("?%24where=1", None),
        ("?limit=5&$where=sleep(1000)", None),
    ];
    for (query, page) in pages {
        let reply = api.list_blogs(Some(&callers.reader), query).await;
        let case = format!("GET /blogs{query}");
        let Some((limit, offset, items)) = page else {
            checks.expect(&case, &reply, 400);
            continue;
        };
        if checks.expect(&case, &reply, 200) {
            let body = &reply.body;
            if body["limit"] != limit
                || body["offset"] != offset
                || body["total"] != 3
                || body["items"].as_array().map(Vec::len) != Some(items)
            {
                checks.fail(&case, &format!("wrong page {}", shorten(&reply.text)));
            }
        }
    }
    // A token in the query string is not a credential (RFC 6750 advises against it), and it must
    // not end up in the request's span either (checked with the other secrets at the end).
    let reply = api
        .list_blogs(None, &format!("?access_token={}", callers.reader))
        .await;
    checks.expect("GET /blogs?access_token=<token>", &reply, 401);
}

/// Anything in an id's place that is not one of our ObjectIds names nothing: 404. Each goes on
/// the wire exactly as written (raw HTTP: a URL library would normalise `%2E%2E`).
async fn ids(platform: &Platform, callers: &Callers, checks: &mut Checks) {
    let api = &platform.api;
    let blog = api
        .post_blog(Some(&callers.writer), "Find me", "By id.")
        .await;
    assert_eq!(blog.status, 201, "{}", blog.text);
    let blog_id = blog.body["id"].as_str().unwrap().to_owned();
    let admin_id = subject_of(api, &callers.admin).await;
    for (service, collection, token, existing) in [
        ("blog", "/blogs", &callers.reader, &blog_id),
        ("user", "/users", &callers.admin, &admin_id),
    ] {
        let malformed: Vec<String> = vec![
            "000000000000000000000000".into(),
            "ffffffffffffffffffffffff".into(),
            "abc".into(),
            existing[..23].to_owned(),
            format!("{existing}0"),
            "zzzzzzzzzzzzzzzzzzzzzzzz".into(),
            percent_encode("ünïcödé".as_bytes()),
            percent_encode("😀😀😀😀😀😀".as_bytes()),
            percent_encode(br#"{"$ne":null}"#),
            "%24ne".into(),
            "%24where".into(),
            "%00".into(),
            format!("{existing}%00"),
            format!("{existing}%20"),
            "%FF".into(),
            format!("%FF{}", &existing[1..]),
            "%2E%2E".into(),
            "..%2F..%2Fusers".into(),
            "x".repeat(10_000),
            String::new(),
        ];
        let authorization = format!("Bearer {token}");
        let send = async |id: &str| {
            let path = format!("{collection}/{id}");
            let headers = [("Authorization", authorization.as_str())];
            let request = http_request("GET", &path, &headers, b"", false);
            api.send_raw(service, request).await
        };
        let reply = send(existing).await;
        checks.expect(&format!("GET {collection}/<existing id>"), &reply, 200);
        for id in malformed {
            let reply = send(&id).await;
            checks.expect(&format!("GET {collection}/{}", shorten(&id)), &reply, 404);
        }
    }
}

/// What is written is what is read back, by id, in the listing and in the database, to the byte:
/// no normalisation, no truncation at a NUL, no escaping.
async fn unicode_round_trips(platform: &Platform, callers: &Callers, checks: &mut Checks) {
    let api = &platform.api;
    let writer = &callers.writer;
    let reader = &callers.reader;
    let emoji_title = "😀".repeat(200);
    let texts: [(&str, &str); 9] = [
        (
            "📝 Notes ✨ 🧑🏽‍💻 👩‍👩‍👧‍👦 🏳️‍🌈",
            "Flags 🇫🇷🇯🇵, a keycap 1️⃣, a skin tone 👍🏿.",
        ),
        (
            "Cafe\u{301} n\u{303}o\u{308} Z\u{335}\u{321}a\u{300}",
            "Decomposed (NFD) stays decomposed: e\u{301} is not é.",
        ),
        (
            "مرحبا بالعالم",
            "שלום עולם, with overrides: \u{202e}txt.exe\u{202c} and \u{2067}isolated\u{2069}.",
        ),
        ("你好，世界 こんにちは 안녕하세요", "Beyond the BMP: 𠀀𪚥𝄞."),
        (
            "before\u{0}after",
            "NUL \u{0}, tab \t, CR LF \r\n, bell \u{7}, escape \u{1b}[31m.",
        ),
        (r#"{"$ne": null}"#, "$where: sleep(1000); db.users.drop()"),
        (
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)> &amp; \" ' \\ /",
        ),
        (
            "\u{feff}BOM \u{fffd} \u{ffff} \u{10ffff}",
            "Zero width: a\u{200b}b\u{200d}c\u{2060}d.",
        ),
        (
            &emoji_title,
            "Two hundred emoji are two hundred characters.",
        ),
    ];
    let mut round_trips = Vec::new();
    for (title, content) in texts {
        let reply = api.post_blog(Some(writer), title, content).await;
        if checks.expect(&format!("POST /blogs {:?}", shorten(title)), &reply, 201) {
            round_trips.push((
                reply.body["id"].as_str().unwrap().to_owned(),
                title,
                content,
            ));
        }
    }
    // JSON escapes, surrogate pairs included, arrive decoded.
    let escaped = api
        .execute(
            api.request("blog", Method::POST, "/blogs")
                .bearer_auth(writer)
                .header(CONTENT_TYPE, "application/json")
                .body(r#"{"title":"\ud83d\ude00 \u00e9 \u0000 \/","content":"\"\\\b\f\n\r\t"}"#),
        )
        .await;
    if checks.expect("POST /blogs with JSON escapes", &escaped, 201) {
        round_trips.push((
            escaped.body["id"].as_str().unwrap().to_owned(),
            "😀 é \u{0} /",
            "\"\\\u{8}\u{c}\n\r\t",
        ));
    }
    let listing = api.list_blogs(Some(reader), "?limit=100").await;
    let blogs = platform.mongo.collection("blogs").await;
    for (id, title, content) in &round_trips {
        let case = format!("round trip of {:?}", shorten(title));
        let fetched = api.get_blog(Some(reader), id).await;
        let listed = listing.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"] == id.as_str());
        let stored = blogs
            .find_one(doc! { "_id": mongodb::bson::oid::ObjectId::parse_str(id).unwrap() })
            .await
            .unwrap()
            .unwrap();
        let answers = [
            (
                "GET by id",
                fetched.body["title"].as_str(),
                fetched.body["content"].as_str(),
            ),
            (
                "the listing",
                listed.and_then(|item| item["title"].as_str()),
                listed.and_then(|item| item["content"].as_str()),
            ),
            (
                "the database",
                stored.get_str("title").ok(),
                stored.get_str("content").ok(),
            ),
        ];
        for (place, got_title, got_content) in answers {
            if got_title != Some(title) || got_content != Some(content) {
                checks.fail(
                    &case,
                    &format!("{place} has {got_title:?} / {got_content:?}"),
                );
            }
        }
    }
}

/// Titles and contents count Unicode scalar values: not bytes, not user-perceived characters.
async fn blog_lengths(platform: &Platform, callers: &Callers, checks: &mut Checks) {
    let api = &platform.api;
    let blog_lengths: Vec<(&str, String, String, u16)> = vec![
        ("title of 200 CJK", "字".repeat(200), "c".into(), 201),
        ("title of 201 emoji", "😀".repeat(201), "c".into(), 400),
        (
            "title of 100 e + U+0301 (200 scalars)",
            "e\u{301}".repeat(100),
            "c".into(),
            201,
        ),
        (
            "title of 100 e + U+0301 and an e (201 scalars)",
            format!("{}e", "e\u{301}".repeat(100)),
            "c".into(),
            400,
        ),
        ("title of 201 ASCII", "t".repeat(201), "c".into(), 400),
        ("empty title", String::new(), "c".into(), 400),
        (
            "title of Unicode white space",
            "\u{3000}\u{a0}\u{2003}\n\t ".into(),
            "c".into(),
            400,
        ),
        (
            "content of 20 000 ASCII",
            "t".into(),
            "c".repeat(20_000),
            201,
        ),
        (
            "content of 20 001 ASCII",
            "t".into(),
            "c".repeat(20_001),
            400,
        ),
        (
            "content of 20 000 CJK (60 000 bytes)",
            "t".into(),
            "字".repeat(20_000),
            201,
        ),
        (
            "content of 20 001 CJK",
            "t".into(),
            "字".repeat(20_001),
            400,
        ),
        // Within the character limit, but 80 000 bytes: the body limit comes first.
        (
            "content of 20 000 emoji (80 000 bytes)",
            "t".into(),
            "😀".repeat(20_000),
            413,
        ),
        ("empty content", "t".into(), String::new(), 400),
    ];
    let blogs_before = count(platform, "blogs").await;
    let mut blogs_created = 0;
    for (case, title, content, status) in blog_lengths {
        let reply = api.post_blog(Some(&callers.writer), &title, &content).await;
        if checks.expect(&format!("POST /blogs, {case}"), &reply, status) && status == 201 {
            blogs_created += 1;
            if reply.body["title"] != title.as_str() || reply.body["content"] != content.as_str() {
                checks.fail(case, "not stored as sent");
            }
        }
    }
    assert_eq!(count(platform, "blogs").await, blogs_before + blogs_created);
}

/// Usernames are 3-32 of `[A-Za-z0-9_.-]`, so no look-alike of the admin can be made; passwords
/// are 8-128 characters of anything, compared exactly (a NUL ends nothing). Returns the
/// passwords used, which nothing may echo.
async fn usernames_and_passwords(
    platform: &Platform,
    callers: &Callers,
    checks: &mut Checks,
) -> Vec<String> {
    let api = &platform.api;
    let admin = &callers.admin;
    let users_before = count(platform, "users").await;
    let mut users_created = 0;
    let usernames: Vec<(&str, String, u16)> = vec![
        ("32 characters", "u".repeat(32), 201),
        ("33 characters", "u".repeat(33), 400),
        ("Cyrillic look-alike", "rооt-admin".into(), 400),
        ("full-width look-alike", "ｒｏｏｔ-admin".into(), 400),
        ("combining accent", "root-admin\u{301}".into(), 400),
        ("zero-width space", "root\u{200b}-admin".into(), 400),
        ("trailing newline", "root-admin\n".into(), 400),
        ("NUL", "root-admin\u{0}".into(), 400),
        ("leading space", " root-admin".into(), 400),
        ("1 MiB", "u".repeat(MIB), 413),
    ];
    for (case, username, status) in usernames {
        let reply = api
            .create_user(admin, &username, "a-good-password-1", &["READ"])
            .await;
        if checks.expect(&format!("POST /users, username of {case}"), &reply, status)
            && status == 201
        {
            users_created += 1;
            if reply.body["username"] != username.as_str() {
                checks.fail(case, "not stored as sent");
            }
        }
    }

    let passwords: Vec<(&str, &str, String, u16)> = vec![
        ("emoji-128", "128 emoji", "🔑".repeat(128), 201),
        ("emoji-129", "129 emoji", "🔑".repeat(129), 400),
        (
            "with-nul",
            "a NUL inside",
            "nul\u{0}the-rest-counts-too".into(),
            201,
        ),
        (
            "rtl",
            "RTL and combining",
            "كلمة\u{202e}السر e\u{301}".into(),
            201,
        ),
        ("huge", "1 MiB", "p".repeat(MIB), 413),
    ];
    let mut secrets = vec!["a-good-password-1".to_owned()];
    for (username, case, password, status) in passwords {
        let reply = api.create_user(admin, username, &password, &["READ"]).await;
        if checks.expect(&format!("POST /users, password of {case}"), &reply, status)
            && status == 201
        {
            users_created += 1;
            let login = api.login(username, &password).await;
            checks.expect(&format!("login with a password of {case}"), &login, 200);
        }
        if password.len() < MIB {
            secrets.push(password);
        }
    }
    for (case, password) in [
        ("cut at the NUL", "nul"),
        ("up to and with the NUL", "nul\u{0}"),
    ] {
        let reply = api.login("with-nul", password).await;
        checks.expect(&format!("login with the NUL password {case}"), &reply, 401);
    }
    assert_eq!(count(platform, "users").await, users_before + users_created);
    secrets
}
