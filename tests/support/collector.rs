//! An in-process OTLP collector: the trace viewer's own receivers (gRPC, and HTTP with protobuf
//! or JSON, gzip or not) and store (`traces::store`), which keep what Jaeger would receive for
//! assertions, the log records sent beside the spans too ([`logs`]). Around the receivers, a thin
//! test double ([`double`]) notes headers, counts exports, and refuses or answers as a test asks.
//! With [`Collector::counting`] it keeps only the latest trace and counts the rest, which is what
//! the `otlp-sink` binary (scripts/bench.sh's trace sink) runs.

mod double;
mod logs;

pub use logs::describe_records;
pub use traces::store::flat::{
    Attributes, LogRecord as ExportedLogRecord, Span as ExportedSpan, SpanKind, Value, severity,
};

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
use traces::{
    ids::TraceId,
    receiver::{self, Receiver},
    store::Store,
};

use double::Double;

/// How many traces the collector keeps: all a test sends.
const EVERY_TRACE: usize = usize::MAX;

/// How many export requests and spans arrived, in total and per `service.name`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SpanCounts {
    pub exports: u64,
    pub spans: u64,
    pub by_service: BTreeMap<String, u64>,
}

/// Receives OTLP over gRPC and over HTTP into one store.
pub struct Collector {
    address: SocketAddr,
    http_address: SocketAddr,
    store: Arc<Store>,
    double: Arc<Double>,
    _servers: [tokio::task::JoinHandle<()>; 2],
}

