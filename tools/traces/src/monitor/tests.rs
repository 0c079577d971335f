use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::{Span, Status, span::SpanKind, status::StatusCode};

use super::{
    query::{Measure, MetricsQuery, Point},
    *,
};
use crate::testing::{export, span};

const MS: u64 = 1_000_000;

/// The start of a whole minute `minutes_ago` minutes before now, in nanoseconds.
fn minute_start(minutes_ago: u64) -> u64 {
    (u64::from(now_minute()) - minutes_ago) * 60_000 * MS
}

/// A span of `name` and `kind` that ends `at` (ns) after lasting `millis`.
fn call(name: &str, kind: SpanKind, at: u64, millis: f64, failed: bool) -> Span {
    let duration = (millis * MS as f64) as u64;
    let mut span = span(1, 1, None, name, at - duration, at);
    span.kind = kind as i32;
    if failed {
        span.status = Some(Status {
            code: StatusCode::Error as i32,
            message: String::new(),
        });
    }
    span
}

fn counts_of(service: &str, spans: Vec<Span>) -> Counts {
    let counts = Counts::new(DEFAULT_RETENTION);
    counts.add(Tally::of(&export(service, spans)));
    counts
}

fn query(
    service: &str,
    end_ms: i64,
    lookback_ms: i64,
    step_ms: i64,
    rate_per_ms: i64,
) -> MetricsQuery {
    MetricsQuery {
        services: vec![service.to_owned()],
        group_by_operation: false,
        span_kinds: vec![SpanKind::Server as u8],
        end_ms,
        lookback_ms,
        step_ms,
        rate_per_ms,
    }
}

fn values(points: &[Point]) -> Vec<f64> {
    points.iter().map(|p| p.value).collect()
}

#[test]
fn spans_are_counted_per_series_and_minute_they_ended_in() {
    let minute = minute_start(10);
    let counts = counts_of(
        "blog",
        vec![
            call(
                "GET /blogs",
                SpanKind::Server,
                minute + 1_000 * MS,
                5.0,
                false,
            ),
            call(
                "GET /blogs",
                SpanKind::Server,
                minute + 59_000 * MS,
                5.0,
                true,
            ),
            call(
                "GET /blogs",
                SpanKind::Server,
                minute + 61_000 * MS,
                5.0,
                false,
            ),
            call(
                "GET /blogs",
                SpanKind::Client,
                minute + 1_000 * MS,
                5.0,
                false,
            ),
            call(
                "POST /blogs",
                SpanKind::Server,
                minute + 1_000 * MS,
                5.0,
                false,
            ),
        ],
    );
    let inner = counts.lock();
    let series = |operation: &str, kind: SpanKind| {
        inner.series[&("blog".into(), operation.into(), kind as u8)]
            .iter()
            .map(|m| (m.minute, m.calls, m.errors))
            .collect::<Vec<_>>()
    };
    let m = now_minute() - 10;
    assert_eq!(
        series("GET /blogs", SpanKind::Server),
        [(m, 2, 1), (m + 1, 1, 0)]
    );
    assert_eq!(series("GET /blogs", SpanKind::Client), [(m, 1, 0)]);
    assert_eq!(series("POST /blogs", SpanKind::Server), [(m, 1, 0)]);
}

#[test]
fn late_spans_join_their_minute_and_expired_ones_are_not_counted() {
    let counts = Counts::new(Duration::from_secs(3600));
    let newer = minute_start(5) + 30_000 * MS;
    let older = minute_start(20) + 30_000 * MS;
    let expired = minute_start(61) + 30_000 * MS;
    for at in [newer, older, expired, older] {
        counts.add(Tally::of(&export(
            "blog",
            vec![call("GET", SpanKind::Server, at, 1.0, false)],
        )));
    }
    let inner = counts.lock();
    let minutes: Vec<(u32, u32)> = inner.series[&("blog".into(), "GET".into(), 2)]
        .iter()
        .map(|m| (m.minute, m.calls))
        .collect();
    assert_eq!(minutes, [(now_minute() - 20, 2), (now_minute() - 5, 1)]);
}

#[test]
fn calls_are_per_second_over_the_rate_window_of_whole_minutes() {
    // 120 calls in one minute, 60 in the next.
    let first = minute_start(10);
    let mut spans = Vec::new();
    for i in 0..120 {
        spans.push(call(
            "GET",
            SpanKind::Server,
            first + i * 400 * MS + MS,
            1.0,
            false,
        ));
    }
    for i in 0..60 {
        spans.push(call(
            "GET",
            SpanKind::Server,
            first + 60_000 * MS + i * 900 * MS + MS,
            1.0,
            false,
        ));
    }
    let counts = counts_of("blog", spans);
    let first_ms = (first / MS) as i64;
    // One point a minute, from the minute before to the minute after, a one-minute window.
    let one = counts.query(
        &query("blog", first_ms + 120_000, 180_000, 60_000, 60_000),
        Measure::Calls,
    );
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].service, "blog");
    assert_eq!(one[0].operation, None);
    assert_eq!(values(&one[0].points), [0.0, 2.0, 1.0, 0.0]);
    assert_eq!(one[0].points[1].timestamp_ms, first_ms);
    // A 90 s window is two minutes: (120 + 60) / 120 s.
    let two = counts.query(
        &query("blog", first_ms + 60_000, 0, 1_000, 90_000),
        Measure::Calls,
    );
    assert_eq!(values(&two[0].points), [1.5]);
    // Points less than a minute apart share their minute's window.
    let close = counts.query(
        &query("blog", first_ms + 30_000, 30_000, 15_000, 60_000),
        Measure::Calls,
    );
    assert_eq!(values(&close[0].points), [2.0, 2.0, 2.0]);
}

