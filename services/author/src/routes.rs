//! `POST /authorize`: 200 with the token's principal when it holds the permission, 401 when the
//! token is missing, invalid or revoked, 403 when it is valid but lacks the permission.
//! `POST /revocations`: authen-service's notice that the presented token was just logged out.
//!
//! Two scenario flags act on `POST /authorize`, before anything else: `authorLatencyMs` delays
//! every answer (inside an `authorize.delay` span), and `authorFailureRate` answers that share of
//! them 500 (on the SERVER span, which is then an error).

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{StatusCode, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use platform::{
    ApiError, Claims, Principal,
    author::AuthorizeRequest,
    extract::Json,
    flags::ScenarioFlags,
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

pub fn router(
    verifier: TokenVerifier,
    revocations: Arc<RevocationList>,
    flags: ScenarioFlags,
) -> OpenApiRouter {
    operations(flags).with_state(AppState {
        verifier: Arc::new(verifier),
        revocations,
    })
}

/// The routes, each documented by its `#[utoipa::path]`.
fn operations(flags: ScenarioFlags) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .route_layer(middleware::from_fn_with_state(flags, scenarios))
        .routes(routes!(revoke))
}

/// What the scenario flags do to `POST /authorize`: first the delay, then the failure, so a
/// failed answer comes as late as any other.
async fn scenarios(State(flags): State<ScenarioFlags>, request: Request, next: Next) -> Response {
    let in_force = flags.current();
    if let Some(latency) = &in_force.author_latency {
        latency
            .wait_in(tracing::info_span!(
                "authorize.delay",
                otel.kind = "internal"
            ))
            .await;
    }
    if let Some(rate) = &in_force.author_failure_rate
        && flags.draw(rate.value)
    {
        rate.record_on(&tracing::Span::current());
        return ApiError::Internal("authorFailureRate: this answer fails on purpose".to_owned())
            .into_response();
    }
    next.run(request).await
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
            Err(_) => Err(ApiError::unavailable(
                "the list of revoked tokens",
                "not read from MongoDB yet",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use e2e_tests::openapi::checked_document;
    use platform::flags::ScenarioFlags;

    use super::operations;

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_operation() {
        checked_document(
            &crate::SERVICE,
            operations(ScenarioFlags::fixed(Default::default(), 0)),
            &[("post", "/authorize"), ("post", "/revocations")],
        );
    }
}
