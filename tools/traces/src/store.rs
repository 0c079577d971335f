//! The recent traces, in memory, bounded by a number of traces: when a span of a new trace
//! arrives and the store is full, the trace that arrived first goes (as in Jaeger's memory store).
//!
//! Each span is kept compact: what searches need (ids, service, operation, kind, times, error)
//! as plain fields, and the rest of the span (attributes, events, links, status) as its protobuf
//! encoding, decoded only when the span is shown. A span's resource and instrumentation scope are
//! shared with every other span of the same process (interned), and so are operation names. The
//! bytes per stored span are measured by `traces-bench` and given in docs/viewer.md.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{Arc, RwLock},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{InstrumentationScope, any_value::Value},
    resource::v1::Resource,
    trace::v1::{ResourceSpans, ScopeSpans, Span, status::StatusCode},
};
use prost::Message as _;

use crate::{
    analysis,
    ids::{SpanId, TraceId},
    monitor::{self, Counts, Tally},
};

mod attributes;

/// The six span kinds in OTLP's numbering (0 is unspecified).
pub const SPAN_KINDS: [&str; 6] = [
    "unspecified",
    "internal",
    "server",
    "client",
    "producer",
    "consumer",
];

/// A search: a trace matches when one of its spans satisfies every condition given, as in Jaeger.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The span's `service.name`.
    pub service: Option<String>,
    /// The span's name.
    pub operation: Option<String>,
    /// Bounds on the span's start, in nanoseconds since the Unix epoch (inclusive).
    pub start_min: Option<u64>,
    pub start_max: Option<u64>,
    /// Bounds on the span's duration, in nanoseconds (inclusive).
    pub duration_min: Option<u64>,
    pub duration_max: Option<u64>,
    /// `Some(true)`: the span failed (status ERROR); `Some(false)`: it did not.
    pub error: Option<bool>,
    /// Attributes the span carries, each `(key, value)` among its own attributes, its resource's
    /// and its events', a value matching the attribute's text (see `store/attributes.rs`).
    pub attributes: Vec<(String, String)>,
    /// At most this many traces, the most recent first.
    pub limit: usize,
}

/// An operation of a service, for Jaeger's `GET /api/v3/operations`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub name: String,
    /// OTLP's span kind number.
    pub kind: i32,
}

/// A call from one service to another, for Jaeger's `GET /api/dependencies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

/// What a list of traces shows of each.
#[derive(Debug, Clone)]
pub struct Summary {
    pub trace_id: TraceId,
    pub root_service: String,
    pub root_name: String,
    /// Nanoseconds since the Unix epoch.
    pub start: u64,
    pub duration: u64,
    pub spans: usize,
    pub errors: usize,
    /// Each service and how many of the trace's spans it made, by name.
    pub services: Vec<(String, usize)>,
}

/// The in-memory trace store; share it behind an `Arc`.
pub struct Store {
    max_traces: usize,
    inner: RwLock<Inner>,
    /// The monitor's counts of every span ingested, which outlive the traces.
    counts: Counts,
}

#[derive(Default)]
struct Inner {
    traces: HashMap<TraceId, Trace>,
    /// Trace ids in the order their first span arrived: the front is evicted first.
    arrival: VecDeque<TraceId>,
    /// Per service, per operation name, how many stored spans have each kind: the services and
    /// operations lists, which forget what is no longer stored.
    services: BTreeMap<Arc<str>, HashMap<Arc<str>, [u32; 6]>>,
    /// The resource and scope each distinct origin of spans shares, by its protobuf encoding.
    origins: HashMap<Box<[u8]>, Arc<Origin>>,
    spans: usize,
}

/// What every span of one process's instrumentation scope shares.
struct Origin {
    key: Box<[u8]>,
    service: Arc<str>,
    resource: Resource,
    resource_schema_url: String,
    scope: InstrumentationScope,
    scope_schema_url: String,
}

#[derive(Default)]
struct Trace {
    spans: Vec<StoredSpan>,
    start: u64,
    end: u64,
}

struct StoredSpan {
    origin: Arc<Origin>,
    /// Shared with the operations index, and with every other span of the same name.
    name: Arc<str>,
    fields: SpanFields,
}

/// What searches and summaries read of a span, and the rest of it still encoded.
struct SpanFields {
    span_id: SpanId,
    parent: Option<SpanId>,
    kind: u8,
    error: bool,
    start: u64,
    end: u64,
    /// The span's protobuf encoding without its ids, name, kind and times.
    rest: Box<[u8]>,
}

