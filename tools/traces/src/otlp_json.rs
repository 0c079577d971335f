//! OTLP/JSON, the way the OpenTelemetry Collector's pdata and Jaeger write it: lowerCamelCase
//! names, trace and span ids in hex, 64-bit integers as decimal strings, enums (span kind, status
//! code) as numbers, and fields with default values left out (`"resource": {}`).
//!
//! Reading is lenient where receivers must be (OTLP's JSON encoding rules): snake_case names too,
//! integers as strings or numbers, enums as numbers or names, unknown fields ignored. The same
//! reader serves `POST /v1/traces` with a JSON body and the terminal commands, which read Jaeger's
//! answers.
//!
//! These are mirror types of the protobuf messages in `opentelemetry-proto`, converted both ways;
//! that crate's own `with-serde` feature writes every default (`"traceState": ""`,
//! `"status": null`) and reads times only as strings, which matches neither Jaeger nor OTLP.

use base64::Engine as _;
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1 as common,
    resource::v1 as resource,
    trace::v1::{self as trace, span},
};
use serde::{Deserialize, Serialize};

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

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct TracesData {
    #[serde(alias = "resource_spans")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ResourceSpans {
    #[serde(deserialize_with = "nullable")]
    resource: Resource,
    #[serde(alias = "scope_spans", skip_serializing_if = "Vec::is_empty")]
    scope_spans: Vec<ScopeSpans>,
    #[serde(alias = "schema_url", skip_serializing_if = "String::is_empty")]
    schema_url: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Resource {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ScopeSpans {
    #[serde(deserialize_with = "nullable")]
    scope: Scope,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    spans: Vec<Span>,
    #[serde(alias = "schema_url", skip_serializing_if = "String::is_empty")]
    schema_url: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Scope {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Span {
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
    #[serde(alias = "trace_state", skip_serializing_if = "String::is_empty")]
    trace_state: String,
    #[serde(
        alias = "parent_span_id",
        with = "hex_bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    parent_span_id: Vec<u8>,
    #[serde(skip_serializing_if = "is_zero")]
    flags: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(with = "span_kind", skip_serializing_if = "is_zero_i32")]
    kind: i32,
    #[serde(
        alias = "start_time_unix_nano",
        with = "u64_string",
        skip_serializing_if = "is_zero_u64"
    )]
    start_time_unix_nano: u64,
    #[serde(
        alias = "end_time_unix_nano",
        with = "u64_string",
        skip_serializing_if = "is_zero_u64"
    )]
    end_time_unix_nano: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<Event>,
    #[serde(alias = "dropped_events_count", skip_serializing_if = "is_zero")]
    dropped_events_count: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
    #[serde(alias = "dropped_links_count", skip_serializing_if = "is_zero")]
    dropped_links_count: u32,
    /// Always written, `{}` when unset, as pdata does.
    #[serde(deserialize_with = "nullable")]
    status: Status,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Event {
    #[serde(
        alias = "time_unix_nano",
        with = "u64_string",
        skip_serializing_if = "is_zero_u64"
    )]
    time_unix_nano: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Link {
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
    #[serde(alias = "trace_state", skip_serializing_if = "String::is_empty")]
    trace_state: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
    #[serde(skip_serializing_if = "is_zero")]
    flags: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Status {
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(with = "status_code", skip_serializing_if = "is_zero_i32")]
    code: i32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct KeyValue {
    key: String,
    #[serde(deserialize_with = "nullable")]
    value: AnyValue,
}

/// One of the seven kinds of value, or none (`{}`).
#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AnyValue {
    #[serde(alias = "string_value", skip_serializing_if = "Option::is_none")]
    string_value: Option<String>,
    #[serde(alias = "bool_value", skip_serializing_if = "Option::is_none")]
    bool_value: Option<bool>,
    #[serde(
        alias = "int_value",
        with = "i64_string",
        skip_serializing_if = "Option::is_none"
    )]
    int_value: Option<i64>,
    #[serde(
        alias = "double_value",
        with = "double",
        skip_serializing_if = "Option::is_none"
    )]
    double_value: Option<f64>,
    #[serde(alias = "array_value", skip_serializing_if = "Option::is_none")]
    array_value: Option<ArrayValue>,
    #[serde(alias = "kvlist_value", skip_serializing_if = "Option::is_none")]
    kvlist_value: Option<KeyValueList>,
    #[serde(
        alias = "bytes_value",
        with = "base64_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    bytes_value: Option<Vec<u8>>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct ArrayValue {
    values: Vec<AnyValue>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct KeyValueList {
    values: Vec<KeyValue>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

fn is_zero_u64(value: &u64) -> bool {
    *value == 0
}

/// `null` reads as the default, as protobuf's JSON mapping says.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Ids: lower-case hex.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        hex::decode(&text).map_err(|e| serde::de::Error::custom(format!("id {text:?}: {e}")))
    }
}

