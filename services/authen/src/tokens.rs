//! Signing access tokens and publishing the keys that check them.
//!
//! Tokens are signed with `JWT_PRIVATE_KEY` only. `JWT_PUBLIC_KEY` may list several keys during a
//! key rotation: the JWKS publishes them all, and logout accepts a token of any of them.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Header, jwk::JwkSet};
use platform::{
    ApiError, Claims, Permission, SettingsError,
    keys::{PublicKeys, SigningKey},
    settings::{TokenSettings, Variable, parse_var},
    token::TokenVerifier,
};
use tracing::Instrument;

/// Signs tokens with the service's private key.
pub struct TokenSigner {
    signing_key: SigningKey,
    public_keys: PublicKeys,
    settings: TokenSettings,
    ttl_seconds: u64,
}

/// Who a token is for.
pub struct Subject {
    pub id: String,
    pub username: String,
    pub permissions: Vec<Permission>,
}

impl TokenSigner {
    /// What [`from_env`](Self::from_env) reads besides `JWT_PUBLIC_KEY` and [`TokenSettings`].
    pub const VARIABLES: &[Variable] = &[
        Variable {
            name: "JWT_PRIVATE_KEY",
            default: Some("keys/private.pem"),
            help: "the RSA private key tokens are signed with, PKCS#8 or PKCS#1 PEM",
        },
        Variable {
            name: "JWT_TTL_SECONDS",
            default: Some("3600"),
            help: "how long a token it signs is valid, in seconds",
        },
    ];

    /// Reads `JWT_PRIVATE_KEY`, `JWT_PUBLIC_KEY`, `JWT_ISSUER`, `JWT_AUDIENCE` and `JWT_TTL_SECONDS`.
    pub fn from_env() -> Result<Self, SettingsError> {
        let (signing_key, public_keys) = SigningKey::from_env()?;
        let ttl_seconds = parse_var("JWT_TTL_SECONDS", 3600u64)?;
        if ttl_seconds == 0 {
            return Err(SettingsError::new("JWT_TTL_SECONDS", "must be at least 1"));
        }
        Ok(Self {
            signing_key,
            public_keys,
            settings: TokenSettings::from_env(),
            ttl_seconds,
        })
    }

    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// Every listed public key, the signing key's among them.
    pub fn jwks(&self) -> JwkSet {
        self.public_keys.jwks()
    }

    /// A verifier for the tokens of every listed key (for logout).
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::new(self.public_keys.clone(), &self.settings)
    }

    /// Signs a token for `subject` on the blocking pool: an RSA private-key operation takes about a
    /// millisecond of CPU, too long for an async worker.
    pub async fn sign(self: &std::sync::Arc<Self>, subject: Subject) -> Result<String, ApiError> {
        let signer = self.clone();
        let span = tracing::info_span!("token.sign", otel.kind = "internal");
        let work_span = span.clone();
        tokio::task::spawn_blocking(move || work_span.in_scope(|| signer.sign_blocking(subject)))
            .instrument(span)
            .await
            .map_err(|error| ApiError::Internal(format!("signing task failed: {error}")))?
    }

    fn sign_blocking(&self, subject: Subject) -> Result<String, ApiError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ApiError::Internal("the clock is before 1970".to_owned()))?
            .as_secs();
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: subject.id,
            username: subject.username,
            permissions: subject.permissions,
            iat: now,
            exp: now + self.ttl_seconds,
            nbf: None,
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(self.signing_key.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, self.signing_key.encoding_key())
            .map_err(|error| ApiError::Internal(format!("signing failed: {error}")))
    }
}