/// An export, checked and compacted before the store's lock is taken.
struct Batch {
    groups: Vec<(OriginParts, Vec<(TraceId, StoredParts)>)>,
    spans: usize,
}

struct OriginParts {
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

impl Store {
    /// A store that keeps the `max_traces` most recent traces (at least one), and the monitor's
    /// counts for a week.
    pub fn new(max_traces: usize) -> Self {
        Self::with_metrics_retention(max_traces, monitor::DEFAULT_RETENTION)
    }

    /// A store that keeps the monitor's counts for `retention`.
    pub fn with_metrics_retention(max_traces: usize, retention: std::time::Duration) -> Self {
        Self {
            max_traces: max_traces.max(1),
            inner: RwLock::default(),
            counts: Counts::new(retention),
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn max_traces(&self) -> usize {
        self.max_traces
    }

    /// Stores every span of an export and returns how many there were; or, if any span is
    /// invalid (ids of the wrong length or all zeros), stores nothing and says which one.
    pub fn ingest(&self, request: ExportTraceServiceRequest) -> Result<usize, String> {
        let tally = Tally::of(&request);
        let batch = Batch::prepare(request)?;
        let spans = batch.spans;
        self.write().insert(batch, self.max_traces);
        self.counts.add(tally);
        Ok(spans)
    }

    /// How many traces and spans the store holds.
    pub fn len(&self) -> (usize, usize) {
        let inner = self.read();
        (inner.traces.len(), inner.spans)
    }

    pub fn is_empty(&self) -> bool {
        self.read().traces.is_empty()
    }

    /// A trace's spans as OTLP, grouped by resource and scope.
    pub fn trace(&self, trace_id: TraceId) -> Option<Vec<ResourceSpans>> {
        let inner = self.read();
        inner
            .traces
            .get(&trace_id)
            .map(|trace| trace.to_otlp(trace_id))
    }

    /// A trace's spans as the analyses read them (no attributes decoded).
    pub fn analysis_spans(&self, trace_id: TraceId) -> Option<Vec<analysis::Span>> {
        let inner = self.read();
        inner.traces.get(&trace_id).map(Trace::analysis_spans)
    }

    /// The spans of up to `limit` traces other than `except`, the most recently arrived first,
    /// whose root span (as [`Summary`] chooses it) is `service`'s `name`: traces of one kind.
    pub fn recent_of_kind(
        &self,
        service: &str,
        name: &str,
        except: TraceId,
        limit: usize,
    ) -> Vec<Vec<analysis::Span>> {
        let inner = self.read();
        inner
            .arrival
            .iter()
            .rev()
            .filter(|trace_id| **trace_id != except)
            .filter_map(|trace_id| inner.traces.get(trace_id))
            .filter(|trace| {
                // Most traces have no such span at all: skip them before finding their root.
                trace
                    .spans
                    .iter()
                    .any(|span| *span.name == *name && *span.origin.service == *service)
                    && trace
                        .root()
                        .is_some_and(|root| *root.name == *name && *root.origin.service == *service)
            })
            .take(limit)
            .map(Trace::analysis_spans)
            .collect()
    }

    /// The traces that match, the most recent first, as OTLP.
    pub fn find(&self, query: &Query) -> Vec<(TraceId, Vec<ResourceSpans>)> {
        let inner = self.read();
        inner
            .matching(query)
            .map(|(trace_id, trace)| (trace_id, trace.to_otlp(trace_id)))
            .collect()
    }

    /// The traces that match, summarized, the latest start first.
    pub fn summaries(&self, query: &Query) -> Vec<Summary> {
        let inner = self.read();
        let mut summaries: Vec<Summary> = inner
            .matching(query)
            .map(|(trace_id, trace)| trace.summary(trace_id))
            .collect();
        summaries.sort_by_key(|summary| std::cmp::Reverse(summary.start));
        summaries
    }

    /// The services of the stored spans, by name.
    pub fn services(&self) -> Vec<String> {
        let inner = self.read();
        inner
            .services
            .keys()
            .filter(|service| !service.is_empty())
            .map(|service| service.to_string())
            .collect()
    }

    /// A service's operations and their span kinds, by name; only those of `kind` if given.
    pub fn operations(&self, service: &str, kind: Option<i32>) -> Vec<Operation> {
        let inner = self.read();
        let mut operations: Vec<Operation> = inner
            .services
            .get(service)
            .into_iter()
            .flatten()
            .flat_map(|(name, counts)| {
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(|(kind, _)| Operation {
                        name: name.to_string(),
                        kind: kind as i32,
                    })
            })
            .filter(|operation| kind.is_none_or(|kind| kind == operation.kind))
            .collect();
        operations.sort();
        operations
    }

    /// Calls between services (a span whose parent belongs to another service) in the traces
    /// that started and ended within `[from, to]` (nanoseconds since the epoch). Calls within a
    /// service are left out: they are not edges of a service graph.
    pub fn dependencies(&self, from: u64, to: u64) -> Vec<Dependency> {
        let inner = self.read();
        let mut counts: BTreeMap<(Arc<str>, Arc<str>), u64> = BTreeMap::new();
        for trace in inner.traces.values() {
            if trace.start < from || trace.end > to {
                continue;
            }
            let services: HashMap<SpanId, &Arc<str>> = trace
                .spans
                .iter()
                .map(|span| (span.fields.span_id, &span.origin.service))
                .collect();
            for span in &trace.spans {
                let parent = span.fields.parent.and_then(|parent| services.get(&parent));
                if let Some(parent) = parent
                    && **parent != span.origin.service
                {
                    let key = (Arc::clone(parent), Arc::clone(&span.origin.service));
                    *counts.entry(key).or_default() += 1;
                }
            }
        }
        counts
            .into_iter()
            .map(|((parent, child), call_count)| Dependency {
                parent: parent.to_string(),
                child: child.to_string(),
                call_count,
            })
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind, never a broken invariant
        // worth stopping the viewer for.
        self.inner
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Batch {
    fn prepare(request: ExportTraceServiceRequest) -> Result<Self, String> {
        let mut groups = Vec::new();
        let mut count = 0;
        for (r, resource_spans) in request.resource_spans.into_iter().enumerate() {
            let resource = resource_spans.resource.unwrap_or_default();
            for (s, scope_spans) in resource_spans.scope_spans.into_iter().enumerate() {
                let scope = scope_spans.scope.unwrap_or_default();
                let mut key = resource.encode_to_vec();
                key.extend(resource_spans.schema_url.as_bytes());
                key.push(0xff); // not valid UTF-8: separates the parts unambiguously
                key.extend(scope.encode_to_vec());
                key.extend(scope_spans.schema_url.as_bytes());
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
                    OriginParts {
                        key,
                        resource: resource.clone(),
                        resource_schema_url: resource_spans.schema_url.clone(),
                        scope,
                        scope_schema_url: scope_spans.schema_url,
                    },
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
    fn insert(&mut self, batch: Batch, max_traces: usize) {
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
                if !self.traces.contains_key(&trace_id) {
                    if self.traces.len() >= max_traces {
                        self.evict_oldest();
                    }
                    self.arrival.push_back(trace_id);
                }
                let trace = self.traces.entry(trace_id).or_insert_with(|| Trace {
                    start: span.fields.start,
                    end: span.fields.end,
                    ..Trace::default()
                });
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

    fn intern(&mut self, parts: OriginParts) -> Arc<Origin> {
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

    fn evict_oldest(&mut self) {
        let Some(trace_id) = self.arrival.pop_front() else {
            return;
        };
        let Some(trace) = self.traces.remove(&trace_id) else {
            return;
        };
        self.spans -= trace.spans.len();
        for span in trace.spans {
            if let Some(operations) = self.services.get_mut(&span.origin.service) {
                if let Some(counts) = operations.get_mut(&span.name) {
                    counts[usize::from(span.fields.kind)] -= 1;
                    if counts.iter().all(|count| *count == 0) {
                        operations.remove(&span.name);
                    }
                }
                if operations.is_empty() {
                    self.services.remove(&span.origin.service);
                }
            }
            // The table's reference and this span's: the last span of that origin is going.
            if Arc::strong_count(&span.origin) == 2 {
                self.origins.remove(&span.origin.key);
            }
        }
    }

    /// The traces with a span that matches, the most recently arrived first, up to the limit.
    fn matching<'a>(&'a self, query: &'a Query) -> impl Iterator<Item = (TraceId, &'a Trace)> {
        let attributes = attributes::Compiled::new(&query.attributes);
        self.arrival
            .iter()
            .rev()
            .filter_map(|trace_id| Some((*trace_id, self.traces.get(trace_id)?)))
            .filter(move |(_, trace)| {
                trace
                    .spans
                    .iter()
                    .any(|span| span.matches(query, &attributes))
            })
            .take(query.limit)
    }
}

impl StoredSpan {
    fn matches(&self, query: &Query, attributes: &attributes::Compiled) -> bool {
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

    fn to_otlp(&self, trace_id: TraceId) -> Span {
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
    fn to_otlp(&self, trace_id: TraceId) -> Vec<ResourceSpans> {
        let mut grouped: Vec<(&Origin, ResourceSpans)> = Vec::new();
        for span in &self.spans {
            let origin = &*span.origin;
            let index = grouped
                .iter()
                .position(|(o, _)| {
                    o.resource == origin.resource
                        && o.resource_schema_url == origin.resource_schema_url
                })
                .unwrap_or_else(|| {
                    grouped.push((
                        origin,
                        ResourceSpans {
                            resource: Some(origin.resource.clone()),
                            scope_spans: Vec::new(),
                            schema_url: origin.resource_schema_url.clone(),
                        },
                    ));
                    grouped.len() - 1
                });
            let scopes = &mut grouped[index].1.scope_spans;
            let scope = match scopes.iter().position(|s| {
                s.scope.as_ref() == Some(&origin.scope) && s.schema_url == origin.scope_schema_url
            }) {
                Some(scope) => scope,
                None => {
                    scopes.push(ScopeSpans {
                        scope: Some(origin.scope.clone()),
                        spans: Vec::new(),
                        schema_url: origin.scope_schema_url.clone(),
                    });
                    scopes.len() - 1
                }
            };
            scopes[scope].spans.push(span.to_otlp(trace_id));
        }
        grouped.into_iter().map(|(_, spans)| spans).collect()
    }

    /// The root: a span without a parent in the trace, one without a parent id if there is one,
    /// the earliest if there are several (as `analysis::Tree` chooses it).
    fn root(&self) -> Option<&StoredSpan> {
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

    fn analysis_spans(&self) -> Vec<analysis::Span> {
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

    fn summary(&self, trace_id: TraceId) -> Summary {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{export, span};

    const MS: u64 = 1_000_000;

    #[test]
    fn a_trace_comes_back_as_it_was_sent() {
        let store = Store::new(10);
        let request = export(
            "blog-service",
            vec![span(1, 1, None, "GET /blogs", 0, 5 * MS)],
        );
        let sent = request.resource_spans.clone();
        assert_eq!(store.ingest(request), Ok(1));
        assert_eq!(store.trace(TraceId([1; 16])), Some(sent));
        assert_eq!(store.trace(TraceId([2; 16])), None);
    }

    #[test]
    fn the_oldest_trace_is_evicted_with_its_services_and_operations() {
        let store = Store::new(2);
        store
            .ingest(export("a", vec![span(1, 1, None, "first", 0, MS)]))
            .unwrap();
        store
            .ingest(export("b", vec![span(2, 2, None, "second", 0, MS)]))
            .unwrap();
        // More spans of the first trace do not make it younger.
        store
            .ingest(export("a", vec![span(1, 3, Some(1), "first.child", 0, MS)]))
            .unwrap();
        assert_eq!(store.len(), (2, 3));
        store
            .ingest(export("c", vec![span(3, 4, None, "third", 0, MS)]))
            .unwrap();
        assert_eq!(store.len(), (2, 2));
        assert!(store.trace(TraceId([1; 16])).is_none());
        assert_eq!(store.services(), ["b", "c"]);
        assert!(store.operations("a", None).is_empty());
        assert_eq!(store.read().origins.len(), 2, "a's resource is forgotten");
    }

    #[test]
    fn invalid_ids_store_nothing() {
        let store = Store::new(10);
        let mut bad = span(1, 2, None, "bad", 0, MS);
        bad.span_id = vec![1; 7];
        let request = export("a", vec![span(1, 1, None, "good", 0, MS), bad]);
        let error = store.ingest(request).unwrap_err();
        assert_eq!(
            error,
            "resource_spans[0].scope_spans[0].spans[1].span_id has 7 bytes, a span id has 8"
        );
        assert!(store.is_empty());
    }

    #[test]
    fn a_search_matches_traces_by_any_one_span() {
        let store = Store::new(10);
        store
            .ingest(export("a", vec![span(1, 1, None, "slow", 0, 100 * MS)]))
            .unwrap();
        let mut failed = span(2, 2, None, "fast", 10 * MS, 11 * MS);
        failed.status = Some(opentelemetry_proto::tonic::trace::v1::Status {
            message: "boom".into(),
            code: StatusCode::Error as i32,
        });
        store.ingest(export("b", vec![failed])).unwrap();
        let any = || Query {
            limit: 10,
            ..Query::default()
        };
        let cases: [(Query, &[u8], &str); 11] = [
            (any(), &[2, 1], "the most recent first"),
            (
                Query {
                    service: Some("a".into()),
                    ..any()
                },
                &[1],
                "service",
            ),
            (
                Query {
                    operation: Some("fast".into()),
                    ..any()
                },
                &[2],
                "operation",
            ),
            (
                Query {
                    duration_min: Some(50 * MS),
                    ..any()
                },
                &[1],
                "duration_min",
            ),
            (
                Query {
                    duration_max: Some(MS),
                    ..any()
                },
                &[2],
                "duration_max",
            ),
            (
                Query {
                    start_min: Some(5 * MS),
                    ..any()
                },
                &[2],
                "start_min",
            ),
            (
                Query {
                    start_max: Some(5 * MS),
                    ..any()
                },
                &[1],
                "start_max",
            ),
            (
                Query {
                    error: Some(true),
                    ..any()
                },
                &[2],
                "failed",
            ),
            (
                Query {
                    error: Some(false),
                    ..any()
                },
                &[1],
                "not failed",
            ),
            (
                Query {
                    service: Some("a".into()),
                    operation: Some("fast".into()),
                    ..any()
                },
                &[],
                "service and operation must hold for the same span",
            ),
            (Query { limit: 1, ..any() }, &[2], "limit"),
        ];
        for (query, expected, what) in cases {
            let found: Vec<u8> = store.find(&query).iter().map(|(id, _)| id.0[0]).collect();
            assert_eq!(found, expected, "{what}");
        }
    }

    /// A `GET /blogs` trace: blog calls author and MongoDB; author's span arrives first, before
    /// its parent, as it often does.
    fn get_blogs() -> Store {
        let store = Store::new(10);
        let exports = [
            (
                "author",
                vec![span(1, 3, Some(2), "POST /authorize", MS, 2 * MS)],
            ),
            (
                "blog",
                vec![
                    span(1, 1, None, "GET /blogs", 0, 10 * MS),
                    span(1, 2, Some(1), "POST /authorize", MS, 3 * MS),
                ],
            ),
            (
                "mongodb",
                vec![
                    span(1, 4, Some(1), "find", 4 * MS, 5 * MS),
                    span(1, 5, Some(4), "find", 4 * MS, 5 * MS),
                ],
            ),
        ];
        for (service, spans) in exports {
            store.ingest(export(service, spans)).unwrap();
        }
        store
    }

    #[test]
    fn dependencies_are_calls_across_services() {
        let store = get_blogs();
        let links: Vec<(String, String, u64)> = store
            .dependencies(0, 10 * MS)
            .into_iter()
            .map(|d| (d.parent, d.child, d.call_count))
            .collect();
        assert_eq!(
            links,
            [
                ("blog".into(), "author".into(), 1),
                ("blog".into(), "mongodb".into(), 1)
            ]
        );
        assert!(
            store.dependencies(MS, 10 * MS).is_empty(),
            "the trace started before the window"
        );
    }

    #[test]
    fn a_summary_names_the_root_and_counts_services_and_errors() {
        let store = get_blogs();
        let summaries = store.summaries(&Query {
            limit: 10,
            ..Query::default()
        });
        let [summary] = &summaries[..] else {
            panic!("one trace: {summaries:?}")
        };
        assert_eq!(
            (summary.root_service.as_str(), summary.root_name.as_str()),
            ("blog", "GET /blogs")
        );
        assert_eq!(
            (
                summary.start,
                summary.duration,
                summary.spans,
                summary.errors
            ),
            (0, 10 * MS, 5, 0)
        );
        let services = [("author", 1), ("blog", 2), ("mongodb", 2)].map(|(s, n)| (s.to_owned(), n));
        assert_eq!(summary.services, services);
    }

    #[test]
    fn operations_carry_their_kinds() {
        let store = Store::new(10);
        let mut server = span(1, 1, None, "GET /blogs", 0, MS);
        server.kind = 2;
        let mut client = span(1, 2, Some(1), "GET /blogs", 0, MS);
        client.kind = 3;
        store.ingest(export("blog", vec![server, client])).unwrap();
        let operations = store.operations("blog", None);
        assert_eq!(
            operations,
            [
                Operation {
                    name: "GET /blogs".into(),
                    kind: 2
                },
                Operation {
                    name: "GET /blogs".into(),
                    kind: 3
                }
            ]
        );
        assert_eq!(store.operations("blog", Some(3)).len(), 1);
        assert!(store.operations("nobody", None).is_empty());
    }
}
