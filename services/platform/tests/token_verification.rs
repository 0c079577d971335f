//! Every way a token can be wrong is refused (RFC 8725), and a right one is accepted.

use std::{
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::{
    Claims, Permission,
    keys::{PublicKey, PublicKeys},
    settings::TokenSettings,
    token::{TokenError, TokenVerifier},
};

struct KeyPair {
    private_pem: String,
    public_pem: String,
}

/// A fresh 2048-bit pair from the project's own scripts/gen-keys.sh.
fn generate() -> KeyPair {
    let dir = std::env::temp_dir().join(format!("token-tests-{}-{}", std::process::id(), unique()));
    launcher::keys::generate(&dir).unwrap_or_else(|error| panic!("{error}"));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let pair = KeyPair {
        private_pem: read("private.pem"),
        public_pem: read("public.pem"),
    };
    std::fs::remove_dir_all(dir).unwrap();
    pair
}

fn unique() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn ours() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(generate)
}

fn foreign() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(generate)
}

fn settings() -> TokenSettings {
    TokenSettings {
        issuer: "blog-authen".into(),
        audience: "blog-api".into(),
    }
}

fn verifier() -> TokenVerifier {
    verifier_of(&[ours()])
}

/// A verifier that accepts the tokens of each of `pairs`, as during a key rotation.
fn verifier_of(pairs: &[&KeyPair]) -> TokenVerifier {
    let keys: PublicKeys = pairs
        .iter()
        .map(|pair| PublicKey::from_pem(&pair.public_pem).unwrap())
        .collect();
    TokenVerifier::new(keys, &settings())
}

fn kid() -> String {
    PublicKey::from_pem(&ours().public_pem)
        .unwrap()
        .kid()
        .to_owned()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Claims {
    Claims {
        iss: "blog-authen".into(),
        aud: "blog-api".into(),
        sub: "65f000000000000000000001".into(),
        username: "alice".into(),
        permissions: vec![Permission::Read],
        iat: now(),
        exp: now() + 600,
        nbf: None,
        jti: "0123456789abcdef".into(),
    }
}

fn sign_with(claims: &Claims, private_pem: &str, kid: Option<String>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid;
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn sign(claims: &Claims) -> String {
    sign_with(claims, &ours().private_pem, Some(kid()))
}

fn b64(json: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
}

#[test]
fn a_valid_token_is_accepted_with_its_claims() {
    let claims = claims();
    assert_eq!(verifier().verify(&sign(&claims)).unwrap(), claims);
}

#[test]
fn clocks_may_drift_by_up_to_30_seconds() {
    let mut slightly_expired = claims();
    slightly_expired.exp = now() - 10;
    assert!(verifier().verify(&sign(&slightly_expired)).is_ok());
    let mut slightly_early = claims();
    slightly_early.nbf = Some(now() + 10);
    assert!(verifier().verify(&sign(&slightly_early)).is_ok());
    let mut issued_slightly_late = claims();
    issued_slightly_late.iat = now() + 10;
    assert!(verifier().verify(&sign(&issued_slightly_late)).is_ok());
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let mut expired = claims();
    expired.exp = now() - 60;
    assert!(verifier().verify(&sign(&expired)).is_err());
    let mut early = claims();
    early.nbf = Some(now() + 120);
    assert!(verifier().verify(&sign(&early)).is_err());
    // Issued in the future: not yet valid either, though `nbf` is absent.
    let mut from_the_future = claims();
    from_the_future.iat = now() + 120;
    from_the_future.exp = now() + 720;
    assert!(verifier().verify(&sign(&from_the_future)).is_err());
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let mut issuer = claims();
    issuer.iss = "someone-else".into();
    assert!(verifier().verify(&sign(&issuer)).is_err());
    let mut audience = claims();
    audience.aud = "another-api".into();
    assert!(verifier().verify(&sign(&audience)).is_err());
}

#[test]
fn alg_none_is_refused() {
    let header = serde_json::json!({ "alg": "none", "typ": "JWT", "kid": kid() });
    let payload = serde_json::to_value(claims()).unwrap();
    for token in [
        format!("{}.{}.", b64(&header), b64(&payload)),
        format!("{}.{}", b64(&header), b64(&payload)),
    ] {
        assert!(verifier().verify(&token).is_err(), "{token}");
    }
}

#[test]
fn tokens_of_every_listed_key_are_accepted_and_no_others() {
    let foreign_kid = PublicKey::from_pem(&foreign().public_pem)
        .unwrap()
        .kid()
        .to_owned();
    let claims = claims();
    let ours_token = sign(&claims);
    let foreign_token = sign_with(&claims, &foreign().private_pem, Some(foreign_kid));
    let both = verifier_of(&[ours(), foreign()]);
    assert_eq!(both.verify(&ours_token).unwrap(), claims);
    assert_eq!(both.verify(&foreign_token).unwrap(), claims);
    // Once a key is no longer listed, its tokens are refused, and the other key's still pass.
    let foreign_only = verifier_of(&[foreign()]);
    assert!(matches!(
        foreign_only.verify(&ours_token),
        Err(TokenError::UnknownKey(_))
    ));
    assert!(foreign_only.verify(&foreign_token).is_ok());
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid());
    let token = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(ours().public_pem.as_bytes()),
    )
    .unwrap();
    assert!(verifier().verify(&token).is_err());
}

#[test]
fn a_foreign_key_is_refused_even_when_it_claims_our_kid() {
    assert!(
        verifier()
            .verify(&sign_with(&claims(), &foreign().private_pem, Some(kid())))
            .is_err()
    );
    let foreign_kid = PublicKey::from_pem(&foreign().public_pem)
        .unwrap()
        .kid()
        .to_owned();
    assert!(
        verifier()
            .verify(&sign_with(
                &claims(),
                &foreign().private_pem,
                Some(foreign_kid)
            ))
            .is_err()
    );
}

#[test]
fn unknown_or_missing_kid_is_refused_even_with_a_good_signature() {
    assert!(
        verifier()
            .verify(&sign_with(
                &claims(),
                &ours().private_pem,
                Some("other-key".into())
            ))
            .is_err()
    );
    assert!(
        verifier()
            .verify(&sign_with(&claims(), &ours().private_pem, None))
            .is_err()
    );
}

#[test]
fn a_tampered_payload_is_refused() {
    let token = sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let mut escalated = claims();
    escalated.permissions = vec![Permission::Read, Permission::Write, Permission::Admin];
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_value(escalated).unwrap()),
        parts[2]
    );
    assert!(verifier().verify(&forged).is_err());
}

#[test]
fn truncated_and_garbage_tokens_are_refused() {
    let token = sign(&claims());
    for bad in [
        &token[..token.len() - 10],
        token.rsplit_once('.').unwrap().0,
        "",
        "garbage",
        "a.b.c",
        "....",
    ] {
        assert!(verifier().verify(bad).is_err(), "{bad:?}");
    }
}
