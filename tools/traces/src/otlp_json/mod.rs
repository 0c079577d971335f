//! OTLP/JSON, the way the OpenTelemetry Collector's pdata and Jaeger write it: lowerCamelCase
//! names, trace and span ids in hex, 64-bit integers as decimal strings, enums (span kind, status
//! code) as numbers, and fields with default values left out (`"resource": {}`).
//!
//! Reading is lenient where receivers must be (OTLP's JSON encoding rules): snake_case names too,
//! integers as strings or numbers, enums as numbers or names, unknown fields ignored. The same
//! reader serves `POST /v1/traces` and `POST /v1/logs` with a JSON body and the terminal commands,
//! which read Jaeger's answers and `/api/logs`.
//!
//! These are mirror types of the protobuf messages in `opentelemetry-proto`, converted both ways;
//! that crate's own `with-serde` feature writes every default (`"traceState": ""`,
//! `"status": null`) and reads times only as strings, which matches neither Jaeger nor OTLP.

mod encoding;
mod logs;
mod spans;
mod values;

#[cfg(test)]
mod tests;

use base64::Engine as _;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, trace::v1 as trace,
};
use serde::{Deserialize, Serialize};

pub use logs::{decode_logs_request, decode_logs_result, encode_logs_result};
use spans::TracesData;

/// Reads an OTLP/JSON `ExportTraceServiceRequest` (or `TracesData`: the same shape).
pub fn decode_request(json: &[u8]) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    let data: TracesData = serde_json::from_slice(json)?;
    Ok(ExportTraceServiceRequest {
        resource_spans: data.resource_spans.into_iter().map(Into::into).collect(),
    })
}

/// Reads the `{"result": {"resourceSpans": [...]}}` that Jaeger's query API v3 answers with.
pub fn decode_result(json: &[u8]) -> Result<Vec<trace::ResourceSpans>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Wrapper {
        result: TracesData,
    }
    let wrapper: Wrapper = serde_json::from_slice(json)?;
    Ok(wrapper
        .result
        .resource_spans
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Writes `{"result": {"resourceSpans": [...]}}`, Jaeger's answer to a trace query.
pub fn encode_result(resource_spans: &[trace::ResourceSpans]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Wrapper {
        result: TracesData,
    }
    let wrapper = Wrapper {
        result: TracesData {
            resource_spans: resource_spans.iter().map(Into::into).collect(),
        },
    };
    serde_json::to_vec(&wrapper).expect("plain data always serializes")
}

/// Base64 of bytes, for a `bytesValue` shown to people.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
