//! `otlp-sink`: a trace collector process that accepts OTLP (gRPC and HTTP/protobuf), counts the
//! spans per `service.name` and throws them away. scripts/bench.sh exports the services' traces
//! to it, so that tracing does its full work (batching, encoding, sending) without a real
//! collector's CPU and memory in the measurements. It is the tests' collector
//! (`e2e_tests::Collector`) in counting mode.
//!
//! ```text
//! otlp-sink [--grpc ADDR] [--http ADDR] [--tls]   defaults 127.0.0.1:4317 and 127.0.0.1:4318
//! curl http://ADDR_OF_HTTP/stats                  {"exports":…,"spans":…,"by_service":{…}}
//! ```
//!
//! With `--tls` it also takes OTLP/gRPC over TLS, on a port of its own, through the tests' TLS
//! front (`e2e_tests::TlsFront`) with a certificate of a private authority made at start, whose
//! certificate file it names: what scripts/bench.sh's `tls-gzip` mode exports to.
//!
//! Stops on SIGINT or SIGTERM, printing the final counts as JSON on stdout.

use std::{net::SocketAddr, process::ExitCode};

use e2e_tests::{Authority, Collector, TlsFront};

const USAGE: &str = "usage: otlp-sink [--grpc ADDR] [--http ADDR] [--tls] | --help | --version
  --grpc ADDR   where OTLP/gRPC is accepted (default 127.0.0.1:4317)
  --http ADDR   where OTLP/HTTP (POST /v1/traces) and GET /stats are served (default 127.0.0.1:4318)
  --tls         OTLP/gRPC over TLS too, on a free loopback port, with a private authority's
                certificate (both printed at start)";

/// What the command line asks for.
enum Asked {
    Run(SocketAddr, SocketAddr, bool),
    Help,
    Version,
}

fn main() -> ExitCode {
    let (grpc, http, tls) = match parse_args(std::env::args().skip(1)) {
        Ok(Asked::Run(grpc, http, tls)) => (grpc, http, tls),
        Ok(Asked::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Asked::Version) => {
            println!("otlp-sink {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("otlp-sink: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Two worker threads are plenty for counting, and keep the sink from competing for every core
    // with what is being measured.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    runtime.block_on(async move {
        let collector = match Collector::counting(grpc, http).await {
            Ok(collector) => collector,
            Err(error) => {
                eprintln!("otlp-sink: cannot listen on {grpc} and {http}: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "otlp-sink: OTLP/gRPC on {}, OTLP/HTTP on {} (GET /stats for the counts)",
            collector.endpoint(),
            collector.http_endpoint()
        );
        // Kept to the end: the authority's files are deleted with it.
        let _tls = if tls {
            let authority = Authority::new("otlp-sink");
            let front = TlsFront::start(collector.grpc_address(), &authority, false).await;
            println!(
                "otlp-sink: OTLP/gRPC over TLS on {}, certified by {}",
                front.endpoint(),
                authority.certificate().display()
            );
            Some((authority, front))
        } else {
            None
        };
        launcher::signal::stop_requested().await;
        match serde_json::to_string(&collector.counts()) {
            Ok(counts) => println!("{counts}"),
            Err(error) => eprintln!("otlp-sink: cannot print the counts: {error}"),
        }
        ExitCode::SUCCESS
    })
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Asked, String> {
    let mut grpc = SocketAddr::from(([127, 0, 0, 1], 4317));
    let mut http = SocketAddr::from(([127, 0, 0, 1], 4318));
    let mut tls = false;
    while let Some(arg) = args.next() {
        let target = match arg.as_str() {
            "-h" | "--help" => return Ok(Asked::Help),
            "-V" | "--version" => return Ok(Asked::Version),
            "--tls" => {
                tls = true;
                continue;
            }
            "--grpc" => &mut grpc,
            "--http" => &mut http,
            other => return Err(format!("unknown argument {other:?}")),
        };
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        *target = value
            .parse()
            .map_err(|_| format!("{arg} {value:?} is not an IP address and port"))?;
    }
    Ok(Asked::Run(grpc, http, tls))
}
