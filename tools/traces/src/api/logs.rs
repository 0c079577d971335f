//! `GET /api/logs?traceId=ID`: a trace's log records, `{"result": {"resourceLogs": [...]}}` in
//! OTLP/JSON as the v3 API writes spans (Jaeger keeps no logs, so this path is this viewer's own).

use std::sync::Arc;

use axum::{
    Router,
    extract::{Query, State, rejection::QueryRejection},
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
    routing::get,
};

use super::{ApiError, Params};
use crate::{ids::TraceId, otlp_json, store::Store};

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/logs", get(trace_logs))
        .with_state(store)
}

async fn trace_logs(
    State(store): State<Arc<Store>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = Params::read(query)?;
    let text = params
        .get("traceId")
        .ok_or_else(|| ApiError::bad_request("missing parameter traceId"))?;
    let trace_id =
        TraceId::parse(text).map_err(|problem| ApiError::malformed("traceId", problem))?;
    let resource_logs = store
        .logs(trace_id)
        .ok_or_else(|| ApiError::not_found(format!("No logs found: trace {trace_id}")))?;
    Ok((
        [(CONTENT_TYPE, "application/json")],
        otlp_json::encode_logs_result(&resource_logs),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::testing::{get_json, logs, record};

    async fn get(store: &Arc<Store>, path: &str) -> (u16, Value) {
        get_json(router(Arc::clone(store)), path).await
    }

    #[tokio::test]
    async fn a_traces_records_come_back_as_otlp_json_with_hex_ids() {
        let store = Arc::new(Store::new(10));
        store
            .ingest_logs(logs("blog-service", vec![record(1, 2, 7, 13, "why")]))
            .unwrap();
        let (status, body) =
            get(&store, "/api/logs?traceId=01010101010101010101010101010101").await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"result": {"resourceLogs": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "blog-service"}}]},
                "scopeLogs": [{"scope": {"name": "test"}, "logRecords": [{
                    "timeUnixNano": "7", "severityNumber": 13, "body": {"stringValue": "why"},
                    "traceId": "01010101010101010101010101010101", "spanId": "0202020202020202"}]}]}]}})
        );
    }

    #[tokio::test]
    async fn no_records_is_404_and_a_bad_id_400_with_jaegers_error_body() {
        let store = Arc::new(Store::new(10));
        let (status, body) = get(&store, "/api/logs?traceId=0101").await;
        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"error": {"httpCode": 404, "message": "No logs found: trace 00000000000000000000000000000101"}})
        );
        for path in ["/api/logs?traceId=xyz", "/api/logs?traceId=0", "/api/logs"] {
            let (status, body) = get(&store, path).await;
            assert_eq!(status, 400, "{path}");
            assert_eq!(body["error"]["httpCode"], 400, "{path}");
        }
    }
}
