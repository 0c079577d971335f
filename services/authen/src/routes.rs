//! `POST /login` and `GET /.well-known/jwks.json`.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use platform::{ApiError, extract::Json, password};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{
    store::Users,
    tokens::{Subject, TokenSigner},
};

#[derive(Clone)]
struct AppState {
    users: Users,
    signer: Arc<TokenSigner>,
}

pub fn router(users: Users, signer: TokenSigner) -> Router {
    let state = AppState {
        users,
        signer: Arc::new(signer),
    };
    Router::new()
        .route("/login", post(login))
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

/// Unknown user and wrong password get the same 401, after the same argon2 work.
async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let user = state.users.find_by_username(&request.username).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let verified = password::verify(request.password, stored_hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        tracing::info!("login refused");
        return Err(ApiError::InvalidCredentials);
    };
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

async fn jwks(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "keys": [state.signer.jwk()] }))
}
