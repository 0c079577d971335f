//! For each service's unit tests: its OpenAPI document, checked for what every document must
//! have. Test support, so it lives here rather than in the platform the services ship.

use ::platform::{
    ServiceInfo,
    server::{Readiness, with_shared_routes},
};
use serde_json::Value;

/// For each service's unit test: the document `routes` make for `service`, after checking that it
/// is OpenAPI 3.1, named after the service, and documents each of `operations` (`("post",
/// "/blogs")`, ...) and the routes every service shares.
pub fn checked_document<S>(
    service: &ServiceInfo,
    routes: utoipa_axum::router::OpenApiRouter<S>,
    operations: &[(&str, &str)],
) -> Value
where
    S: Clone + Send + Sync + 'static,
{
    let document = with_shared_routes(service, routes, Readiness::default()).1;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], service.name);
    let shared = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/openapi.json"),
    ];
    for (method, path) in operations.iter().chain(&shared) {
        assert!(
            document["paths"][path][method]["responses"].is_object(),
            "{method} {path} is missing"
        );
    }
    document
}
