//! An in-process OTLP trace collector (gRPC and HTTP/protobuf): what Jaeger would receive, kept in
//! memory for assertions, and the log records sent beside the spans ([`logs`]). With
//! [`Collector::counting`] it only counts what it receives instead, which is what the `otlp-sink`
//! binary (scripts/bench.sh's trace sink) runs.

mod logs;

pub use logs::{ExportedLogRecord, describe_records, severity};

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value as OtlpValue},
    trace::v1::{span::SpanKind as ProtoKind, status::StatusCode},
};

/// The kind of a span, as OTLP sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// An attribute's value as OTLP carries it, type and all: a backend that filters
/// `http.response.status_code >= 500` needs an integer, and a test must see what it sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Vec<Value>),
    /// OTLP's key-value list, in the order it came.
    Map(Vec<(String, Value)>),
    Bytes(Vec<u8>),
    /// An `AnyValue` with nothing in it.
    Empty,
}

impl Value {
    fn from_otlp(value: Option<&AnyValue>) -> Self {
        match value.and_then(|value| value.value.as_ref()) {
            Some(OtlpValue::StringValue(s)) => Self::String(s.clone()),
            Some(OtlpValue::BoolValue(b)) => Self::Bool(*b),
            Some(OtlpValue::IntValue(i)) => Self::Int(*i),
            Some(OtlpValue::DoubleValue(d)) => Self::Double(*d),
            Some(OtlpValue::ArrayValue(array)) => Self::Array(
                array
                    .values
                    .iter()
                    .map(|value| Self::from_otlp(Some(value)))
                    .collect(),
            ),
            Some(OtlpValue::KvlistValue(list)) => Self::Map(
                list.values
                    .iter()
                    .map(|kv| (kv.key.clone(), Self::from_otlp(kv.value.as_ref())))
                    .collect(),
            ),
            Some(OtlpValue::BytesValue(bytes)) => Self::Bytes(bytes.clone()),
            None => Self::Empty,
        }
    }

    /// The OTLP type's name, for failure messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::String(_) => "string",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Double(_) => "double",
            Self::Array(_) => "array",
            Self::Map(_) => "kvlist",
            Self::Bytes(_) => "bytes",
            Self::Empty => "empty",
        }
    }
}

/// Strings as they are, the rest as a user's tool would print them (`201`, `true`, `[a, b]`).
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Double(d) => write!(f, "{d}"),
            Self::Array(values) => {
                let values: Vec<String> = values.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", values.join(", "))
            }
            Self::Map(entries) => {
                let entries: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "{{{}}}", entries.join(", "))
            }
            Self::Bytes(bytes) => f.write_str(&hex(bytes)),
            Self::Empty => Ok(()),
        }
    }
}

/// Attributes by key, each with its type.
pub type Attributes = HashMap<String, Value>;

/// One received span, flattened: its resource's `service.name`, ids as hex, typed attributes.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub attributes: Attributes,
    /// Each event's name and attributes.
    pub events: Vec<(String, Attributes)>,
    pub status_error: bool,
    pub status_message: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub resource: Attributes,
}

impl ExportedSpan {
    /// A string attribute's text; `None` when it is missing or of another type.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        match self.attributes.get(key) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        }
    }

    /// An integer attribute; `None` when it is missing or of another type (a `"201"` string
    /// included).
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.attributes.get(key) {
            Some(Value::Int(value)) => Some(*value),
            _ => None,
        }
    }

    /// A string attribute of the resource the span came with.
    pub fn resource_attribute(&self, key: &str) -> Option<&str> {
        match self.resource.get(key) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        }
    }

    /// The events named `name`, with their attributes.
    pub fn events_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Attributes> {
        self.events
            .iter()
            .filter(move |(event, _)| event == name)
            .map(|(_, attributes)| attributes)
    }

    /// How long the span lasted.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_unix_nano.saturating_sub(self.start_unix_nano))
    }

    /// Every string this span carries, for searching for leaked secrets.
    pub fn all_text(&self) -> String {
        let mut text = format!("{} {}", self.name, self.status_message);
        for (key, value) in self.attributes.iter().chain(self.resource.iter()) {
            text.push_str(&format!(" {key}={value}"));
        }
        for (name, attributes) in &self.events {
            text.push_str(&format!(" {name}"));
            for (key, value) in attributes {
                text.push_str(&format!(" {key}={value}"));
            }
        }
        text
    }
}

/// How many export requests and spans arrived, in total and per `service.name`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SpanCounts {
    pub exports: u64,
    pub spans: u64,
    pub by_service: BTreeMap<String, u64>,
}

