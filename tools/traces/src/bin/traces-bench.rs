//! `traces-bench`: measures `traces serve` (the release binary beside this one) as a user runs
//! it, and prints the figures as a Markdown section for a benchmark report:
//!
//! - spans ingested per second: OTLP/gRPC exports of 512 spans (the SDKs' batch size), four in
//!   flight, of traces shaped like the platform's (`GET /blogs`: 8 spans over blog-service,
//!   author-service and mongodb, with their attributes); counted per second of the server's own
//!   CPU time (one core fully busy), and per second of wall-clock time;
//! - memory per stored span: the server's resident memory once it holds `--max-traces` traces,
//!   less what it had empty, divided by the spans it holds;
//! - latency of `GET /api/v3/traces/{id}` with that many traces stored: one request at a time
//!   over a kept-alive connection, for random stored traces;
//! - latency of a search by attribute (`query.attributes`) with that many traces stored, in the
//!   worst case: a status code no span has, so every span that carries the key is decoded;
//! - latency of the analyses of a 1 000-span trace with that many traces stored: its critical
//!   path, its comparison with another such trace, and its comparison with the typical trace of
//!   its kind made of 100 others (random deep trees, so that few paths repeat: the worst case);
//! - what counting for the monitor costs at ingest: the store's ingest of the same exports, and
//!   the counting alone (the share of the ingest's CPU time it takes);
//! - the monitor's memory per key-minute and `/api/metrics/*` latency over a day of counts for
//!   20 operations (in process, through the API's router);
//! - with `--data`: the ingest on the server's CPU time, the data file's bytes per stored span,
//!   the time a restart on the stored traces takes to answer, and `GET /api/v3/traces/{id}`
//!   after it.
//!
//! `traces-bench [--traces N] [--more-traces N] [--requests N] [--searches N] [--analyses N]`;
//! Linux only (it reads /proc).

// The analyses' measures, in a file of their own beside this one.
#[path = "traces-bench/analyses.rs"]
mod analyses;
// The monitor's measures, likewise.
#[path = "traces-bench/monitor.rs"]
mod monitor;
// The measures with a data directory, likewise.
#[path = "traces-bench/data.rs"]
mod data;
// The traces it sends.
#[path = "traces-bench/platform_traces.rs"]
mod platform_traces;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, trace_service_client::TraceServiceClient,
};
use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore as _, SeedableRng as _},
};
use tokio::task::JoinSet;

use platform_traces::{TraceIds, export};

/// The allocator `traces serve` has, for the store's measures made in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Traces per export: 64 traces of 8 spans are 512 spans.
const TRACES_PER_EXPORT: usize = 64;
const SPANS_PER_TRACE: usize = 8;
const IN_FLIGHT: usize = 4;

/// Measures `traces serve` (the release binary beside this one) and prints the figures as a
/// Markdown section: spans ingested per second, memory per stored span, and the latency of
/// `GET /api/v3/traces/{id}` with the store full. Linux only (it reads /proc).
#[derive(clap::Parser)]
#[command(name = "traces-bench", version)]
struct Options {
    /// Traces the server keeps (its `--max-traces`), and so the traces stored when measuring.
    #[arg(long, default_value_t = 10_000, value_parser = positive)]
    traces: usize,
    /// How many traces to send after the store is full (the steady state, with evictions).
    #[arg(long, default_value_t = 30_000, value_parser = positive)]
    more_traces: usize,
    /// How many `GET /api/v3/traces/{id}` to time.
    #[arg(long, default_value_t = 2_000, value_parser = positive)]
    requests: usize,
    /// How many searches by attribute to time.
    #[arg(long, default_value_t = 200, value_parser = positive)]
    searches: usize,
    /// How many requests of each analysis to time.
    #[arg(long, default_value_t = 200, value_parser = positive)]
    analyses: usize,
}

fn positive(text: &str) -> Result<usize, String> {
    text.parse()
        .ok()
        .filter(|value| *value > 0)
        .ok_or_else(|| "a positive number".to_owned())
}

fn main() {
    let options = <Options as clap::Parser>::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(message) = runtime.block_on(run(options)) {
        eprintln!("traces-bench: {message}");
        std::process::exit(1);
    }
}