/// An integer written as a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Integer<T> {
    Number(T),
    Text(String),
}

impl<T: std::str::FromStr> Integer<T> {
    fn value<E: serde::de::Error>(self) -> Result<T, E> {
        match self {
            Self::Number(value) => Ok(value),
            Self::Text(text) => text
                .parse()
                .map_err(|_| E::custom(format!("{text:?} is not an integer"))),
        }
    }
}

/// 64-bit times: written as decimal strings, read from strings or numbers.
mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Integer;

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        match Option::<Integer<u64>>::deserialize(deserializer)? {
            Some(integer) => integer.value(),
            None => Ok(0),
        }
    }
}

/// `intValue`: written as a decimal string, read from a string or a number.
mod i64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Integer;

    pub fn serialize<S: Serializer>(value: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<Integer<i64>>::deserialize(deserializer)?
            .map(Integer::value)
            .transpose()
    }
}

/// `doubleValue`: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`, which JSON numbers cannot say.
mod double {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) if value.is_nan() => serializer.serialize_str("NaN"),
            Some(value) if value.is_infinite() && *value > 0.0 => {
                serializer.serialize_str("Infinity")
            }
            Some(value) if value.is_infinite() => serializer.serialize_str("-Infinity"),
            Some(value) => serializer.serialize_f64(*value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Double {
            Number(f64),
            Text(String),
        }
        Ok(match Option::<Double>::deserialize(deserializer)? {
            None => None,
            Some(Double::Number(value)) => Some(value),
            Some(Double::Text(text)) => Some(match text.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => other
                    .parse()
                    .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number")))?,
            }),
        })
    }
}

/// `bytesValue`: base64.
mod base64_bytes {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&STANDARD.encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Enums: written as numbers, read from numbers or their protobuf names.
fn enum_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    from_name: fn(&str) -> Option<i32>,
) -> Result<i32, D::Error> {
    match Option::<Integer<i32>>::deserialize(deserializer)? {
        None => Ok(0),
        Some(Integer::Number(value)) => Ok(value),
        Some(Integer::Text(name)) => from_name(&name)
            .or_else(|| name.parse().ok())
            .ok_or_else(|| serde::de::Error::custom(format!("unknown enum value {name:?}"))),
    }
}

mod span_kind {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &i32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(*value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        super::enum_value(deserializer, |name| {
            super::span::SpanKind::from_str_name(name).map(|kind| kind as i32)
        })
    }
}

mod status_code {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &i32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(*value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        super::enum_value(deserializer, |name| {
            super::trace::status::StatusCode::from_str_name(name).map(|code| code as i32)
        })
    }
}

// JSON -> protobuf messages.

impl From<ResourceSpans> for trace::ResourceSpans {
    fn from(json: ResourceSpans) -> Self {
        Self {
            resource: Some(resource::Resource {
                attributes: convert(json.resource.attributes),
                dropped_attributes_count: json.resource.dropped_attributes_count,
                entity_refs: Vec::new(),
            }),
            scope_spans: convert(json.scope_spans),
            schema_url: json.schema_url,
        }
    }
}

