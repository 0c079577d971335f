//! An export cut into one piece per trace, each piece itself an OTLP export (protobuf) of that
//! trace's spans or log records with their resources and scopes: what `--data` writes, so that
//! evicting a trace deletes exactly its pieces, and a restart replays them through the same
//! ingest as the receivers.
//!
//! The pieces are encoded from the export by reference, field by field as prost would encode
//! the messages: cloning every span into per-trace messages first would cost as much as the
//! ingest itself. `ExportTraceServiceRequest` and `ExportLogsServiceRequest` have the same
//! shape (resource 1, scopes 2, schema URL 3; scope 1, items 2, schema URL 3), so one encoder
//! serves both.

use std::collections::HashMap;

use opentelemetry_proto::tonic::{
    collector::{logs::v1::ExportLogsServiceRequest, trace::v1::ExportTraceServiceRequest},
    common::v1::InstrumentationScope,
    resource::v1::Resource,
};
use prost::{
    Message,
    bytes::BufMut,
    encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len, message},
};

use crate::ids::TraceId;

/// One trace's piece of an export: the trace and the piece's protobuf encoding.
pub(super) type Piece = (TraceId, Vec<u8>);

/// The spans of an export, one piece per trace, in the order the traces first appear. Spans
/// whose trace id is invalid are left out: the ingest refuses the whole export for them.
pub(super) fn spans_by_trace(request: &ExportTraceServiceRequest) -> Vec<Piece> {
    let mut pieces = Pieces::default();
    for (r, resource_spans) in request.resource_spans.iter().enumerate() {
        for (s, scope_spans) in resource_spans.scope_spans.iter().enumerate() {
            let at = Place {
                at: (r, s),
                resource: resource_spans.resource.as_ref(),
                resource_schema_url: &resource_spans.schema_url,
                scope: scope_spans.scope.as_ref(),
                scope_schema_url: &scope_spans.schema_url,
            };
            for span in &scope_spans.spans {
                pieces.add(&span.trace_id, &at, span);
            }
        }
    }
    pieces.encode()
}

/// The log records of an export that have a trace id, one piece per trace.
pub(super) fn logs_by_trace(request: &ExportLogsServiceRequest) -> Vec<Piece> {
    let mut pieces = Pieces::default();
    for (r, resource_logs) in request.resource_logs.iter().enumerate() {
        for (s, scope_logs) in resource_logs.scope_logs.iter().enumerate() {
            let at = Place {
                at: (r, s),
                resource: resource_logs.resource.as_ref(),
                resource_schema_url: &resource_logs.schema_url,
                scope: scope_logs.scope.as_ref(),
                scope_schema_url: &scope_logs.schema_url,
            };
            for record in &scope_logs.log_records {
                pieces.add(&record.trace_id, &at, record);
            }
        }
    }
    pieces.encode()
}

/// Where an item sits in its export: the indices of its resource and scope groups, and what
/// they carry.
#[derive(Clone, Copy)]
struct Place<'a> {
    at: (usize, usize),
    resource: Option<&'a Resource>,
    resource_schema_url: &'a str,
    scope: Option<&'a InstrumentationScope>,
    scope_schema_url: &'a str,
}

struct Pieces<'a, T> {
    traces: Vec<(TraceId, Vec<ResourceGroup<'a, T>>)>,
    index: HashMap<TraceId, usize>,
}

impl<T> Default for Pieces<'_, T> {
    fn default() -> Self {
        Self {
            traces: Vec::new(),
            index: HashMap::new(),
        }
    }
}

struct ResourceGroup<'a, T> {
    place: Place<'a>,
    scopes: Vec<ScopeGroup<'a, T>>,
}

struct ScopeGroup<'a, T> {
    place: Place<'a>,
    items: Vec<&'a T>,
}

