//! The monitor's measures: what counting costs at ingest, and its API over a day of counts.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    trace::v1::{Span, span::SpanKind},
};

use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore as _, SeedableRng as _},
};

use crate::{
    SPANS_PER_TRACE, TRACES_PER_EXPORT, percentile,
    platform_traces::{TraceIds, export, process},
};

/// Operations of the day of counts, and spans of each per minute.
const MONITOR_OPERATIONS: usize = 20;
const SPANS_PER_MINUTE: usize = 30;
const METRIC_REQUESTS: usize = 60;

/// CPU time of the calling thread so far.
fn thread_cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// The store's ingest of `traces` traces (with its counting) against the counting alone, each
/// on this thread's CPU time, and the counting against what the server spends on a span it
/// ingests over OTLP/gRPC (`served_per_cpu_second`, decoding included); then a day of counts for
/// 20 operations: the heap bytes per key-minute and the latency of `/api/metrics/*` over it.
pub async fn monitor_report(traces: usize, served_per_cpu_second: f64) -> String {
    let mut ids = TraceIds::new(0xc0de);
    let exports: Vec<ExportTraceServiceRequest> = (0..traces.div_ceil(TRACES_PER_EXPORT))
        .map(|_| export(&mut ids, TRACES_PER_EXPORT))
        .collect();
    let spans = exports.len() * TRACES_PER_EXPORT * SPANS_PER_TRACE;
    let store = traces::store::Store::new(10_000);
    let copies = exports.clone();
    let before = thread_cpu_time();
    for request in copies {
        store.ingest(request).expect("valid exports");
    }
    let ingest = thread_cpu_time() - before;
    let counts = traces::monitor::Counts::new(traces::monitor::DEFAULT_RETENTION);
    let before = thread_cpu_time();
    for request in &exports {
        counts.add(traces::monitor::Tally::of(request));
    }
    let counting = thread_cpu_time() - before;
    drop((store, exports));

    let store = a_day_of_counts();
    let (key_minutes, heap) = store.counts().heap_bytes();
    let (latencies, cpu_per_request) = time_metric_queries(std::sync::Arc::new(store)).await;
    format!(
        "| spans ingested per second of CPU time by the store, counting included ({spans} spans, in process) | {ingest_rate:.0} | |\n\
         | counting alone, per second of CPU time | {count_rate:.0} ({share:.1}% of the store's CPU time above; {served_share:.1}% of the server's per span it ingests over OTLP/gRPC) | ≤ 5% |\n\
         | the monitor's counts: heap bytes per key-minute (a day of {ops} operations, {per_minute} spans a minute each, {key_minutes} key-minutes) | {per_key_minute:.0} B | |\n\
         | `/api/metrics/{{calls,errors,latencies}}` over that day, `step` 1 min, `groupByOperation`, {requests} requests: p50 / p99 / max (CPU time per request) | {p50:.2} / {p99:.2} / {max:.2} ms ({cpu:.2} ms) | p99 < 20 ms |\n",
        ingest_rate = spans as f64 / ingest.as_secs_f64(),
        count_rate = spans as f64 / counting.as_secs_f64(),
        share = counting.as_secs_f64() / ingest.as_secs_f64() * 100.0,
        served_share = served_per_cpu_second / (spans as f64 / counting.as_secs_f64()) * 100.0,
        ops = MONITOR_OPERATIONS,
        per_minute = SPANS_PER_MINUTE,
        per_key_minute = heap as f64 / key_minutes as f64,
        requests = latencies.len(),
        p50 = percentile(&latencies, 0.50),
        p99 = percentile(&latencies, 0.99),
        max = percentile(&latencies, 1.0),
        cpu = cpu_per_request.as_secs_f64() * 1e3,
    )
}

/// A store with a day of counts, one export per minute: each of 20 operations' spans of that
/// minute, durations spread over two orders of magnitude, 2% failed.
fn a_day_of_counts() -> traces::store::Store {
    let mut ids = TraceIds::new(0xda7);
    let mut random = ChaCha8Rng::seed_from_u64(0xda7);
    let now_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 60;
    let store = traces::store::Store::new(1);
    for minute in now_minute - 1439..=now_minute {
        let mut spans = Vec::with_capacity(MONITOR_OPERATIONS * SPANS_PER_MINUTE);
        for operation in 0..MONITOR_OPERATIONS {
            for i in 0..SPANS_PER_MINUTE {
                let end = minute * 60_000_000_000 + i as u64 * 1_000_000_000;
                // 1 ms to 100 ms, log-uniform.
                let duration =
                    (1e6 * 10f64.powf(2.0 * (random.next_u64() % 1000) as f64 / 1000.0)) as u64;
                let failed = random.next_u64().is_multiple_of(50);
                spans.push(Span {
                    trace_id: ids.next_trace().to_vec(),
                    span_id: random.next_u64().to_be_bytes().to_vec(),
                    name: format!("GET /operation/{operation}"),
                    kind: SpanKind::Server as i32,
                    start_time_unix_nano: end - duration,
                    end_time_unix_nano: end,
                    status: failed.then(|| opentelemetry_proto::tonic::trace::v1::Status {
                        code: 2,
                        message: String::new(),
                    }),
                    ..Span::default()
                });
            }
        }
        let request = ExportTraceServiceRequest {
            resource_spans: vec![process("blog-service", "bench", spans)],
        };
        store.counts().add(traces::monitor::Tally::of(&request));
    }
    store
}

/// Times `/api/metrics/*` through the API's router (no network): a day, one point a minute, per
/// operation, as Jaeger UI asks for a day. Also the thread's CPU time per request: each is
/// answered on this thread without waiting, and on a busy machine the latencies include waits
/// for a core, the CPU time does not.
async fn time_metric_queries(
    store: std::sync::Arc<traces::store::Store>,
) -> (Vec<Duration>, Duration) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let router = traces::api::router(store);
    let now_ms = traces::monitor::now_ms();
    let window = format!(
        "service=blog-service&groupByOperation=true&endTs={now_ms}&lookback=86400000&step=60000&ratePer=600000"
    );
    let paths = [
        format!("/api/metrics/calls?{window}"),
        format!("/api/metrics/errors?{window}"),
        format!("/api/metrics/latencies?quantile=0.95&{window}"),
    ];
    let mut latencies = Vec::with_capacity(METRIC_REQUESTS);
    let cpu_before = thread_cpu_time();
    for i in 0..METRIC_REQUESTS {
        let request = http::Request::get(&paths[i % paths.len()])
            .body(axum::body::Body::empty())
            .expect("a request");
        let started = Instant::now();
        let response = router.clone().oneshot(request).await.expect("an answer");
        assert!(response.status().is_success(), "{}", paths[i % paths.len()]);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        latencies.push(started.elapsed());
        assert!(body.len() > 100_000, "a day of 20 series");
    }
    let cpu_per_request = (thread_cpu_time() - cpu_before) / METRIC_REQUESTS as u32;
    latencies.sort();
    (latencies, cpu_per_request)
}
