//! `POST /login`, `POST /logout` and `GET /.well-known/jwks.json`.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use platform::{ApiError, AuthorClient, extract::Json, password, token::TokenVerifier};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{
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
    pub author: AuthorClient,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: SecretString,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// Unknown user and wrong password get the same 401, after the same argon2 work. Failed attempts
/// are limited (see `limiter`); a limited attempt is refused before its password is checked.
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let address = peer.ip();
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

/// Revokes the presented token until it expires. The revocation is durable once MongoDB has it;
/// author-service is then told at once, and would otherwise find it at its next poll (within a
/// second or two), so an author-service that cannot be reached does not fail the logout.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let claims = state.verifier.verify_request(&headers)?;
    state.revocations.record(&claims.jti, claims.exp).await?;
    if let Some(authorization) = platform::token::authorization(&headers) {
        state.author.revoke(authorization).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn jwks(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "keys": [state.signer.jwk()] }))
}
