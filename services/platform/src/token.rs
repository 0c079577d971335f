//! Access tokens: the claims, the public key that checks them, and the verification rules of the
//! contract (RS256 only; signature, `alg`, `kid`, `exp`, `nbf`, `iss`, `aud`; 30 s leeway), with
//! two of our own: a token issued in the future (`iat`) is refused like one not yet valid, and an
//! `Authorization` header over 8 KiB is refused unread.
//!
//! The `rsa` crate does the public-key work only (size check, JWK `n`/`e`, thumbprint). Signing
//! lives in authen-service on `jsonwebtoken`'s aws-lc-rs backend, because the `rsa` crate's
//! private-key operations carry an open timing advisory (RUSTSEC-2023-0071).

use std::{
    collections::HashSet,
    fmt,
    str::FromStr,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::{
    RsaPublicKey, pkcs1::DecodeRsaPublicKey, pkcs8::DecodePublicKey, traits::PublicKeyParts,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    ApiError,
    settings::{SettingsError, TokenSettings},
};

/// The smallest RSA modulus the contract accepts.
pub const MIN_RSA_BITS: usize = 2048;

/// How far `exp`, `nbf` and `iat` may be off, for clocks that drift between machines.
pub const LEEWAY_SECONDS: u64 = 30;

/// The longest `Authorization` header value read. Our tokens take under 1 KiB; a longer header is
/// refused before any base64 decoding or signature check is spent on it (and 8 KiB is what common
/// proxies accept for a header line).
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// What a token may allow.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Permission {
    Read,
    Write,
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::Read, Permission::Write, Permission::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
            .ok_or(())
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user's id: a 24-hex ObjectId.
    pub sub: String,
    pub username: String,
    pub permissions: Vec<Permission>,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
}

/// An RSA public key that verifies tokens, with the `kid` and JWK derived from it.
#[derive(Clone)]
pub struct PublicKey {
    kid: String,
    jwk: Jwk,
    decoding_key: DecodingKey,
}

/// One entry of a JWKS document (RFC 7517): an RSA key that verifies RS256 signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// The key's RFC 7638 thumbprint, as in the tokens' `kid` header.
    pub kid: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub usage: String,
    /// Always `RS256`.
    pub alg: String,
    /// The modulus, base64url.
    pub n: String,
    /// The public exponent, base64url.
    pub e: String,
}

impl PublicKey {
    /// Parses an SPKI ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY") PEM and checks its size.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let key = RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|_| "not an RSA public key in PEM form".to_owned())?;
        Self::from_rsa(&key)
    }

    /// Reads the key named by `JWT_PUBLIC_KEY` (default `keys/public.pem`).
    pub fn from_env() -> Result<Self, SettingsError> {
        const VARIABLE: &str = "JWT_PUBLIC_KEY";
        let pem = crate::settings::read_key_file(VARIABLE, "keys/public.pem")?;
        Self::from_pem(&pem).map_err(|reason| SettingsError::new(VARIABLE, reason))
    }

    pub fn from_rsa(key: &RsaPublicKey) -> Result<Self, String> {
        let bits = key.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
            ));
        }
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        let kid = thumbprint(&n, &e);
        let decoding_key = DecodingKey::from_rsa_components(&n, &e)
            .map_err(|error| format!("unusable RSA key: {error}"))?;
        let jwk = Jwk {
            kty: "RSA".to_owned(),
            kid: kid.clone(),
            usage: "sig".to_owned(),
            alg: "RS256".to_owned(),
            n,
            e,
        };
        Ok(Self {
            kid,
            jwk,
            decoding_key,
        })
    }

    /// The key id: its RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, without white space.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Why a token was refused. Only logged (at debug level): the client always gets a plain 401.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token names key {0:?}, which is not ours")]
    UnknownKey(String),
    #[error("the token has no key id")]
    MissingKey,
    #[error("the token was issued in the future")]
    IssuedInTheFuture,
    #[error(transparent)]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

