use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as OtlpValue};

use super::*;
use crate::testing::{attribute, export, logs, record, span};

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(OtlpValue::IntValue(value)),
        }),
    }
}

#[test]
fn spans_come_back_flat_with_their_attributes_types() {
    let store = Store::new(10);
    let mut server = span(1, 1, None, "GET /blogs", 0, 5);
    server.kind = 2;
    server.attributes = vec![
        int("http.response.status_code", 200),
        attribute("http.route", "/blogs"),
    ];
    let client = span(1, 2, Some(1), "POST /authorize", 1, 4);
    store.ingest(export("blog", vec![server, client])).unwrap();
    store
        .ingest(export("user", vec![span(2, 3, None, "GET /users", 0, 1)]))
        .unwrap();

    let spans = store.flat_spans();
    let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
    assert_eq!(names, ["GET /blogs", "POST /authorize", "GET /users"]);
    let server = &spans[0];
    assert_eq!(server.service, "blog");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.trace_id, "01".repeat(16));
    assert_eq!(server.parent_span_id, "");
    assert_eq!(spans[1].parent_span_id, "01".repeat(8));
    assert_eq!(server.int("http.response.status_code"), Some(200));
    assert_eq!(
        server.attribute("http.response.status_code"),
        None,
        "an int, not text"
    );
    assert_eq!(server.attribute("http.route"), Some("/blogs"));
    assert_eq!(server.resource_attribute("service.name"), Some("blog"));
    assert_eq!(store.flat_trace(TraceId([2; 16])).len(), 1);
    assert!(store.flat_trace(TraceId([3; 16])).is_empty());
}

#[test]
fn records_without_a_trace_are_kept_only_when_asked() {
    let export = || {
        logs(
            "blog",
            vec![
                record(1, 1, 10, 13, "in a request"),
                record(0, 0, 20, 9, "at start"),
            ],
        )
    };
    let viewer = Store::new(10);
    viewer.ingest_logs(export()).unwrap();
    let bodies = |store: &Store| -> Vec<(String, String)> {
        store
            .flat_records()
            .into_iter()
            .map(|record| (record.trace_id, record.body.to_string()))
            .collect()
    };
    assert_eq!(
        bodies(&viewer),
        [("01".repeat(16), "in a request".to_owned())]
    );

    let collector = Store::new(10).keeping_untraced_records();
    let ingested = collector.ingest_logs(export()).unwrap();
    assert_eq!((ingested.kept, ingested.without_trace), (1, 1));
    assert_eq!(
        bodies(&collector),
        [
            ("01".repeat(16), "in a request".to_owned()),
            (String::new(), "at start".to_owned())
        ]
    );
    assert!(collector.flat_records()[0].is_warning_or_worse());
    assert_eq!(collector.received(), 2);
}

#[test]
fn counting_with_a_lower_bound_keeps_the_latest_trace_and_counts_every_span() {
    // The monitor counts spans that ended within its retention.
    let now = crate::monitor::now_ms() as u64 * 1_000_000;
    let span = |trace, id, parent, name: &str, _, _| span(trace, id, parent, name, now, now + 1);
    let store = Store::new(10);
    store
        .ingest(export("blog", vec![span(1, 1, None, "first", 0, 1)]))
        .unwrap();
    store.set_max_traces(1);
    for trace in 2..=4 {
        store
            .ingest(export("blog", vec![span(trace, 1, None, "next", 0, 1)]))
            .unwrap();
    }
    store
        .ingest(export("user", vec![span(5, 1, None, "last", 0, 1)]))
        .unwrap();
    assert_eq!(store.len(), (1, 1));
    let counted = store.counts().spans_by_service();
    assert_eq!(counted.get("blog"), Some(&4));
    assert_eq!(counted.get("user"), Some(&1));
}
