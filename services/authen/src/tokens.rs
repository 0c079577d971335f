//! Signing access tokens and publishing the key that checks them.
//!
//! Signing uses `jsonwebtoken` on aws-lc-rs (constant-time RSA); the `rsa` crate only reads the
//! private key's public half, to check its size and that it matches `JWT_PUBLIC_KEY`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::{
    ApiError, Claims, Permission, SettingsError,
    cli::Variable,
    settings::{TokenSettings, parse_var, read_key_file},
    token::{Jwk, PublicKey, TokenVerifier},
};
use rsa::{RsaPrivateKey, RsaPublicKey, pkcs1::DecodeRsaPrivateKey, pkcs8::DecodePrivateKey};
use tracing::Instrument;

/// Signs tokens with the service's private key.
pub struct TokenSigner {
    encoding_key: EncodingKey,
    public_key: PublicKey,
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
            meaning: "the RSA private key tokens are signed with, PKCS#8 or PKCS#1 PEM (keys/private.pem)",
        },
        Variable {
            name: "JWT_TTL_SECONDS",
            meaning: "how long a token is valid (3600)",
        },
    ];

    /// Reads `JWT_PRIVATE_KEY`, `JWT_PUBLIC_KEY`, `JWT_ISSUER`, `JWT_AUDIENCE` and `JWT_TTL_SECONDS`.
    pub fn from_env() -> Result<Self, SettingsError> {
        const PRIVATE: &str = "JWT_PRIVATE_KEY";
        let pem = read_key_file(PRIVATE, "keys/private.pem")?;
        let private_key = RsaPrivateKey::from_pkcs8_pem(&pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
            .map_err(|_| {
                SettingsError::new(
                    PRIVATE,
                    "not an RSA private key in PKCS#8 or PKCS#1 PEM form",
                )
            })?;
        let derived = PublicKey::from_rsa(&RsaPublicKey::from(&private_key))
            .map_err(|reason| SettingsError::new(PRIVATE, reason))?;
        let public_key = PublicKey::from_env()?;
        if derived.jwk() != public_key.jwk() {
            return Err(SettingsError::new(
                "JWT_PUBLIC_KEY",
                "does not match JWT_PRIVATE_KEY; tokens would never verify",
            ));
        }
        let encoding_key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|error| SettingsError::new(PRIVATE, error.to_string()))?;
        let ttl_seconds = parse_var("JWT_TTL_SECONDS", 3600u64)?;
        if ttl_seconds == 0 {
            return Err(SettingsError::new("JWT_TTL_SECONDS", "must be at least 1"));
        }
        Ok(Self {
            encoding_key,
            public_key,
            settings: TokenSettings::from_env(),
            ttl_seconds,
        })
    }

    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    pub fn jwk(&self) -> &Jwk {
        self.public_key.jwk()
    }

    /// A verifier for the tokens this signer makes (for logout).
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::new(self.public_key.clone(), &self.settings)
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
        header.kid = Some(self.public_key.kid().to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding_key)
            .map_err(|error| ApiError::Internal(format!("signing failed: {error}")))
    }
}
