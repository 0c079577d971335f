//! The stored spans and log records read back flat, every attribute with its OTLP type: for a
//! program that embeds the store and checks what arrived (the tests' collector), where an int
//! attribute must be an int and not the text `"200"`, since a backend filtering
//! `http.response.status_code >= 500` sees the type.

use std::{collections::HashMap, time::Duration};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as OtlpValue};

use super::{Inner, Origin, Store, StoredSpan, logs::StoredRecord};
use crate::ids::TraceId;

/// The kind of a span, as OTLP numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    fn of(kind: u8) -> Self {
        match kind {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }
}

/// An attribute's value as OTLP carries it, type and all.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Vec<Value>),
    /// OTLP's key-value list, in the order it came.
    Map(Vec<(String, Value)>),
    Bytes(Vec<u8>),
    /// An `AnyValue` with nothing in it.
    Empty,
}

impl Value {
    pub fn from_otlp(value: Option<&AnyValue>) -> Self {
        match value.and_then(|value| value.value.as_ref()) {
            Some(OtlpValue::StringValue(s)) => Self::String(s.clone()),
            Some(OtlpValue::BoolValue(b)) => Self::Bool(*b),
            Some(OtlpValue::IntValue(i)) => Self::Int(*i),
            Some(OtlpValue::DoubleValue(d)) => Self::Double(*d),
            Some(OtlpValue::ArrayValue(array)) => Self::Array(
                array
                    .values
                    .iter()
                    .map(|value| Self::from_otlp(Some(value)))
                    .collect(),
            ),
            Some(OtlpValue::KvlistValue(list)) => Self::Map(
                list.values
                    .iter()
                    .map(|kv| (kv.key.clone(), Self::from_otlp(kv.value.as_ref())))
                    .collect(),
            ),
            Some(OtlpValue::BytesValue(bytes)) => Self::Bytes(bytes.clone()),
            None => Self::Empty,
        }
    }

    /// The OTLP type's name, for failure messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::String(_) => "string",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Double(_) => "double",
            Self::Array(_) => "array",
            Self::Map(_) => "kvlist",
            Self::Bytes(_) => "bytes",
            Self::Empty => "empty",
        }
    }
}

/// Strings as they are, the rest as a user's tool would print them (`201`, `true`, `[a, b]`).
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Double(d) => write!(f, "{d}"),
            Self::Array(values) => {
                let values: Vec<String> = values.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", values.join(", "))
            }
            Self::Map(entries) => {
                let entries: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "{{{}}}", entries.join(", "))
            }
            Self::Bytes(bytes) => f.write_str(&hex::encode(bytes)),
            Self::Empty => Ok(()),
        }
    }
}

/// Attributes by key, each with its type.
pub type Attributes = HashMap<String, Value>;

fn attributes(key_values: &[KeyValue]) -> Attributes {
    key_values
        .iter()
        .map(|kv| (kv.key.clone(), Value::from_otlp(kv.value.as_ref())))
        .collect()
}

/// A string among `attributes`; `None` when it is missing or of another type.
fn text<'a>(attributes: &'a Attributes, key: &str) -> Option<&'a str> {
    match attributes.get(key) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// Each `key=value`, after `text`: every string a span or record carries, for a search for
/// leaked secrets.
fn all_text<'a>(mut text: String, attributes: impl Iterator<Item = &'a Attributes>) -> String {
    for (key, value) in attributes.flatten() {
        text.push_str(&format!(" {key}={value}"));
    }
    text
}

/// One stored span, flat: its resource's `service.name`, ids as hex, typed attributes.
#[derive(Debug, Clone)]
pub struct Span {
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub attributes: Attributes,
    /// Each event's name and attributes.
    pub events: Vec<(String, Attributes)>,
    pub status_error: bool,
    pub status_message: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub resource: Attributes,
}

impl Span {
    fn of(span: &StoredSpan, trace_id: TraceId) -> Self {
        let otlp = span.to_otlp(trace_id);
        let status = otlp.status.unwrap_or_default();
        Self {
            service: span.origin.service.to_string(),
            name: span.name.to_string(),
            kind: SpanKind::of(span.fields.kind),
            trace_id: trace_id.to_string(),
            span_id: span.fields.span_id.to_string(),
            parent_span_id: span
                .fields
                .parent
                .map(|p| p.to_string())
                .unwrap_or_default(),
            attributes: attributes(&otlp.attributes),
            events: otlp
                .events
                .iter()
                .map(|event| (event.name.clone(), attributes(&event.attributes)))
                .collect(),
            status_error: span.fields.error,
            status_message: status.message,
            start_unix_nano: span.fields.start,
            end_unix_nano: span.fields.end,
            resource: attributes(&span.origin.resource.attributes),
        }
    }