impl From<ScopeSpans> for trace::ScopeSpans {
    fn from(json: ScopeSpans) -> Self {
        Self {
            scope: Some(common::InstrumentationScope {
                name: json.scope.name,
                version: json.scope.version,
                attributes: convert(json.scope.attributes),
                dropped_attributes_count: json.scope.dropped_attributes_count,
            }),
            spans: convert(json.spans),
            schema_url: json.schema_url,
        }
    }
}

impl From<Span> for trace::Span {
    fn from(json: Span) -> Self {
        Self {
            trace_id: json.trace_id,
            span_id: json.span_id,
            trace_state: json.trace_state,
            parent_span_id: json.parent_span_id,
            flags: json.flags,
            name: json.name,
            kind: json.kind,
            start_time_unix_nano: json.start_time_unix_nano,
            end_time_unix_nano: json.end_time_unix_nano,
            attributes: convert(json.attributes),
            dropped_attributes_count: json.dropped_attributes_count,
            events: convert(json.events),
            dropped_events_count: json.dropped_events_count,
            links: convert(json.links),
            dropped_links_count: json.dropped_links_count,
            status: (json.status.code != 0 || !json.status.message.is_empty()).then_some(
                trace::Status {
                    message: json.status.message,
                    code: json.status.code,
                },
            ),
        }
    }
}

impl From<Event> for span::Event {
    fn from(json: Event) -> Self {
        Self {
            time_unix_nano: json.time_unix_nano,
            name: json.name,
            attributes: convert(json.attributes),
            dropped_attributes_count: json.dropped_attributes_count,
        }
    }
}

impl From<Link> for span::Link {
    fn from(json: Link) -> Self {
        Self {
            trace_id: json.trace_id,
            span_id: json.span_id,
            trace_state: json.trace_state,
            attributes: convert(json.attributes),
            dropped_attributes_count: json.dropped_attributes_count,
            flags: json.flags,
        }
    }
}

impl From<KeyValue> for common::KeyValue {
    fn from(json: KeyValue) -> Self {
        Self {
            key: json.key,
            value: Some(json.value.into()),
        }
    }
}

impl From<AnyValue> for common::AnyValue {
    fn from(json: AnyValue) -> Self {
        use common::any_value::Value;
        let value = if let Some(text) = json.string_value {
            Some(Value::StringValue(text))
        } else if let Some(flag) = json.bool_value {
            Some(Value::BoolValue(flag))
        } else if let Some(integer) = json.int_value {
            Some(Value::IntValue(integer))
        } else if let Some(double) = json.double_value {
            Some(Value::DoubleValue(double))
        } else if let Some(array) = json.array_value {
            Some(Value::ArrayValue(common::ArrayValue {
                values: convert(array.values),
            }))
        } else if let Some(list) = json.kvlist_value {
            Some(Value::KvlistValue(common::KeyValueList {
                values: convert(list.values),
            }))
        } else {
            json.bytes_value.map(Value::BytesValue)
        };
        Self { value }
    }
}

// Protobuf messages -> JSON.

impl From<&trace::ResourceSpans> for ResourceSpans {
    fn from(proto: &trace::ResourceSpans) -> Self {
        let resource = proto.resource.as_ref();
        Self {
            resource: Resource {
                attributes: resource
                    .map(|r| convert_ref(&r.attributes))
                    .unwrap_or_default(),
                dropped_attributes_count: resource.map_or(0, |r| r.dropped_attributes_count),
            },
            scope_spans: convert_ref(&proto.scope_spans),
            schema_url: proto.schema_url.clone(),
        }
    }
}

