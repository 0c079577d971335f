use super::*;
use crate::testing::{export, logs, record, span};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

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
        Refused::Invalid(
            "resource_spans[0].scope_spans[0].spans[1].span_id has 7 bytes, a span id has 8"
                .to_owned()
        )
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

#[test]
fn records_that_arrive_before_their_spans_are_kept_with_the_trace() {
    let store = Store::new(10);
    let written = logs(
        "blog-service",
        vec![record(1, 1, 2 * MS, 13, "author-service unavailable")],
    );
    let sent = written.resource_logs.clone();
    assert_eq!(
        store.ingest_logs(written),
        Ok(LogsIngested {
            kept: 1,
            without_trace: 0
        })
    );
    // Records only: no trace for the API or the searches yet, but the records are there.
    assert_eq!(store.trace(TraceId([1; 16])), None);
    assert!(
        store
            .summaries(&Query {
                limit: 10,
                ..Query::default()
            })
            .is_empty()
    );
    assert_eq!(store.logs(TraceId([1; 16])), Some(sent.clone()));
    store
        .ingest(export(
            "blog-service",
            vec![span(1, 1, None, "GET /blogs", MS, 5 * MS)],
        ))
        .unwrap();
    let summary = &store.summaries(&Query {
        limit: 10,
        ..Query::default()
    })[0];
    assert_eq!((summary.start, summary.duration), (MS, 4 * MS));
    assert_eq!(store.logs(TraceId([1; 16])), Some(sent));
    assert_eq!(store.logs(TraceId([2; 16])), None);
}

#[test]
fn records_are_evicted_with_their_trace() {
    let store = Store::new(2);
    store
        .ingest_logs(logs("blog", vec![record(1, 1, 0, 17, "first")]))
        .unwrap();
    store
        .ingest(export("blog", vec![span(1, 1, None, "a", 0, MS)]))
        .unwrap();
    store
        .ingest_logs(logs("blog", vec![record(2, 0, 0, 9, "second")]))
        .unwrap();
    assert_eq!(store.records(), 2);
    store
        .ingest(export("blog", vec![span(3, 1, None, "c", 0, MS)]))
        .unwrap();
    assert_eq!(store.logs(TraceId([1; 16])), None);
    assert_eq!(store.trace(TraceId([1; 16])), None);
    assert!(store.logs(TraceId([2; 16])).is_some());
    assert_eq!(store.records(), 1);
    store
        .ingest(export("blog", vec![span(4, 1, None, "d", 0, MS)]))
        .unwrap();
    assert_eq!(store.records(), 0);
    assert_eq!(store.len(), (2, 2));
}

#[test]
fn records_without_a_trace_are_left_out_and_bad_ids_store_nothing() {
    let store = Store::new(10);
    let ingested = store
        .ingest_logs(logs(
            "blog",
            vec![
                record(0, 0, 0, 9, "started"),
                record(1, 0, 0, 9, "in a trace"),
            ],
        ))
        .unwrap();
    assert_eq!(
        ingested,
        LogsIngested {
            kept: 1,
            without_trace: 1
        }
    );
    let mut bad = record(2, 1, 0, 9, "x");
    bad.span_id = vec![1, 2, 3];
    let error = store
        .ingest_logs(logs("blog", vec![record(3, 0, 0, 9, "fine"), bad]))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("log_records[1].span_id has 3 bytes"),
        "{error}"
    );
    let mut bad = record(2, 1, 0, 9, "x");
    bad.trace_id = vec![7; 15];
    assert!(store.ingest_logs(logs("blog", vec![bad])).is_err());
    assert_eq!(store.records(), 1);
    assert_eq!(store.len().0, 1);
}
