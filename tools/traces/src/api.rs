//! Jaeger v2's query API, the part a trace viewer's clients use, with Jaeger's paths, parameters,
//! JSON and errors (read from Jaeger's `apiv3/http_gateway.go` and `query_parser.go`, and its
//! `http_handler.go` for `/api/dependencies`):
//!
//! - `GET /api/v3/services`, `GET /api/v3/operations?service=S[&spanKind=K]`
//! - `GET /api/v3/traces/{trace_id}`
//! - `GET /api/v3/traces?query.serviceName=S&query.startTimeMin=T&query.startTimeMax=T...`
//!   (camelCase names or their snake_case aliases)
//! - `GET /api/dependencies?endTs=MS&lookback=MS`
//!
//! and Jaeger's monitor API (`/api/metrics/*`) in [`monitor`];
//! and, in [`analysis`], this viewer's own analyses under `/api/analysis/`, in [`import`],
//! `POST /api/traces`, and in [`logs`], `GET /api/logs?traceId=ID`, with the same errors.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

pub(crate) mod analysis;
pub(crate) mod import;
pub(crate) mod logs;
pub mod monitor;

use crate::{
    ids::TraceId,
    otlp_json,
    store::{self, SPAN_KINDS, Store},
    units,
};

/// Jaeger's default `query.searchDepth` (`query.num_traces`).
const DEFAULT_SEARCH_DEPTH: usize = 100;

/// Jaeger's default `lookback` for `/api/dependencies`: a day.
const DEFAULT_DEPENDENCY_LOOKBACK_MS: i64 = 24 * 3600 * 1000;

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/v3/services", get(services))
        .route("/api/v3/operations", get(operations))
        .route("/api/v3/traces", get(find_traces))
        .route("/api/v3/traces/{trace_id}", get(get_trace))
        .route("/api/dependencies", get(dependencies))
        .with_state(Arc::clone(&store))
        .merge(analysis::router(Arc::clone(&store)))
        .merge(logs::router(Arc::clone(&store)))
        .merge(import::router(Arc::clone(&store)))
        .merge(monitor::router(store))
}