#[derive(Clone)]
struct Store {
    /// False: count spans without keeping them, so memory stays flat under load.
    keep: Arc<AtomicBool>,
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
    counts: Arc<Mutex<SpanCounts>>,
    log_records: Arc<Mutex<Vec<ExportedLogRecord>>>,
    log_exports: Arc<Mutex<u64>>,
    /// `grpc x-name=value` or `http x-name=value`: the exporters' own headers (`x-*`) as they
    /// arrived, and `grpc grpc-encoding=gzip` or `http content-encoding=gzip` for the encodings.
    custom_headers: Arc<Mutex<BTreeSet<String>>>,
    /// While set, every export is refused as a collector that is restarting refuses it: HTTP 503
    /// with `Retry-After: 1`, gRPC `UNAVAILABLE`.
    refusing: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
    /// What every accepted export is answered: a `partial_success` when set.
    partial_success: Arc<Mutex<Option<ExportTracePartialSuccess>>>,
}

impl Store {
    fn new(keep: bool) -> Self {
        Self {
            keep: Arc::new(AtomicBool::new(keep)),
            spans: Arc::default(),
            counts: Arc::default(),
            log_records: Arc::default(),
            log_exports: Arc::default(),
            custom_headers: Arc::default(),
            refusing: Arc::default(),
            refused: Arc::default(),
            partial_success: Arc::default(),
        }
    }

    /// Whether this export is refused (and counted as such).
    fn refuses(&self) -> bool {
        let refusing = self.refusing.load(Ordering::Relaxed);
        if refusing {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        refusing
    }

    fn response(&self) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: self.partial_success.lock().unwrap().clone(),
        }
    }

    /// Notes the `x-*` headers an export came with.
    fn note_headers(&self, protocol: &str, headers: &axum::http::HeaderMap) {
        let custom = headers.iter().filter(|(name, _)| {
            name.as_str().starts_with("x-")
                || matches!(name.as_str(), "content-encoding" | "grpc-encoding")
        });
        let mut noted = self.custom_headers.lock().unwrap();
        for (name, value) in custom {
            let value = String::from_utf8_lossy(value.as_bytes());
            noted.insert(format!("{protocol} {name}={value}"));
        }
    }
}

/// Receives OTLP over gRPC and over HTTP/protobuf into one store.
pub struct Collector {
    address: SocketAddr,
    http_address: SocketAddr,
    store: Store,
    _servers: [tokio::task::JoinHandle<()>; 2],
}

impl Collector {
    /// Listens on free loopback ports and keeps every span. Needs a tokio runtime.
    pub async fn start() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::listen(any, any, Store::new(true))
            .await
            .expect("binding the collector's ports")
    }

    /// Listens on `grpc` and `http` and only counts what arrives ([`Collector::counts`];
    /// [`Collector::spans`] stays empty). Needs a tokio runtime.
    pub async fn counting(grpc: SocketAddr, http: SocketAddr) -> std::io::Result<Self> {
        Self::listen(grpc, http, Store::new(false)).await
    }

    async fn listen(grpc: SocketAddr, http: SocketAddr, store: Store) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(grpc).await?;
        let address = listener.local_addr()?;
        let service = TraceServiceServer::new(store.clone())
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        let logs_service = logs::grpc_service(store.clone());
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .add_service(logs_service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
        });
        let http_listener = tokio::net::TcpListener::bind(http).await?;
        let http_address = http_listener.local_addr()?;
        let router = axum::Router::new()
            .route("/v1/traces", axum::routing::post(export_http))
            .route("/v1/logs", axum::routing::post(export_logs_http))
            .route("/stats", axum::routing::get(stats))
            .with_state(store.clone());
        let http_server = tokio::spawn(async move {
            let _ = axum::serve(http_listener, router).await;
        });
        Ok(Self {
            address,
            http_address,
            store,
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

    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.store.spans.lock().unwrap().clone()
    }

    /// From now on, counts the spans it receives but keeps none: for long runs, whose hundreds of
    /// thousands of spans would otherwise fill the test's memory.
    pub fn count_only(&self) {
        self.store.keep.store(false, Ordering::Relaxed);
        self.store.spans.lock().unwrap().clear();
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
        self.store.refusing.store(refusing, Ordering::Relaxed);
    }

    /// How many exports it has refused.
    pub fn refused(&self) -> u64 {
        self.store.refused.load(Ordering::Relaxed)
    }

    /// From now on answers every export it takes with this partial success.
    pub fn answer_partial_success(&self, rejected_spans: i64, error_message: &str) {
        *self.store.partial_success.lock().unwrap() = Some(ExportTracePartialSuccess {
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
        self.store.custom_headers.lock().unwrap().clone()
    }

    /// How many spans it has received in all, kept or not.
    pub fn received(&self) -> u64 {
        self.counts().spans
    }

    /// What arrived so far; also served as JSON at `GET /stats` on the HTTP port.
    pub fn counts(&self) -> SpanCounts {
        self.store.counts.lock().unwrap().clone()
    }

    pub fn trace(&self, trace_id: &str) -> Vec<ExportedSpan> {
        self.spans()
            .into_iter()
            .filter(|span| span.trace_id == trace_id)
            .collect()
    }

    /// Waits until no span or log record has arrived for half a second (at most 15 s), so that
    /// what the services buffered has been exported.
    pub async fn wait_until_quiet(&self) {
        let started = Instant::now();
        let received = || {
            self.store.spans.lock().unwrap().len() + self.store.log_records.lock().unwrap().len()
        };
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

#[tonic::async_trait]
impl TraceService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.note_headers("grpc", &request.metadata().clone().into_headers());
        if self.refuses() {
            return Err(tonic::Status::unavailable("the collector is restarting"));
        }
        self.ingest(request.into_inner());
        Ok(tonic::Response::new(self.response()))
    }
}

impl Store {
    fn ingest(&self, request: ExportTraceServiceRequest) {
        self.count(&request);
        if !self.keep.load(Ordering::Relaxed) {
            return;
        }
        let mut received = Vec::new();
        for resource_spans in request.resource_spans {
            let resource = attributes(
                &resource_spans
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default(),
            );
            let service = match resource.get("service.name") {
                Some(Value::String(name)) => name.clone(),
                _ => String::new(),
            };
            for span in resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                let status = span.status.unwrap_or_default();
                received.push(ExportedSpan {
                    service: service.clone(),
                    name: span.name,
                    kind: match ProtoKind::try_from(span.kind).unwrap_or(ProtoKind::Unspecified) {
                        ProtoKind::Unspecified => SpanKind::Unspecified,
                        ProtoKind::Internal => SpanKind::Internal,
                        ProtoKind::Server => SpanKind::Server,
                        ProtoKind::Client => SpanKind::Client,
                        ProtoKind::Producer => SpanKind::Producer,
                        ProtoKind::Consumer => SpanKind::Consumer,
                    },
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                    events: span
                        .events
                        .into_iter()
                        .map(|event| (event.name, attributes(&event.attributes)))
                        .collect(),
                    status_error: status.code == StatusCode::Error as i32,
                    status_message: status.message,
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                    resource: resource.clone(),
                });
            }
        }
        self.spans.lock().unwrap().extend(received);
    }

    fn count(&self, request: &ExportTraceServiceRequest) {
        let mut counts = self.counts.lock().unwrap();
        counts.exports += 1;
        for resource_spans in &request.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| {
                    resource
                        .attributes
                        .iter()
                        .find(|kv| kv.key == "service.name")
                })
                .map(|kv| Value::from_otlp(kv.value.as_ref()).to_string())
                .unwrap_or_default();
            let spans: u64 = resource_spans
                .scope_spans
                .iter()
                .map(|scope| scope.spans.len() as u64)
                .sum();
            counts.spans += spans;
            *counts.by_service.entry(service).or_default() += spans;
        }
    }
}