impl TokenError {
    /// The refusal's kind, for the `token.verify` span's `error.type`: a fixed set of names, never
    /// anything taken from the token itself.
    pub fn kind(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind;
        match self {
            Self::UnknownKey(_) => "unknown_key",
            Self::MissingKey => "missing_key",
            Self::IssuedInTheFuture => "issued_in_the_future",
            Self::Invalid(error) => match error.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::ImmatureSignature => "not_yet_valid",
                ErrorKind::InvalidSignature => "invalid_signature",
                ErrorKind::InvalidIssuer => "invalid_issuer",
                ErrorKind::InvalidAudience => "invalid_audience",
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "invalid_algorithm",
                ErrorKind::MissingRequiredClaim(_) => "missing_claim",
                _ => "malformed",
            },
        }
    }
}

/// Checks tokens against one public key and the configured issuer and audience.
#[derive(Clone)]
pub struct TokenVerifier {
    key: PublicKey,
    validation: Validation,
}

impl TokenVerifier {
    pub fn new(key: PublicKey, settings: &TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.required_spec_claims =
            HashSet::from(["exp", "iss", "aud", "sub"].map(str::to_owned));
        Self { key, validation }
    }

    /// Verifies a compact JWS and returns its claims. Runs inline: an RS256 check costs tens of
    /// microseconds, cheaper than a hop to the blocking pool.
    /// The `token.verify` span is marked failed when the token is refused, with the reason's
    /// [`TokenError::kind`] as its `error.type`.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let span = tracing::info_span!(
            "token.verify",
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let _entered = span.enter();
        let verified = self.check(token);
        if let Err(error) = &verified {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", error.kind());
        }
        verified
    }

    fn check(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        match header.kid.as_deref() {
            Some(kid) if kid == self.key.kid() => {}
            Some(kid) => return Err(TokenError::UnknownKey(kid.to_owned())),
            None => return Err(TokenError::MissingKey),
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key.decoding_key, &self.validation)?;
        // jsonwebtoken checks `exp` and `nbf` but not `iat`. A token that says it was issued later
        // than now (beyond the leeway) comes from a wrong clock or a forger: not yet valid either.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        if data.claims.iat > now.saturating_add(LEEWAY_SECONDS) {
            return Err(TokenError::IssuedInTheFuture);
        }
        Ok(data.claims)
    }
}

impl TokenVerifier {
    /// The claims of the request's `Authorization: Bearer` token; 401 for a missing or refused one.
    /// Why a token was refused is logged at debug level only.
    pub fn verify_request(&self, headers: &HeaderMap) -> Result<Claims, ApiError> {
        let token = authorization(headers)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthorized)?;
        self.verify(token).map_err(|reason| {
            tracing::debug!(%reason, "token refused");
            ApiError::Unauthorized
        })
    }
}

/// The request's one `Authorization` header. `None` when there are several: which one a proxy or
/// another service would read is anyone's guess, so none is trusted.
pub fn authorization(headers: &HeaderMap) -> Option<&HeaderValue> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// The token in an `Authorization: Bearer <token>` header value; the scheme is case-insensitive.
/// `None` for any other scheme, no token, or a value over [`MAX_AUTHORIZATION_BYTES`].
pub fn bearer_token(authorization: &str) -> Option<&str> {
    if authorization.len() > MAX_AUTHORIZATION_BYTES {
        return None;
    }
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[test]
    fn two_authorization_headers_are_none() {
        let mut headers = HeaderMap::new();
        assert_eq!(authorization(&headers), None);
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        assert_eq!(
            authorization(&headers),
            Some(&HeaderValue::from_static("Bearer a"))
        );
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(authorization(&headers), None);
    }

    #[test]
    fn authorization_over_8_kib_is_not_read() {
        let token = "t".repeat(MAX_AUTHORIZATION_BYTES - "Bearer ".len());
        let at_limit = format!("Bearer {token}");
        assert_eq!(bearer_token(&at_limit), Some(token.as_str()));
        assert_eq!(bearer_token(&format!("{at_limit}t")), None);
    }

    #[test]
    fn permissions_round_trip_as_upper_case() {
        let json = serde_json::to_string(&Permission::ALL).unwrap();
        assert_eq!(json, r#"["READ","WRITE","ADMIN"]"#);
        assert_eq!("WRITE".parse(), Ok(Permission::Write));
        assert_eq!("write".parse::<Permission>(), Err(()));
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // The example key of RFC 7638, section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
