use std::time::Duration;

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    trace::v1::{Span, Status, status::StatusCode},
};
use prost::Message as _;

use super::*;
use crate::{
    monitor::{
        DEFAULT_RETENTION, now_minute,
        query::{Measure, MetricsQuery},
    },
    store::{Query, Store, fragments},
    testing::{export, logs, record, span},
};

const MINUTE: u64 = 60_000_000_000;

/// A span of trace `trace` that ended a minute ago, failed or not.
fn recent(trace: u8, id: u8, failed: bool) -> Span {
    let end = u64::from(now_minute() - 1) * MINUTE + 1_000;
    let mut span = span(trace, id, None, "GET /blogs", end - 5_000_000, end);
    span.kind = 2;
    if failed {
        span.status = Some(Status {
            code: StatusCode::Error as i32,
            message: String::new(),
        });
    }
    span
}

fn open(dir: &Path, max_traces: usize) -> Store {
    Store::open(dir, max_traces, DEFAULT_RETENTION).unwrap()
}

fn ids(store: &Store) -> Vec<TraceId> {
    let mut ids: Vec<TraceId> = store
        .summaries(&Query {
            limit: 100,
            ..Query::default()
        })
        .into_iter()
        .map(|summary| summary.trace_id)
        .collect();
    ids.sort();
    ids
}

/// Calls and errors of blog's server spans over the last 5 minutes, as the monitor API reads them.
fn calls_and_errors(store: &Store) -> (f64, f64) {
    let query = MetricsQuery {
        services: vec!["blog".to_owned()],
        group_by_operation: false,
        span_kinds: vec![2],
        end_ms: crate::monitor::now_ms(),
        lookback_ms: 0,
        step_ms: 60_000,
        rate_per_ms: 5 * 60_000,
    };
    let value = |measure| store.counts().query(&query, measure)[0].points[0].value;
    (value(Measure::Calls), value(Measure::Errors))
}

#[test]
fn traces_records_and_counts_are_there_after_a_restart() {
    // What a restart must give back: two traces, the records of one of them and of a trace
    // without spans, and the counts.
    let snapshot = |store: &Store| {
        (
            store.trace(TraceId([1; 16])).unwrap(),
            store.logs(TraceId([1; 16])).unwrap(),
            store.logs(TraceId([3; 16])).unwrap(),
            store.len(),
            store.records(),
            calls_and_errors(store),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("traces");
    let before = {
        let store = open(&data, 10);
        store
            .ingest(export(
                "blog",
                vec![recent(1, 1, false), recent(2, 2, true)],
            ))
            .unwrap();
        store
            .ingest_logs(logs(
                "blog",
                vec![record(1, 1, 7, 13, "slow"), record(3, 0, 8, 17, "alone")],
            ))
            .unwrap();
        store
            .ingest(export("blog", vec![recent(1, 3, false)]))
            .unwrap();
        let before = snapshot(&store);
        assert_eq!(before.5, (3.0 / 300.0, 1.0 / 3.0));
        before
    };
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the directory is created private");
    let store = open(&data, 10);
    let after = snapshot(&store);
    assert_eq!(after.0, before.0);
    assert_eq!(after.1, before.1);
    assert_eq!(after.2, before.2);
    assert_eq!((after.3, after.4, after.5), (before.3, before.4, before.5));
    assert_eq!(ids(&store), [TraceId([1; 16]), TraceId([2; 16])]);
}

#[test]
fn evicted_traces_are_deleted_from_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), 2);
        for trace in 1..=3 {
            store
                .ingest(export("blog", vec![recent(trace, 1, false)]))
                .unwrap();
        }
        // One export whose traces overflow the store by themselves.
        store
            .ingest(export(
                "blog",
                (4..=7).map(|t| recent(t, 1, false)).collect(),
            ))
            .unwrap();
        assert_eq!(ids(&store), [TraceId([6; 16]), TraceId([7; 16])]);
    }
    assert_eq!(
        ids(&open(dir.path(), 10)),
        [TraceId([6; 16]), TraceId([7; 16])]
    );
    // A smaller bound at start evicts the oldest, from the disk too.
    assert_eq!(ids(&open(dir.path(), 1)), [TraceId([7; 16])]);
    assert_eq!(ids(&open(dir.path(), 10)), [TraceId([7; 16])]);
}

#[test]
fn a_second_viewer_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path(), 10);
    let refusal = Store::open(dir.path(), 10, DEFAULT_RETENTION)
        .err()
        .unwrap();
    assert!(
        refusal.contains("is in use by another traces serve"),
        "{refusal}"
    );
}