/// The `traces serve` process, killed when the bench ends however it ends.
struct Server {
    child: Child,
    grpc: String,
    ui: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `traces serve --max-traces N`, keeping its traces in `data` when given.
    fn start(max_traces: usize, data: Option<&Path>) -> Result<Self, String> {
        let binary = std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("traces");
        let ports = [free_port()?, free_port()?, free_port()?];
        let address = |port: u16| format!("127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args(["serve", "--otlp-grpc", &address(ports[0])])
            .args([
                "--otlp-http",
                &address(ports[1]),
                "--ui",
                &address(ports[2]),
            ])
            .args(["--max-traces", &max_traces.to_string()])
            .args(
                data.map(|dir| ["--data".as_ref(), dir.as_os_str()])
                    .into_iter()
                    .flatten(),
            )
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {}: {e} (build it: cargo build --release -p traces)",
                    binary.display()
                )
            })?;
        Ok(Self {
            child,
            grpc: format!("http://{}", address(ports[0])),
            ui: format!("http://{}", address(ports[2])),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it as a user would (SIGTERM) and waits until it has exited.
    fn terminate(mut self) -> Result<(), String> {
        // kill(1): the workspace forbids the unsafe code that kill(2) would take from here.
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !sent.success() {
            return Err(format!("kill -TERM {} failed", self.child.id()));
        }
        self.child.wait().map(drop).map_err(|e| e.to_string())
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| e.to_string())
}

async fn run(options: Options) -> Result<(), String> {
    let server = Server::start(options.traces, None)?;
    let http = reqwest::Client::new();
    wait_until_ready(&http, &server.ui).await?;
    let mut client = connect(&server.grpc).await?;
    // Let the freshly started process settle before its baseline is read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let empty_rss = rss_bytes(server.pid())?;

    let mut ids = TraceIds::new(0x5eed);
    send(&mut client, &mut ids, options.traces).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let full_rss = rss_bytes(server.pid())?;
    let stored_spans = options.traces * SPANS_PER_TRACE;

    let cpu_before = cpu_time(server.pid())?;
    let started = Instant::now();
    send(&mut client, &mut ids, options.more_traces).await?;
    let wall = started.elapsed();
    let cpu = cpu_time(server.pid())? - cpu_before;
    let sent_spans = options.more_traces * SPANS_PER_TRACE;
    let steady_rss = rss_bytes(server.pid())?;

    let latencies = time_gets(&http, &server.ui, &ids, options.traces, options.requests).await?;
    let searches = time_searches(&http, &server.ui, options.searches).await?;
    let analyses = analyses::time_analyses(
        &mut client,
        &http,
        &server.ui,
        server.pid(),
        options.analyses,
    )
    .await?;
    drop(server);
    let data = data::time_data(&options, &http).await?;
    let report = Report {
        options: &options,
        per_cpu_second: sent_spans as f64 / cpu.as_secs_f64(),
        per_wall_second: sent_spans as f64 / wall.as_secs_f64(),
        bytes_per_span: full_rss.saturating_sub(empty_rss) as f64 / stored_spans as f64,
        steady_bytes_per_span: steady_rss.saturating_sub(empty_rss) as f64 / stored_spans as f64,
        full_rss,
        latencies,
        searches,
    };
    println!(
        "{}{}{}",
        report.markdown(),
        analyses.markdown_rows(options.traces),
        data.markdown_rows()
    );
    println!(
        "{}",
        monitor::monitor_report(options.more_traces, report.per_cpu_second).await
    );
    Ok(())
}

async fn wait_until_ready(http: &reqwest::Client, ui: &str) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(response) = http.get(format!("{ui}/api/v3/services")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("traces serve did not answer at {ui} within 10 s"))
}

async fn connect(grpc: &str) -> Result<TraceServiceClient<tonic::transport::Channel>, String> {
    let channel = tonic::transport::Endpoint::from_shared(grpc.to_owned())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {grpc}: {e}"))?;
    Ok(TraceServiceClient::new(channel))
}

