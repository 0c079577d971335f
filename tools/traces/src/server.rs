//! `traces serve`: the receivers, the query API and the web pages on their three addresses, until
//! SIGINT or SIGTERM.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch};

use crate::{api, receiver, store::Store, web};

/// Where `traces serve` listens, and how much it keeps.
#[derive(Debug, Clone)]
pub struct Settings {
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub ui: SocketAddr,
    pub max_traces: usize,
    /// How long the monitor's counts are kept, whatever becomes of the traces.
    pub metrics_retention: Duration,
    /// Where the traces, log records and counts are kept across restarts; `None`: memory only.
    pub data: Option<PathBuf>,
}

/// How long a stop waits for open connections (a browser's, an exporter's) to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The query API and the web pages, on one router: what Jaeger serves on its port 16686.
pub fn ui_router(store: Arc<Store>) -> axum::Router {
    api::router(Arc::clone(&store)).merge(web::router(store))
}

/// Opens the data directory, if any (or says why it cannot), binds all three addresses (or says
/// which one it cannot), prints where everything is, and serves until `stop` completes.
pub async fn serve(settings: Settings, stop: impl Future<Output = ()>) -> Result<(), String> {
    let store = match &settings.data {
        Some(dir) => {
            ignore_file_size_signal()?;
            Store::open(dir, settings.max_traces, settings.metrics_retention)?
        }
        None => Store::with_metrics_retention(settings.max_traces, settings.metrics_retention),
    };
    let store = Arc::new(store);
    let bind = |address: SocketAddr, what: &'static str, flag: &'static str| async move {
        TcpListener::bind(address).await.map_err(|error| {
            format!("cannot listen on {address} for {what} ({error}); is another collector or Jaeger running? Choose another address with {flag}")
        })
    };
    let grpc = bind(settings.otlp_grpc, "OTLP/gRPC", "--otlp-grpc").await?;
    let http = bind(settings.otlp_http, "OTLP/HTTP", "--otlp-http").await?;
    let ui = bind(settings.ui, "the web UI and query API", "--ui").await?;
    let address = |listener: &TcpListener| listener.local_addr().map_err(|e| e.to_string());
    let (grpc_address, http_address, ui_address) =
        (address(&grpc)?, address(&http)?, address(&ui)?);

    let (stopping, stopped) = watch::channel(false);
    let signal = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };

    let receiver = receiver::Receiver::new(Arc::clone(&store));
    let grpc_server = tonic::transport::Server::builder()
        .layer(receiver::grpc_status_layer())
        .add_service(receiver.clone().into_service())
        .add_service(receiver.into_logs_service())
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(grpc),
            signal(stopped.clone()),
        );
    let http_server = axum::serve(http, receiver::http_router(Arc::clone(&store)))
        .with_graceful_shutdown(signal(stopped.clone()));
    let ui_server =
        axum::serve(ui, ui_router(Arc::clone(&store))).with_graceful_shutdown(signal(stopped));

    let kept = match &settings.data {
        Some(dir) => format!("in {}", dir.display()),
        None => "in memory".to_owned(),
    };
    let (traces, _) = store.len();
    println!(
        "traces: OTLP/gRPC on http://{grpc_address}, OTLP/HTTP on http://{http_address}/v1/traces; \
         traces and Jaeger's query API on http://{ui_address}/search (keeps the {} most recent \
         traces {kept}; {traces} held now)",
        settings.max_traces
    );
    let servers = async {
        let (grpc, http, ui) = tokio::join!(grpc_server, http_server, ui_server);
        grpc.map_err(|e| format!("OTLP/gRPC: {e}"))?;
        http.map_err(|e| format!("OTLP/HTTP: {e}"))?;
        ui.map_err(|e| format!("web UI: {e}"))
    };
    tokio::pin!(servers);
    tokio::select! {
        result = &mut servers => return result,
        () = stop => {}
    }
    let _ = stopping.send(true);
    // A browser may keep a connection open; do not wait for it for long.
    match tokio::time::timeout(SHUTDOWN_GRACE, servers).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// A file size limit (`ulimit -f`) reached would kill the process with SIGXFSZ; handled, it
/// makes the write fail instead (EFBIG), which the store answers like a full disk: exports are
/// refused as retryable while everything stored stays served.
fn ignore_file_size_signal() -> Result<(), String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut signals = signal(SignalKind::from_raw(libc::SIGXFSZ))
            .map_err(|error| format!("cannot handle SIGXFSZ: {error}"))?;
        tokio::spawn(async move { while signals.recv().await.is_some() {} });
    }
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
