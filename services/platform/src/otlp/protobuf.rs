//! OTLP's `ExportTraceServiceRequest` in protobuf, written straight from the SDK's spans (and,
//! by [`logs`], the `ExportLogsServiceRequest` from its log records).
//!
//! opentelemetry-otlp clones every span, copies it into opentelemetry-proto's structs (each key and
//! string value a new `String`), and prost encodes those, measuring each nested message again at
//! every level it is nested in. That was two thirds of what tracing added to a `GET /blogs`
//! (docs/tracing.md, "What tracing costs"). Here the spans are read where they are and each
//! message is written once: its length goes in front of it when it is done, in one byte that is
//! widened (moving the message) only when the message is 128 bytes or longer.
//!
//! The field numbers are those of opentelemetry-proto's `.proto` files (trace/v1/trace.proto,
//! common/v1/common.proto, resource/v1/resource.proto). As prost does, fields go in the order of
//! their numbers, and a field holding its default (0, an empty string) is left out, but for
//! `AnyValue`'s one-of, which is always written. So the bytes are prost's: the tests compare them
//! with prost's encoding of what opentelemetry-proto's own transform makes of the same spans.
//!
//! Attribute values are `opentelemetry::Value`s, whose kinds, and those of its `Array`, are
//! `#[non_exhaustive]`: a release of opentelemetry may add one (bytes, say, or maps), and this
//! encoder would still compile without a word. A value of a kind it does not know goes out as its
//! text (`Value::as_str`, the API's own rendering) in `string_value`: the attribute still arrives,
//! saying what it held, instead of unset or as an empty array, which a reader would take for what
//! was recorded, and one attribute does not cost its span or the batch, as an error would.
//! (The transform panics on such a value.) No test can make a kind that does not exist yet, so
//! a panic in that arm under `cfg(test)` could never fire, and a `debug_assert!` is off in the
//! release builds the tests run in. What notices a new kind is the test
//! `knows_every_kind_of_value_of_the_opentelemetry_in_use`, which fails as soon as Cargo.lock
//! holds another release of opentelemetry than the one whose kinds were checked: whoever upgrades
//! reads its `Value` and `Array`, teaches the encoder and the property test's `any_value()` any
//! new kind, and moves the test's version.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{
    Array, InstrumentationScope, KeyValue, Value,
    trace::{SpanContext, SpanId, SpanKind, Status},
};
use opentelemetry_sdk::{Resource, trace::SpanData};

pub(super) mod logs;

/// A resource, encoded once when the provider hands it over: every export repeats it.
#[derive(Debug, Default)]
pub(crate) struct EncodedResource {
    /// The `Resource` message's fields.
    fields: Vec<u8>,
    schema_url: String,
}