impl Collector {
    /// Listens on free loopback ports and keeps every span and log record. Needs a tokio
    /// runtime.
    pub async fn start() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let store = Store::new(EVERY_TRACE).keeping_untraced_records();
        Self::listen(any, any, store)
            .await
            .expect("binding the collector's ports")
    }

    /// Listens on `grpc` and `http`, keeps only the latest trace and counts the spans
    /// ([`Collector::counts`]). Needs a tokio runtime.
    pub async fn counting(grpc: SocketAddr, http: SocketAddr) -> std::io::Result<Self> {
        Self::listen(grpc, http, Store::new(1)).await
    }

    async fn listen(grpc: SocketAddr, http: SocketAddr, store: Store) -> std::io::Result<Self> {
        let store = Arc::new(store);
        let double = Arc::new(Double::default());
        let listener = tokio::net::TcpListener::bind(grpc).await?;
        let address = listener.local_addr()?;
        let receiver = Receiver::new(Arc::clone(&store));
        let grpc_server = tonic::transport::Server::builder()
            .layer(receiver::grpc_status_layer())
            .layer(double::GrpcLayer(Arc::clone(&double)))
            .add_service(receiver.clone().into_service())
            .add_service(receiver.into_logs_service())
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        let server = tokio::spawn(async move {
            let _ = grpc_server.await;
        });
        let http_listener = tokio::net::TcpListener::bind(http).await?;
        let http_address = http_listener.local_addr()?;
        let router = receiver::http_router(Arc::clone(&store))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&double),
                double::http,
            ))
            .merge(
                axum::Router::new()
                    .route("/stats", axum::routing::get(stats))
                    .with_state((Arc::clone(&store), Arc::clone(&double))),
            );
        let http_server = tokio::spawn(async move {
            let _ = axum::serve(http_listener, router).await;
        });
        Ok(Self {
            address,
            http_address,
            store,
            double,
            _servers: [server, http_server],
        })
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` with `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_address)
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received, the traces in the order they arrived.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.store.flat_spans()
    }

    /// From now on, counts the spans it receives but keeps only the latest trace: for long runs,
    /// whose hundreds of thousands of spans would otherwise fill the test's memory.
    pub fn count_only(&self) {
        self.store.set_max_traces(1);
    }

    /// The gRPC port's address, for a front (TLS) before it.
    pub fn grpc_address(&self) -> SocketAddr {
        self.address
    }

    /// The HTTP port's address, for a front (TLS) before it.
    pub fn http_address(&self) -> SocketAddr {
        self.http_address
    }

    /// From now on refuses every export, or takes them again, as a collector that restarts.
    pub fn refuse_exports(&self, refusing: bool) {
        self.double.refusing.store(refusing, Ordering::Relaxed);
    }

    /// How many exports it has refused.
    pub fn refused(&self) -> u64 {
        self.double.refused.load(Ordering::Relaxed)
    }

    /// From now on answers every trace export it takes with this partial success.
    pub fn answer_partial_success(&self, rejected_spans: i64, error_message: &str) {
        *self.double.partial_success.lock().unwrap() = Some(ExportTracePartialSuccess {
            rejected_spans,
            error_message: error_message.to_owned(),
        });
    }

    /// The spans that arrived more than once (by trace and span id), as `trace/span`.
    pub fn duplicates(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.spans()
            .into_iter()
            .map(|span| format!("{}/{}", span.trace_id, span.span_id))
            .filter(|id| !seen.insert(id.clone()))
            .collect()
    }

    /// The exporters' own headers (`x-*`) and encodings seen so far, as `grpc x-name=value`,
    /// `http x-name=value`, `grpc grpc-encoding=gzip` or `http content-encoding=gzip`.
    pub fn custom_headers(&self) -> BTreeSet<String> {
        self.double.custom_headers.lock().unwrap().clone()
    }

    /// How many spans it has received in all, kept or not.
    pub fn received(&self) -> u64 {
        self.counts().spans
    }

    /// What arrived so far; also served as JSON at `GET /stats` on the HTTP port.
    pub fn counts(&self) -> SpanCounts {
        counts(&self.store, &self.double)
    }

    /// The spans of the trace `trace_id` (hex), in the order they arrived.
    pub fn trace(&self, trace_id: &str) -> Vec<ExportedSpan> {
        match TraceId::parse(trace_id) {
            Ok(trace_id) => self.store.flat_trace(trace_id),
            Err(_) => Vec::new(),
        }
    }

    /// Waits until no span or log record has arrived for half a second (at most 15 s), so that
    /// what the services buffered has been exported.
    pub async fn wait_until_quiet(&self) {
        let started = Instant::now();
        // What it holds, and what it counted (in case it keeps only the latest trace).
        let received = || (self.store.received(), self.received());
        let mut seen = received();
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(500)
            && started.elapsed() < Duration::from_secs(15)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = received();
            if now != seen {
                seen = now;
                quiet_since = Instant::now();
            }
        }
    }

    /// Waits until the trace holds spans for which `complete` is true, checks that every one of
    /// them follows the semantic conventions, and returns them.
    pub async fn wait_for_trace(
        &self,
        trace_id: &str,
        complete: impl Fn(&[ExportedSpan]) -> bool,
    ) -> Vec<ExportedSpan> {
        let started = Instant::now();
        loop {
            let spans = self.trace(trace_id);
            if complete(&spans) {
                crate::conventions::assert_conventions(&spans);
                return spans;
            }
            if started.elapsed() > Duration::from_secs(15) {
                panic!(
                    "trace {trace_id} did not complete in 15 s; it has:\n{}",
                    describe(&spans)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Which span: the service that made it, its name and its kind.
pub type SpanKey<'a> = (&'a str, &'a str, SpanKind);

impl Collector {
    /// Waits until the trace holds every span of `wanted`, then as [`Collector::wait_for_trace`].
    pub async fn wait_for_spans(
        &self,
        trace_id: &str,
        wanted: &[SpanKey<'_>],
    ) -> Vec<ExportedSpan> {
        self.wait_for_trace(trace_id, |spans| {
            wanted
                .iter()
                .all(|&(service, name, kind)| find(spans, service, name, kind).is_some())
        })
        .await
    }
}

/// A request that `service` checked with author-service: `service`'s SERVER span, its CLIENT span
/// `POST /authorize`, author-service's SERVER span, and the whole trace.
pub struct AuthorHop {
    pub caller: ExportedSpan,
    pub client: ExportedSpan,
    pub author: ExportedSpan,
    pub spans: Vec<ExportedSpan>,
}

impl Collector {
    /// Waits for the trace of a request to `service`'s `route` that went through author-service.
    pub async fn wait_for_author_hop(
        &self,
        trace_id: &str,
        service: &str,
        route: &str,
    ) -> AuthorHop {
        let spans = self
            .wait_for_spans(
                trace_id,
                &[
                    (service, route, SpanKind::Server),
                    ("author-service", "POST /authorize", SpanKind::Server),
                ],
            )
            .await;
        AuthorHop {
            caller: span(&spans, service, route, SpanKind::Server).clone(),
            client: span(&spans, service, "POST /authorize", SpanKind::Client).clone(),
            author: span(
                &spans,
                "author-service",
                "POST /authorize",
                SpanKind::Server,
            )
            .clone(),
            spans,
        }
    }
}

/// The span of `service` named `name` of `kind`; a failure listing the trace when it has none.
pub fn span<'a>(
    spans: &'a [ExportedSpan],
    service: &str,
    name: &str,
    kind: SpanKind,
) -> &'a ExportedSpan {
    find(spans, service, name, kind).unwrap_or_else(|| {
        panic!(
            "no {kind:?} span {name:?} of {service} in the trace:\n{}",
            describe(spans)
        )
    })
}

/// The span of `service` named `name` of `kind`, if the trace has one.
pub fn find<'a>(
    spans: &'a [ExportedSpan],
    service: &str,
    name: &str,
    kind: SpanKind,
) -> Option<&'a ExportedSpan> {
    spans
        .iter()
        .find(|s| s.service == service && s.name == name && s.kind == kind)
}

/// Whether `ancestor` is `span`'s parent, grandparent, ...
pub fn descends_from(spans: &[ExportedSpan], span: &ExportedSpan, ancestor: &ExportedSpan) -> bool {
    let mut current = span;
    loop {
        if current.parent_span_id == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|s| s.span_id == current.parent_span_id) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
}

/// One line per span, for failure messages.
pub fn describe(spans: &[ExportedSpan]) -> String {
    spans
        .iter()
        .map(|span| {
            format!(
                "  {:<16} {:<28} {:?} span={} parent={}",
                span.service, span.name, span.kind, span.span_id, span.parent_span_id
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The spans come from the monitor's counts, which the store keeps whatever traces it evicts.
fn counts(store: &Store, double: &Double) -> SpanCounts {
    let by_service = store.counts().spans_by_service();
    SpanCounts {
        exports: double.trace_exports.load(Ordering::Relaxed),
        spans: by_service.values().sum(),
        by_service,
    }
}

/// `GET /stats`: the counts as JSON, for scripts.
async fn stats(
    axum::extract::State((store, double)): axum::extract::State<(Arc<Store>, Arc<Double>)>,
) -> axum::Json<SpanCounts> {
    axum::Json(counts(&store, &double))
}
