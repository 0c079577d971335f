//! `POST /authorize`: 200 with the token's principal when it holds the permission, 401 when the
//! token is missing or invalid, 403 when it is valid but lacks the permission.

use std::sync::Arc;

use axum::{
    Router,
    extract::FromRequestParts,
    http::{header, request::Parts},
    routing::post,
};
use platform::{
    ApiError, Claims, Principal,
    author::AuthorizeRequest,
    extract::Json,
    token::{TokenVerifier, bearer_token},
};

pub fn router(verifier: TokenVerifier) -> Router {
    Router::new()
        .route("/authorize", post(authorize))
        .with_state(Arc::new(verifier))
}

async fn authorize(
    VerifiedToken(claims): VerifiedToken,
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

/// The claims of the request's bearer token, checked before the body is read: a caller without a
/// valid token learns nothing else.
struct VerifiedToken(Claims);

impl FromRequestParts<Arc<TokenVerifier>> for VerifiedToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        verifier: &Arc<TokenVerifier>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthorized)?;
        let claims = verifier.verify(token).map_err(|reason| {
            tracing::debug!(%reason, "token refused");
            ApiError::Unauthorized
        })?;
        Ok(Self(claims))
    }
}
