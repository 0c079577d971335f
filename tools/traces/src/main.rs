//! `traces`: receive and view traces on one machine (`traces serve`), and read them in the
//! terminal from this viewer or a real Jaeger (`traces show | search | graph`), and analyse them
//! with this viewer (`traces show --critical-path`, `traces diff`). See
//! docs/viewer.md.

use std::{io::Write as _, net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use traces::{
    client::{Client, Search},
    ids::TraceId,
    log_records,
    monitor::{self, table},
    otlp_json,
    server::{self, Settings},
    terminal,
    units::{self, parse_go},
    waterfall::Waterfall,
};

/// mimalloc, not glibc's malloc: see tools/traces/Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Receive OpenTelemetry traces and view them, with no Jaeger needed; or read any Jaeger v2.
#[derive(Parser)]
#[command(name = "traces", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive OTLP traces and serve Jaeger's query API and a web UI for them.
    Serve {
        /// Where OTLP/gRPC exporters send (OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317")]
        otlp_grpc: SocketAddr,
        /// Where OTLP/HTTP exporters send (`POST /v1/traces`, protobuf or JSON).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
        otlp_http: SocketAddr,
        /// The web UI and Jaeger's query API, on Jaeger's port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:16686")]
        ui: SocketAddr,
        /// How many traces to keep in memory; the oldest go first.
        #[arg(long, value_name = "N", default_value_t = 10_000,
              value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        max_traces: u32,
        /// How long the monitor's per-minute counts (`/monitor`, `/api/metrics/*`) are kept,
        /// whatever becomes of the traces: 24h, 168h, ...
        #[arg(long, value_name = "D", default_value = "168h", value_parser = go_duration)]
        metrics_retention: Duration,
        /// Keep the traces, their log records and the counts in this directory too (created
        /// private if missing), within the same bounds, so that a restart finds them; without
        /// it, memory only.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Print a trace as a waterfall.
    Show {
        /// 32 hex digits, as in a `traceresponse` header or a trace link.
        trace_id: String,
        /// Mark the root span's critical path (computed by `traces serve`, not by Jaeger).
        #[arg(long)]
        critical_path: bool,
        /// Print each span's log records under it (kept by `traces serve`; Jaeger keeps none).
        #[arg(long)]
        logs: bool,
        #[command(flatten)]
        source: Source,
    },
    /// Compare a trace with a baseline trace, or with the typical trace of its kind: each span's
    /// self time on both sides, what changed most first (computed by `traces serve`, not Jaeger).
    Diff {
        /// The trace to explain: 32 hex digits.
        trace_id: String,
        /// The trace to compare with; without it, the typical trace of its kind (the median of
        /// the last 100 stored traces with the same root service and operation).
        #[arg(long, value_name = "ID")]
        baseline: Option<String>,
        #[command(flatten)]
        source: Source,
    },
    /// Print a trace as JSON, as Jaeger's `GET /api/v3/traces/{id}` answers it (for `import`).
    Export {
        /// 32 hex digits.
        trace_id: String,
        #[command(flatten)]
        source: Source,
    },
    /// Store the spans of a file in a viewer: what `export` printed, or OTLP/JSON.
    Import {
        /// The file; `-` reads stdin.
        file: PathBuf,
        /// The viewer to store them in (`traces serve`; Jaeger has no such API).
        #[arg(long, value_name = "URL", default_value = "http://localhost:16686")]
        to: String,
    },
    /// List recent traces, one a line with its link, newest first.
    Search {
        /// Only traces with a span of this service.
        #[arg(long)]
        service: Option<String>,
        /// Only traces with a span of this name (of --service, when given).
        #[arg(long)]
        operation: Option<String>,
        /// Only traces with a failed span.
        #[arg(long)]
        errors: bool,
        /// Only traces with a span that carries this attribute (its own, its resource's or an
        /// event's; the value as text: 503, true, ...). Repeat it: one span must carry them all.
        #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = key_value)]
        attributes: Vec<(String, String)>,
        /// Only traces with a span at least this long: 100ms, 1.5s, ...
        #[arg(long, value_name = "D", value_parser = go_duration)]
        min_duration: Option<Duration>,
        /// How far back to look: 15m, 1h, 24h, ...
        #[arg(long, value_name = "D", default_value = "1h", value_parser = go_duration)]
        since: Duration,
        /// At most this many traces.
        #[arg(long, value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        #[command(flatten)]
        source: Source,
    },
    /// Print each service's operations (its server spans) with their rate, error share and p95
    /// latency over the last --lookback, from the monitor API of this viewer or of a Jaeger
    /// with metrics.
    Top {
        /// Only this service's operations (repeat it for several); without it, every service's.
        #[arg(long)]
        service: Vec<String>,
        /// The time the figures cover: 5m, 15m, 1h, ...
        #[arg(long, value_name = "D", default_value = "15m", value_parser = go_duration)]
        lookback: Duration,
        /// Print the table again every few seconds, in place, until Ctrl-C.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        source: Source,
    },
    /// Print which services call which, and how often.
    Graph {
        /// How far back to look: 15m, 1h, 24h, ...
        #[arg(long, value_name = "D", default_value = "24h", value_parser = go_duration)]
        since: Duration,
        #[command(flatten)]
        source: Source,
    },
}

#[derive(Args)]
struct Source {
    /// The server to read: this viewer or a Jaeger v2 (its query port).
    #[arg(long, value_name = "URL", default_value = "http://localhost:16686")]
    from: String,
}

/// How often `traces top --watch` prints the table again.
const WATCH_EVERY: Duration = Duration::from_secs(3);

/// A trace id as people write it, in the form every server reads.
fn trace_id_text(text: &str) -> Result<String, String> {
    TraceId::parse(text)
        .map(|id| id.to_string())
        .map_err(|problem| format!("{text:?} is not a trace id: {problem}"))
}

fn go_duration(text: &str) -> Result<Duration, String> {
    parse_go(text)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("traces: {message}");
    ExitCode::FAILURE
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve {
            otlp_grpc,
            otlp_http,
            ui,
            max_traces,
            metrics_retention,
            data,
        } => {
            let settings = Settings {
                otlp_grpc,
                otlp_http,
                ui,
                max_traces: max_traces as usize,
                metrics_retention,
                data,
            };
            server::serve(settings, server::stop_signal()).await
        }
        Command::Show {
            trace_id,
            critical_path,
            logs,
            source,
        } => show(&trace_id, critical_path, logs, &source.from).await,
        Command::Diff {
            trace_id,
            baseline,
            source,
        } => diff(&trace_id, baseline.as_deref(), &source.from).await,
        Command::Export { trace_id, source } => {
            let id = trace_id_text(&trace_id)?;
            let client = Client::new(&source.from);
            let resource_spans = fetch_trace(&client, &id, &source.from).await?;
            let mut json = otlp_json::encode_result(&resource_spans);
            json.push(b'\n');
            print(&String::from_utf8_lossy(&json))
        }
        Command::Import { file, to } => import(&file, &to).await,
        Command::Search {
            service,
            operation,
            errors,
            attributes,
            min_duration,
            since,
            limit,
            source,
        } => {
            let search = Search {
                service,
                operation,
                errors,
                attributes,
                min_duration,
                since,
                limit: limit as usize,
            };
            self::search(&search, &source.from).await
        }
        Command::Top {
            service,
            lookback,
            watch,
            source,
        } => top(&service, lookback, watch, &source.from).await,
        Command::Graph { since, source } => {
            let client = Client::new(&source.from);
            let links = client
                .dependencies(since)
                .await
                .map_err(|error| error.to_string())?;
            if links.is_empty() {
                eprintln!("traces: no calls between services at {}", source.from);
            }
            print(&terminal::graph(&links))
        }
    }
}

