//! The analyses' latency: the critical path of a 1 000-span trace, its comparison with another
//! such trace, and its comparison with the typical trace of its kind made of the last 100 stored.
//!
//! The traces are random trees (each span's parent any span before it: about 20 spans deep at
//! most) of three services and eight operations under one root operation: their paths seldom
//! repeat from one trace to the next, the typical trace's worst case (every path of every trace
//! is counted, few make the typical trace). Deeper trees make longer answers rather than slower
//! analyses: each row of a comparison names its whole path.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, trace_service_client::TraceServiceClient},
    trace::v1::{Span, span::SpanKind},
};

use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore as _, SeedableRng as _},
};

use crate::{
    cpu_time, percentile,
    platform_traces::{TraceIds, process},
};

const SPANS: usize = 1_000;
/// The typical trace is made of this many others (the viewer's limit).
const OTHERS: usize = 100;
const SERVICES: [&str; 3] = ["gateway", "orders", "stock"];
const OPERATIONS: [&str; 8] = [
    "GET /orders",
    "POST /reserve",
    "find",
    "update",
    "authorize",
    "render",
    "cache.get",
    "queue.publish",
];

pub struct Analyses {
    critical_path: Timed,
    compare: Timed,
    typical: Timed,
}

/// One analysis's latencies, sorted, and the server's CPU time per request: on a machine that
/// other work keeps busy, the latencies include waits for a core, the CPU time does not.
struct Timed {
    latencies: Vec<Duration>,
    cpu_per_request: Duration,
}

/// Stores `1 + OTHERS` deep traces of one kind, then times `requests` of each analysis of the
/// first one.
pub async fn time_analyses(
    client: &mut TraceServiceClient<tonic::transport::Channel>,
    http: &reqwest::Client,
    ui: &str,
    server_pid: u32,
    requests: usize,
) -> Result<Analyses, String> {
    let mut ids = TraceIds::new(0xdee9);
    let mut random = ChaCha8Rng::seed_from_u64(0x7ee5);
    for _ in 0..=OTHERS {
        let trace_id = ids.next_trace();
        client
            .export(deep_trace(trace_id, &mut random))
            .await
            .map_err(|status| format!("an export was refused: {status}"))?;
    }
    let trace = hex::encode(ids.issued(0));
    let baseline = hex::encode(ids.issued(1));
    let typical = time_gets(
        http,
        &format!("{ui}/api/analysis/compare?trace={trace}"),
        server_pid,
        requests,
    )
    .await?;
    // The typical trace is made of all the others: the bench measures what it says.
    let answer: serde_json::Value = http
        .get(format!("{ui}/api/analysis/compare?trace={trace}"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let made_of = &answer["data"]["baseline"]["traces"];
    if made_of != OTHERS {
        return Err(format!(
            "the typical trace was made of {made_of} traces, not {OTHERS}"
        ));
    }
    Ok(Analyses {
        critical_path: time_gets(
            http,
            &format!("{ui}/api/analysis/critical-path/{trace}"),
            server_pid,
            requests,
        )
        .await?,
        compare: time_gets(
            http,
            &format!("{ui}/api/analysis/compare?trace={trace}&baseline={baseline}"),
            server_pid,
            requests,
        )
        .await?,
        typical,
    })
}

/// `requests` GETs of `url`, one at a time, and the CPU time the server spent on them.
async fn time_gets(
    http: &reqwest::Client,
    url: &str,
    server_pid: u32,
    requests: usize,
) -> Result<Timed, String> {
    let mut latencies = Vec::with_capacity(requests);
    let cpu_before = cpu_time(server_pid)?;
    for _ in 0..requests {
        let started = Instant::now();
        let response = http.get(url).send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        response.bytes().await.map_err(|e| e.to_string())?;
        latencies.push(started.elapsed());
        if !status.is_success() {
            return Err(format!("GET {url} answered {status}"));
        }
    }
    let cpu = cpu_time(server_pid)? - cpu_before;
    latencies.sort();
    Ok(Timed {
        latencies,
        cpu_per_request: cpu / requests as u32,
    })
}

/// One trace of `SPANS` spans: a root, then each span under a random one before it, starting
/// within its parent and ending at a random point in it (children overlap, as concurrent calls
/// do).
fn deep_trace(trace_id: [u8; 16], random: &mut ChaCha8Rng) -> ExportTraceServiceRequest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut times: Vec<(u64, u64)> = Vec::with_capacity(SPANS);
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    for i in 0..SPANS {
        let (parent, service, name, start, end) = if i == 0 {
            (None, 0, OPERATIONS[0], now, now + 100_000_000)
        } else {
            let parent = random.next_u64() as usize % i;
            let (from, to) = times[parent];
            let start = from + random.next_u64() % (to - from).max(1) / 2;
            let end = start + 1 + random.next_u64() % (to - start).max(1);
            let service = random.next_u64() as usize % SERVICES.len();
            let name = OPERATIONS[random.next_u64() as usize % OPERATIONS.len()];
            (Some(parent), service, name, start, end)
        };
        times.push((start, end));
        let span_id = |n: usize| (n as u64 + 1).to_be_bytes().to_vec();
        by_service[service].push(Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id(i),
            parent_span_id: parent.map(span_id).unwrap_or_default(),
            flags: 0x301,
            name: name.to_owned(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Span::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: SERVICES
            .iter()
            .zip(by_service)
            .map(|(service, spans)| process(service, "bench", spans))
            .collect(),
    }
}

impl Analyses {
    /// The report's rows for these measures, after the viewer's others.
    pub fn markdown_rows(&self, stored: usize) -> String {
        let row = |what: &str, timed: &Timed, target: &str| {
            let latencies = &timed.latencies;
            format!(
                "| {what} of a {SPANS}-span trace with {stored} traces stored, {n} requests: \
                 p50 / p99 / max (the server's CPU time per request) | \
                 {p50:.2} / {p99:.2} / {max:.2} ms ({cpu:.2} ms) | p99 < {target} |\n",
                n = latencies.len(),
                p50 = percentile(latencies, 0.50),
                p99 = percentile(latencies, 0.99),
                max = percentile(latencies, 1.0),
                cpu = timed.cpu_per_request.as_secs_f64() * 1e3,
            )
        };
        [
            row(
                "`GET /api/analysis/critical-path/{id}`: the critical path",
                &self.critical_path,
                "20 ms",
            ),
            row(
                "`GET /api/analysis/compare?trace=ID&baseline=ID`: the comparison with another",
                &self.compare,
                "20 ms",
            ),
            row(
                &format!(
                    "`GET /api/analysis/compare?trace=ID`: the comparison with the typical trace \
                     of {OTHERS} others of its kind (random trees)"
                ),
                &self.typical,
                "50 ms",
            ),
        ]
        .concat()
    }
}
