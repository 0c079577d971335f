//! Log records: `LogsData` and what it holds, read and written as the spans are (ids in hex,
//! times as decimal strings, the severity as a number).

use opentelemetry_proto::tonic::{
    collector::logs::v1::ExportLogsServiceRequest,
    logs::v1::{self as logs, SeverityNumber},
};
use serde::{Deserialize, Serialize};

use super::{
    encoding::{enum_value, hex_bytes, is_zero, is_zero_i32, is_zero_u64, nullable, u64_string},
    values::{AnyValue, KeyValue, Resource, Scope, convert, convert_ref},
};

/// Reads an OTLP/JSON `ExportLogsServiceRequest` (or `LogsData`: the same shape).
pub fn decode_logs_request(json: &[u8]) -> Result<ExportLogsServiceRequest, serde_json::Error> {
    let data: LogsData = serde_json::from_slice(json)?;
    Ok(ExportLogsServiceRequest {
        resource_logs: convert(data.resource_logs),
    })
}

/// Reads the `{"result": {"resourceLogs": [...]}}` that `GET /api/logs` answers with.
pub fn decode_logs_result(json: &[u8]) -> Result<Vec<logs::ResourceLogs>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Wrapper {
        result: LogsData,
    }
    let wrapper: Wrapper = serde_json::from_slice(json)?;
    Ok(convert(wrapper.result.resource_logs))
}

/// Writes `{"result": {"resourceLogs": [...]}}`, as the query API writes spans.
pub fn encode_logs_result(resource_logs: &[logs::ResourceLogs]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Wrapper {
        result: LogsData,
    }
    let wrapper = Wrapper {
        result: LogsData {
            resource_logs: convert_ref(resource_logs),
        },
    };
    serde_json::to_vec(&wrapper).expect("plain data always serializes")
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LogsData {
    #[serde(alias = "resource_logs")]
    resource_logs: Vec<ResourceLogs>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ResourceLogs {
    #[serde(deserialize_with = "nullable")]
    resource: Resource,
    #[serde(alias = "scope_logs", skip_serializing_if = "Vec::is_empty")]
    scope_logs: Vec<ScopeLogs>,
    #[serde(alias = "schema_url", skip_serializing_if = "String::is_empty")]
    schema_url: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ScopeLogs {
    #[serde(deserialize_with = "nullable")]
    scope: Scope,
    #[serde(alias = "log_records", skip_serializing_if = "Vec::is_empty")]
    log_records: Vec<LogRecord>,
    #[serde(alias = "schema_url", skip_serializing_if = "String::is_empty")]
    schema_url: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct LogRecord {
    #[serde(
        alias = "time_unix_nano",
        with = "u64_string",
        skip_serializing_if = "is_zero_u64"
    )]
    time_unix_nano: u64,
    #[serde(
        alias = "observed_time_unix_nano",
        with = "u64_string",
        skip_serializing_if = "is_zero_u64"
    )]
    observed_time_unix_nano: u64,
    #[serde(
        alias = "severity_number",
        with = "severity_number",
        skip_serializing_if = "is_zero_i32"
    )]
    severity_number: i32,
    #[serde(alias = "severity_text", skip_serializing_if = "String::is_empty")]
    severity_text: String,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    body: Option<AnyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
    #[serde(skip_serializing_if = "is_zero")]
    flags: u32,
    #[serde(
        alias = "trace_id",
        with = "hex_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    trace_id: Vec<u8>,
    #[serde(
        alias = "span_id",
        with = "hex_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    span_id: Vec<u8>,
    #[serde(alias = "event_name", skip_serializing_if = "String::is_empty")]
    event_name: String,
}

mod severity_number {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &i32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(*value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        super::enum_value(deserializer, |name| {
            super::SeverityNumber::from_str_name(name).map(|severity| severity as i32)
        })
    }
}

// JSON -> protobuf messages.

impl From<ResourceLogs> for logs::ResourceLogs {
    fn from(json: ResourceLogs) -> Self {
        Self {
            resource: Some(json.resource.into()),
            scope_logs: convert(json.scope_logs),
            schema_url: json.schema_url,
        }
    }
}

impl From<ScopeLogs> for logs::ScopeLogs {
    fn from(json: ScopeLogs) -> Self {
        Self {
            scope: Some(json.scope.into()),
            log_records: convert(json.log_records),
            schema_url: json.schema_url,
        }
    }
}

impl From<LogRecord> for logs::LogRecord {
    fn from(json: LogRecord) -> Self {
        Self {
            time_unix_nano: json.time_unix_nano,
            observed_time_unix_nano: json.observed_time_unix_nano,
            severity_number: json.severity_number,
            severity_text: json.severity_text,
            body: json.body.map(Into::into),
            attributes: convert(json.attributes),
            dropped_attributes_count: json.dropped_attributes_count,
            flags: json.flags,
            trace_id: json.trace_id,
            span_id: json.span_id,
            event_name: json.event_name,
        }
    }
}

// Protobuf messages -> JSON.

impl From<&logs::ResourceLogs> for ResourceLogs {
    fn from(proto: &logs::ResourceLogs) -> Self {
        Self {
            resource: proto.resource.as_ref().into(),
            scope_logs: convert_ref(&proto.scope_logs),
            schema_url: proto.schema_url.clone(),
        }
    }
}

impl From<&logs::ScopeLogs> for ScopeLogs {
    fn from(proto: &logs::ScopeLogs) -> Self {
        Self {
            scope: proto.scope.as_ref().into(),
            log_records: convert_ref(&proto.log_records),
            schema_url: proto.schema_url.clone(),
        }
    }
}

impl From<&logs::LogRecord> for LogRecord {
    fn from(proto: &logs::LogRecord) -> Self {
        Self {
            time_unix_nano: proto.time_unix_nano,
            observed_time_unix_nano: proto.observed_time_unix_nano,
            severity_number: proto.severity_number,
            severity_text: proto.severity_text.clone(),
            body: proto.body.as_ref().map(Into::into),
            attributes: convert_ref(&proto.attributes),
            dropped_attributes_count: proto.dropped_attributes_count,
            flags: proto.flags,
            trace_id: proto.trace_id.clone(),
            span_id: proto.span_id.clone(),
            event_name: proto.event_name.clone(),
        }
    }
}