impl From<&trace::ScopeSpans> for ScopeSpans {
    fn from(proto: &trace::ScopeSpans) -> Self {
        let scope = proto.scope.as_ref();
        Self {
            scope: Scope {
                name: scope.map(|s| s.name.clone()).unwrap_or_default(),
                version: scope.map(|s| s.version.clone()).unwrap_or_default(),
                attributes: scope
                    .map(|s| convert_ref(&s.attributes))
                    .unwrap_or_default(),
                dropped_attributes_count: scope.map_or(0, |s| s.dropped_attributes_count),
            },
            spans: convert_ref(&proto.spans),
            schema_url: proto.schema_url.clone(),
        }
    }
}

impl From<&trace::Span> for Span {
    fn from(proto: &trace::Span) -> Self {
        let status = proto.status.clone().unwrap_or_default();
        Self {
            trace_id: proto.trace_id.clone(),
            span_id: proto.span_id.clone(),
            trace_state: proto.trace_state.clone(),
            parent_span_id: proto.parent_span_id.clone(),
            flags: proto.flags,
            name: proto.name.clone(),
            kind: proto.kind,
            start_time_unix_nano: proto.start_time_unix_nano,
            end_time_unix_nano: proto.end_time_unix_nano,
            attributes: convert_ref(&proto.attributes),
            dropped_attributes_count: proto.dropped_attributes_count,
            events: convert_ref(&proto.events),
            dropped_events_count: proto.dropped_events_count,
            links: convert_ref(&proto.links),
            dropped_links_count: proto.dropped_links_count,
            status: Status {
                message: status.message,
                code: status.code,
            },
        }
    }
}

impl From<&span::Event> for Event {
    fn from(proto: &span::Event) -> Self {
        Self {
            time_unix_nano: proto.time_unix_nano,
            name: proto.name.clone(),
            attributes: convert_ref(&proto.attributes),
            dropped_attributes_count: proto.dropped_attributes_count,
        }
    }
}

impl From<&span::Link> for Link {
    fn from(proto: &span::Link) -> Self {
        Self {
            trace_id: proto.trace_id.clone(),
            span_id: proto.span_id.clone(),
            trace_state: proto.trace_state.clone(),
            attributes: convert_ref(&proto.attributes),
            dropped_attributes_count: proto.dropped_attributes_count,
            flags: proto.flags,
        }
    }
}

impl From<&common::KeyValue> for KeyValue {
    fn from(proto: &common::KeyValue) -> Self {
        Self {
            key: proto.key.clone(),
            value: proto.value.as_ref().map(Into::into).unwrap_or_default(),
        }
    }
}

impl From<&common::AnyValue> for AnyValue {
    fn from(proto: &common::AnyValue) -> Self {
        use common::any_value::Value;
        let mut json = Self::default();
        match &proto.value {
            Some(Value::StringValue(text)) => json.string_value = Some(text.clone()),
            Some(Value::BoolValue(flag)) => json.bool_value = Some(*flag),
            Some(Value::IntValue(integer)) => json.int_value = Some(*integer),
            Some(Value::DoubleValue(double)) => json.double_value = Some(*double),
            Some(Value::ArrayValue(array)) => {
                json.array_value = Some(ArrayValue {
                    values: convert_ref(&array.values),
                });
            }
            Some(Value::KvlistValue(list)) => {
                json.kvlist_value = Some(KeyValueList {
                    values: convert_ref(&list.values),
                });
            }
            Some(Value::BytesValue(bytes)) => json.bytes_value = Some(bytes.clone()),
            None => {}
        }
        json
    }
}

fn convert<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}

fn convert_ref<'a, A: 'a, B: From<&'a A>>(items: &'a [A]) -> Vec<B> {
    items.iter().map(B::from).collect()
}

