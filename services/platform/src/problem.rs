//! The one error type every handler returns, answered as RFC 9457 problem details.
//!
//! Handlers return `Result<_, ApiError>` and use `?`. An error answered 5xx says why in the log,
//! here rather than where it was made: an `Internal` one at ERROR, an `Unavailable` one at WARN,
//! each with its cause. The line is written inside the request's span, so it carries the trace and
//! span ids and leaves, as a log record, in the request's trace. (The few 5xx that are not an
//! `ApiError`, a panic and `/readyz`, say why in `server`.) The cause is never shown to the
//! client.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// Every way a request can fail, each answered as an RFC 9457 problem (`application/problem+json`)
/// with its status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or fails validation. The detail must never quote a secret.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No token, or one that is invalid, expired or revoked (401).
    #[error("unauthorized")]
    Unauthorized,
    /// A login with an unknown username or a wrong password: one answer for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A valid token without the permission asked for (403).
    #[error("forbidden")]
    Forbidden,
    /// The named thing does not exist (404).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The request clashes with what is stored, such as a username taken (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The body is over the size limit (413).
    #[error("payload too large")]
    PayloadTooLarge,
    /// A body that is not `application/json` (415).
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Too many failed attempts; the client may try again after this many seconds.
    #[error("too many requests; retry after {retry_after_seconds} s")]
    TooManyRequests {
        /// When the client may try again, in seconds (the `Retry-After` header).
        retry_after_seconds: u64,
    },
    /// A dependency could not be reached in time (503).
    #[error("{dependency} is unavailable: {cause}")]
    Unavailable {
        /// What could not be reached, as the client is told (`MongoDB`, `author-service`).
        dependency: &'static str,
        /// Why, for the log only. Must never quote a secret.
        cause: String,
    },
    /// A bug or an unexpected answer; the cause is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// `dependency` could not be reached, because of `cause` (which the log says, never the
    /// client).
    pub fn unavailable(dependency: &'static str, cause: impl std::fmt::Display) -> Self {
        Self::Unavailable {
            dependency,
            cause: cause.to_string(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::BadRequest(detail) | Self::Conflict(detail) => detail.clone(),
            Self::Unauthorized => "A valid bearer token is required.".to_owned(),
            Self::InvalidCredentials => "The username or password is incorrect.".to_owned(),
            Self::Forbidden => {
                "The token does not carry the permission this request needs.".to_owned()
            }
            Self::NotFound(what) => format!("No such {what}."),
            Self::PayloadTooLarge => "The request body is larger than 64 KiB.".to_owned(),
            Self::UnsupportedMediaType => {
                "The request body must be JSON (content-type: application/json).".to_owned()
            }
            Self::TooManyRequests {
                retry_after_seconds,
            } => format!("Too many failed attempts; try again in {retry_after_seconds} s."),
            Self::Unavailable { dependency, .. } => {
                format!("{dependency} cannot be reached; try again shortly.")
            }
            Self::Internal(_) => "An unexpected error occurred; it has been logged.".to_owned(),
        }
    }
}

/// An RFC 9457 problem document, served as `application/problem+json`. The detail names the
/// offending field but never quotes its value.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Bad Request",
    "status": 400,
    "detail": "`title` must be 1 to 200 characters and not blank.",
}))]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status's reason phrase.
    pub title: &'static str,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
}

/// A problem response for any status, for the few answers that are not an `ApiError` (404 for an
/// unknown route, 405, a panic).
pub fn problem_response(status: StatusCode, detail: impl Into<String>) -> Response {
    let problem = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail: detail.into(),
    };
    let mut response = (status, axum::Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Tells a client when to try again after a 503: every 503 says it, the probes' too.
pub fn retry_after(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable { dependency, cause } => {
                tracing::warn!(dependency, %cause, "dependency unavailable");
            }
            _ => {}
        }
        let mut response = problem_response(self.status(), self.detail());
        match self {
            // RFC 9110 §15.5.2: a 401 must carry a challenge. A refused login gets the one a
            // client should answer with the token that a successful login returns.
            Self::Unauthorized | Self::InvalidCredentials => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Unavailable { .. } => retry_after(&mut response),
            Self::TooManyRequests {
                retry_after_seconds,
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_401_carries_a_bearer_challenge() {
        for error in [ApiError::Unauthorized, ApiError::InvalidCredentials] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
                "Bearer"
            );
            assert_eq!(
                response.headers().get(header::CONTENT_TYPE).unwrap(),
                "application/problem+json"
            );
        }
    }
}