/// An API v3 error: `{"error": {"httpCode": 400, "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A store's refusal: the client's fault (400), or the data directory's (503, retry later).
    fn refused(refused: crate::store::Refused) -> Self {
        match refused {
            crate::store::Refused::Invalid(message) => Self::bad_request(message),
            crate::store::Refused::Unavailable(message) => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message,
            },
        }
    }

    fn no_traces() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "No traces found".to_owned(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn malformed(parameter: &str, problem: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("malformed parameter {parameter}: {problem}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"httpCode": self.status.as_u16(), "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

/// The query string as Go's `url.Values` reads it: a name's first value counts.
struct Params(Vec<(String, String)>);

impl Params {
    fn read(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Self, ApiError> {
        query
            .map(|Query(pairs)| Self(pairs))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// The canonical name's value, else its alias's, with the name it came from.
    fn either<'a>(&'a self, canonical: &'a str, alias: &'a str) -> Option<(&'a str, &'a str)> {
        self.get(canonical)
            .map(|value| (value, canonical))
            .or_else(|| self.get(alias).map(|value| (value, alias)))
    }
}

async fn services(State(store): State<Arc<Store>>) -> Response {
    Json(json!({"services": store.services()})).into_response()
}

async fn operations(
    State(store): State<Arc<Store>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = Params::read(query)?;
    let service = params.get("service").unwrap_or_default();
    let kind = params.either("spanKind", "span_kind").map(|(kind, _)| {
        SPAN_KINDS
            .iter()
            .position(|name| *name == kind)
            .map(|k| k as i32)
    });
    let operations = match kind {
        // An unknown kind matches no operation, as in Jaeger.
        Some(None) => Vec::new(),
        Some(Some(kind)) => store.operations(service, Some(kind)),
        None => store.operations(service, None),
    };
    let operations: Vec<_> = operations
        .into_iter()
        .map(|operation| json!({"name": operation.name, "spanKind": api_kind(operation.kind)}))
        .collect();
    Ok(Json(json!({"operations": operations})).into_response())
}

/// A span kind as Jaeger's API names it; an unspecified kind reads as `internal`.
fn api_kind(kind: i32) -> &'static str {
    match kind {
        0 => "internal",
        kind => SPAN_KINDS.get(kind as usize).copied().unwrap_or("internal"),
    }
}

async fn get_trace(
    State(store): State<Arc<Store>>,
    Path(trace_id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let trace_id =
        TraceId::parse(&trace_id).map_err(|problem| ApiError::malformed("trace_id", problem))?;
    // Jaeger takes these as hints for its storage; a store in memory needs none, but a malformed
    // one is still an error.
    let params = Params::read(query)?;
    for (canonical, alias) in [("startTime", "start_time"), ("endTime", "end_time")] {
        if let Some((value, name)) = params.either(canonical, alias) {
            rfc3339_nanos(value).map_err(|problem| ApiError::malformed(name, problem))?;
        }
    }
    if let Some((value, name)) = params.either("rawTraces", "raw_traces") {
        go_bool(value).map_err(|problem| ApiError::malformed(name, problem))?;
    }
    let resource_spans = store.trace(trace_id).ok_or_else(ApiError::no_traces)?;
    Ok(otlp_json_response(&resource_spans))
}

async fn find_traces(
    State(store): State<Arc<Store>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = Params::read(query)?;
    let query = trace_query(&params, store.max_traces())?;
    let found = store.find(&query);
    if found.is_empty() {
        return Err(ApiError::no_traces());
    }
    let resource_spans: Vec<_> = found.into_iter().flat_map(|(_, spans)| spans).collect();
    Ok(otlp_json_response(&resource_spans))
}

fn otlp_json_response(
    resource_spans: &[opentelemetry_proto::tonic::trace::v1::ResourceSpans],
) -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        otlp_json::encode_result(resource_spans),
    )
        .into_response()
}

/// `GET /api/v3/traces`' parameters, as Jaeger's `parseFindTracesQuery` reads them.
fn trace_query(params: &Params, max_traces: usize) -> Result<store::Query, ApiError> {
    let mut query = store::Query {
        service: params
            .either("query.serviceName", "query.service_name")
            .map(|(service, _)| service.to_owned()),
        operation: params
            .either("query.operationName", "query.operation_name")
            .map(|(operation, _)| operation.to_owned()),
        ..store::Query::default()
    };
    if let Some(text) = params.get("query.attributes") {
        (query.error, query.attributes) = attributes(text)?;
    }
    if params.get("query.filter").is_some() {
        return Err(ApiError::bad_request(
            "query.filter is not supported by this viewer; use query.serviceName, \
             query.operationName, durations and query.attributes={\"error\":\"true\"}",
        ));
    }
    let (Some((min, min_name)), Some((max, max_name))) = (
        params.either("query.startTimeMin", "query.start_time_min"),
        params.either("query.startTimeMax", "query.start_time_max"),
    ) else {
        return Err(ApiError::bad_request(
            "query.startTimeMin and query.startTimeMax are required",
        ));
    };
    let min = rfc3339_nanos(min).map_err(|problem| ApiError::malformed(min_name, problem))?;
    let max = rfc3339_nanos(max).map_err(|problem| ApiError::malformed(max_name, problem))?;
    if min >= max {
        return Err(ApiError::bad_request(
            "query.startTimeMin must be before query.startTimeMax",
        ));
    }
    query.start_min = Some(min);
    query.start_max = Some(max);
    let depth = params
        .either("query.searchDepth", "query.search_depth")
        .or_else(|| {
            params
                .get("query.num_traces")
                .map(|n| (n, "query.num_traces"))
        });
    query.limit = match depth {
        Some((text, name)) => {
            let depth: i64 = text
                .parse()
                .map_err(|_| ApiError::malformed(name, format!("{text:?} is not an integer")))?;
            usize::try_from(depth)
                .ok()
                .filter(|depth| (1..=max_traces).contains(depth))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "search depth must be greater than 0 and at most the {max_traces} traces \
                         this viewer keeps"
                    ))
                })?
        }
        None => DEFAULT_SEARCH_DEPTH,
    };
    for (canonical, alias, bound) in [
        (
            "query.durationMin",
            "query.duration_min",
            &mut query.duration_min,
        ),
        (
            "query.durationMax",
            "query.duration_max",
            &mut query.duration_max,
        ),
    ] {
        if let Some((text, name)) = params.either(canonical, alias) {
            let value =
                units::parse_go(text).map_err(|problem| ApiError::malformed(name, problem))?;
            *bound = Some(u64::try_from(value.as_nanos()).unwrap_or(u64::MAX));
        }
    }
    if let Some((value, name)) = params.either("query.rawTraces", "query.raw_traces") {
        go_bool(value).map_err(|problem| ApiError::malformed(name, problem))?;
    }
    Ok(query)
}

