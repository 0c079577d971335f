//! `POST /authorize`: 200 with the token's principal when it holds the permission, 401 when the
//! token is missing, invalid or revoked, 403 when it is valid but lacks the permission.
//! `POST /revocations`: authen-service's notice that the presented token was just logged out.

use std::sync::Arc;

use axum::{
    Router,
    extract::{FromRequestParts, State},
    http::{StatusCode, request::Parts},
    routing::post,
};
use platform::{
    ApiError, Claims, Principal, author::AuthorizeRequest, extract::Json, token::TokenVerifier,
};

use crate::revocations::RevocationList;

#[derive(Clone)]
struct AppState {
    verifier: Arc<TokenVerifier>,
    revocations: Arc<RevocationList>,
}

pub fn router(verifier: TokenVerifier, revocations: Arc<RevocationList>) -> Router {
    Router::new()
        .route("/authorize", post(authorize))
        .route("/revocations", post(revoke))
        .with_state(AppState {
            verifier: Arc::new(verifier),
            revocations,
        })
}

async fn authorize(
    CurrentToken(claims): CurrentToken,
    Json(request): Json<AuthorizeRequest>,
) -> Result<axum::Json<Principal>, ApiError> {
    if !claims.permissions.contains(&request.permission) {
        return Err(ApiError::Forbidden);
    }
    Ok(axum::Json(Principal {
        sub: claims.sub,
        username: claims.username,
        permissions: claims.permissions,
    }))
}

/// Only a holder of the token can revoke it, and revoking twice is harmless: the call needs no
/// other credential. The durable record is authen-service's, in MongoDB.
async fn revoke(State(state): State<AppState>, SignedToken(claims): SignedToken) -> StatusCode {
    state.revocations.insert(claims.jti, claims.exp);
    StatusCode::NO_CONTENT
}

/// The claims of a correctly signed, unexpired bearer token for us, revoked or not.
struct SignedToken(Claims);

impl FromRequestParts<AppState> for SignedToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.verifier.verify_request(&parts.headers).map(Self)
    }
}

/// A [`SignedToken`] that has not been revoked. Checked before the body is read: a caller without
/// a usable token learns nothing else.
struct CurrentToken(Claims);

impl FromRequestParts<AppState> for CurrentToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let SignedToken(claims) = SignedToken::from_request_parts(parts, state).await?;
        match state.revocations.is_revoked(&claims.jti) {
            Ok(false) => Ok(Self(claims)),
            Ok(true) => {
                tracing::debug!("token refused: revoked");
                Err(ApiError::Unauthorized)
            }
            Err(_) => Err(ApiError::Unavailable("the list of revoked tokens")),
        }
    }
}