impl EncodedResource {
    pub(crate) fn new(resource: &Resource) -> Self {
        let mut fields = Writer::default();
        for (key, value) in resource.iter() {
            fields.message(1, |field| field.key_value(key.as_str(), value));
        }
        Self {
            fields: fields.buf,
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

/// The `ExportTraceServiceRequest` carrying `spans` of `resource`, one `ScopeSpans` for each
/// instrumentation scope, in the order the scopes first appear.
pub(crate) fn export_request(resource: &EncodedResource, spans: &[SpanData]) -> Vec<u8> {
    let mut scopes: Vec<(&InstrumentationScope, Vec<&SpanData>)> = Vec::new();
    for span in spans {
        match scopes
            .iter_mut()
            .find(|(scope, _)| **scope == span.instrumentation_scope)
        {
            Some((_, members)) => members.push(span),
            None => scopes.push((&span.instrumentation_scope, vec![span])),
        }
    }
    let mut request = Writer::with_capacity(spans.len() * 512);
    request.message(1, |resource_spans| {
        resource_spans.message(1, |fields| fields.buf.extend_from_slice(&resource.fields));
        for (scope, spans) in &scopes {
            resource_spans.message(2, |scope_spans| {
                scope_spans.message(1, |fields| fields.scope(scope));
                for span in spans {
                    scope_spans.message(2, |fields| fields.span(span));
                }
                scope_spans.string(3, scope.schema_url().unwrap_or_default());
            });
        }
        resource_spans.string(3, &resource.schema_url);
    });
    request.buf
}

/// Appends protobuf fields to a buffer.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// A nested message: its key, its length, and the fields `write` appends.
    fn message(&mut self, field: u32, write: impl FnOnce(&mut Self)) {
        self.key(field, WireType::LengthDelimited);
        let length_at = self.buf.len();
        // Most messages (an attribute, a value) are shorter than 128 bytes, whose length takes
        // one byte; a longer one moves over to make room for the rest.
        self.buf.push(0);
        write(self);
        let length = Varint::new((self.buf.len() - length_at - 1) as u64);
        match length.as_bytes() {
            [byte] => self.buf[length_at] = *byte,
            bytes => {
                self.buf
                    .splice(length_at..=length_at, bytes.iter().copied());
            }
        }
    }

    /// A field's key: its number, and in the low three bits how its value is laid out.
    fn key(&mut self, field: u32, wire_type: WireType) {
        self.put_varint((u64::from(field) << 3) | wire_type as u64);
    }

    fn put_varint(&mut self, value: u64) {
        self.buf.extend_from_slice(Varint::new(value).as_bytes());
    }

    fn bytes(&mut self, field: u32, value: &[u8]) {
        if !value.is_empty() {
            self.length_delimited(field, value);
        }
    }

    fn string(&mut self, field: u32, value: &str) {
        self.bytes(field, value.as_bytes());
    }

    fn length_delimited(&mut self, field: u32, value: &[u8]) {
        self.key(field, WireType::LengthDelimited);
        self.put_varint(value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    fn varint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.key(field, WireType::Varint);
            self.put_varint(value);
        }
    }

    fn fixed64(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.key(field, WireType::SixtyFourBit);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn fixed32(&mut self, field: u32, value: u32) {
        if value != 0 {
            self.key(field, WireType::ThirtyTwoBit);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// `InstrumentationScope`.
    fn scope(&mut self, scope: &InstrumentationScope) {
        self.string(1, scope.name());
        self.string(2, scope.version().unwrap_or_default());
        self.attributes(3, scope.attributes());
    }

    /// `Span`.
    fn span(&mut self, span: &SpanData) {
        let context = &span.span_context;
        self.bytes(1, &context.trace_id().to_bytes());
        self.bytes(2, &context.span_id().to_bytes());
        self.string(3, &context.trace_state().header());
        if span.parent_span_id != SpanId::INVALID {
            self.bytes(4, &span.parent_span_id.to_bytes());
        }
        self.string(5, &span.name);
        self.varint(6, span_kind(&span.span_kind));
        self.fixed64(7, unix_nanos(span.start_time));
        self.fixed64(8, unix_nanos(span.end_time));
        self.attributes(9, &span.attributes);
        self.varint(10, span.dropped_attributes_count.into());
        for event in &span.events.events {
            self.message(11, |fields| {
                fields.fixed64(1, unix_nanos(event.timestamp));
                fields.string(2, &event.name);
                fields.attributes(3, &event.attributes);
                fields.varint(4, event.dropped_attributes_count.into());
            });
        }
        self.varint(12, span.events.dropped_count.into());
        for link in &span.links.links {
            self.message(13, |fields| {
                let context = &link.span_context;
                fields.bytes(1, &context.trace_id().to_bytes());
                fields.bytes(2, &context.span_id().to_bytes());
                fields.string(3, &context.trace_state().header());
                fields.attributes(4, &link.attributes);
                fields.varint(5, link.dropped_attributes_count.into());
                fields.fixed32(6, span_flags(context, context.is_remote()));
            });
        }
        self.varint(14, span.links.dropped_count.into());
        self.message(15, |status| match &span.status {
            Status::Unset => {}
            Status::Ok => status.varint(3, 1),
            Status::Error { description } => {
                status.string(2, description);
                status.varint(3, 2);
            }
        });
        self.fixed32(16, span_flags(context, span.parent_span_is_remote));
    }

    fn attributes<'a>(&mut self, field: u32, attributes: impl IntoIterator<Item = &'a KeyValue>) {
        for attribute in attributes {
            self.message(field, |fields| {
                fields.key_value(attribute.key.as_str(), &attribute.value);
            });
        }
    }

    /// `KeyValue`.
    fn key_value(&mut self, key: &str, value: &Value) {
        self.string(1, key);
        self.message(2, |any_value| any_value.value(value));
    }

    /// `AnyValue`: exactly one of its fields, even when it holds the default.
    fn value(&mut self, value: &Value) {
        match value {
            Value::Bool(value) => self.one_of_bool(*value),
            Value::I64(value) => self.one_of_int(*value),
            Value::F64(value) => self.one_of_double(*value),
            Value::String(value) => self.one_of_string(value.as_str()),
            Value::Array(Array::Bool(items)) => {
                self.one_of_array(items, |value, item| value.one_of_bool(*item));
            }
            Value::Array(Array::I64(items)) => {
                self.one_of_array(items, |value, item| value.one_of_int(*item));
            }
            Value::Array(Array::F64(items)) => {
                self.one_of_array(items, |value, item| value.one_of_double(*item));
            }
            Value::Array(Array::String(items)) => {
                self.one_of_array(items, |value, item| value.one_of_string(item.as_str()));
            }
            // A kind of value or of array this encoder does not know: its text (the module's
            // doc says why).
            unknown => self.one_of_string(&unknown.as_str()),
        }
    }

    /// `ArrayValue`, each of its values an `AnyValue` that `write` fills.
    fn one_of_array<T>(&mut self, items: &[T], write: impl Fn(&mut Self, &T)) {
        self.message(5, |values| {
            for item in items {
                values.message(1, |value| write(value, item));
            }
        });
    }

    fn one_of_string(&mut self, value: &str) {
        self.length_delimited(1, value.as_bytes());
    }

    fn one_of_bool(&mut self, value: bool) {
        self.key(2, WireType::Varint);
        self.put_varint(value.into());
    }

    fn one_of_int(&mut self, value: i64) {
        self.key(3, WireType::Varint);
        // int64 is the two's complement as a varint (not zigzag, which is sint64).
        self.put_varint(value as u64);
    }

    fn one_of_double(&mut self, value: f64) {
        self.key(4, WireType::SixtyFourBit);
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }
}

/// How a field's value is laid out on the wire: the low three bits of its key.
#[derive(Clone, Copy)]
enum WireType {
    Varint = 0,
    SixtyFourBit = 1,
    LengthDelimited = 2,
    ThirtyTwoBit = 5,
}

/// An integer as protobuf writes keys, lengths and integer fields: seven bits to a byte, the
/// lowest seven first, with the top bit set on every byte but the last. So 0–127 take one byte,
/// 128–16383 two, and a `u64` at most ten.
struct Varint {
    bytes: [u8; 10],
    len: usize,
}

impl Varint {
    fn new(mut value: u64) -> Self {
        let mut bytes = [0; 10];
        let mut len = 0;
        while value >= 0x80 {
            bytes[len] = value as u8 | 0x80;
            value >>= 7;
            len += 1;
        }
        bytes[len] = value as u8;
        Self {
            bytes,
            len: len + 1,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// `Span.SpanKind`.
fn span_kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// `SpanFlags`: the W3C trace flags, and whether the parent (or the linked span) is remote, which
/// the SDK always knows.
fn span_flags(context: &SpanContext, remote: bool) -> u32 {
    const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
    const CONTEXT_IS_REMOTE: u32 = 0x200;
    let flags = u32::from(context.trace_flags().to_u8()) | CONTEXT_HAS_IS_REMOTE;
    if remote {
        flags | CONTEXT_IS_REMOTE
    } else {
        flags
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::{
        StringValue,
        trace::{Event, Link, TraceFlags, TraceId, TraceState},
    };
    use opentelemetry_proto::{
        tonic::collector::trace::v1::ExportTraceServiceRequest,
        transform::{
            common::tonic::ResourceAttributesWithSchema,
            trace::tonic::group_spans_by_resource_and_scope,
        },
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use proptest::{
        collection::{btree_map, vec},
        option,
        prelude::*,
        sample::Index,
    };
    use prost::Message;

    use super::*;

    /// What opentelemetry-otlp's exporter sent for the same spans: opentelemetry-proto's
    /// transform.
    fn reference(resource: &Resource, spans: &[SpanData]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans.to_vec(),
                &ResourceAttributesWithSchema::from(resource),
            ),
        }
    }

    /// Fails at the first byte that differs, with a few bytes either side.
    pub(super) fn assert_same_bytes(ours: &[u8], expected: &[u8]) {
        let at = ours.iter().zip(expected).position(|(a, b)| a != b);
        let at = at.unwrap_or(ours.len().min(expected.len()));
        let around = |bytes: &[u8]| bytes[at.saturating_sub(8)..(at + 8).min(bytes.len())].to_vec();
        assert!(
            ours.len() == expected.len() && at == ours.len(),
            "byte {at} of {} (prost: {}) differs: ours {:?}, prost's {:?}",
            ours.len(),
            expected.len(),
            around(ours),
            around(expected)
        );
    }

    /// Fails unless `ours` is what prost writes for the transform's request. The transform puts
    /// the scopes in a hash map's order, this encoder in their first appearance's: the
    /// transform's are put in ours' (as far as ours decodes) before the bytes are compared.
    fn assert_same_request(ours: &[u8], resource: &Resource, spans: &[SpanData]) {
        let ours_scopes: Vec<Vec<u8>> = ExportTraceServiceRequest::decode(ours)
            .into_iter()
            .flat_map(|request| request.resource_spans)
            .flat_map(|resource_spans| resource_spans.scope_spans)
            .map(|scope_spans| scope_spans.encode_to_vec())
            .collect();
        let mut expected = reference(resource, spans);
        expected.resource_spans[0]
            .scope_spans
            .sort_by_cached_key(|scope_spans| {
                let scope_spans = scope_spans.encode_to_vec();
                ours_scopes.iter().position(|ours| *ours == scope_spans)
            });
        assert_same_bytes(ours, &expected.encode_to_vec());
    }

    fn resource() -> Resource {
        Resource::builder_empty()
            .with_schema_url(
                [
                    KeyValue::new("service.name", "blog-service"),
                    KeyValue::new("service.version", "0.1.0"),
                ],
                "https://opentelemetry.io/schemas/1.37.0",
            )
            .build()
    }

    fn scope(name: &'static str) -> InstrumentationScope {
        InstrumentationScope::builder(name)
            .with_version("3.9.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("scope.kind", "driver")])
            .build()
    }

    fn context(n: u64, remote: bool, state: TraceState) -> SpanContext {
        SpanContext::new(
            TraceId::from((u128::from(n) << 64) | 0xabc),
            SpanId::from(n),
            TraceFlags::SAMPLED,
            remote,
            state,
        )
    }

    /// A plain SERVER span as a service makes it: typed attributes, no events or links.
    fn server_span(n: u64) -> SpanData {
        let start = UNIX_EPOCH + Duration::from_nanos(1_764_460_800_123_456_789 + n);
        SpanData {
            span_context: context(n, false, TraceState::NONE),
            parent_span_id: SpanId::from(n + 1_000),
            parent_span_is_remote: true,
            span_kind: SpanKind::Server,
            name: "GET /blogs".into(),
            start_time: start,
            end_time: start + Duration::from_micros(640),
            attributes: vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", "/blogs"),
                KeyValue::new("http.response.status_code", 200_i64),
                KeyValue::new("url.scheme", "http"),
            ],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: scope("blog-service"),
        }
    }

    /// A span using every field and every kind of value, with a string long enough that its
    /// length, its attribute's, its span's and every enclosing message's take three bytes.
    fn every_field_span(n: u64, scope: InstrumentationScope) -> SpanData {
        let mut span = server_span(n);
        span.span_context = context(
            n,
            false,
            TraceState::from_key_value([("vendor", "value"), ("other", "1")]).unwrap(),
        );
        span.parent_span_id = SpanId::INVALID;
        span.parent_span_is_remote = false;
        span.span_kind = SpanKind::Consumer;
        span.name = format!("span {n}").into();
        span.attributes = vec![
            KeyValue::new("bool", true),
            KeyValue::new("false", false),
            KeyValue::new("int", -42_i64),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("double", 0.25),
            KeyValue::new("empty", ""),
            KeyValue::new("long", "x".repeat(20_000)),
            KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ints", Value::Array(Array::I64(vec![-1, 0, i64::MAX]))),
            KeyValue::new("doubles", Value::Array(Array::F64(vec![1.5, -0.0]))),
            KeyValue::new(
                "strings",
                Value::Array(Array::String(vec![StringValue::from("a"), "".into()])),
            ),
            KeyValue::new("no strings", Value::Array(Array::String(vec![]))),
        ];
        span.dropped_attributes_count = 3;
        let mut events = SpanEvents::default();
        events.events.push(Event::new(
            "exception",
            span.start_time + Duration::from_micros(5),
            vec![KeyValue::new("exception.message", "pool closed")],
            1,
        ));
        events.events.push(Event::with_name("no attributes"));
        events.dropped_count = 2;
        span.events = events;
        let mut links = SpanLinks::default();
        links.links.push(Link::new(
            context(n + 7, true, TraceState::NONE),
            vec![KeyValue::new("link.reason", "retry")],
            4,
        ));
        links.dropped_count = 5;
        span.links = links;
        span.status = match n % 3 {
            0 => Status::Ok,
            1 => Status::error("the database did not answer"),
            _ => Status::Unset,
        };
        span.instrumentation_scope = scope;
        span
    }

    #[test]
    fn varints_are_seven_bits_to_a_byte_lowest_first() {
        // The example of protobuf's encoding guide, and either end of each width.
        for (value, bytes) in [
            (0, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (150, &[0x96, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (
                u64::MAX >> 1,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            ),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            assert_eq!(Varint::new(value).as_bytes(), bytes, "{value}");
        }
    }

    #[test]
    fn knows_every_kind_of_value_of_the_opentelemetry_in_use() {
        // The release whose `Value` and `Array` kinds `Writer::value` writes (see the module's
        // doc); the first line of an upgrade's check.
        const CHECKED: &str = "0.31.0";
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .unwrap();
        let in_use: Vec<&str> = lock
            .split("[[package]]")
            .filter(|package| {
                package
                    .lines()
                    .any(|line| line == r#"name = "opentelemetry""#)
            })
            .filter_map(|package| {
                package
                    .lines()
                    .find_map(|line| line.strip_prefix(r#"version = ""#)?.strip_suffix('"'))
            })
            .collect();
        assert_eq!(
            in_use,
            [CHECKED],
            "opentelemetry moved from {CHECKED}: a kind of value this encoder does not know \
             would go out as text; check its Value and Array, then move CHECKED"
        );
    }

    #[test]
    fn writes_the_bytes_prost_writes_for_a_scope_of_plain_spans() {
        let resource = resource();
        let spans: Vec<SpanData> = (1..=40).map(server_span).collect();
        let ours = export_request(&EncodedResource::new(&resource), &spans);
        assert_same_bytes(&ours, &reference(&resource, &spans).encode_to_vec());
    }

    #[test]
    fn writes_the_bytes_prost_writes_for_every_field_and_kind_of_value() {
        let resource = resource();
        let spans: Vec<SpanData> = (0..6)
            .map(|n| every_field_span(n, scope("mongodb")))
            .collect();
        let ours = export_request(&EncodedResource::new(&resource), &spans);
        assert!(ours.len() > 6 * 20_000, "the long attributes are there");
        assert_same_bytes(&ours, &reference(&resource, &spans).encode_to_vec());
    }

    #[test]
    fn writes_the_bytes_prost_writes_for_spans_of_several_scopes() {
        let resource = resource();
        let scopes = [scope("blog-service"), scope("mongodb"), scope("reqwest")];
        let spans: Vec<SpanData> = (0..9)
            .map(|n| every_field_span(n, scopes[n as usize % 3].clone()))
            .chain((100..103).map(server_span))
            .collect();
        let ours = export_request(&EncodedResource::new(&resource), &spans);
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).unwrap();
        assert_eq!(decoded.resource_spans[0].scope_spans.len(), 3);
        assert_same_request(&ours, &resource, &spans);
    }

    #[test]
    fn an_empty_batch_still_names_the_resource() {
        let resource = resource();
        let ours = export_request(&EncodedResource::new(&resource), &[]);
        let decoded = ExportTraceServiceRequest::decode(ours.as_slice()).unwrap();
        assert_eq!(decoded, reference(&resource, &[]));
    }

    /// Mostly short text, sometimes long enough that its length, and its enclosing messages',
    /// takes two or three bytes.
    pub(super) fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "(?s).{0,12}",
            1 => (0..20_000_usize, any::<char>()).prop_map(|(n, c)| c.to_string().repeat(n)),
        ]
    }

    /// Every kind of value the encoder knows, NaN and the infinities among the doubles.
    fn any_value() -> impl Strategy<Value = Value> {
        let items = || 0..4_usize;
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::I64),
            any::<f64>().prop_map(Value::F64),
            any_text().prop_map(Value::from),
            vec(any::<bool>(), items()).prop_map(|items| Value::Array(Array::Bool(items))),
            vec(any::<i64>(), items()).prop_map(|items| Value::Array(Array::I64(items))),
            vec(any::<f64>(), items()).prop_map(|items| Value::Array(Array::F64(items))),
            vec(any_text().prop_map(StringValue::from), items())
                .prop_map(|items| Value::Array(Array::String(items))),
        ]
    }

    fn any_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        vec(
            (any_text(), any_value()).prop_map(|(key, value)| KeyValue::new(key, value)),
            0..5,
        )
    }

    /// Mostly none, as the SDK's limits are rarely reached.
    fn any_dropped_count() -> impl Strategy<Value = u32> {
        prop_oneof![3 => Just(0), 1 => any::<u32>()]
    }

    /// Any time OTLP can say, and a few before 1970, which it says as 0.
    pub(super) fn any_time() -> impl Strategy<Value = SystemTime> {
        prop_oneof![
            8 => any::<u64>().prop_map(|nanos| UNIX_EPOCH + Duration::from_nanos(nanos)),
            1 => any::<u32>().prop_map(|nanos| UNIX_EPOCH - Duration::from_nanos(nanos.into())),
        ]
    }

    fn any_span_context() -> impl Strategy<Value = SpanContext> {
        let trace_state = btree_map("[a-z0-9][a-z0-9_*/-]{0,8}", "[^,=]{0,8}", 0..3)
            .prop_map(|entries| TraceState::from_key_value(entries).unwrap());
        (
            any::<u128>(),
            any::<u64>(),
            any::<u8>(),
            any::<bool>(),
            trace_state,
        )
            .prop_map(|(trace_id, span_id, flags, remote, state)| {
                SpanContext::new(
                    TraceId::from(trace_id),
                    SpanId::from(span_id),
                    TraceFlags::new(flags),
                    remote,
                    state,
                )
            })
    }

    fn any_scope() -> impl Strategy<Value = InstrumentationScope> {
        (
            any_text(),
            option::of(any_text()),
            option::of(any_text()),
            any_attributes(),
        )
            .prop_map(|(name, version, schema_url, attributes)| {
                let mut scope = InstrumentationScope::builder(name).with_attributes(attributes);
                if let Some(version) = version {
                    scope = scope.with_version(version);
                }
                if let Some(schema_url) = schema_url {
                    scope = scope.with_schema_url(schema_url);
                }
                scope.build()
            })
    }

    /// A span with any value in each of its fields, in the default scope (`any_batch` gives it
    /// one of its scopes).
    fn any_span() -> impl Strategy<Value = SpanData> {
        let parent_span_id =
            prop_oneof![Just(SpanId::INVALID), any::<u64>().prop_map(SpanId::from)];
        let span_kind = prop_oneof![
            Just(SpanKind::Internal),
            Just(SpanKind::Server),
            Just(SpanKind::Client),
            Just(SpanKind::Producer),
            Just(SpanKind::Consumer),
        ];
        let events = (
            vec(
                (
                    any_text(),
                    any_time(),
                    any_attributes(),
                    any_dropped_count(),
                )
                    .prop_map(|(name, time, attributes, dropped)| {
                        Event::new(name, time, attributes, dropped)
                    }),
                0..3,
            ),
            any_dropped_count(),
        )
            .prop_map(|(events, dropped_count)| {
                let mut span_events = SpanEvents::default();
                span_events.events = events;
                span_events.dropped_count = dropped_count;
                span_events
            });
        let links = (
            vec(
                (any_span_context(), any_attributes(), any_dropped_count()).prop_map(
                    |(context, attributes, dropped)| Link::new(context, attributes, dropped),
                ),
                0..3,
            ),
            any_dropped_count(),
        )
            .prop_map(|(links, dropped_count)| {
                let mut span_links = SpanLinks::default();
                span_links.links = links;
                span_links.dropped_count = dropped_count;
                span_links
            });
        let status = prop_oneof![
            Just(Status::Unset),
            Just(Status::Ok),
            any_text().prop_map(Status::error),
        ];
        (
            (any_span_context(), parent_span_id, any::<bool>()),
            span_kind,
            any_text(),
            (any_time(), any_time()),
            (any_attributes(), any_dropped_count()),
            events,
            links,
            status,
        )
            .prop_map(
                |(
                    (span_context, parent_span_id, parent_span_is_remote),
                    span_kind,
                    name,
                    (start_time, end_time),
                    (attributes, dropped_attributes_count),
                    events,
                    links,
                    status,
                )| SpanData {
                    span_context,
                    parent_span_id,
                    parent_span_is_remote,
                    span_kind,
                    name: name.into(),
                    start_time,
                    end_time,
                    attributes,
                    dropped_attributes_count,
                    events,
                    links,
                    status,
                    instrumentation_scope: InstrumentationScope::default(),
                },
            )
    }

    /// A resource, and one to eight spans of one to three scopes.
    fn any_batch() -> impl Strategy<Value = (Resource, Vec<SpanData>)> {
        let resource = (any_attributes(), any_text()).prop_map(|(attributes, schema_url)| {
            Resource::builder_empty()
                .with_schema_url(attributes, schema_url)
                .build()
        });
        let scopes = vec(any_scope(), 1..=3);
        let spans = vec((any_span(), any::<Index>()), 1..=8);
        (resource, scopes, spans).prop_map(|(resource, scopes, spans)| {
            let spans = spans
                .into_iter()
                .map(|(mut span, scope)| {
                    span.instrumentation_scope = scope.get(&scopes).clone();
                    span
                })
                .collect();
            (resource, spans)
        })
    }

    proptest! {
        // About a second in release.
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn writes_the_bytes_prost_writes_for_any_spans((resource, spans) in any_batch()) {
            let ours = export_request(&EncodedResource::new(&resource), &spans);
            assert_same_request(&ours, &resource, &spans);
        }
    }
}