/// Attribute keys and the values they must read as.
pub(crate) type Pairs = Vec<(String, String)>;

/// `query.attributes`, a JSON object of strings: the pseudo-attribute `error` (`"true"`: spans
/// with status ERROR, `"false"`: the others, as Jaeger's memory store reads it), and the pairs a
/// span must carry among its own, its resource's and its events' attributes.
pub(crate) fn attributes(text: &str) -> Result<(Option<bool>, Pairs), ApiError> {
    let map: std::collections::BTreeMap<String, String> = serde_json::from_str(text)
        .map_err(|problem| ApiError::malformed("query.attributes", problem))?;
    let mut error = None;
    let mut pairs = Vec::new();
    for (key, value) in map {
        if key == "error" {
            error = Some(
                go_bool(&value)
                    .map_err(|problem| ApiError::malformed("query.attributes", problem))?,
            );
        } else {
            pairs.push((key, value));
        }
    }
    Ok((error, pairs))
}

/// An RFC 3339 time (nanoseconds allowed) as nanoseconds since the Unix epoch.
fn rfc3339_nanos(text: &str) -> Result<u64, String> {
    let time = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|problem| format!("{text:?} is not an RFC 3339 time: {problem}"))?;
    Ok(u64::try_from(time.unix_timestamp_nanos().max(0)).unwrap_or(u64::MAX))
}

/// Go's `strconv.ParseBool`.
fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean")),
    }
}

/// Jaeger's `/api/dependencies` answers in its older API's envelope.
async fn dependencies(
    State(store): State<Arc<Store>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    match dependency_window(query) {
        Ok((from, to, service)) => {
            let links: Vec<_> = store
                .dependencies(from, to)
                .into_iter()
                .filter(|link| {
                    service.as_deref().is_none_or(|s| link.parent == s || link.child == s)
                })
                .map(|link| {
                    json!({"parent": link.parent, "child": link.child, "callCount": link.call_count})
                })
                .collect();
            Json(json!({"data": links, "total": 0, "limit": 0, "offset": 0, "errors": null}))
                .into_response()
        }
        Err(message) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"data": null, "total": 0, "limit": 0, "offset": 0,
                        "errors": [{"code": 400, "msg": message}]})),
        )
            .into_response(),
    }
}

