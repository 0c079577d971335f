//! `POST /login`, `POST /logout` and `GET /.well-known/jwks.json`.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use jsonwebtoken::jwk::JwkSet;
use platform::{
    ApiError, AuthorClient,
    extract::Json,
    openapi::{
        BadRequest, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
        UnsupportedMediaType,
    },
    password,
    problem::Problem,
    token::TokenVerifier,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ArrayBuilder, ObjectBuilder, RefOr, Schema, Type},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    client_address::TrustedProxies,
    limiter::LoginLimiter,
    store::{Revocations, Users},
    tokens::{Subject, TokenSigner},
};

#[derive(Clone)]
pub struct AppState {
    pub users: Users,
    pub revocations: Revocations,
    pub signer: Arc<TokenSigner>,
    pub verifier: Arc<TokenVerifier>,
    pub limiter: Arc<LoginLimiter>,
    pub proxies: Arc<TrustedProxies>,
    pub author: AuthorClient,
}

pub fn router(state: AppState) -> OpenApiRouter {
    operations().with_state(state)
}

/// The routes, each documented by its `#[utoipa::path]`.
fn operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(jwks))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

#[derive(Serialize, ToSchema)]
struct TokenResponse {
    /// An RS256 JWT for `Authorization: Bearer ...`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
}

/// The keys that verify access tokens (RFC 7517): `jsonwebtoken`'s `JwkSet` as the JWKS serves
/// it, described for the OpenAPI document.
struct Jwks;

/// The members of each key in the JWKS, with what they hold.
const JWK_MEMBERS: [(&str, &str); 6] = [
    ("kty", "Always `RSA`."),
    (
        "kid",
        "The key's RFC 7638 thumbprint, as in the tokens' `kid` header.",
    ),
    ("use", "Always `sig`."),
    ("alg", "Always `RS256`."),
    ("n", "The modulus, base64url."),
    ("e", "The public exponent, base64url."),
];

impl PartialSchema for Jwks {
    fn schema() -> RefOr<Schema> {
        let mut key = ObjectBuilder::new()
            .description(Some("An RSA public key that verifies RS256 signatures."));
        for (member, description) in JWK_MEMBERS {
            let text = ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description));
            key = key.property(member, text).required(member);
        }
        ObjectBuilder::new()
            .property("keys", ArrayBuilder::new().items(key))
            .required("keys")
            .into()
    }
}

impl ToSchema for Jwks {}

/// Logs in: an access token for a username and password.
///
/// Unknown user and wrong password get the same 401, after the same argon2 work. Failed attempts
/// are limited (see `limiter`); a limited attempt is refused before its password is checked.
#[utoipa::path(post, path = "/login", tag = "authen",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "The credentials are right.", body = TokenResponse,
            headers(("Cache-Control" = String, description = "Always `no-store`: the body is a token."))),
        BadRequest,
        (status = 401, description = "Unknown user or wrong password (one answer for both).",
            body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Always `Bearer`."))),
        PayloadTooLarge, UnsupportedMediaType, TooManyRequests, Unavailable,
    ))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let address = state.proxies.client_address(peer.ip(), &headers);
    state.limiter.check(&request.username, address)?;
    let user = state.users.find_by_username(&request.username).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let verified = password::verify(request.password, stored_hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        state.limiter.record_failure(&request.username, address);
        tracing::info!("login refused");
        return Err(ApiError::InvalidCredentials);
    };
    state.limiter.record_success(&request.username, address);
    let access_token = state
        .signer
        .sign(Subject {
            id: user.id.to_hex(),
            username: user.username,
            permissions: user.permissions,
        })
        .await?;
    let mut response = axum::Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.signer.ttl_seconds(),
    })
    .into_response();
    // RFC 6749 §5.1: responses carrying tokens must not be cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Logs out: revokes the presented token until it expires.
///
/// The revocation is durable once MongoDB has it; author-service is then told at once, and would
/// otherwise find it at its next poll (within a second or two), so an author-service that cannot
/// be reached does not fail the logout.
#[utoipa::path(post, path = "/logout", tag = "authen",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked until it expires."),
        Unauthorized, Unavailable,
    ))]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let claims = state.verifier.verify_request(&headers)?;
    state.revocations.record(&claims.jti, claims.exp).await?;
    if let Some(authorization) = platform::token::authorization(&headers) {
        state.author.revoke(authorization).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The public keys that verify access tokens, as a JWKS: the signing key and, during a key
/// rotation, the others `JWT_PUBLIC_KEY` lists.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "authen",
    responses((status = 200, description = "The JWKS.", body = Jwks)))]
async fn jwks(State(state): State<AppState>) -> axum::Json<JwkSet> {
    axum::Json(state.signer.jwks())
}

#[cfg(test)]
mod tests {
    use e2e_tests::openapi::checked_document;

    use super::operations;

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_operation() {
        checked_document(
            &crate::SERVICE,
            operations(),
            &[
                ("post", "/login"),
                ("post", "/logout"),
                ("get", "/.well-known/jwks.json"),
            ],
        );
    }
}
