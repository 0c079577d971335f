//! `POST /login` and `GET /.well-known/jwks.json`.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use platform::{
    ApiError,
    extract::Json,
    openapi::{BadRequest, PayloadTooLarge, Unavailable, UnsupportedMediaType},
    password,
    problem::Problem,
    token::Jwk,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    store::Users,
    tokens::{Subject, TokenSigner},
};

#[derive(Clone)]
struct AppState {
    users: Users,
    signer: Arc<TokenSigner>,
}

pub fn router(users: Users, signer: TokenSigner) -> OpenApiRouter {
    let state = AppState {
        users,
        signer: Arc::new(signer),
    };
    operations().with_state(state)
}

/// The routes, each documented by its `#[utoipa::path]`.
fn operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
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

/// The keys that verify access tokens (RFC 7517).
#[derive(Serialize, ToSchema)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// Logs in: an access token for a username and password.
///
/// Unknown user and wrong password get the same 401, after the same argon2 work.
#[utoipa::path(post, path = "/login", tag = "authen",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "The credentials are right.", body = TokenResponse,
            headers(("Cache-Control" = String, description = "Always `no-store`: the body is a token."))),
        BadRequest,
        (status = 401, description = "Unknown user or wrong password (one answer for both).",
            body = Problem, content_type = "application/problem+json"),
        PayloadTooLarge, UnsupportedMediaType, Unavailable,
    ))]
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

/// The public key that verifies access tokens, as a JWKS.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "authen",
    responses((status = 200, description = "The JWKS.", body = Jwks)))]
async fn jwks(State(state): State<AppState>) -> axum::Json<Jwks> {
    axum::Json(Jwks {
        keys: vec![state.signer.jwk().clone()],
    })
}

#[cfg(test)]
mod tests {
    use platform::{Readiness, server::with_shared_routes};
    use serde_json::Value;

    use super::operations;

    fn document() -> Value {
        with_shared_routes(&crate::SERVICE, operations(), Readiness::default()).1
    }

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_operation() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["title"], "authen-service");
        for (method, path) in [
            ("post", "/login"),
            ("get", "/.well-known/jwks.json"),
            ("get", "/healthz"),
            ("get", "/readyz"),
            ("get", "/openapi.json"),
        ] {
            let operation = &document["paths"][path][method];
            assert!(
                operation["responses"].is_object(),
                "{method} {path} is missing"
            );
        }
    }
}
