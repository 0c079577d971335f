//! Access tokens: the claims, the public keys that check them, and the verification rules of
//! docs/api.md (RS256 only; signature, `alg`, `kid`, `exp`, `nbf`, `iss`, `aud`; 30 s leeway), with
//! two of our own: a token issued in the future (`iat`) is refused like one not yet valid, and an
//! `Authorization` header over 8 KiB is refused unread.
//!
//! The keys themselves are read in [`crate::keys`].

use std::{
    collections::HashSet,
    fmt,
    str::FromStr,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::http::{HeaderMap, HeaderValue, header};
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

use crate::{ApiError, keys::PublicKeys, settings::TokenSettings};

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
    /// Read blogs.
    Read,
    /// Write blogs.
    Write,
    /// Manage users.
    Admin,
}

impl Permission {
    /// Every permission there is.
    pub const ALL: [Permission; 3] = [Permission::Read, Permission::Write, Permission::Admin];

    /// The permission's name in tokens and in the API: `READ`, `WRITE`, `ADMIN`.
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
    /// The issuer, `JWT_ISSUER`.
    pub iss: String,
    /// The audience, `JWT_AUDIENCE`.
    pub aud: String,
    /// The user's id: a 24-hex ObjectId.
    pub sub: String,
    /// The user's name.
    pub username: String,
    /// What the token allows.
    pub permissions: Vec<Permission>,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: u64,
    /// Not valid before, in seconds since the Unix epoch, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The token's unique id, which logout revokes.
    pub jti: String,
}

/// Why a token was refused. Only logged (at debug level): the client always gets a plain 401.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Its `kid` names none of the public keys.
    #[error("the token names key {0:?}, which is not ours")]
    UnknownKey(String),
    /// It has no `kid`.
    #[error("the token has no key id")]
    MissingKey,
    /// Its `iat` lies beyond the leeway in the future.
    #[error("the token was issued in the future")]
    IssuedInTheFuture,
    /// jsonwebtoken refused it: signature, expiry, issuer, audience or format.
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

/// Checks tokens against the public keys and the configured issuer and audience.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: PublicKeys,
    validation: Validation,
}

impl TokenVerifier {
    /// A verifier that accepts RS256 tokens signed by any of `keys`, for `settings`' issuer and
    /// audience.
    pub fn new(keys: PublicKeys, settings: &TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.required_spec_claims =
            HashSet::from(["exp", "iss", "aud", "sub"].map(str::to_owned));
        Self { keys, validation }
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
        let kid = header.kid.ok_or(TokenError::MissingKey)?;
        let key = self.keys.find(&kid).ok_or(TokenError::UnknownKey(kid))?;
        let data = jsonwebtoken::decode::<Claims>(token, key.decoding_key(), &self.validation)?;
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
}
