//! Small OTLP exports for the unit tests, and a GET through a router as a client sends it.

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Request},
};
use opentelemetry_proto::tonic::{
    collector::{logs::v1::ExportLogsServiceRequest, trace::v1::ExportTraceServiceRequest},
    common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value},
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span},
};
use tower::ServiceExt as _;

/// A string attribute.
pub fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
    }
}

/// An export of `spans` from one process of `service`.
pub fn export(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", service)],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A span of trace `[trace; 16]` with id `[id; 8]` (and parent `[parent; 8]`), from `start` to
/// `end` nanoseconds.
pub fn span(trace: u8, id: u8, parent: Option<u8>, name: &str, start: u64, end: u64) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.to_owned(),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Span::default()
    }
}

/// An export of log `records` from one process of `service`.
pub fn logs(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    let spans = export(service, Vec::new()).resource_spans.remove(0);
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: spans.resource,
            scope_logs: vec![ScopeLogs {
                scope: spans.scope_spans[0].scope.clone(),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A record of trace `[trace; 16]` written in span `[span; 8]` (none for 0), at `time`, with
/// the log data model's `severity` number and a string `body`.
pub fn record(trace: u8, span: u8, time: u64, severity: i32, body: &str) -> LogRecord {
    LogRecord {
        trace_id: if trace == 0 {
            Vec::new()
        } else {
            vec![trace; 16]
        },
        span_id: if span == 0 { Vec::new() } else { vec![span; 8] },
        time_unix_nano: time,
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(Value::StringValue(body.to_owned())),
        }),
        ..LogRecord::default()
    }
}

/// A GET of `path` through `router`: the status, the headers and the body.
pub async fn get(router: Router, path: &str) -> (u16, HeaderMap, Bytes) {
    let response = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body)
}

/// A GET of `path` through `router` that answers JSON: the status and the document.
pub async fn get_json(router: Router, path: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = get(router, path).await;
    (status, serde_json::from_slice(&body).unwrap())
}
