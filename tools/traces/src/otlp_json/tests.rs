use super::*;
use opentelemetry_proto::tonic::{
    common::v1 as common,
    resource::v1 as resource,
    trace::v1::{self as trace, span},
};
use serde_json::{Value, json};

/// The span of Jaeger's own snapshot (GetTrace.json), as protobuf.
fn snapshot_span() -> trace::ResourceSpans {
    trace::ResourceSpans {
        resource: Some(resource::Resource::default()),
        scope_spans: vec![trace::ScopeSpans {
            scope: Some(common::InstrumentationScope::default()),
            spans: vec![trace::Span {
                trace_id: hex::decode("00000000000000000000000000000001").unwrap(),
                span_id: hex::decode("0000000000000002").unwrap(),
                name: "foobar".to_owned(),
                kind: span::SpanKind::Server as i32,
                status: Some(trace::Status {
                    message: String::new(),
                    code: trace::status::StatusCode::Error as i32,
                }),
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

#[test]
fn a_trace_is_written_exactly_as_jaegers_snapshot() {
    let written: Value = serde_json::from_slice(&encode_result(&[snapshot_span()])).unwrap();
    let jaeger = json!({"result": {"resourceSpans": [{"resource": {}, "scopeSpans": [{
        "scope": {}, "spans": [{"kind": 2, "name": "foobar", "spanId": "0000000000000002",
        "status": {"code": 2}, "traceId": "00000000000000000000000000000001"}]}]}]}});
    assert_eq!(written, jaeger);
}

#[test]
fn times_and_integers_are_decimal_strings_and_values_keep_their_types() {
    let mut resource_spans = snapshot_span();
    let span = &mut resource_spans.scope_spans[0].spans[0];
    span.start_time_unix_nano = 1_700_000_000_123_456_789;
    span.end_time_unix_nano = 1_700_000_000_223_456_789;
    let value = |v| Some(common::AnyValue { value: Some(v) });
    use common::any_value::Value as V;
    span.attributes = vec![
        common::KeyValue {
            key: "int".into(),
            value: value(V::IntValue(200)),
        },
        common::KeyValue {
            key: "double".into(),
            value: value(V::DoubleValue(0.5)),
        },
        common::KeyValue {
            key: "bool".into(),
            value: value(V::BoolValue(true)),
        },
        common::KeyValue {
            key: "bytes".into(),
            value: value(V::BytesValue(vec![1, 2])),
        },
    ];
    let written: Value = serde_json::from_slice(&encode_result(&[resource_spans])).unwrap();
    let span = &written["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["startTimeUnixNano"], "1700000000123456789");
    assert_eq!(span["endTimeUnixNano"], "1700000000223456789");
    assert_eq!(
        span["attributes"],
        json!([{"key": "int", "value": {"intValue": "200"}},
               {"key": "double", "value": {"doubleValue": 0.5}},
               {"key": "bool", "value": {"boolValue": true}},
               {"key": "bytes", "value": {"bytesValue": "AQI="}}])
    );
}

#[test]
fn what_is_written_reads_back_the_same() {
    let original = vec![snapshot_span()];
    let read = decode_result(&encode_result(&original)).unwrap();
    assert_eq!(read, original);
}

#[test]
fn reading_accepts_what_otlp_receivers_must() {
    let request = decode_request(
        br#"{"resource_spans": [{"resource": null, "scopeSpans": [{"scope": {"name": "lib"},
            "spans": [{"trace_id": "5B8EFFF798038103D269B633813FC60C", "spanId": "eee19b7ec3c1b174",
            "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": 1544712660000000000,
            "endTimeUnixNano": "1544712661000000000", "status": {"code": "STATUS_CODE_ERROR"},
            "attributes": [{"key": "n", "value": {"intValue": 7}},
                           {"key": "s", "value": {"string_value": "x"}}],
            "somethingNew": {"ignored": true}}]}]}]}"#,
    )
    .unwrap();
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        hex::encode(&span.trace_id),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(span.kind, span::SpanKind::Client as i32);
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(span.status.as_ref().unwrap().code, 2);
    assert_eq!(
        span.attributes[0].value.as_ref().unwrap().value,
        Some(common::any_value::Value::IntValue(7))
    );
    assert_eq!(
        span.attributes[1].value.as_ref().unwrap().value,
        Some(common::any_value::Value::StringValue("x".into()))
    );
}

#[test]
fn malformed_json_is_an_error() {
    for bad in [
        &br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}"#[..],
        br#"{"resourceSpans": {}}"#,
        br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}"#,
        br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "SIDEWAYS"}]}]}]}"#,
        b"{",
        b"",
    ] {
        assert!(
            decode_request(bad).is_err(),
            "{} should not decode",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn log_records_read_as_receivers_must_and_write_back_the_same() {
    let request = decode_logs_request(
        br#"{"resource_logs": [{"resource": {"attributes": [{"key": "service.name",
            "value": {"stringValue": "blog"}}]}, "scopeLogs": [{"scope": {"name": "lib"},
            "log_records": [{"timeUnixNano": 1544712660000000000, "severityNumber": "SEVERITY_NUMBER_WARN",
            "severityText": "WARN", "body": {"stringValue": "<b>why</b>"},
            "traceId": "5B8EFFF798038103D269B633813FC60C", "span_id": "eee19b7ec3c1b174",
            "attributes": [{"key": "n", "value": {"intValue": "7"}}], "somethingNew": 1}]}]}]}"#,
    )
    .unwrap();
    let record = &request.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(record.severity_number, 13);
    assert_eq!(record.time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(hex::encode(&record.span_id), "eee19b7ec3c1b174");
    assert_eq!(
        record.attributes[0].value.as_ref().unwrap().value,
        Some(common::any_value::Value::IntValue(7))
    );
    let written: Value =
        serde_json::from_slice(&encode_logs_result(&request.resource_logs)).unwrap();
    let json = &written["result"]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(json["traceId"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(json["timeUnixNano"], "1544712660000000000");
    assert_eq!(json["severityNumber"], 13);
    let read = decode_logs_result(&encode_logs_result(&request.resource_logs)).unwrap();
    assert_eq!(read, request.resource_logs);
    assert!(
        decode_logs_request(
            br#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityNumber": "LOUD"}]}]}]}"#
        )
        .is_err()
    );
}