#[test]
fn the_directory_stays_locked_while_a_failed_database_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Disk::open(dir.path()).unwrap();
    // As after a failed write: the file is closed until the next write opens it again.
    first.database = None;
    let refusal = Disk::open(dir.path()).err().unwrap();
    assert!(
        refusal.contains("is in use by another traces serve"),
        "{refusal}"
    );
    drop(first);
    assert!(
        Disk::open(dir.path()).is_ok(),
        "free once the first has gone"
    );
}

#[test]
fn garbage_a_foreign_database_and_a_newer_format_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    std::fs::write(&path, vec![0x5a; 10_000]).unwrap();
    let refusal = Store::open(dir.path(), 10, DEFAULT_RETENTION)
        .err()
        .unwrap();
    assert!(
        refusal.contains("is damaged or not a traces database"),
        "{refusal}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 10_000]);

    std::fs::remove_file(&path).unwrap();
    {
        let database = Database::create(&path).unwrap();
        let transaction = database.begin_write().unwrap();
        transaction
            .open_table(TableDefinition::<&str, u64>::new("accounts"))
            .unwrap()
            .insert("alice", 5)
            .unwrap();
        transaction.commit().unwrap();
    }
    let refusal = Store::open(dir.path(), 10, DEFAULT_RETENTION)
        .err()
        .unwrap();
    assert!(refusal.contains("is not a traces database"), "{refusal}");

    std::fs::remove_file(&path).unwrap();
    drop(open(dir.path(), 10));
    {
        let database = Database::open(&path).unwrap();
        let transaction = database.begin_write().unwrap();
        transaction
            .open_table(META)
            .unwrap()
            .insert("format", "2")
            .unwrap();
        transaction.commit().unwrap();
    }
    let refusal = Store::open(dir.path(), 10, DEFAULT_RETENTION)
        .err()
        .unwrap();
    assert!(
        refusal.contains("written by a newer traces (format 2"),
        "{refusal}"
    );

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("notes.txt"), "mine").unwrap();
    let refusal = Store::open(other.path(), 10, DEFAULT_RETENTION)
        .err()
        .unwrap();
    assert!(
        refusal.contains("holds other files and no traces.redb"),
        "{refusal}"
    );
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 1);
}

#[test]
fn an_export_is_cut_into_one_export_per_trace() {
    let mut request = export(
        "blog",
        vec![
            recent(1, 1, false),
            recent(2, 2, false),
            recent(1, 3, false),
        ],
    );
    request.resource_spans.push(
        export("author", vec![recent(2, 4, false)])
            .resource_spans
            .remove(0),
    );
    request.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.26.0".to_owned();
    let pieces = fragments::spans_by_trace(&request);
    assert_eq!(pieces.len(), 2);
    let decoded = |bytes: &[u8]| ExportTraceServiceRequest::decode(bytes).unwrap();
    let mut first = request.clone();
    first.resource_spans.truncate(1);
    first.resource_spans[0].scope_spans[0].spans.remove(1);
    assert_eq!(
        (pieces[0].0, decoded(&pieces[0].1)),
        (TraceId([1; 16]), first)
    );
    let second = decoded(&pieces[1].1);
    assert_eq!(pieces[1].0, TraceId([2; 16]));
    assert_eq!(second.resource_spans.len(), 2);
    assert_eq!(
        second.resource_spans[0].resource,
        request.resource_spans[0].resource
    );
    assert_eq!(
        second.resource_spans[1].scope_spans[0].spans,
        [recent(2, 4, false)]
    );
}

#[test]
fn counts_past_the_retention_are_not_read_back() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), 10, Duration::from_secs(3600)).unwrap();
        let mut old = recent(1, 1, false);
        old.start_time_unix_nano -= 10 * MINUTE;
        old.end_time_unix_nano -= 10 * MINUTE;
        store
            .ingest(export("blog", vec![old, recent(2, 1, false)]))
            .unwrap();
        assert_eq!(store.counts().heap_bytes().0, 2);
    }
    let short = Store::open(dir.path(), 10, Duration::from_secs(5 * 60)).unwrap();
    assert_eq!(
        short.counts().heap_bytes().0,
        1,
        "the minute 11 minutes ago is gone"
    );
    drop(short);
    let long = Store::open(dir.path(), 10, Duration::from_secs(3600)).unwrap();
    assert_eq!(long.counts().heap_bytes().0, 1, "and deleted from the disk");
}
