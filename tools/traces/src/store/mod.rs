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
    path::Path,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::{
    ids::TraceId,
    monitor::{self, Counts, Tally},
};

mod attributes;
mod disk;
mod eviction;
pub mod flat;
mod fragments;
mod ingest;
mod logs;
mod queries;
mod trace;

pub use disk::FILE as DATA_FILE;
use disk::{Disk, Kind};
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

/// Why an export was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A span or record is malformed: sending it again cannot succeed.
    Invalid(String),
    /// It could not be written to the data directory (a full disk, say): it may succeed later.
    Unavailable(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(message) | Self::Unavailable(message) => f.write_str(message),
        }
    }
}

/// The trace store, in memory and, with a data directory, on disk; share it behind an `Arc`.
pub struct Store {
    /// Changed only by an embedder ([`Store::set_max_traces`]).
    max_traces: AtomicUsize,
    /// Whether log records without a trace id are kept (see `logs.rs`).
    keeps_untraced_records: bool,
    inner: RwLock<Inner>,
    /// The monitor's counts of every span ingested, which outlive the traces.
    counts: Counts,
    /// With `--data`: every export is written here before it is stored in memory and
    /// acknowledged. The lock also orders the writers, so that the evictions a write plans are
    /// the ones the memory then makes.
    disk: Option<Mutex<Disk>>,
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
    /// Log records without a trace id, in the order they arrived, when the store keeps them.
    untraced_records: Vec<logs::StoredRecord>,
}

impl Inner {
    /// The traces that storing items of the traces `incoming` (in order) evicts: the oldest,
    /// as many as the new ones exceed `max_traces` by, new ones included.
    fn evictions(
        &self,
        incoming: impl Iterator<Item = TraceId>,
        max_traces: usize,
    ) -> Vec<TraceId> {
        let mut seen = HashSet::new();
        let new: Vec<TraceId> = incoming
            .filter(|id| !self.traces.contains_key(id) && seen.insert(*id))
            .collect();
        let excess = (self.traces.len() + new.len()).saturating_sub(max_traces);
        self.arrival
            .iter()
            .chain(&new)
            .take(excess)
            .copied()
            .collect()
    }

    /// Stores a piece read back from the disk, as its export was stored.
    fn replay(&mut self, kind: Kind, piece: &[u8], max_traces: usize) -> Result<(), String> {
        use prost::Message as _;
        match kind {
            Kind::Spans => {
                let request =
                    ExportTraceServiceRequest::decode(piece).map_err(|e| e.to_string())?;
                self.insert(Batch::prepare(request)?, max_traces);
            }
            Kind::Logs => {
                let request =
                    opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::decode(piece)
                        .map_err(|e| e.to_string())?;
                // Only records of a trace are written to the disk.
                self.insert_logs(logs::LogBatch::prepare(request, false)?, max_traces);
            }
        }
        Ok(())
    }
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
            max_traces: AtomicUsize::new(max_traces.max(1)),
            keeps_untraced_records: false,
            inner: RwLock::default(),
            counts: Counts::new(retention),
            disk: None,
        }
    }

    /// A store kept in the data directory `dir` too (see `disk.rs`), with what it held read
    /// back; or the one line that says why the directory cannot be used.
    pub fn open(
        dir: &Path,
        max_traces: usize,
        retention: std::time::Duration,
    ) -> Result<Self, String> {
        let mut store = Self::with_metrics_retention(max_traces, retention);
        let max_traces = store.max_traces();
        let mut disk = Disk::open(dir)?;
        {
            let inner = store.inner.get_mut().unwrap_or_else(|p| p.into_inner());
            let mut stored = Vec::new();
            disk.replay(|trace_id, kind, piece| {
                if stored.last() != Some(&trace_id) {
                    stored.push(trace_id);
                }
                inner.replay(kind, piece, max_traces)
            })?;
            // A smaller --max-traces than the last run's evicted some: the disk forgets them.
            let evicted: Vec<TraceId> = stored
                .into_iter()
                .filter(|trace_id| !inner.traces.contains_key(trace_id))
                .collect();
            let oldest = store.counts.oldest_minute();
            store.counts.restore(disk.saved_counts(oldest)?)?;
            disk.forget(&evicted, oldest)?;
        }
        store.disk = Some(Mutex::new(disk));
        Ok(store)
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn max_traces(&self) -> usize {
        self.max_traces.load(Ordering::Relaxed)
    }

    /// From now on keeps at most `max_traces` (at least one); those over it go as new traces
    /// arrive. For an embedder that keeps everything at first, then only counts ; not for a store with
    /// a data directory, whose evictions on disk follow the bound it was opened with.
    pub fn set_max_traces(&self, max_traces: usize) {
        self.max_traces.store(max_traces.max(1), Ordering::Relaxed);
    }

    /// The store, keeping also the log records without a trace id, all of them (no page shows
    /// them; a program that embeds the store reads them with [`Store::flat_records`]).
    pub fn keeping_untraced_records(mut self) -> Self {
        self.keeps_untraced_records = true;
        self
    }

    /// Stores every span of an export and returns how many there were; or, if any span is
    /// invalid (ids of the wrong length or all zeros), stores nothing and says which one.
    pub fn ingest(&self, request: ExportTraceServiceRequest) -> Result<usize, Refused> {
        let tally = Tally::of(&request);
        let pieces = self
            .disk
            .as_ref()
            .map(|_| fragments::spans_by_trace(&request));
        let batch = Batch::prepare(request).map_err(Refused::Invalid)?;
        let spans = batch.spans;
        let _written = self.write_through(Kind::Spans, pieces, Some(&tally))?;
        self.write().insert(batch, self.max_traces());
        self.counts.add(tally);
        Ok(spans)
    }

    /// With a data directory, writes an export's pieces, the evictions they cause and its
    /// counts, and returns the lock that keeps other writers out until the memory has it too.
    fn write_through(
        &self,
        kind: Kind,
        pieces: Option<Vec<fragments::Piece>>,
        tally: Option<&Tally>,
    ) -> Result<Option<std::sync::MutexGuard<'_, Disk>>, Refused> {
        let (Some(disk), Some(pieces)) = (&self.disk, pieces) else {
            return Ok(None);
        };
        let mut disk = disk.lock().unwrap_or_else(|poison| poison.into_inner());
        let evicted = self
            .read()
            .evictions(pieces.iter().map(|(id, _)| *id), self.max_traces());
        disk.write(&disk::Write {
            kind,
            pieces: &pieces,
            evicted: &evicted,
            tally,
            oldest_minute: self.counts.oldest_minute(),
        })
        .map_err(|error| {
            Refused::Unavailable(format!(
                "the viewer cannot write to its data directory: {error}"
            ))
        })?;
        Ok(Some(disk))
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
