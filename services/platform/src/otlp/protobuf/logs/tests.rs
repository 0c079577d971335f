use std::{
    collections::HashMap,
    time::{Duration, UNIX_EPOCH},
};

use opentelemetry::{
    InstrumentationScope, Key, KeyValue,
    logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity},
    trace::{SpanId, TraceFlags, TraceId},
};
use opentelemetry_proto::{
    tonic::collector::logs::v1::ExportLogsServiceRequest,
    transform::{
        common::tonic::ResourceAttributesWithSchema, logs::tonic::group_logs_by_resource_and_scope,
    },
};
use opentelemetry_sdk::{Resource, logs::SdkLoggerProvider};
use proptest::{collection::vec, option, prelude::*, sample::select};
use prost::Message;

use super::*;
use crate::otlp::protobuf::tests::{any_text, any_time, assert_same_bytes};

/// Fails unless `ours` is prost's own encoding of what it decodes to, and that is prost's
/// encoding of what opentelemetry-proto's transform makes of `batch`, but for the order of the
/// scopes (the transform's come in a hash map's order, so both are put in their names' order).
fn assert_same_request(ours: &[u8], resource: &Resource, batch: &LogBatch<'_>) {
    let mut decoded = ExportLogsServiceRequest::decode(ours).expect("ours decodes");
    assert_same_bytes(ours, &decoded.encode_to_vec());
    let mut expected = ExportLogsServiceRequest {
        resource_logs: group_logs_by_resource_and_scope(
            LogBatch::new(&batch.iter().collect::<Vec<_>>()),
            &ResourceAttributesWithSchema::from(resource),
        ),
    };
    for request in [&mut decoded, &mut expected] {
        for resource_logs in &mut request.resource_logs {
            resource_logs
                .scope_logs
                .sort_by_key(|scope_logs| scope_logs.scope.clone().unwrap_or_default().name);
        }
    }
    // Compared as bytes: a NaN is not equal to itself.
    assert_same_bytes(&decoded.encode_to_vec(), &expected.encode_to_vec());
}

/// The services' resource: named, with no schema URL. (The transform would put a resource's
/// schema URL on each of its scopes, where this encoder puts the scope's own, as the
/// specification says; neither the services' resource nor their logger's scope has one.)
fn resource() -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "blog-service"),
            KeyValue::new("service.version", "0.1.0"),
        ])
        .build()
}

fn new_record() -> SdkLogRecord {
    SdkLoggerProvider::builder()
        .build()
        .logger("")
        .create_log_record()
}

/// A record as the `tracing` bridge makes it of a WARN written inside a span.
fn warning(n: u64, target: &'static str) -> SdkLogRecord {
    let mut record = new_record();
    let time = UNIX_EPOCH + Duration::from_nanos(1_764_460_800_123_456_789 + n);
    record.set_timestamp(time);
    record.set_observed_timestamp(time + Duration::from_micros(3));
    record.set_target(target);
    record.set_event_name("event services/platform/src/problem.rs:145");
    record.set_severity_number(Severity::Warn);
    record.set_severity_text("WARN");
    record.set_body("dependency unavailable".into());
    record.add_attribute("dependency", "MongoDB");
    record.add_attribute("attempt", n as i64);
    record.add_attribute("retried", n.is_multiple_of(2));
    record.set_trace_context(
        TraceId::from(0xabc_u128 << 64 | u128::from(n)),
        SpanId::from(n + 1),
        Some(TraceFlags::SAMPLED),
    );
    record
}

#[test]
fn writes_what_the_transform_makes_of_the_bridges_records_under_their_targets() {
    let resource = resource();
    let scope = InstrumentationScope::default();
    let records: Vec<SdkLogRecord> = (0..12)
        .map(|n| warning(n, ["platform::problem", "platform::author"][n as usize % 2]))
        .collect();
    let batch: Vec<_> = records.iter().map(|record| (record, &scope)).collect();
    let batch = LogBatch::new(&batch);
    let ours = export_request(&EncodedResource::new(&resource), &batch);
    let decoded = ExportLogsServiceRequest::decode(ours.as_slice()).unwrap();
    let scopes = &decoded.resource_logs[0].scope_logs;
    assert_eq!(scopes.len(), 2);
    assert_eq!(scopes[0].scope.as_ref().unwrap().name, "platform::problem");
    let record = &scopes[0].log_records[0];
    assert_eq!(record.severity_number, Severity::Warn as i32);
    assert_eq!(record.event_name, "", "no source path");
    // The transform keeps the made-up event name; with it left out, the rest is the same.
    let mut expected = ExportLogsServiceRequest::decode(ours.as_slice()).unwrap();
    for record in expected.resource_logs[0]
        .scope_logs
        .iter_mut()
        .flat_map(|scope| &mut scope.log_records)
    {
        record.event_name = "event services/platform/src/problem.rs:145".into();
    }
    let mut reference = ExportLogsServiceRequest {
        resource_logs: group_logs_by_resource_and_scope(
            batch,
            &ResourceAttributesWithSchema::from(&resource),
        ),
    };
    for request in [&mut expected, &mut reference] {
        request.resource_logs[0]
            .scope_logs
            .sort_by_key(|scope_logs| scope_logs.scope.clone().unwrap_or_default().name);
    }
    assert_eq!(expected, reference);
}