impl<'a, T: Message> Pieces<'a, T> {
    fn add(&mut self, trace_id: &[u8], place: &Place<'a>, item: &'a T) {
        let Ok(trace_id) = TraceId::from_bytes(trace_id) else {
            return;
        };
        let at = *self.index.entry(trace_id).or_insert_with(|| {
            self.traces.push((trace_id, Vec::new()));
            self.traces.len() - 1
        });
        let resources = &mut self.traces[at].1;
        if resources.last().is_none_or(|r| r.place.at.0 != place.at.0) {
            resources.push(ResourceGroup {
                place: *place,
                scopes: Vec::new(),
            });
        }
        let scopes = &mut resources.last_mut().expect("pushed above").scopes;
        if scopes.last().is_none_or(|s| s.place.at != place.at) {
            scopes.push(ScopeGroup {
                place: *place,
                items: Vec::new(),
            });
        }
        scopes.last_mut().expect("pushed above").items.push(item);
    }

    fn encode(self) -> Vec<Piece> {
        self.traces
            .into_iter()
            .map(|(trace_id, resources)| {
                // Each group's length once: every length prefix needs it before the group.
                let lengths: Vec<(usize, Vec<usize>)> = resources
                    .iter()
                    .map(|resource| {
                        let scopes: Vec<usize> = resource
                            .scopes
                            .iter()
                            .map(ScopeGroup::encoded_len)
                            .collect();
                        (resource.encoded_len(&scopes), scopes)
                    })
                    .collect();
                let mut bytes =
                    Vec::with_capacity(lengths.iter().map(|(len, _)| nested_len(*len)).sum());
                for (resource, (len, scopes)) in resources.iter().zip(&lengths) {
                    encode_nested(1, *len, &mut bytes);
                    resource.encode(scopes, &mut bytes);
                }
                (trace_id, bytes)
            })
            .collect()
    }
}

impl<T: Message> ResourceGroup<'_, T> {
    /// Its length, given its scope groups' lengths.
    fn encoded_len(&self, scopes: &[usize]) -> usize {
        optional_len(1, self.place.resource)
            + scopes.iter().map(|len| nested_len(*len)).sum::<usize>()
            + string_len(3, self.place.resource_schema_url)
    }

    fn encode(&self, scope_lengths: &[usize], bytes: &mut Vec<u8>) {
        if let Some(resource) = self.place.resource {
            message::encode(1, resource, bytes);
        }
        for (scope, len) in self.scopes.iter().zip(scope_lengths) {
            encode_nested(2, *len, bytes);
            scope.encode(bytes);
        }
        encode_string(3, self.place.resource_schema_url, bytes);
    }
}

impl<T: Message> ScopeGroup<'_, T> {
    fn encoded_len(&self) -> usize {
        optional_len(1, self.place.scope)
            + self
                .items
                .iter()
                .map(|item| message::encoded_len(2, *item))
                .sum::<usize>()
            + string_len(3, self.place.scope_schema_url)
    }

    fn encode(&self, bytes: &mut Vec<u8>) {
        if let Some(scope) = self.place.scope {
            message::encode(1, scope, bytes);
        }
        for item in &self.items {
            message::encode(2, *item, bytes);
        }
        encode_string(3, self.place.scope_schema_url, bytes);
    }
}

/// The bytes of a nested message field (tag 1 or 2: a one-byte key), its length prefix included.
fn nested_len(len: usize) -> usize {
    key_len(1) + encoded_len_varint(len as u64) + len
}

fn encode_nested(tag: u32, len: usize, bytes: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, bytes);
    encode_varint(len as u64, bytes);
}

fn optional_len<M: Message>(tag: u32, value: Option<&M>) -> usize {
    value.map_or(0, |value| message::encoded_len(tag, value))
}

/// proto3 leaves an empty string out.
fn string_len(tag: u32, value: &str) -> usize {
    match value.len() {
        0 => 0,
        len => key_len(tag) + encoded_len_varint(len as u64) + len,
    }
}

fn encode_string(tag: u32, value: &str, bytes: &mut Vec<u8>) {
    if !value.is_empty() {
        encode_nested(tag, value.len(), bytes);
        bytes.put_slice(value.as_bytes());
    }
}