/// `endTs` (ms since the epoch, default now) and `lookback` (ms, default a day): the window in
/// nanoseconds; and `service`, which keeps only the links that touch it.
fn dependency_window(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<(u64, u64, Option<String>), String> {
    let params = Params::read(query).map_err(|error| error.message)?;
    let integer = |name: &str, default: i64| -> Result<i64, String> {
        match params.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("unable to parse param '{name}': {text:?} is not an integer")),
        }
    };
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let end = integer("endTs", now_ms)?;
    let lookback = integer("lookback", DEFAULT_DEPENDENCY_LOOKBACK_MS)?;
    let nanos = |ms: i64| {
        u64::try_from(ms.max(0))
            .unwrap_or(0)
            .saturating_mul(1_000_000)
    };
    Ok((
        nanos(end.saturating_sub(lookback)),
        nanos(end),
        params.get("service").map(str::to_owned),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const WINDOW: [(&str, &str); 2] = [
        ("query.start_time_min", "2026-11-29T10:00:00Z"),
        ("query.start_time_max", "2026-11-29T11:00:00.5+01:00"),
    ];

    #[test]
    fn find_parameters_are_read_like_jaeger_reads_them() {
        let mut pairs = WINDOW.to_vec();
        pairs.extend([
            ("query.serviceName", "blog-service"),
            ("query.service_name", "ignored: the canonical name wins"),
            ("query.operation_name", "POST /blogs"),
            ("query.duration_min", "1.5ms"),
            ("query.durationMax", "2s"),
            ("query.num_traces", "7"),
            ("query.attributes", r#"{"error":"true"}"#),
        ]);
        let query = trace_query(&params(&pairs), 10_000).unwrap();
        assert_eq!(query.service.as_deref(), Some("blog-service"));
        assert_eq!(query.operation.as_deref(), Some("POST /blogs"));
        assert_eq!(query.start_min, Some(1_795_946_400_000_000_000));
        assert_eq!(query.start_max, Some(1_795_946_400_500_000_000));
        assert_eq!(query.duration_min, Some(1_500_000));
        assert_eq!(query.duration_max, Some(2_000_000_000));
        assert_eq!((query.limit, query.error), (7, Some(true)));
        let mut pairs = WINDOW.to_vec();
        pairs.push((
            "query.attributes",
            r#"{"http.response.status_code":"503","feature_flag.key":"a b"}"#,
        ));
        let query = trace_query(&params(&pairs), 10_000).unwrap();
        assert_eq!(query.service, None, "the service may be left out");
        assert_eq!(
            (query.error, query.attributes),
            (
                None,
                vec![
                    ("feature_flag.key".into(), "a b".into()),
                    ("http.response.status_code".into(), "503".into())
                ]
            )
        );
        assert_eq!(trace_query(&params(&WINDOW), 10_000).unwrap().limit, 100);
    }

    #[test]
    fn bad_find_parameters_are_400s_that_name_the_parameter() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = WINDOW.to_vec();
            pairs.extend_from_slice(extra);
            trace_query(&params(&pairs), 10_000).unwrap_err().message
        };
        assert_eq!(
            trace_query(&params(&WINDOW[..1]), 10).unwrap_err().message,
            "query.startTimeMin and query.startTimeMax are required"
        );
        assert!(
            with(&[("query.num_traces", "many")])
                .starts_with("malformed parameter query.num_traces")
        );
        assert!(with(&[("query.num_traces", "0")]).starts_with("search depth"));
        assert!(with(&[("query.num_traces", "10001")]).starts_with("search depth"));
        assert!(
            with(&[("query.duration_min", "100")])
                .starts_with("malformed parameter query.duration_min")
        );
        assert!(
            with(&[("query.attributes", "{")]).starts_with("malformed parameter query.attributes")
        );
        assert!(
            with(&[("query.attributes", r#"{"http.response.status_code":503}"#)])
                .starts_with("malformed parameter query.attributes")
        );
        assert!(
            with(&[("query.attributes", r#"["error","true"]"#)])
                .starts_with("malformed parameter query.attributes")
        );
        let reversed = [
            ("query.startTimeMin", "2026-11-29T11:00:00Z"),
            ("query.startTimeMax", "2026-11-29T10:00:00Z"),
        ];
        assert!(
            trace_query(&params(&reversed), 10)
                .unwrap_err()
                .message
                .contains("must be before")
        );
        let yesterday = [
            ("query.startTimeMin", "yesterday"),
            ("query.startTimeMax", "now"),
        ];
        assert!(
            trace_query(&params(&yesterday), 10)
                .unwrap_err()
                .message
                .starts_with("malformed parameter query.startTimeMin")
        );
    }
}
