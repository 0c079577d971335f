//! Spans: `TracesData` and what it holds.

use opentelemetry_proto::tonic::trace::v1::{self as trace, span};
use serde::{Deserialize, Serialize};

use super::{
    encoding::{enum_value, hex_bytes, is_zero, is_zero_i32, is_zero_u64, nullable, u64_string},
    values::{KeyValue, Resource, Scope, convert, convert_ref},
};

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct TracesData {
    #[serde(alias = "resource_spans")]
    pub(super) resource_spans: Vec<ResourceSpans>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ResourceSpans {
    #[serde(deserialize_with = "nullable")]
    resource: Resource,
    #[serde(alias = "scope_spans", skip_serializing_if = "Vec::is_empty")]
    scope_spans: Vec<ScopeSpans>,
    #[serde(alias = "schema_url", skip_serializing_if = "String::is_empty")]
    schema_url: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ScopeSpans {
    #[serde(deserialize_with = "nullable")]
    scope: Scope,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    spans: Vec<Span>,
    #[serde(alias = "schema_url", skip_serializing_if = "String::is_empty")]
    schema_url: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Span {
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
pub(super) struct Event {
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
pub(super) struct Link {
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
pub(super) struct Status {
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(with = "status_code", skip_serializing_if = "is_zero_i32")]
    code: i32,
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
            resource: Some(json.resource.into()),
            scope_spans: convert(json.scope_spans),
            schema_url: json.schema_url,
        }
    }
}

impl From<ScopeSpans> for trace::ScopeSpans {
    fn from(json: ScopeSpans) -> Self {
        Self {
            scope: Some(json.scope.into()),
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

// Protobuf messages -> JSON.

impl From<&trace::ResourceSpans> for ResourceSpans {
    fn from(proto: &trace::ResourceSpans) -> Self {
        Self {
            resource: proto.resource.as_ref().into(),
            scope_spans: convert_ref(&proto.scope_spans),
            schema_url: proto.schema_url.clone(),
        }
    }
}

impl From<&trace::ScopeSpans> for ScopeSpans {
    fn from(proto: &trace::ScopeSpans) -> Self {
        Self {
            scope: proto.scope.as_ref().into(),
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
