//! What the API and the pages ask the store: one trace, searches, summaries, the services and
//! their operations, the service graph.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use super::{Dependency, Inner, Operation, Query, Store, Summary, Trace, attributes};
use crate::{
    analysis,
    ids::{SpanId, TraceId},
};

impl Store {
    /// A trace's spans as OTLP, grouped by resource and scope.
    pub fn trace(&self, trace_id: TraceId) -> Option<Vec<ResourceSpans>> {
        let inner = self.read();
        inner.spanned(trace_id).map(|trace| trace.to_otlp(trace_id))
    }

    /// A trace's spans as the analyses read them (no attributes decoded).
    pub fn analysis_spans(&self, trace_id: TraceId) -> Option<Vec<analysis::Span>> {
        let inner = self.read();
        inner.spanned(trace_id).map(Trace::analysis_spans)
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
}

impl Inner {
    /// The trace, if it has spans: one of log records only is not shown as a trace.
    fn spanned(&self, trace_id: TraceId) -> Option<&Trace> {
        self.traces
            .get(&trace_id)
            .filter(|trace| !trace.spans.is_empty())
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