#[test]
fn errors_are_a_share_of_calls_and_absent_without_calls() {
    let first = minute_start(10);
    let mut spans: Vec<Span> = (0..10)
        .map(|i| call("GET", SpanKind::Server, first + (i + 1) * MS, 1.0, i < 3))
        .collect();
    spans.push(call("POST", SpanKind::Server, first + MS, 1.0, false));
    let counts = counts_of("blog", spans);
    let first_ms = (first / MS) as i64;
    let mut q = query("blog", first_ms + 60_000, 120_000, 60_000, 60_000);
    let all = counts.query(&q, Measure::Errors);
    // The minute before has no calls (no point); the minute after has none either.
    assert_eq!(
        all[0].points,
        [Point {
            timestamp_ms: first_ms,
            value: 3.0 / 11.0
        }]
    );
    q.group_by_operation = true;
    let by_operation = counts.query(&q, Measure::Errors);
    let shares: Vec<(Option<&str>, Vec<f64>)> = by_operation
        .iter()
        .map(|s| (s.operation.as_deref(), values(&s.points)))
        .collect();
    assert_eq!(
        shares,
        [(Some("GET"), vec![0.3]), (Some("POST"), vec![0.0])]
    );
}

#[test]
fn quantiles_are_within_the_relative_error_of_the_duration_at_their_rank() {
    let first = minute_start(10);
    // 1000 durations from 1 ms to 1 s, spread over three minutes.
    let durations: Vec<f64> = (0..1000)
        .map(|i| 10f64.powf(3.0 * f64::from(i) / 999.0))
        .collect();
    let spans = durations
        .iter()
        .enumerate()
        .map(|(i, millis)| {
            call(
                "GET",
                SpanKind::Server,
                first + (i as u64 % 3) * 60_000 * MS + MS,
                *millis,
                false,
            )
        })
        .collect();
    let counts = counts_of("blog", spans);
    let first_ms = (first / MS) as i64;
    for quantile in [0.0, 0.5, 0.75, 0.95, 0.99, 1.0] {
        let series = counts.query(
            &query("blog", first_ms + 120_000, 0, 60_000, 180_000),
            Measure::Latency { quantile },
        );
        let measured = series[0].points[0].value;
        let truth = durations[(quantile * 999.0).floor() as usize];
        assert!(
            (measured - truth).abs() <= truth * RELATIVE_ERROR,
            "p{quantile}: {measured} ms, truly {truth} ms"
        );
    }
}

#[test]
fn a_sliding_window_forgets_the_minutes_it_leaves() {
    let first = minute_start(10);
    // Minute 0: fast calls; minute 1: nothing; minute 2: slow calls.
    let mut spans: Vec<Span> = (0..20)
        .map(|i| call("GET", SpanKind::Server, first + (i + 1) * MS, 2.0, false))
        .collect();
    spans.extend((0..20).map(|i| {
        call(
            "GET",
            SpanKind::Server,
            first + 120_000 * MS + (i + 1) * MS,
            400.0,
            false,
        )
    }));
    let counts = counts_of("blog", spans);
    let first_ms = (first / MS) as i64;
    let series = counts.query(
        &query("blog", first_ms + 180_000, 180_000, 60_000, 60_000),
        Measure::Latency { quantile: 0.5 },
    );
    let p50: Vec<(i64, f64)> = series[0]
        .points
        .iter()
        .map(|p| (p.timestamp_ms - first_ms, p.value))
        .collect();
    // The minute between has no calls in its one-minute window: no point.
    assert_eq!(p50.len(), 2, "{p50:?}");
    for ((at, measured), (expected_at, expected)) in
        p50.into_iter().zip([(0, 2.0), (120_000, 400.0)])
    {
        assert_eq!(at, expected_at);
        assert!(
            (measured - expected).abs() <= expected * RELATIVE_ERROR,
            "{measured} is not {expected}"
        );
    }
}

#[test]
fn only_the_services_and_kinds_asked_for_count() {
    let at = minute_start(3) + MS;
    let counts = Counts::new(DEFAULT_RETENTION);
    counts.add(Tally::of(&export(
        "blog",
        vec![
            call("GET", SpanKind::Server, at, 1.0, false),
            call("GET", SpanKind::Client, at, 1.0, false),
        ],
    )));
    counts.add(Tally::of(&export(
        "user",
        vec![call("GET", SpanKind::Server, at, 1.0, false)],
    )));
    let at_ms = (at / MS) as i64;
    let mut q = query("blog", at_ms, 0, 60_000, 60_000);
    let calls = |q: &MetricsQuery| -> Vec<(String, Vec<f64>)> {
        counts
            .query(q, Measure::Calls)
            .into_iter()
            .map(|s| (s.service, values(&s.points)))
            .collect()
    };
    assert_eq!(calls(&q), [("blog".to_owned(), vec![1.0 / 60.0])]);
    q.span_kinds = vec![SpanKind::Server as u8, SpanKind::Client as u8];
    q.services.push("user".to_owned());
    assert_eq!(
        calls(&q),
        [
            ("blog".to_owned(), vec![2.0 / 60.0]),
            ("user".to_owned(), vec![1.0 / 60.0])
        ]
    );
    q.services = vec!["nobody".to_owned()];
    assert!(calls(&q).is_empty());
}