/// Sends `traces` new traces, `IN_FLIGHT` exports at a time. The exports are built before the
/// clock matters: only the sending is timed by the caller, but building is cheap besides.
async fn send(
    client: &mut TraceServiceClient<tonic::transport::Channel>,
    ids: &mut TraceIds,
    traces: usize,
) -> Result<(), String> {
    let exports: Vec<ExportTraceServiceRequest> = (0..traces.div_ceil(TRACES_PER_EXPORT))
        .map(|i| {
            let count = TRACES_PER_EXPORT.min(traces - i * TRACES_PER_EXPORT);
            export(ids, count)
        })
        .collect();
    let mut in_flight = JoinSet::new();
    for request in exports {
        if in_flight.len() >= IN_FLIGHT
            && let Some(result) = in_flight.join_next().await
        {
            result.map_err(|e| e.to_string())??;
        }
        let mut client = client.clone();
        in_flight.spawn(async move {
            client
                .export(request)
                .await
                .map(drop)
                .map_err(|status| format!("an export was refused: {status}"))
        });
    }
    while let Some(result) = in_flight.join_next().await {
        result.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Times `requests` reads of random traces among the last `stored` sent.
async fn time_gets(
    http: &reqwest::Client,
    ui: &str,
    ids: &TraceIds,
    stored: usize,
    requests: usize,
) -> Result<Vec<Duration>, String> {
    let mut pick = ChaCha8Rng::seed_from_u64(0xbe7c);
    let mut latencies = Vec::with_capacity(requests);
    // Exports in flight arrive in any order, so the oldest of the last `stored` may be gone.
    let surely_stored = stored.saturating_sub(IN_FLIGHT * TRACES_PER_EXPORT).max(1);
    for _ in 0..requests {
        let back = (pick.next_u64() % surely_stored as u64) as usize + 1;
        let id = hex::encode(ids.ago(back));
        let started = Instant::now();
        let response = http
            .get(format!("{ui}/api/v3/traces/{id}"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        latencies.push(started.elapsed());
        if !status.is_success() || body.is_empty() {
            return Err(format!("GET /api/v3/traces/{id} answered {status}"));
        }
    }
    latencies.sort();
    Ok(latencies)
}

/// Searches by an attribute no span carries with that value: all traces are looked at.
async fn time_searches(
    http: &reqwest::Client,
    ui: &str,
    searches: usize,
) -> Result<Vec<Duration>, String> {
    let now = time::OffsetDateTime::now_utc();
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let query = [
        ("query.start_time_min", rfc3339(now - time::Duration::HOUR)),
        ("query.start_time_max", rfc3339(now + time::Duration::HOUR)),
        ("query.num_traces", "20".to_owned()),
        (
            "query.attributes",
            r#"{"http.response.status_code":"599"}"#.to_owned(),
        ),
    ];
    let mut latencies = Vec::with_capacity(searches);
    for _ in 0..searches {
        let started = Instant::now();
        let response = http
            .get(format!("{ui}/api/v3/traces"))
            .query(&query)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        response.bytes().await.map_err(|e| e.to_string())?;
        latencies.push(started.elapsed());
        if status != reqwest::StatusCode::NOT_FOUND {
            return Err(format!("a search for no trace answered {status}"));
        }
    }
    latencies.sort();
    Ok(latencies)
}

/// Resident memory, from /proc/PID/status.
fn rss_bytes(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// CPU time of all the process's threads so far (the first field of each thread's schedstat, in
/// nanoseconds).
fn cpu_time(pid: u32) -> Result<Duration, String> {
    let tasks = PathBuf::from(format!("/proc/{pid}/task"));
    let mut nanos = 0u64;
    for task in std::fs::read_dir(&tasks).map_err(|e| format!("{}: {e}", tasks.display()))? {
        let path = task.map_err(|e| e.to_string())?.path().join("schedstat");
        if let Ok(schedstat) = std::fs::read_to_string(&path) {
            nanos += schedstat
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(Duration::from_nanos(nanos))
}

struct Report<'a> {
    options: &'a Options,
    per_cpu_second: f64,
    per_wall_second: f64,
    bytes_per_span: f64,
    steady_bytes_per_span: f64,
    full_rss: u64,
    latencies: Vec<Duration>,
    searches: Vec<Duration>,
}

/// The `p` quantile of sorted latencies, in milliseconds.
fn percentile(latencies: &[Duration], p: f64) -> f64 {
    let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
    latencies[index].as_secs_f64() * 1e3
}

impl Report<'_> {
    fn markdown(&self) -> String {
        let spans = self.options.traces * SPANS_PER_TRACE;
        format!(
            "### The trace viewer (`traces serve`)\n\
             \n\
             Measured by `target/release/traces-bench` on {date} against the release build; \
             {cores} cores, shared with other work while it ran, so these are lower bounds.\n\
             \n\
             | measure | result | target |\n\
             |---|---|---|\n\
             | spans ingested per second of the server's CPU time (OTLP/gRPC, 512-span exports, {more} traces into a full store) | {cpu:.0} | ≥ 50 000 on one core |\n\
             | the same per second of wall-clock time (2 cores, the bench's client on the same machine) | {wall:.0} | |\n\
             | resident memory per stored span ({stored} traces, {spans} spans, {rss:.0} MiB in all) | {bytes:.0} B ({steady:.0} B after the evictions) | |\n\
             | `GET /api/v3/traces/{{id}}` with {stored} traces stored, {requests} requests: p50 / p99 / max | {p50:.2} / {p99:.2} / {max:.2} ms | p99 < 5 ms |\n\
             | `GET /api/v3/traces?query.attributes={{\"http.response.status_code\":\"599\"}}` (no match: every trace looked at) with {stored} traces stored, {searches} requests: p50 / p99 / max | {s50:.2} / {s99:.2} / {smax:.2} ms | p99 < 20 ms |\n",
            date = time::OffsetDateTime::now_utc().date(),
            cores = std::thread::available_parallelism().map_or(1, |n| n.get()),
            more = self.options.more_traces,
            cpu = self.per_cpu_second,
            wall = self.per_wall_second,
            stored = self.options.traces,
            rss = self.full_rss as f64 / (1 << 20) as f64,
            bytes = self.bytes_per_span,
            steady = self.steady_bytes_per_span,
            requests = self.options.requests,
            p50 = percentile(&self.latencies, 0.50),
            p99 = percentile(&self.latencies, 0.99),
            max = percentile(&self.latencies, 1.0),
            searches = self.searches.len(),
            s50 = percentile(&self.searches, 0.50),
            s99 = percentile(&self.searches, 0.99),
            smax = percentile(&self.searches, 1.0),
        )
    }
}
