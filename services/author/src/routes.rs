//! `POST /authorize`: 200 with the token's principal when it holds the permission, 401 when the
//! token is missing or invalid, 403 when it is valid but lacks the permission.

use std::sync::Arc;

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use platform::{
    ApiError, Claims, Principal,
    author::AuthorizeRequest,
    extract::Json,
    openapi::{BadRequest, Forbidden, PayloadTooLarge, Unauthorized, UnsupportedMediaType},
    token::{TokenVerifier, bearer_token},
};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router(verifier: TokenVerifier) -> OpenApiRouter {
    operations().with_state(Arc::new(verifier))
}

/// The routes, each documented by its `#[utoipa::path]`.
fn operations() -> OpenApiRouter<Arc<TokenVerifier>> {
    OpenApiRouter::new().routes(routes!(authorize))
}

/// Checks that the caller's token is valid and carries a permission.
///
/// The token is checked before the body is read: a caller without a valid token learns nothing
/// else.
#[utoipa::path(post, path = "/authorize", tag = "author",
    request_body = AuthorizeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token is valid and carries the permission.",
            body = Principal),
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType,
    ))]
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
        assert_eq!(document["info"]["title"], "author-service");
        for (method, path) in [
            ("post", "/authorize"),
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
