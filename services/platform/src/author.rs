//! The author service's interface: what `/authorize` takes and answers, the client other services
//! call it with, and the `Authorized<P>` extractor that makes a handler's signature say which
//! permission it needs.

use std::{marker::PhantomData, time::Duration};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderValue, StatusCode, header, request::Parts},
};
use reqwest::Url;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_tracing::{OtelName, TracingMiddleware};
use serde::{Deserialize, Serialize};

use crate::{ApiError, Permission, http_spans::ClientSpan};

/// How a failed check names author-service to the client and in the log.
const AUTHOR_SERVICE: &str = "author-service";

/// Body of `POST /authorize`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The permission the caller's token must carry.
    pub permission: Permission,
}

/// Who the token belongs to: the answer of `POST /authorize`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Principal {
    /// The user's id.
    #[schema(value_type = crate::openapi::Id)]
    pub sub: String,
    /// The user's name.
    pub username: String,
    /// Every permission the token carries, each once.
    #[schema(value_type = std::collections::BTreeSet<Permission>)]
    pub permissions: Vec<Permission>,
}

/// How long one call to author-service may take, connection included. Well inside the 5 s in
/// which a request must get its 503 when author-service is gone.
const AUTHORIZE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One pooled keep-alive HTTP client for author-service. Each call is a CLIENT span that carries
/// `traceparent` (reqwest-tracing), so author's work joins the caller's trace.
#[derive(Clone)]
pub struct AuthorClient {
    http: ClientWithMiddleware,
    authorize_url: Url,
    revocations_url: Url,
    health_url: Url,
}

impl AuthorClient {
    /// A client for the author-service at `base_url` (`AUTHOR_URL`).
    pub fn new(base_url: &Url) -> Self {
        let http = reqwest::Client::builder()
            .timeout(AUTHORIZE_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .expect("a client with these settings always builds");
        let http = ClientBuilder::new(http)
            .with(TracingMiddleware::<ClientSpan>::new())
            .build();
        Self {
            http,
            authorize_url: base_url.join("authorize").expect("a relative path joins"),
            revocations_url: base_url.join("revocations").expect("a relative path joins"),
            health_url: base_url.join("healthz").expect("a relative path joins"),
        }
    }

    /// Asks author-service whether the caller's `Authorization` header carries `permission`.
    /// 401 and 403 pass through; no answer in time is a 503.
    pub async fn authorize(
        &self,
        authorization: Option<&HeaderValue>,
        permission: Permission,
    ) -> Result<Principal, ApiError> {
        let request = self
            .http
            .post(self.authorize_url.clone())
            .with_extension(OtelName("POST /authorize".into()))
            .json(&AuthorizeRequest { permission });
        let response = with_authorization(request, authorization)
            .send()
            .await
            .map_err(|error| {
                ApiError::unavailable(AUTHOR_SERVICE, format_args!("no answer: {error}"))
            })?;
        match response.status() {
            StatusCode::OK => response.json::<Principal>().await.map_err(|error| {
                ApiError::unavailable(AUTHOR_SERVICE, format_args!("unreadable answer: {error}"))
            }),
            StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized),
            StatusCode::FORBIDDEN => Err(ApiError::Forbidden),
            status => Err(ApiError::unavailable(
                AUTHOR_SERVICE,
                format_args!("answered {status}"),
            )),
        }
    }

    /// Tells author-service that the token in `authorization` was just revoked, so it refuses the
    /// token at once rather than at its next poll of the database. Answers whether it took note.
    pub async fn revoke(&self, authorization: &HeaderValue) -> bool {
        let request = self
            .http
            .post(self.revocations_url.clone())
            .with_extension(OtelName("POST /revocations".into()));
        match with_authorization(request, Some(authorization))
            .send()
            .await
        {
            Ok(response) if response.status() == StatusCode::NO_CONTENT => true,
            Ok(response) => {
                tracing::warn!(status = %response.status(), "author-service refused a revocation");
                false
            }
            Err(error) => {
                tracing::warn!(%error, "author-service did not answer a revocation");
                false
            }
        }
    }

    /// Whether author-service answers its liveness probe (for `/readyz`).
    pub async fn is_up(&self) -> bool {
        self.http
            .get(self.health_url.clone())
            .with_extension(OtelName("GET /healthz".into()))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    }
}

/// Forwards the caller's `Authorization` header, marked sensitive so no layer records it.
fn with_authorization(
    request: reqwest_middleware::RequestBuilder,
    authorization: Option<&HeaderValue>,
) -> reqwest_middleware::RequestBuilder {
    match authorization {
        Some(authorization) => {
            let mut authorization = authorization.clone();
            authorization.set_sensitive(true);
            request.header(header::AUTHORIZATION, authorization)
        }
        None => request,
    }
}

/// A permission a handler can demand through [`Authorized`].
pub trait RequiredPermission: Send + Sync + 'static {
    /// The permission asked of author-service.
    const PERMISSION: Permission;
}

/// Marker for handlers that need `READ`.
pub struct Read;
/// Marker for handlers that need `WRITE`.
pub struct Write;
/// Marker for handlers that need `ADMIN`.
pub struct Admin;

impl RequiredPermission for Read {
    const PERMISSION: Permission = Permission::Read;
}
impl RequiredPermission for Write {
    const PERMISSION: Permission = Permission::Write;
}
impl RequiredPermission for Admin {
    const PERMISSION: Permission = Permission::Admin;
}

/// The caller, checked by author-service to hold permission `P`. Put it before any body extractor:
/// a refused request is answered before its body is read, and nothing is stored.
pub struct Authorized<P: RequiredPermission> {
    /// Who the caller is, as author-service answered.
    pub principal: Principal,
    _permission: PhantomData<P>,
}

impl<S, P> FromRequestParts<S> for Authorized<P>
where
    S: Send + Sync,
    AuthorClient: FromRef<S>,
    P: RequiredPermission,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let client = AuthorClient::from_ref(state);
        let principal = client
            .authorize(crate::token::authorization(&parts.headers), P::PERMISSION)
            .await?;
        Ok(Self {
            principal,
            _permission: PhantomData,
        })
    }
}
