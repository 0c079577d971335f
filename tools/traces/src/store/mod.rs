//! The recent traces, in memory, bounded by a number of traces: when a span of a new trace
//! arrives and the store is full, the trace that arrived first goes (as in Jaeger's memory store).
//!
//! Each span is kept compact: what searches need (ids, service, operation, kind, times, error)
//! as plain fields, and the rest of the span (attributes, events, links, status) as its protobuf
//! encoding, decoded only when the span is shown. A span's resource and instrumentation scope are
//! shared with every other span of the same process (interned), and so are operation names. The
//! bytes per stored span are measured by `traces-bench` and given in docs/viewer.md.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, RwLock},
};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::{
    ids::TraceId,
    monitor::{self, Counts, Tally},
};

mod attributes;
mod eviction;
mod ingest;
mod logs;
mod queries;
mod trace;

use ingest::Batch;
pub(crate) use ingest::service_name;
pub use logs::LogsIngested;
use trace::{Origin, StoredSpan, Trace};

#[cfg(test)]
mod tests;

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
    /// Log records, all of them in `traces`.
    records: usize,
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