/// `traces show`: the trace's waterfall, with its critical path and log records if asked.
async fn show(trace_id: &str, critical_path: bool, logs: bool, from: &str) -> Result<(), String> {
    let id = trace_id_text(trace_id)?;
    let client = Client::new(from);
    let resource_spans = fetch_trace(&client, &id, from).await?;
    let trace = Waterfall::all(&resource_spans)
        .into_iter()
        .next()
        .ok_or_else(|| format!("trace {id} at {from} has no spans"))?;
    let critical = if critical_path {
        let segments = client
            .critical_path(&id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("trace {id} not found at {from}"))?;
        Some(segments)
    } else {
        None
    };
    let records = if logs {
        // A server without these records, or without logs at all, answers 404: the waterfall
        // then says that none were found.
        let resource_logs = client.logs(&id).await.map_err(|error| error.to_string())?;
        Some(log_records::records(&resource_logs.unwrap_or_default()))
    } else {
        None
    };
    print(&terminal::waterfall(
        &trace,
        &client.trace_link(&id),
        critical.as_deref(),
        records.as_deref(),
    ))
}

/// `traces diff`: the trace beside `baseline`, or beside the typical trace of its kind.
async fn diff(trace_id: &str, baseline: Option<&str>, from: &str) -> Result<(), String> {
    let id = trace_id_text(trace_id)?;
    let baseline = baseline.map(trace_id_text).transpose()?;
    let diff = Client::new(from)
        .compare(&id, baseline.as_deref())
        .await
        .map_err(|error| error.to_string())?
        .ok_or_else(|| match &baseline {
            Some(baseline) => format!("trace {id} or {baseline} not found at {from}"),
            None => format!("trace {id} not found at {from}"),
        })?;
    print(&terminal::diff(&diff))
}

