//! Tokens: only our own valid tokens get in, anywhere.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use e2e_tests::{ADMIN_PASSWORD, ADMIN_USERNAME, Api, Platform, generate_keys};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, ThumbprintHash},
};
use mongodb::bson::doc;
use reqwest::{
    Method, RequestBuilder,
    header::{AUTHORIZATION, HeaderValue},
};
use serde_json::{Value, json};

use crate::checks::*;

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
        // Signed with our key exactly as authen-service signs: the forgery that must get in.
        let good = ours.sign(&claims);
        let basic = STANDARD.encode(format!("{ADMIN_USERNAME}:{ADMIN_PASSWORD}"));
        let (within_8_kib, over_8_kib) = tokens_around(ours, &claims, 8 * 1024);
        let refused: Vec<Credential> = [
            malformed_headers(&good, &basic),
            wrong_algorithms_and_keys(ours, foreign, &claims, &good),
            wrong_claims(ours, &claims),
            mangled_tokens(&good, writer, &over_8_kib),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Controls: the same requests with tokens that are ours and valid get in, so a 401 above is
        // the token's doing.
        let admitted = vec![
            bearer("our key, forged like authen-service signs", &good),
            credential("lower-case `bearer`", format!("bearer {admin}")),
            credential("upper-case `BEARER`", format!("BEARER {admin}")),
            bearer("our valid token, header of at most 8 KiB", &within_8_kib),
        ];
        let secrets = [
            vec![basic],
            tokens_and_signatures(refused.iter().chain(&admitted)),
        ]
        .concat();
        Self {
            refused,
            admitted,
            secrets,
        }
    }
}

/// Authorization headers that are not one `Bearer` and one token; `good` is a valid token.
fn malformed_headers(good: &str, basic: &str) -> Vec<Credential> {
    vec![
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
        credential("a token without a scheme", good),
        credential("Basic with the admin's password", format!("Basic {basic}")),
        credential("scheme `Token`", format!("Token {good}")),
        credential("scheme `JWT`", format!("JWT {good}")),
        bearer("two tokens", &format!("{good} {good}")),
        credential("bytes that are not ASCII", {
            let mut header = format!("Bearer {good}").into_bytes();
            header.extend_from_slice(b"\xff\xfe");
            header
        }),
    ]
}

/// The administrator's `claims`, signed by another algorithm than RS256 or another key than
/// ours, or named by another `kid`: the classic JWT forgeries.
fn wrong_algorithms_and_keys(
    ours: &SigningKey,
    foreign: &SigningKey,
    claims: &Value,
    good: &str,
) -> Vec<Credential> {
    let alg_none = {
        let header = json!({ "alg": "none", "typ": "JWT", "kid": ours.kid });
        format!("{}.{}", b64(&header), b64(claims))
    };
    let hs256_public_key = jsonwebtoken::encode(
        &ours.header(Algorithm::HS256, Some(&ours.kid)),
        claims,
        &EncodingKey::from_secret(ours.public_pem.as_bytes()),
    )
    .unwrap();
    // The old trick of pointing `kid` at a file whose content is known (empty) to sign with it.
    let kid_traversal = jsonwebtoken::encode(
        &ours.header(Algorithm::HS256, Some("../../../../../../dev/null")),
        claims,
        &EncodingKey::from_secret(b""),
    )
    .unwrap();
    // A foreign key that ships itself in the header (CVE-2018-0114) or names where to fetch it.
    let embedded_jwk = {
        let mut header = foreign.header(Algorithm::RS256, Some(&ours.kid));
        header.jwk = Some(Jwk::from_encoding_key(&foreign.private, Algorithm::RS256).unwrap());
        foreign.sign_with(header, claims)
    };
    let jku = {
        let mut header = foreign.header(Algorithm::RS256, Some(&foreign.kid));
        header.jku = Some("http://127.0.0.1:1/.well-known/jwks.json".to_owned());
        foreign.sign_with(header, claims)
    };
    let ours_as =
        |algorithm, kid: Option<&str>| ours.sign_with(ours.header(algorithm, kid), claims);
    vec![
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
            &ours_as(Algorithm::RS512, Some(&ours.kid)),
        ),
        bearer(
            "PS256 with our key",
            &ours_as(Algorithm::PS256, Some(&ours.kid)),
        ),
        bearer(
            "our key, unknown kid",
            &ours_as(Algorithm::RS256, Some("key-2")),
        ),
        bearer("our key, no kid", &ours_as(Algorithm::RS256, None)),
        bearer(
            "foreign key, our kid",
            &foreign.sign_with(foreign.header(Algorithm::RS256, Some(&ours.kid)), claims),
        ),
        bearer("foreign key, its own kid", &foreign.sign(claims)),
        bearer("foreign key embedded as `jwk`", &embedded_jwk),
        bearer("foreign key named by `jku`", &jku),
    ]
}

/// Our key and algorithm, but claims that are out of date, missing or meant for someone else.
fn wrong_claims(ours: &SigningKey, claims: &Value) -> Vec<Credential> {
    let changed = [
        ("expired 60 s ago", with(claims, "exp", json!(now() - 60))),
        ("nbf 120 s ahead", with(claims, "nbf", json!(now() + 120))),
        ("iat 120 s ahead", with(claims, "iat", json!(now() + 120))),
        ("no exp", without(claims, "exp")),
        ("wrong issuer", with(claims, "iss", json!("someone-else"))),
        ("wrong audience", with(claims, "aud", json!("another-api"))),
    ];
    changed
        .into_iter()
        .map(|(name, claims)| bearer(name, &ours.sign(&claims)))
        .collect()
}

/// Tokens cut, tampered with, or not tokens at all; `writer` is a real token of a writer.
fn mangled_tokens(good: &str, writer: &str, over_8_kib: &str) -> Vec<Credential> {
    // The writer's real token with ADMIN in its payload, under its original signature.
    let tampered = {
        let parts: Vec<&str> = writer.split('.').collect();
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let escalated = with(&payload, "permissions", json!(["READ", "WRITE", "ADMIN"]));
        format!("{}.{}.{}", parts[0], b64(&escalated), parts[2])
    };
    vec![
        bearer("tampered payload (escalated permissions)", &tampered),
        bearer("truncated signature", &good[..good.len() - 10]),
        bearer("no signature", good.rsplit_once('.').unwrap().0),
        bearer("garbage", "not.a.token"),
        bearer("three empty parts", ".."),
        bearer("not base64", "!!!.???.###"),
        bearer("random base64", &URL_SAFE_NO_PAD.encode([0x5a_u8; 300])),
        bearer("our valid token, header over 8 KiB", over_8_kib),
        bearer("64 KiB of garbage", &"A".repeat(64 * 1024)),
    ]
}

/// The tokens the credentials carry, and their signatures: what no answer, log or span may
/// repeat. The garbage cases (no dots, or short) are no secrets.
fn tokens_and_signatures<'a>(credentials: impl Iterator<Item = &'a Credential>) -> Vec<String> {
    let mut secrets = Vec::new();
    for header in credentials.flat_map(|credential| &credential.headers) {
        let header = String::from_utf8_lossy(header);
        let token = header.split_once(' ').map_or(&*header, |(_, token)| token);
        if token.contains('.') {
            for secret in [token, token.rsplit('.').next().unwrap()] {
                if secret.len() >= 20 {
                    secrets.push(secret.to_owned());
                }
            }
        }
    }
    secrets
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