#[test]
fn only_the_event_names_tracing_makes_up_are_left_out() {
    assert!(is_made_up_event_name(
        "event services/blog/src/routes.rs:42"
    ));
    assert!(is_made_up_event_name(
        "event /home/builder/.cargo/registry/src/mongodb-3.9.0/src/client.rs:7"
    ));
    assert!(!is_made_up_event_name("login.refused"));
    assert!(!is_made_up_event_name("event: queue full"));
    assert!(!is_made_up_event_name("event a:b"));
    assert!(!is_made_up_event_name(""));
}

/// Every kind of value a log record can hold, nested lists and maps among them.
fn any_log_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(AnyValue::Int),
        any::<f64>().prop_map(AnyValue::Double),
        any_text().prop_map(AnyValue::from),
        any::<bool>().prop_map(AnyValue::Boolean),
        vec(any::<u8>(), 0..8).prop_map(|bytes| AnyValue::Bytes(Box::new(bytes))),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|items| AnyValue::ListAny(Box::new(items))),
            vec(("[a-z.]{1,8}", inner), 0..4).prop_map(|entries| {
                let map: HashMap<Key, AnyValue> = entries
                    .into_iter()
                    .map(|(key, value)| (Key::new(key), value))
                    .collect();
                AnyValue::Map(Box::new(map))
            }),
        ]
    })
}

const SEVERITIES: [(Severity, &str); 6] = [
    (Severity::Trace, "TRACE"),
    (Severity::Debug, "DEBUG"),
    (Severity::Info, "INFO"),
    (Severity::Warn, "WARN"),
    (Severity::Error, "ERROR"),
    (Severity::Fatal4, "FATAL4"),
];

/// A record with any value in each field the SDK lets a bridge set. Event names, severity texts
/// and targets are `'static` in the SDK's API, so they come from short lists.
fn any_record() -> impl Strategy<Value = SdkLogRecord> {
    (
        (option::of(any_time()), any_time()),
        option::of(select(&SEVERITIES[..])),
        option::of(any_log_value()),
        vec((any_text(), any_log_value()), 0..5),
        option::of((any::<u128>(), any::<u64>(), option::of(any::<u8>()))),
        option::of(select(&["platform::problem", "platform::author", ""][..])),
        option::of(select(&["", "login.refused", "exception"][..])),
    )
        .prop_map(
            |((time, observed), severity, body, attributes, context, target, event_name)| {
                let mut record = new_record();
                if let Some(time) = time {
                    record.set_timestamp(time);
                }
                record.set_observed_timestamp(observed);
                if let Some((number, text)) = severity {
                    record.set_severity_number(number);
                    record.set_severity_text(text);
                }
                if let Some(body) = body {
                    record.set_body(body);
                }
                for (key, value) in attributes {
                    record.add_attribute(key, value);
                }
                if let Some((trace_id, span_id, flags)) = context {
                    record.set_trace_context(
                        TraceId::from(trace_id),
                        SpanId::from(span_id),
                        flags.map(TraceFlags::new),
                    );
                }
                if let Some(target) = target {
                    record.set_target(target);
                }
                if let Some(event_name) = event_name {
                    record.set_event_name(event_name);
                }
                record
            },
        )
}

/// Logger scopes, which name the records that have no target.
fn any_scope() -> impl Strategy<Value = InstrumentationScope> {
    (any_text(), option::of(any_text())).prop_map(|(name, version)| {
        let scope = InstrumentationScope::builder(name);
        match version {
            Some(version) => scope.with_version(version).build(),
            None => scope.build(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn writes_the_bytes_prost_writes_for_any_log_records(
        attributes in vec((any_text(), any_text()), 0..3),
        scopes in vec(any_scope(), 1..=3),
        records in vec((any_record(), any::<proptest::sample::Index>()), 1..=8),
    ) {
        let resource = Resource::builder_empty()
            .with_attributes(attributes.into_iter().map(|(key, value)| KeyValue::new(key, value)))
            .build();
        let batch: Vec<_> = records
            .iter()
            .map(|(record, scope)| (record, scope.get(&scopes)))
            .collect();
        let batch = LogBatch::new(&batch);
        let ours = export_request(&EncodedResource::new(&resource), &batch);
        assert_same_request(&ours, &resource, &batch);
    }
}
