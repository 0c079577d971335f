//! The OpenAPI 3.1 document every service serves at `GET /openapi.json`, generated from the code.
//!
//! A service declares each operation once, with `#[utoipa::path(...)]` on its handler, and
//! registers it with `utoipa_axum::routes!` on an `OpenApiRouter`: the same declaration adds the
//! route to the router and the operation to the document, so the two cannot drift apart.
//! [`crate::server::with_shared_routes`] adds the routes every service has (`/healthz`, `/readyz`,
//! `/openapi.json`) and [`document`] what every document has (the service's name and version, the
//! problem schema, the bearer scheme).
//!
//! The response types below are the problem answers an operation may give, one status each, for the
//! `responses(...)` list of `#[utoipa::path]`; they mirror [`ApiError`](crate::ApiError).

use serde_json::{Value, json};
use utoipa::{
    IntoResponses, Modify, OpenApi, PartialSchema, ToSchema,
    openapi::{
        Info, ObjectBuilder, RefOr, Schema, Type,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{ServiceInfo, problem::Problem};

/// The security scheme of the access token; an operation that needs one says
/// `security(("bearer" = []))` (utoipa takes only a literal there).
const BEARER: &str = "bearer";

/// The `traceresponse` header every response carries (W3C Trace Context Level 2).
const TRACERESPONSE_PATTERN: &str = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";

/// Malformed JSON, an unknown field, a wrong type or a value outside its limits.
#[derive(IntoResponses)]
#[response(status = 400, content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// The bearer token is missing, malformed, expired, revoked or not ours.
#[derive(IntoResponses)]
#[response(
    status = 401,
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "Always `Bearer`."))
)]
pub struct Unauthorized(pub Problem);

/// The token is valid but does not carry the permission the operation needs.
#[derive(IntoResponses)]
#[response(status = 403, content_type = "application/problem+json")]
pub struct Forbidden(pub Problem);

/// Nothing has this id (a malformed id names nothing either).
#[derive(IntoResponses)]
#[response(status = 404, content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// The request conflicts with what is stored (a name already taken).
#[derive(IntoResponses)]
#[response(status = 409, content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// The request body is larger than 64 KiB.
#[derive(IntoResponses)]
#[response(status = 413, content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// The request body is not JSON (`content-type` must be `application/json` or `*/*+json`).
#[derive(IntoResponses)]
#[response(status = 415, content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub Problem);

/// Too many failed logins from this client or for this username; nothing was checked.
#[derive(IntoResponses)]
#[response(
    status = 429,
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds until the next attempt is allowed."))
)]
pub struct TooManyRequests(pub Problem);

/// A dependency (MongoDB, author-service) did not answer in time; nothing was done.
#[derive(IntoResponses)]
#[response(
    status = 503,
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before trying again."))
)]
pub struct Unavailable(pub Problem);

/// An id as the API shows it: a MongoDB ObjectId in 24 lower-case hexadecimal digits. For
/// `#[schema(value_type = Id)]` on a `String` field, and as the type of an `{id}` parameter.
pub struct Id;

impl PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9a-f]{24}$"))
            .examples([json!("6650f1c2a3b4c5d6e7f80912")])
            .into()
    }
}

impl ToSchema for Id {}

/// The parts of the document that are not operations.
#[derive(OpenApi)]
#[openapi(components(schemas(Problem)), modifiers(&BearerScheme))]
struct Shared;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An RS256 access token from authen-service's `POST /login`.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// The document of a service whose operations (its own and the shared ones) are `operations`:
/// named after the service, with the problem schema and the bearer scheme.
pub fn document(service: &ServiceInfo, mut operations: utoipa::openapi::OpenApi) -> Value {
    operations.info = Info::new(service.name, service.version);
    operations.merge(Shared::openapi());
    let mut document = serde_json::to_value(operations).expect("an OpenAPI document is plain JSON");
    finish_responses(&mut document);
    document
}

/// What utoipa 5 cannot say: every header we document is always sent (`required`), and every
/// response, whatever its status, carries `traceresponse`.
fn finish_responses(document: &mut Value) {
    let traceresponse = json!({
        "description": "The trace this request was served in: `00-<trace-id>-<span-id>-<flags>`.",
        "required": true,
        "schema": { "type": "string", "pattern": TRACERESPONSE_PATTERN },
    });
    let operations = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for response in responses.values_mut() {
            let headers = response
                .as_object_mut()
                .expect("a response is an object")
                .entry("headers")
                .or_insert_with(|| json!({}));
            for header in headers
                .as_object_mut()
                .into_iter()
                .flat_map(|h| h.values_mut())
            {
                header["required"] = json!(true);
            }
            headers["traceresponse"] = traceresponse.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use utoipa_axum::router::OpenApiRouter;

    use crate::{
        ServiceInfo,
        server::{Readiness, with_shared_routes},
    };

    const SERVICE: ServiceInfo = ServiceInfo {
        name: "test-service",
        version: "1.2.3",
        default_port: 0,
    };

    fn document() -> Value {
        with_shared_routes(&SERVICE, OpenApiRouter::<()>::new(), Readiness::default()).1
    }

    #[test]
    fn an_openapi_3_1_document_named_after_the_service() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["title"], "test-service");
        assert_eq!(document["info"]["version"], "1.2.3");
        for path in ["/healthz", "/readyz", "/openapi.json"] {
            assert!(document["paths"][path]["get"].is_object(), "{path}");
        }
        assert!(document["components"]["schemas"]["Problem"].is_object());
        assert_eq!(
            document["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn every_response_names_its_trace_and_every_header_is_required() {
        let document = document();
        let not_ready = &document["paths"]["/readyz"]["get"]["responses"]["503"];
        assert_eq!(not_ready["headers"]["Retry-After"]["required"], true);
        assert!(not_ready["content"]["application/problem+json"].is_object());
        for path in ["/healthz", "/readyz", "/openapi.json"] {
            for (status, response) in document["paths"][path]["get"]["responses"]
                .as_object()
                .unwrap()
            {
                let traceresponse = &response["headers"]["traceresponse"];
                assert_eq!(traceresponse["required"], true, "{path} {status}");
            }
        }
    }
}
