//! A stored trace and its spans, and how they are read back: as OTLP, as the analyses' spans,
//! as a summary.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use opentelemetry_proto::tonic::{
    common::v1::InstrumentationScope,
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span},
};
use prost::Message as _;

use super::{Query, Summary, attributes, logs::StoredRecord};
use crate::{
    analysis,
    ids::{SpanId, TraceId},
};

/// What every span of one process's instrumentation scope shares.
pub(super) struct Origin {
    pub(super) key: Box<[u8]>,
    pub(super) service: Arc<str>,
    pub(super) resource: Resource,
    pub(super) resource_schema_url: String,
    pub(super) scope: InstrumentationScope,
    pub(super) scope_schema_url: String,
}

#[derive(Default)]
pub(super) struct Trace {
    pub(super) spans: Vec<StoredSpan>,
    /// The trace's log records, in the order they arrived (see `logs.rs`).
    pub(super) records: Vec<StoredRecord>,
    pub(super) start: u64,
    pub(super) end: u64,
}

pub(super) struct StoredSpan {
    pub(super) origin: Arc<Origin>,
    /// Shared with the operations index, and with every other span of the same name.
    pub(super) name: Arc<str>,
    pub(super) fields: SpanFields,
}

/// What searches and summaries read of a span, and the rest of it still encoded.
pub(super) struct SpanFields {
    pub(super) span_id: SpanId,
    pub(super) parent: Option<SpanId>,
    pub(super) kind: u8,
    pub(super) error: bool,
    pub(super) start: u64,
    pub(super) end: u64,
    /// The span's protobuf encoding without its ids, name, kind and times.
    pub(super) rest: Box<[u8]>,
}

impl StoredSpan {
    pub(super) fn matches(&self, query: &Query, attributes: &attributes::Compiled) -> bool {
        let duration = self.fields.end - self.fields.start;
        query
            .service
            .as_deref()
            .is_none_or(|service| *self.origin.service == *service)
            && query
                .operation
                .as_deref()
                .is_none_or(|operation| *self.name == *operation)
            && query.start_min.is_none_or(|min| self.fields.start >= min)
            && query.start_max.is_none_or(|max| self.fields.start <= max)
            && query.duration_min.is_none_or(|min| duration >= min)
            && query.duration_max.is_none_or(|max| duration <= max)
            && query.error.is_none_or(|error| self.fields.error == error)
            && attributes.matches(self)
    }

    pub(super) fn to_otlp(&self, trace_id: TraceId) -> Span {
        // Encoded by this store from a decoded message: decoding it again cannot fail.
        let mut span = Span::decode(&self.fields.rest[..]).unwrap_or_default();
        span.trace_id = trace_id.0.to_vec();
        span.span_id = self.fields.span_id.0.to_vec();
        span.parent_span_id = self.fields.parent.map(|p| p.0.to_vec()).unwrap_or_default();
        span.name = self.name.to_string();
        span.kind = i32::from(self.fields.kind);
        span.start_time_unix_nano = self.fields.start;
        span.end_time_unix_nano = self.fields.end;
        span
    }
}

impl Trace {
    pub(super) fn to_otlp(&self, trace_id: TraceId) -> Vec<ResourceSpans> {
        by_origin(
            self.spans
                .iter()
                .map(|span| (&*span.origin, span.to_otlp(trace_id))),
        )
        .into_iter()
        .map(|(resource, scopes)| ResourceSpans {
            resource: Some(resource.resource.clone()),
            scope_spans: scopes
                .into_iter()
                .map(|(scope, spans)| ScopeSpans {
                    scope: Some(scope.scope.clone()),
                    spans,
                    schema_url: scope.scope_schema_url.clone(),
                })
                .collect(),
            schema_url: resource.resource_schema_url.clone(),
        })
        .collect()
    }

    /// The root: a span without a parent in the trace, one without a parent id if there is one,
    /// the earliest if there are several (as `analysis::Tree` chooses it).
    pub(super) fn root(&self) -> Option<&StoredSpan> {
        let ids: HashSet<SpanId> = self.spans.iter().map(|span| span.fields.span_id).collect();
        self.spans
            .iter()
            .filter(|span| {
                span.fields
                    .parent
                    .is_none_or(|parent| !ids.contains(&parent))
            })
            .min_by_key(|span| (span.fields.parent.is_some(), span.fields.start))
    }

    pub(super) fn analysis_spans(&self) -> Vec<analysis::Span> {
        self.spans
            .iter()
            .map(|span| analysis::Span {
                span_id: span.fields.span_id,
                parent: span.fields.parent,
                service: Arc::clone(&span.origin.service),
                name: Arc::clone(&span.name),
                kind: span.fields.kind,
                start: span.fields.start,
                end: span.fields.end,
            })
            .collect()
    }

    pub(super) fn summary(&self, trace_id: TraceId) -> Summary {
        let root = self.root();
        let mut services: BTreeMap<&str, usize> = BTreeMap::new();
        for span in &self.spans {
            *services.entry(&span.origin.service).or_default() += 1;
        }
        Summary {
            trace_id,
            root_service: root
                .map(|s| s.origin.service.to_string())
                .unwrap_or_default(),
            root_name: root.map(|s| s.name.to_string()).unwrap_or_default(),
            start: self.start,
            duration: self.end - self.start,
            spans: self.spans.len(),
            errors: self.spans.iter().filter(|span| span.fields.error).count(),
            services: services
                .into_iter()
                .map(|(service, spans)| (service.to_owned(), spans))
                .collect(),
        }
    }
}

/// Items grouped as OTLP groups them: by resource, then by instrumentation scope, each group
/// named by the origin of its first item, in the order of first appearance.
pub(super) type Grouped<'a, T> = Vec<(&'a Origin, Vec<(&'a Origin, Vec<T>)>)>;

pub(super) fn by_origin<'a, T>(items: impl Iterator<Item = (&'a Origin, T)>) -> Grouped<'a, T> {
    let mut grouped: Grouped<'a, T> = Vec::new();
    for (origin, item) in items {
        let resource = match grouped.iter().position(|(o, _)| {
            o.resource == origin.resource && o.resource_schema_url == origin.resource_schema_url
        }) {
            Some(resource) => resource,
            None => {
                grouped.push((origin, Vec::new()));
                grouped.len() - 1
            }
        };
        let scopes = &mut grouped[resource].1;
        let scope = match scopes.iter().position(|(o, _)| {
            o.scope == origin.scope && o.scope_schema_url == origin.scope_schema_url
        }) {
            Some(scope) => scope,
            None => {
                scopes.push((origin, Vec::new()));
                scopes.len() - 1
            }
        };
        scopes[scope].1.push(item);
    }
    grouped
}