/// `GET /stats`: the counts as JSON, for scripts.
async fn stats(axum::extract::State(store): axum::extract::State<Store>) -> axum::Json<SpanCounts> {
    axum::Json(store.counts.lock().unwrap().clone())
}

/// OTLP/HTTP with protobuf bodies: `POST /v1/traces`.
async fn export_http(
    axum::extract::State(store): axum::extract::State<Store>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, axum::http::StatusCode> {
    let request: ExportTraceServiceRequest = match http_request(&store, &headers, body)? {
        Ok(request) => request,
        Err(refused) => return Ok(refused),
    };
    store.ingest(request);
    Ok(http_answer(&store.response()))
}

/// OTLP/HTTP with protobuf bodies: `POST /v1/logs`.
async fn export_logs_http(
    axum::extract::State(store): axum::extract::State<Store>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, axum::http::StatusCode> {
    use opentelemetry_proto::tonic::collector::logs::v1::{
        ExportLogsServiceRequest, ExportLogsServiceResponse,
    };
    let request: ExportLogsServiceRequest = match http_request(&store, &headers, body)? {
        Ok(request) => request,
        Err(refused) => return Ok(refused),
    };
    store.ingest_logs(request);
    Ok(http_answer(&ExportLogsServiceResponse::default()))
}

/// An OTLP/HTTP export's request, decoded (and gunzipped when it says so); or the answer that
/// refuses it while the collector is refusing; or 400 when it does not decode.
fn http_request<Request: prost::Message + Default>(
    store: &Store,
    headers: &axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Result<Request, axum::response::Response>, axum::http::StatusCode> {
    use axum::{http::header, response::IntoResponse};
    store.note_headers("http", headers);
    if store.refuses() {
        return Ok(Err((
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
        )
            .into_response()));
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|encoding| encoding == "gzip");
    let body = if gzip {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .map_err(|_| axum::http::StatusCode::BAD_REQUEST)?;
        plain.into()
    } else {
        body
    };
    Request::decode(body)
        .map(Ok)
        .map_err(|_| axum::http::StatusCode::BAD_REQUEST)
}

/// An OTLP/HTTP export's answer, in protobuf.
fn http_answer(response: &impl prost::Message) -> axum::response::Response {
    use axum::{http::header, response::IntoResponse};
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        response.encode_to_vec(),
    )
        .into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attributes(key_values: &[KeyValue]) -> Attributes {
    key_values
        .iter()
        .map(|kv| (kv.key.clone(), Value::from_otlp(kv.value.as_ref())))
        .collect()
}
