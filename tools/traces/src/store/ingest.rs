//! An export into the store: checked and compacted first, without the lock, then inserted,
//! each span's resource, scope, service and name shared with those already stored.

use std::sync::Arc;

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{InstrumentationScope, any_value::Value},
    resource::v1::Resource,
    trace::v1::{Span, status::StatusCode},
};
use prost::Message as _;

use super::{Inner, Origin, SPAN_KINDS, StoredSpan, Trace, trace::SpanFields};
use crate::ids::{SpanId, TraceId};

/// An export, checked and compacted before the store's lock is taken.
pub(super) struct Batch {
    groups: Vec<(OriginParts, Vec<(TraceId, StoredParts)>)>,
    pub(super) spans: usize,
}

pub(super) struct OriginParts {
    key: Vec<u8>,
    resource: Resource,
    resource_schema_url: String,
    scope: InstrumentationScope,
    scope_schema_url: String,
}

/// A span before the store has interned its name.
struct StoredParts {
    name: String,
    fields: SpanFields,
}

impl OriginParts {
    pub(super) fn new(
        resource: &Resource,
        resource_schema_url: &str,
        scope: InstrumentationScope,
        scope_schema_url: String,
    ) -> Self {
        let mut key = resource.encode_to_vec();
        key.extend(resource_schema_url.as_bytes());
        key.push(0xff); // not valid UTF-8: separates the parts unambiguously
        key.extend(scope.encode_to_vec());
        key.extend(scope_schema_url.as_bytes());
        Self {
            key,
            resource: resource.clone(),
            resource_schema_url: resource_schema_url.to_owned(),
            scope,
            scope_schema_url,
        }
    }
}

impl Batch {
    pub(super) fn prepare(request: ExportTraceServiceRequest) -> Result<Self, String> {
        let mut groups = Vec::new();
        let mut count = 0;
        for (r, resource_spans) in request.resource_spans.into_iter().enumerate() {
            let resource = resource_spans.resource.unwrap_or_default();
            for (s, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
                let mut spans = Vec::with_capacity(scope_spans.spans.len());
                for (i, span) in scope_spans.spans.into_iter().enumerate() {
                    let at = |what: &str, problem: String| {
                        format!("resource_spans[{r}].scope_spans[{s}].spans[{i}].{what} {problem}")
                    };
                    let trace_id = TraceId::from_bytes(&span.trace_id)
                        .map_err(|problem| at("trace_id", problem))?;
                    let span_id = SpanId::from_bytes(&span.span_id)
                        .map_err(|problem| at("span_id", problem))?;
                    let parent = match span.parent_span_id.as_slice() {
                        [] | [0, 0, 0, 0, 0, 0, 0, 0] => None,
                        bytes => Some(
                            SpanId::from_bytes(bytes)
                                .map_err(|problem| at("parent_span_id", problem))?,
                        ),
                    };
                    spans.push((trace_id, StoredParts::compact(span, span_id, parent)));
                }
                count += spans.len();
                groups.push((
                    OriginParts::new(
                        &resource,
                        &resource_spans.schema_url,
                        scope_spans.scope.unwrap_or_default(),
                        scope_spans.schema_url,
                    ),
                    spans,
                ));
            }
        }
        Ok(Self {
            groups,
            spans: count,
        })
    }
}

impl StoredParts {
    fn compact(mut span: Span, span_id: SpanId, parent: Option<SpanId>) -> Self {
        let error = span
            .status
            .as_ref()
            .is_some_and(|status| status.code == StatusCode::Error as i32);
        let kind = u8::try_from(span.kind)
            .ok()
            .filter(|kind| usize::from(*kind) < SPAN_KINDS.len())
            .unwrap_or(0);
        let name = std::mem::take(&mut span.name);
        let start = span.start_time_unix_nano;
        // A span that claims to end before it starts is shown as instantaneous.
        let end = span.end_time_unix_nano.max(start);
        span.trace_id = Vec::new();
        span.span_id = Vec::new();
        span.parent_span_id = Vec::new();
        span.kind = 0;
        span.start_time_unix_nano = 0;
        span.end_time_unix_nano = 0;
        Self {
            name,
            fields: SpanFields {
                span_id,
                parent,
                kind,
                error,
                start,
                end,
                rest: span.encode_to_vec().into_boxed_slice(),
            },
        }
    }
}

impl Inner {
    pub(super) fn insert(&mut self, batch: Batch, max_traces: usize) {
        for (parts, spans) in batch.groups {
            let origin = self.intern(parts);
            for (trace_id, span) in spans {
                let operations = self
                    .services
                    .entry(Arc::clone(&origin.service))
                    .or_default();
                let name = match operations.get_key_value(span.name.as_str()) {
                    Some((name, _)) => Arc::clone(name),
                    None => Arc::from(span.name),
                };
                operations.entry(Arc::clone(&name)).or_default()[usize::from(span.fields.kind)] +=
                    1;
                let trace = self.trace_entry(trace_id, max_traces);
                if trace.spans.is_empty() {
                    // New, or so far only log records, which say nothing of its times.
                    trace.start = span.fields.start;
                    trace.end = span.fields.end;
                }
                trace.start = trace.start.min(span.fields.start);
                trace.end = trace.end.max(span.fields.end);
                trace.spans.push(StoredSpan {
                    origin: Arc::clone(&origin),
                    name,
                    fields: span.fields,
                });
                self.spans += 1;
            }
        }
    }

    /// The trace, made room for (the oldest evicted when full) and added if it is new: a span's
    /// or a log record's, whichever arrives first.
    pub(super) fn trace_entry(&mut self, trace_id: TraceId, max_traces: usize) -> &mut Trace {
        if !self.traces.contains_key(&trace_id) {
            if self.traces.len() >= max_traces {
                self.evict_oldest();
            }
            self.arrival.push_back(trace_id);
        }
        self.traces.entry(trace_id).or_default()
    }

    pub(super) fn intern(&mut self, parts: OriginParts) -> Arc<Origin> {
        if let Some(origin) = self.origins.get(parts.key.as_slice()) {
            return Arc::clone(origin);
        }
        let service = service_name(&parts.resource);
        let service = match self.services.get_key_value(service.as_str()) {
            Some((name, _)) => Arc::clone(name),
            None => Arc::from(service),
        };
        let key: Box<[u8]> = parts.key.into_boxed_slice();
        let origin = Arc::new(Origin {
            key: key.clone(),
            service,
            resource: parts.resource,
            resource_schema_url: parts.resource_schema_url,
            scope: parts.scope,
            scope_schema_url: parts.scope_schema_url,
        });
        self.origins.insert(key, Arc::clone(&origin));
        origin
    }
}

/// The resource's `service.name`; empty without one (such spans are stored, but no service
/// lists them, as in Jaeger).
pub(crate) fn service_name(resource: &Resource) -> String {
    resource
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(name) => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_default()
}
