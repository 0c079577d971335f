//! OTLP's `ExportLogsServiceRequest` in protobuf, written straight from the SDK's log records by
//! the same [`Writer`] as the spans, for the same reasons (see the parent module).
//!
//! The field numbers are those of logs/v1/logs.proto. What is written is what
//! opentelemetry-proto's transform makes of the same records, which the tests check, with two
//! differences:
//! - the scopes come in the order their first record came, where the transform's come in a hash
//!   map's order;
//! - a record's `event_name` is left out when it is the name `tracing` makes up for an event that
//!   has none, `event <source file>:<line>`: a path of the machine that built the binary (a
//!   dependency's is under the builder's home), which no record may carry, and no name of an event
//!   class, which is what the field is for.
//!
//! As the transform does, records are grouped under a scope named by their `target` (the module
//! that wrote them), which is what the `tracing` bridge sets; a record without one goes under its
//! logger's scope name.

use std::borrow::Cow;

use opentelemetry::logs::AnyValue;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord};

use super::{EncodedResource, Writer, unix_nanos};

/// The `ExportLogsServiceRequest` carrying `batch` of `resource`, one `ScopeLogs` for each scope
/// (target), in the order the scopes first appear.
pub(crate) fn export_request(resource: &EncodedResource, batch: &LogBatch<'_>) -> Vec<u8> {
    let mut scopes: Vec<(Cow<'_, str>, &str, Vec<&SdkLogRecord>)> = Vec::new();
    for (record, scope) in batch.iter() {
        let name = match record.target() {
            Some(target) => Cow::Borrowed(target.as_ref()),
            None => Cow::Borrowed(scope.name()),
        };
        match scopes.iter_mut().find(|(known, _, _)| *known == name) {
            Some((_, _, members)) => members.push(record),
            None => scopes.push((name, scope.schema_url().unwrap_or_default(), vec![record])),
        }
    }
    let mut request = Writer::with_capacity(batch.iter().count() * 256);
    request.message(1, |resource_logs| {
        resource_logs.message(1, |fields| fields.buf.extend_from_slice(&resource.fields));
        for (name, schema_url, records) in &scopes {
            resource_logs.message(2, |scope_logs| {
                scope_logs.message(1, |scope| scope.string(1, name));
                for record in records {
                    scope_logs.message(2, |fields| fields.log_record(record));
                }
                scope_logs.string(3, schema_url);
            });
        }
        resource_logs.string(3, &resource.schema_url);
    });
    request.buf
}

/// Whether `name` is the one `tracing` gives an event that was not named: `event file:line`.
fn is_made_up_event_name(name: &str) -> bool {
    name.strip_prefix("event ")
        .and_then(|location| location.rsplit_once(':'))
        .is_some_and(|(_, line)| !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()))
}

impl Writer {
    /// `LogRecord`.
    fn log_record(&mut self, record: &SdkLogRecord) {
        let context = record.trace_context();
        self.fixed64(1, record.timestamp().map_or(0, unix_nanos));
        self.varint(2, record.severity_number().map_or(0, |s| s as u64));
        self.string(3, record.severity_text().unwrap_or_default());
        if let Some(body) = record.body() {
            self.message(5, |value| value.log_value(body));
        }
        for (key, value) in record.attributes_iter() {
            self.message(6, |fields| fields.log_key_value(key.as_str(), value));
        }
        if let Some(context) = context {
            let flags = context.trace_flags.map_or(0, |flags| flags.to_u8());
            self.fixed32(8, flags.into());
            self.bytes(9, &context.trace_id.to_bytes());
            self.bytes(10, &context.span_id.to_bytes());
        }
        self.fixed64(11, record.observed_timestamp().map_or(0, unix_nanos));
        let event_name = record.event_name().unwrap_or_default();
        if !is_made_up_event_name(event_name) {
            self.string(12, event_name);
        }
    }

    /// `KeyValue` with a log record's value.
    fn log_key_value(&mut self, key: &str, value: &AnyValue) {
        self.string(1, key);
        self.message(2, |any_value| any_value.log_value(value));
    }

    /// `AnyValue` from a log record's value: exactly one of its fields, even when it holds the
    /// default.
    fn log_value(&mut self, value: &AnyValue) {
        match value {
            AnyValue::Int(value) => self.one_of_int(*value),
            AnyValue::Double(value) => self.one_of_double(*value),
            AnyValue::String(value) => self.one_of_string(value.as_str()),
            AnyValue::Boolean(value) => self.one_of_bool(*value),
            AnyValue::Bytes(value) => self.length_delimited(7, value),
            AnyValue::ListAny(items) => self.message(5, |values| {
                for item in items.iter() {
                    values.message(1, |value| value.log_value(item));
                }
            }),
            AnyValue::Map(entries) => self.message(6, |list| {
                for (key, value) in entries.iter() {
                    list.message(1, |fields| fields.log_key_value(key.as_str(), value));
                }
            }),
            // A kind of value this encoder does not know: its text, as for spans (the parent
            // module's doc says why).
            unknown => self.one_of_string(&format!("{unknown:?}")),
        }
    }
}

#[cfg(test)]
mod tests;
