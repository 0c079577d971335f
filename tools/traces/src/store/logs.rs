//! Log records, kept with their trace and evicted with it.
//!
//! A record arrives with a trace id and (usually) the id of the span it was written in, often
//! before that span: a span is exported when it ends, a record when it is written. So a record
//! of a trace the store does not hold yet makes the trace, as its first span would (evicting the
//! oldest when full), and the spans join it when they come. A trace of records only is no trace
//! to the query API, the searches or the analyses; it counts towards `--max-traces` like any.
//!
//! Records without a trace id are not kept: nothing would show them beside a request, and a
//! service writes each one to its stdout as well. A program that embeds the store and must see
//! every record (the tests' collector) asks for them to be kept
//! ([`Store::keeping_untraced_records`]), apart from any trace.

use std::sync::Arc;

use opentelemetry_proto::tonic::{
    collector::logs::v1::ExportLogsServiceRequest,
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
};
use prost::Message as _;

use super::{
    Inner, Kind, Origin, Refused, Store, Trace, fragments, ingest::OriginParts, trace::by_origin,
};
use crate::ids::{SpanId, TraceId};

/// A record as stored: its origin shared with the spans of the same process and scope, its
/// span's id, and the rest of it as its protobuf encoding, decoded only to be shown.
pub(super) struct StoredRecord {
    pub(super) origin: Arc<Origin>,
    span_id: Option<SpanId>,
    /// The record's encoding without its trace and span ids.
    rest: Box<[u8]>,
}

/// What an export of log records left in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsIngested {
    /// Records stored with their trace.
    pub kept: usize,
    /// Records without a trace id: left out, unless the store keeps them.
    pub without_trace: usize,
}

/// A logs export, checked and compacted before the store's lock is taken.
pub(super) struct LogBatch {
    groups: Vec<(OriginParts, Vec<RecordParts>)>,
    ingested: LogsIngested,
}

/// A record before the store has interned its origin.
struct RecordParts {
    /// `None`: a record without a trace, kept only by a store that keeps those.
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
    rest: Box<[u8]>,
}

impl Store {
    /// Stores every record of an export that has a trace id, with its trace; or, if any record
    /// has an id of the wrong length, stores nothing and says which one.
    pub fn ingest_logs(&self, request: ExportLogsServiceRequest) -> Result<LogsIngested, Refused> {
        let pieces = self
            .disk
            .as_ref()
            .map(|_| fragments::logs_by_trace(&request));
        let batch =
            LogBatch::prepare(request, self.keeps_untraced_records).map_err(Refused::Invalid)?;
        let ingested = batch.ingested;
        let _written = self.write_through(Kind::Logs, pieces, None)?;
        self.write().insert_logs(batch, self.max_traces());
        Ok(ingested)
    }

    /// A trace's log records as OTLP, grouped by resource and scope, in the order they arrived;
    /// `None` when the store holds none of that trace.
    pub fn logs(&self, trace_id: TraceId) -> Option<Vec<ResourceLogs>> {
        let inner = self.read();
        let trace = inner.traces.get(&trace_id)?;
        (!trace.records.is_empty()).then(|| trace.logs_to_otlp(trace_id))
    }

    /// How many log records the store holds.
    pub fn records(&self) -> usize {
        self.read().records
    }
}

impl LogBatch {
    pub(super) fn prepare(
        request: ExportLogsServiceRequest,
        keep_untraced: bool,
    ) -> Result<Self, String> {
        let mut groups = Vec::new();
        let mut ingested = LogsIngested {
            kept: 0,
            without_trace: 0,
        };
        for (r, resource_logs) in request.resource_logs.into_iter().enumerate() {
            let resource = resource_logs.resource.unwrap_or_default();
            for (s, scope_logs) in resource_logs.scope_logs.into_iter().enumerate() {
                let mut records = Vec::with_capacity(scope_logs.log_records.len());
                for (i, mut record) in scope_logs.log_records.into_iter().enumerate() {
                    let at = |what: &str, problem: String| {
                        format!(
                            "resource_logs[{r}].scope_logs[{s}].log_records[{i}].{what} {problem}"
                        )
                    };
                    let span_id = match record.span_id.as_slice() {
                        [] | [0, 0, 0, 0, 0, 0, 0, 0] => None,
                        bytes => Some(
                            SpanId::from_bytes(bytes).map_err(|problem| at("span_id", problem))?,
                        ),
                    };
                    let trace_id = if record.trace_id.iter().all(|b| *b == 0) {
                        ingested.without_trace += 1;
                        if !keep_untraced {
                            continue;
                        }
                        None
                    } else {
                        Some(
                            TraceId::from_bytes(&record.trace_id)
                                .map_err(|problem| at("trace_id", problem))?,
                        )
                    };
                    record.trace_id = Vec::new();
                    record.span_id = Vec::new();
                    records.push(RecordParts {
                        trace_id,
                        span_id,
                        rest: record.encode_to_vec().into_boxed_slice(),
                    });
                }
                ingested.kept += records.iter().filter(|r| r.trace_id.is_some()).count();
                if !records.is_empty() {
                    groups.push((
                        OriginParts::new(
                            &resource,
                            &resource_logs.schema_url,
                            scope_logs.scope.unwrap_or_default(),
                            scope_logs.schema_url,
                        ),
                        records,
                    ));
                }
            }
        }
        Ok(Self { groups, ingested })
    }
}

impl Inner {
    pub(super) fn insert_logs(&mut self, batch: LogBatch, max_traces: usize) {
        for (parts, records) in batch.groups {
            let origin = self.intern(parts);
            for RecordParts {
                trace_id,
                span_id,
                rest,
            } in records
            {
                let record = StoredRecord {
                    origin: Arc::clone(&origin),
                    span_id,
                    rest,
                };
                match trace_id {
                    Some(trace_id) => {
                        self.trace_entry(trace_id, max_traces).records.push(record);
                        self.records += 1;
                    }
                    None => self.untraced_records.push(record),
                }
            }
        }
    }
}

impl StoredRecord {
    /// The record as it arrived; without a trace id when `trace_id` is `None`.
    pub(super) fn to_otlp(&self, trace_id: Option<TraceId>) -> LogRecord {
        // Encoded by this store from a decoded message: decoding it again cannot fail.
        let mut record = LogRecord::decode(&self.rest[..]).unwrap_or_default();
        record.trace_id = trace_id.map(|id| id.0.to_vec()).unwrap_or_default();
        record.span_id = self.span_id.map(|id| id.0.to_vec()).unwrap_or_default();
        record
    }
}

impl Trace {
    fn logs_to_otlp(&self, trace_id: TraceId) -> Vec<ResourceLogs> {
        by_origin(
            self.records
                .iter()
                .map(|record| (&*record.origin, record.to_otlp(Some(trace_id)))),
        )
        .into_iter()
        .map(|(resource, scopes)| ResourceLogs {
            resource: Some(resource.resource.clone()),
            scope_logs: scopes
                .into_iter()
                .map(|(scope, log_records)| ScopeLogs {
                    scope: Some(scope.scope.clone()),
                    log_records,
                    schema_url: scope.scope_schema_url.clone(),
                })
                .collect(),
            schema_url: resource.resource_schema_url.clone(),
        })
        .collect()
    }
}
