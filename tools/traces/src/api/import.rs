//! `POST /api/traces`: stores the spans of a document, as `GET /api/v3/traces/{id}` answers it
//! (`{"result": {"resourceSpans": [...]}}`, what `traces export` prints) or as plain OTLP/JSON
//! (`{"resourceSpans": [...]}`). Like an export to the receiver: at most
//! [`MAX_EXPORT_BYTES`](crate::receiver::MAX_EXPORT_BYTES), stored whole or not at all, and a
//! malformed document is a 400 that says why.
//!
//! The viewer listens on localhost, where any web page the person opens can post to it: a
//! cross-site request (`Sec-Fetch-Site` other than `same-origin` or `none`, or an `Origin`
//! that is not this host) is refused with 403.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::json;

use super::ApiError;
use crate::{ids::TraceId, otlp_json, receiver::MAX_EXPORT_BYTES, store::Store};

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/traces", post(import))
        .layer(DefaultBodyLimit::max(MAX_EXPORT_BYTES))
        .with_state(store)
}

async fn import(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (spans, _) = store_document(&store, &headers, &body)?;
    Ok(Json(json!({"data": {"spans": spans}})).into_response())
}

/// Stores a document's spans unless the request is cross-site or the document malformed: how
/// many spans, and the trace of the first.
pub(crate) fn store_document(
    store: &Store,
    headers: &HeaderMap,
    document: &[u8],
) -> Result<(usize, Option<TraceId>), ApiError> {
    if let Some(problem) = cross_site(headers) {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            message: problem,
        });
    }
    let request = decode(document).map_err(ApiError::bad_request)?;
    let first = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .find_map(|span| TraceId::from_bytes(&span.trace_id).ok());
    let spans = store.ingest(request).map_err(ApiError::refused)?;
    Ok((spans, first))
}

/// Either document, told apart by its `result` key.
fn decode(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if !value.is_object() {
        return Err("expected a JSON object with resourceSpans, or result.resourceSpans".into());
    }
    if value.get("result").is_some() {
        otlp_json::decode_result(body)
            .map(|resource_spans| ExportTraceServiceRequest { resource_spans })
            .map_err(|e| format!("not a trace as GET /api/v3/traces/{{id}} answers it: {e}"))
    } else if value.get("resourceSpans").is_some() || value.get("resource_spans").is_some() {
        otlp_json::decode_request(body).map_err(|e| format!("not OTLP/JSON: {e}"))
    } else {
        Err("expected a JSON object with resourceSpans, or result.resourceSpans".into())
    }
}

/// Why a request is cross-site, if it is.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!("a {site} request may not import traces"));
    }
    let origin = text(header::ORIGIN.as_str())?;
    let host = text(header::HOST.as_str()).unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    (origin_host != host).then(|| format!("a request from {origin} may not import traces"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{server::ui_router, testing::span};
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    async fn post(store: &Arc<Store>, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        let mut request = Request::post("/api/traces").header("host", "localhost:16686");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = ui_router(Arc::clone(store))
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn exported() -> Vec<u8> {
        let request = crate::testing::export("blog", vec![span(1, 1, None, "GET /blogs", 0, 5)]);
        otlp_json::encode_result(&request.resource_spans)
    }

    #[tokio::test]
    async fn an_exported_trace_or_plain_otlp_json_is_stored() {
        let store = Arc::new(Store::new(10));
        let (status, body) = post(&store, &[("sec-fetch-site", "same-origin")], exported()).await;
        assert_eq!((status, body.as_str()), (200, r#"{"data":{"spans":1}}"#));
        assert!(store.trace(crate::ids::TraceId([1; 16])).is_some());
        let plain = br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "02020202020202020202020202020202", "spanId": "0202020202020202", "name": "x"}]}]}]}"#;
        let (status, _) = post(&store, &[], plain.to_vec()).await;
        assert_eq!(status, 200);
        assert_eq!(store.len(), (2, 2));
    }

    #[tokio::test]
    async fn malformed_documents_are_400s_and_store_nothing() {
        let store = Arc::new(Store::new(10));
        for body in [&b"{"[..], b"[]", br#"{"spans": []}"#, br#"{"result": 1}"#] {
            let (status, text) = post(&store, &[], body.to_vec()).await;
            assert_eq!(status, 400, "{text}");
            assert!(text.contains(r#""httpCode":400"#), "{text}");
        }
        let bad_id = br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "02", "spanId": "0202020202020202"}]}]}]}"#;
        let (status, text) = post(&store, &[], bad_id.to_vec()).await;
        assert_eq!(status, 400, "{text}");
        let (status, _) = post(&store, &[], vec![b' '; MAX_EXPORT_BYTES + 1]).await;
        assert_eq!(status, 413);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn a_cross_site_post_is_refused() {
        let store = Arc::new(Store::new(10));
        for headers in [
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "same-site")],
            &[("origin", "http://evil.example")],
        ] {
            let (status, text) = post(&store, headers, exported()).await;
            assert_eq!(status, 403, "{headers:?}: {text}");
        }
        assert!(store.is_empty());
        let (status, _) = post(&store, &[("origin", "http://localhost:16686")], exported()).await;
        assert_eq!(status, 200);
    }
}