/// Base64 of bytes, for a `bytesValue` shown to people.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The span of Jaeger's own snapshot (GetTrace.json), as protobuf.
    fn snapshot_span() -> trace::ResourceSpans {
        trace::ResourceSpans {
            resource: Some(resource::Resource::default()),
            scope_spans: vec![trace::ScopeSpans {
                scope: Some(common::InstrumentationScope::default()),
                spans: vec![trace::Span {
                    trace_id: hex::decode("00000000000000000000000000000001").unwrap(),
                    span_id: hex::decode("0000000000000002").unwrap(),
                    name: "foobar".to_owned(),
                    kind: span::SpanKind::Server as i32,
                    status: Some(trace::Status {
                        message: String::new(),
                        code: trace::status::StatusCode::Error as i32,
                    }),
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }
    }

    #[test]
    fn a_trace_is_written_exactly_as_jaegers_snapshot() {
        let written: Value = serde_json::from_slice(&encode_result(&[snapshot_span()])).unwrap();
        let jaeger = json!({"result": {"resourceSpans": [{"resource": {}, "scopeSpans": [{
            "scope": {}, "spans": [{"kind": 2, "name": "foobar", "spanId": "0000000000000002",
            "status": {"code": 2}, "traceId": "00000000000000000000000000000001"}]}]}]}});
        assert_eq!(written, jaeger);
    }

    #[test]
    fn times_and_integers_are_decimal_strings_and_values_keep_their_types() {
        let mut resource_spans = snapshot_span();
        let span = &mut resource_spans.scope_spans[0].spans[0];
        span.start_time_unix_nano = 1_700_000_000_123_456_789;
        span.end_time_unix_nano = 1_700_000_000_223_456_789;
        let value = |v| Some(common::AnyValue { value: Some(v) });
        use common::any_value::Value as V;
        span.attributes = vec![
            common::KeyValue {
                key: "int".into(),
                value: value(V::IntValue(200)),
            },
            common::KeyValue {
                key: "double".into(),
                value: value(V::DoubleValue(0.5)),
            },
            common::KeyValue {
                key: "bool".into(),
                value: value(V::BoolValue(true)),
            },
            common::KeyValue {
                key: "bytes".into(),
                value: value(V::BytesValue(vec![1, 2])),
            },
        ];
        let written: Value = serde_json::from_slice(&encode_result(&[resource_spans])).unwrap();
        let span = &written["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["startTimeUnixNano"], "1700000000123456789");
        assert_eq!(span["endTimeUnixNano"], "1700000000223456789");
        assert_eq!(
            span["attributes"],
            json!([{"key": "int", "value": {"intValue": "200"}},
                   {"key": "double", "value": {"doubleValue": 0.5}},
                   {"key": "bool", "value": {"boolValue": true}},
                   {"key": "bytes", "value": {"bytesValue": "AQI="}}])
        );
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let original = vec![snapshot_span()];
        let read = decode_result(&encode_result(&original)).unwrap();
        assert_eq!(read, original);
    }

    #[test]
    fn reading_accepts_what_otlp_receivers_must() {
        let request = decode_request(
            br#"{"resource_spans": [{"resource": null, "scopeSpans": [{"scope": {"name": "lib"},
                "spans": [{"trace_id": "5B8EFFF798038103D269B633813FC60C", "spanId": "eee19b7ec3c1b174",
                "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": 1544712660000000000,
                "endTimeUnixNano": "1544712661000000000", "status": {"code": "STATUS_CODE_ERROR"},
                "attributes": [{"key": "n", "value": {"intValue": 7}},
                               {"key": "s", "value": {"string_value": "x"}}],
                "somethingNew": {"ignored": true}}]}]}]}"#,
        )
        .unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            hex::encode(&span.trace_id),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(span.kind, span::SpanKind::Client as i32);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        assert_eq!(
            span.attributes[0].value.as_ref().unwrap().value,
            Some(common::any_value::Value::IntValue(7))
        );
        assert_eq!(
            span.attributes[1].value.as_ref().unwrap().value,
            Some(common::any_value::Value::StringValue("x".into()))
        );
    }

    #[test]
    fn malformed_json_is_an_error() {
        for bad in [
            &br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}"#[..],
            br#"{"resourceSpans": {}}"#,
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}"#,
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "SIDEWAYS"}]}]}]}"#,
            b"{",
            b"",
        ] {
            assert!(
                decode_request(bad).is_err(),
                "{} should not decode",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
