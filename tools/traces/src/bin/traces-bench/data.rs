//! The measures with `--data`: the same ingest into a viewer writing through to a data
//! directory, the file's bytes per stored span, the time a restart takes to answer with the
//! traces stored, and `GET /api/v3/traces/{id}` there.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{
    IN_FLIGHT, Options, SPANS_PER_TRACE, Server, connect, cpu_time, percentile,
    platform_traces::TraceIds, send, time_gets, wait_until_ready,
};

/// A data directory of the bench's own, removed when it ends however it ends.
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct DataReport {
    stored: usize,
    more: usize,
    per_cpu_second: f64,
    per_wall_second: f64,
    bytes_per_span: f64,
    steady_bytes_per_span: f64,
    start: Duration,
    latencies: Vec<Duration>,
}

fn file_bytes(dir: &Path) -> Result<u64, String> {
    let file = dir.join(traces::store::DATA_FILE);
    std::fs::metadata(&file)
        .map(|metadata| metadata.len())
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// Fills a `--data` viewer with `options.traces` traces, sends `options.more_traces` more (each
/// evicting one, on disk too) on the server's CPU clock, stops it with SIGTERM, and times its
/// start on the same directory and its answers there.
pub async fn time_data(options: &Options, http: &reqwest::Client) -> Result<DataReport, String> {
    let dir = DataDir(std::env::temp_dir().join(format!("traces-bench-{}", std::process::id())));
    let server = Server::start(options.traces, Some(&dir.0))?;
    wait_until_ready(http, &server.ui).await?;
    let mut client = connect(&server.grpc).await?;
    let mut ids = TraceIds::new(0xd15c);
    send(&mut client, &mut ids, options.traces).await?;
    let stored_spans = (options.traces * SPANS_PER_TRACE) as f64;
    let bytes_per_span = file_bytes(&dir.0)? as f64 / stored_spans;

    let cpu_before = cpu_time(server.pid())?;
    let started = Instant::now();
    send(&mut client, &mut ids, options.more_traces).await?;
    let wall = started.elapsed();
    let cpu = cpu_time(server.pid())? - cpu_before;
    let sent_spans = (options.more_traces * SPANS_PER_TRACE) as f64;
    let steady_bytes_per_span = file_bytes(&dir.0)? as f64 / stored_spans;
    drop(client);
    server.terminate()?;

    let started = Instant::now();
    let restarted = Server::start(options.traces, Some(&dir.0))?;
    wait_until_ready(http, &restarted.ui).await?;
    let start = started.elapsed();
    let latencies = time_gets(http, &restarted.ui, &ids, options.traces, options.requests).await?;
    Ok(DataReport {
        stored: options.traces,
        more: options.more_traces,
        per_cpu_second: sent_spans / cpu.as_secs_f64(),
        per_wall_second: sent_spans / wall.as_secs_f64(),
        bytes_per_span,
        steady_bytes_per_span,
        start,
        latencies,
    })
}

impl DataReport {
    /// Rows for the viewer's table.
    pub fn markdown_rows(&self) -> String {
        format!(
            "| with `--data`: spans ingested per second of the server's CPU time (the same exports, {IN_FLIGHT} in flight, {more} traces into a full store, each acknowledged once committed) | {cpu:.0} | ≥ 100 000 |\n\
             | with `--data`: the same per second of wall-clock time | {wall:.0} | |\n\
             | with `--data`: bytes of the data file per stored span ({stored} traces) | {bytes:.0} B ({steady:.0} B after the evictions) | |\n\
             | with `--data`: from starting `traces serve` on {stored} stored traces to its first answer | {start:.2} s | < 2 s |\n\
             | with `--data`: `GET /api/v3/traces/{{id}}` after that restart, {requests} requests: p50 / p99 / max | {p50:.2} / {p99:.2} / {max:.2} ms | p99 < 5 ms |\n",
            more = self.more,
            cpu = self.per_cpu_second,
            wall = self.per_wall_second,
            stored = self.stored,
            bytes = self.bytes_per_span,
            steady = self.steady_bytes_per_span,
            start = self.start.as_secs_f64(),
            requests = self.latencies.len(),
            p50 = percentile(&self.latencies, 0.50),
            p99 = percentile(&self.latencies, 0.99),
            max = percentile(&self.latencies, 1.0),
        )
    }
}