/// `traces import`: a document of spans, from `file` or stdin (`-`), into the viewer at `to`.
async fn import(file: &std::path::Path, to: &str) -> Result<(), String> {
    let document = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|error| format!("cannot read stdin: {error}"))?;
        bytes
    } else {
        std::fs::read(file).map_err(|error| format!("cannot read {}: {error}", file.display()))?
    };
    let spans = Client::new(to)
        .import(document)
        .await
        .map_err(|error| error.to_string())?;
    eprintln!("traces: stored {spans} spans at {to}");
    Ok(())
}

/// `traces search`: a line for each trace that matches.
async fn search(search: &Search, from: &str) -> Result<(), String> {
    let client = Client::new(from);
    let resource_spans = client
        .search(search)
        .await
        .map_err(|error| error.to_string())?;
    let traces = Waterfall::all(&resource_spans);
    if traces.is_empty() {
        eprintln!("traces: no traces match at {from}");
    }
    let lines: String = traces
        .iter()
        .map(|trace| terminal::search_line(trace, &client.trace_link(&trace.trace_id)) + "\n")
        .collect();
    print(&lines)
}

/// `traces top`: rate, errors and p95 of each operation, once or (`watch`) until Ctrl-C.
async fn top(
    services: &[String],
    lookback: Duration,
    watch: bool,
    from: &str,
) -> Result<(), String> {
    let client = Client::new(from);
    loop {
        let rows = table::fetch_rows(&client, services, lookback)
            .await
            .map_err(|error| error.to_string())?;
        let heading = format!(
            "{from} · server spans over the last {} · {}",
            units::human(lookback.as_nanos() as u64),
            units::utc(monitor::now_ms() as u64 * 1_000_000),
        );
        let table = terminal::top(&rows, &heading);
        if !watch {
            return print(&table);
        }
        // Home and clear, then the table: the same place every time.
        print(&format!("\x1b[H\x1b[2J{table}"))?;
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// The trace's spans as the server at `from` has them, or why not.
async fn fetch_trace(
    client: &Client,
    id: &str,
    from: &str,
) -> Result<Vec<opentelemetry_proto::tonic::trace::v1::ResourceSpans>, String> {
    client
        .trace(id)
        .await
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("trace {id} not found at {from}"))
}

/// Prints through `anstream`, which keeps the colours only on a terminal.
fn print(text: &str) -> Result<(), String> {
    let mut stdout = anstream::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`traces search | head`) is the reader's choice, not an error.
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {error}"))
        }
        _ => Ok(()),
    }
}

/// `--attr`'s `KEY=VALUE`.
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}