    /// A string attribute's text; `None` when it is missing or of another type.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        text(&self.attributes, key)
    }

    /// An integer attribute; `None` when it is missing or of another type (a `"201"` string
    /// included).
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.attributes.get(key) {
            Some(Value::Int(value)) => Some(*value),
            _ => None,
        }
    }

    /// A string attribute of the resource the span came with.
    pub fn resource_attribute(&self, key: &str) -> Option<&str> {
        text(&self.resource, key)
    }

    /// The events named `name`, with their attributes.
    pub fn events_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Attributes> {
        self.events
            .iter()
            .filter(move |(event, _)| event == name)
            .map(|(_, attributes)| attributes)
    }

    /// How long the span lasted.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_unix_nano.saturating_sub(self.start_unix_nano))
    }

    /// Every string this span carries, its events' included.
    pub fn all_text(&self) -> String {
        let mut text = all_text(
            format!("{} {}", self.name, self.status_message),
            [&self.attributes, &self.resource].into_iter(),
        );
        for (name, attributes) in &self.events {
            text = all_text(format!("{text} {name}"), std::iter::once(attributes));
        }
        text
    }
}

/// The log data model's severity numbers (`SeverityNumber`) of the levels the services write.
pub mod severity {
    pub const INFO: i32 = 9;
    pub const WARN: i32 = 13;
    pub const ERROR: i32 = 17;
}

/// One stored log record, flat: its resource's `service.name`, ids as hex (empty when it
/// belongs to no trace), typed attributes.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub service: String,
    /// The instrumentation scope it came under.
    pub scope: String,
    pub trace_id: String,
    pub span_id: String,
    /// The log data model's `SeverityNumber` (see [`severity`]).
    pub severity_number: i32,
    pub severity_text: String,
    pub body: Value,
    pub event_name: String,
    pub attributes: Attributes,
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub resource: Attributes,
}

impl LogRecord {
    fn of(record: &StoredRecord, trace_id: Option<TraceId>) -> Self {
        let otlp = record.to_otlp(trace_id);
        let origin: &Origin = &record.origin;
        Self {
            service: origin.service.to_string(),
            scope: origin.scope.name.clone(),
            trace_id: trace_id.map(|id| id.to_string()).unwrap_or_default(),
            span_id: hex::encode(&otlp.span_id),
            severity_number: otlp.severity_number,
            severity_text: otlp.severity_text,
            body: Value::from_otlp(otlp.body.as_ref()),
            event_name: otlp.event_name,
            attributes: attributes(&otlp.attributes),
            time_unix_nano: otlp.time_unix_nano,
            observed_time_unix_nano: otlp.observed_time_unix_nano,
            resource: attributes(&origin.resource.attributes),
        }
    }

    /// A string attribute's text; `None` when it is missing or of another type.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        text(&self.attributes, key)
    }

    /// WARN or worse.
    pub fn is_warning_or_worse(&self) -> bool {
        self.severity_number >= severity::WARN
    }

    /// Every string this record carries.
    pub fn all_text(&self) -> String {
        all_text(
            format!(
                "{} {} {} {}",
                self.scope, self.severity_text, self.body, self.event_name
            ),
            [&self.attributes, &self.resource].into_iter(),
        )
    }

    /// One line: service, severity, ids, body and attributes (sorted by key).
    pub fn describe(&self) -> String {
        let mut attributes: Vec<String> = self
            .attributes
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        attributes.sort();
        format!(
            "  {:<16} {:<5} trace={} span={} {:?} {}",
            self.service,
            self.severity_text,
            self.trace_id,
            self.span_id,
            self.body.to_string(),
            attributes.join(" ")
        )
    }
}

impl Store {
    /// Every stored span, flat: the traces in the order they arrived, each trace's spans in
    /// the order they arrived.
    pub fn flat_spans(&self) -> Vec<Span> {
        let inner = self.read();
        inner
            .in_arrival()
            .flat_map(|(trace_id, trace)| trace.spans.iter().map(move |s| Span::of(s, trace_id)))
            .collect()
    }

    /// A trace's spans, flat, in the order they arrived; none when the store has not that trace.
    pub fn flat_trace(&self, trace_id: TraceId) -> Vec<Span> {
        let inner = self.read();
        inner.traces.get(&trace_id).map_or_else(Vec::new, |trace| {
            trace.spans.iter().map(|s| Span::of(s, trace_id)).collect()
        })
    }

    /// Every stored log record, flat: each trace's in the order they arrived, the traces in
    /// theirs, then those without a trace (kept by [`Store::keeping_untraced_records`]).
    pub fn flat_records(&self) -> Vec<LogRecord> {
        let inner = self.read();
        let traced = inner.in_arrival().flat_map(|(trace_id, trace)| {
            trace
                .records
                .iter()
                .map(move |r| LogRecord::of(r, Some(trace_id)))
        });
        let untraced = inner
            .untraced_records
            .iter()
            .map(|r| LogRecord::of(r, None));
        traced.chain(untraced).collect()
    }

    /// How many spans and log records the store holds, those without a trace included: what
    /// changes while exports arrive.
    pub fn received(&self) -> usize {
        let inner = self.read();
        inner.spans + inner.records + inner.untraced_records.len()
    }
}

impl Inner {
    fn in_arrival(&self) -> impl Iterator<Item = (TraceId, &super::Trace)> {
        self.arrival
            .iter()
            .filter_map(|trace_id| Some((*trace_id, self.traces.get(trace_id)?)))
    }
}

#[cfg(test)]
mod tests;
