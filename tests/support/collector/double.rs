//! What makes the collector a test double, in layers around the viewer's receivers (which decode
//! and store): it notes the headers exports come with, counts the trace exports, refuses every
//! export on demand as a restarting collector does, and answers a partial success on demand.

use std::{
    collections::BTreeSet,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use axum::http;
use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body::Frame;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message as _;

/// The gRPC method of a trace export.
const GRPC_TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The OTLP/HTTP path of a trace export.
const HTTP_TRACE_EXPORT: &str = "/v1/traces";
/// A logs export, over gRPC and over HTTP.
const LOGS_EXPORTS: [&str; 2] = [
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "/v1/logs",
];

#[derive(Default)]
pub(super) struct Double {
    /// `grpc x-name=value` or `http x-name=value`: the exporters' own headers (`x-*`) as they
    /// arrived, and `grpc grpc-encoding=gzip` or `http content-encoding=gzip` for the encodings.
    pub(super) custom_headers: Mutex<BTreeSet<String>>,
    /// While set, every export is refused as a collector that is restarting refuses it: HTTP 503
    /// with `Retry-After: 1`, gRPC `UNAVAILABLE`.
    pub(super) refusing: AtomicBool,
    pub(super) refused: AtomicU64,
    /// What every trace export taken is answered: a `partial_success` when set.
    pub(super) partial_success: Mutex<Option<ExportTracePartialSuccess>>,
    /// The trace exports taken (handed to the receiver).
    pub(super) trace_exports: AtomicU64,
    /// The logs exports taken.
    pub(super) log_exports: AtomicU64,
}

impl Double {
    /// Notes the headers of an export over `protocol` to `path`, and whether it is refused
    /// (counted so); counts it if it is a logs export taken.
    fn receive(&self, protocol: &str, path: &str, headers: &HeaderMap) -> Refused {
        let custom = headers.iter().filter(|(name, _)| {
            name.as_str().starts_with("x-")
                || matches!(name.as_str(), "content-encoding" | "grpc-encoding")
        });
        let mut noted = self.custom_headers.lock().unwrap();
        for (name, value) in custom {
            let value = String::from_utf8_lossy(value.as_bytes());
            noted.insert(format!("{protocol} {name}={value}"));
        }
        if self.refusing.load(Ordering::Relaxed) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Refused(true);
        }
        if LOGS_EXPORTS.contains(&path) {
            self.log_exports.fetch_add(1, Ordering::Relaxed);
        }
        Refused(false)
    }

    /// Counts a trace export the receiver took, and gives the answer to it when it is not the
    /// receiver's own (empty) one.
    fn trace_export_taken(&self) -> Option<Vec<u8>> {
        self.trace_exports.fetch_add(1, Ordering::Relaxed);
        let partial_success = self.partial_success.lock().unwrap().clone()?;
        Some(
            ExportTraceServiceResponse {
                partial_success: Some(partial_success),
            }
            .encode_to_vec(),
        )
    }
}

struct Refused(bool);

/// The double around the OTLP/HTTP router (`axum::middleware::from_fn_with_state`).
pub(super) async fn http(
    State(double): State<Arc<Double>>,
    request: Request,
    next: Next,
) -> Response {
    if let Refused(true) = double.receive("http", request.uri().path(), request.headers()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
        )
            .into_response();
    }
    if request.uri().path() != HTTP_TRACE_EXPORT {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    match double.trace_export_taken() {
        Some(answer) if response.status().is_success() => {
            ([(header::CONTENT_TYPE, "application/x-protobuf")], answer).into_response()
        }
        _ => response,
    }
}

/// The double around the gRPC server (`tonic::transport::Server::layer`).
#[derive(Clone)]
pub(super) struct GrpcLayer(pub(super) Arc<Double>);

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = Grpc<S>;

    fn layer(&self, inner: S) -> Grpc<S> {
        Grpc {
            inner,
            double: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
pub(super) struct Grpc<S> {
    inner: S,
    double: Arc<Double>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> tower::Service<http::Request<B>> for Grpc<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone is not ready: keep the one that is, as tower's documentation advises.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let double = Arc::clone(&self.double);
        Box::pin(async move {
            if let Refused(true) = double.receive("grpc", request.uri().path(), request.headers()) {
                let status = tonic::Status::unavailable("the collector is restarting");
                return Ok(status.into_http());
            }
            let trace_export = request.uri().path() == GRPC_TRACE_EXPORT;
            let response = inner.call(request).await?.map(tonic::body::Body::new);
            // A failed call is answered with its status in the headers, at once.
            if !trace_export || response.headers().contains_key("grpc-status") {
                return Ok(response);
            }
            Ok(match double.trace_export_taken() {
                Some(answer) => {
                    let (parts, _) = response.into_parts();
                    http::Response::from_parts(parts, grpc_message(answer))
                }
                None => response,
            })
        })
    }
}

/// A gRPC answer's body: the message, length-prefixed and uncompressed, then `grpc-status: 0`.
fn grpc_message(message: Vec<u8>) -> tonic::body::Body {
    let length = u32::try_from(message.len()).expect("an answer under 4 GiB");
    let mut framed = Vec::with_capacity(5 + message.len());
    framed.push(0);
    framed.extend(length.to_be_bytes());
    framed.extend(message);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from(0));
    let frames = [
        Ok::<_, Infallible>(Frame::data(Bytes::from(framed))),
        Ok(Frame::trailers(trailers)),
    ];
    tonic::body::Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
        frames,
    )))
}
