//! `POST /authorize`: 200 with the token's principal when it holds the permission, 401 when the
//! token is missing, invalid or revoked, 403 when it is valid but lacks the permission.
//! `POST /revocations`: authen-service's notice that the presented token was just logged out.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, State},
    http::{StatusCode, request::Parts},
};
use platform::{
    ApiError, Claims, Principal,
    author::AuthorizeRequest,
    extract::Json,
    openapi::{
        BadRequest, Forbidden, PayloadTooLarge, Unauthorized, Unavailable, UnsupportedMediaType,
    },
    token::TokenVerifier,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::revocations::RevocationList;

#[derive(Clone)]
struct AppState {
    verifier: Arc<TokenVerifier>,
    revocations: Arc<RevocationList>,
}

pub fn router(verifier: TokenVerifier, revocations: Arc<RevocationList>) -> OpenApiRouter {
    operations().with_state(AppState {
        verifier: Arc::new(verifier),
        revocations,
    })
}

/// The routes, each documented by its `#[utoipa::path]`.
fn operations() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(revoke))
}

/// Checks that the caller's token is valid, not revoked, and carries a permission.
///
/// The token is checked before the body is read: a caller without a usable token learns nothing
/// else.
#[utoipa::path(post, path = "/authorize", tag = "author",
    request_body = AuthorizeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token is valid and carries the permission.",
            body = Principal),
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType, Unavailable,
    ))]
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

/// Refuses the presented token from now on (authen-service's notice at logout).
///
/// Only a holder of the token can revoke it, and revoking twice is harmless: the call needs no
/// other credential. The durable record is authen-service's, in MongoDB.
#[utoipa::path(post, path = "/revocations", tag = "author",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is refused from now on."),
        Unauthorized,
    ))]
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

#[cfg(test)]
mod tests {
    use platform::openapi::checked_document;

    use super::operations;

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_operation() {
        checked_document(
            &crate::SERVICE,
            operations(),
            &[("post", "/authorize"), ("post", "/revocations")],
        );
    }
}
