//! The OTLP receivers: gRPC (`opentelemetry-proto`'s tonic `TraceService` and `LogsService`) and
//! HTTP (`POST /v1/traces` and `POST /v1/logs`, protobuf or JSON, optionally gzip-compressed), all
//! into one [`Store`].
//!
//! An export is stored whole or not at all: a body that does not decode, or a span or log record
//! with an id of the wrong length, is refused (HTTP 400 with a `google.rpc.Status` body, or gRPC
//! `INVALID_ARGUMENT`) and leaves the store as it was. Exports are limited to
//! [`MAX_EXPORT_BYTES`], compressed and decompressed.

use std::sync::Arc;

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::post,
};
use opentelemetry_proto::tonic::collector::{
    logs::v1::{
        ExportLogsServiceRequest, ExportLogsServiceResponse,
        logs_service_server::{LogsService, LogsServiceServer},
    },
    trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
};
use prost::Message as _;
use tonic::codec::CompressionEncoding;
use tower_http::{decompression::RequestDecompressionLayer, limit::RequestBodyLimitLayer};

use crate::{
    innermost, otlp_json,
    store::{Refused, Store},
};

/// The largest export accepted, in bytes (after decompression too). A full batch of the
/// OpenTelemetry SDKs (512 spans) with large attributes is about 1 MiB.
pub const MAX_EXPORT_BYTES: usize = 8 * 1024 * 1024;

/// The gRPC `TraceService` and `LogsService`, storing into `store`.
#[derive(Clone)]
pub struct Receiver {
    store: Arc<Store>,
}

impl Receiver {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// The service for a tonic server: gzip accepted, exports limited to [`MAX_EXPORT_BYTES`].
    /// Serve it behind [`grpc_status_layer`].
    pub fn into_service(self) -> TraceServiceServer<Self> {
        TraceServiceServer::new(self)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_EXPORT_BYTES)
    }

    /// The logs service, on the same terms as [`Receiver::into_service`].
    pub fn into_logs_service(self) -> LogsServiceServer<Self> {
        LogsServiceServer::new(self)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_EXPORT_BYTES)
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.store
            .ingest(request.into_inner())
            .map_err(grpc_refusal)?;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.store
            .ingest_logs(request.into_inner())
            .map_err(grpc_refusal)?;
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// A malformed export is the client's to fix; a store that cannot write (a full disk) is
/// `UNAVAILABLE`, which OTLP exporters retry.
fn grpc_refusal(refused: Refused) -> tonic::Status {
    match refused {
        Refused::Invalid(message) => tonic::Status::invalid_argument(message),
        Refused::Unavailable(message) => tonic::Status::unavailable(message),
    }
}

/// A layer for the gRPC server that reports a request tonic could not read as the client's
/// fault. tonic answers a message that does not decode (or decompress) with `INTERNAL` and one
/// over the size limit with `OUT_OF_RANGE`; OTLP exporters retry `OUT_OF_RANGE`, which can never
/// succeed. The trace and logs services themselves never answer either, so here they become
/// `INVALID_ARGUMENT` and `RESOURCE_EXHAUSTED` (what grpc-go, and so the OpenTelemetry Collector,
/// answers to an oversized message).
pub fn grpc_status_layer<B>()
-> tower::util::MapResponseLayer<fn(http::Response<B>) -> http::Response<B>> {
    tower::util::MapResponseLayer::new(client_fault_statuses::<B>)
}

fn client_fault_statuses<B>(mut response: http::Response<B>) -> http::Response<B> {
    let status = response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok()?.parse::<i32>().ok());
    let replacement = match status.map(tonic::Code::from_i32) {
        Some(tonic::Code::Internal) => tonic::Code::InvalidArgument,
        Some(tonic::Code::OutOfRange) => tonic::Code::ResourceExhausted,
        _ => return response,
    };
    response
        .headers_mut()
        .insert("grpc-status", HeaderValue::from(replacement as i32));
    response
}

/// `POST /v1/traces` and `POST /v1/logs`: OTLP over HTTP.
pub fn http_router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/v1/traces", post(export_traces))
        .route("/v1/logs", post(export_logs))
        // The inner layer bounds the decompressed body (in `export_http`), this one the bytes on
        // the wire: gzip can also turn a huge body into a small one.
        .layer(RequestDecompressionLayer::new())
        .layer(RequestBodyLimitLayer::new(MAX_EXPORT_BYTES))
        .with_state(store)
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

async fn export_traces(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (encoding, bytes) = match read_export(&headers, body).await {
        Ok(export) => export,
        Err(refused) => return refused,
    };
    let request = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(bytes).map_err(|e| e.to_string()),
        Encoding::Json => otlp_json::decode_request(&bytes).map_err(|e| e.to_string()),
    };
    match request
        .map_err(Refused::Invalid)
        .and_then(|request| store.ingest(request))
    {
        Ok(_) => success(encoding),
        Err(refused) => http_refusal(encoding, refused),
    }
}

async fn export_logs(State(store): State<Arc<Store>>, headers: HeaderMap, body: Body) -> Response {
    let (encoding, bytes) = match read_export(&headers, body).await {
        Ok(export) => export,
        Err(refused) => return refused,
    };
    let request = match encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(bytes).map_err(|e| e.to_string()),
        Encoding::Json => otlp_json::decode_logs_request(&bytes).map_err(|e| e.to_string()),
    };
    match request
        .map_err(Refused::Invalid)
        .and_then(|request| store.ingest_logs(request))
    {
        Ok(_) => success(encoding),
        Err(refused) => http_refusal(encoding, refused),
    }
}

/// An export's encoding and its body, read within the size limit; or the refusal to send.
async fn read_export(headers: &HeaderMap, body: Body) -> Result<(Encoding, Bytes), Response> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let encoding = match media_type.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        _ => {
            return Err(refusal(
                Encoding::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {media_type:?}: OTLP/HTTP takes application/x-protobuf or \
                     application/json"
                ),
            ));
        }
    };
    let bytes = match axum::body::to_bytes(body, MAX_EXPORT_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) if too_large(&error) => {
            return Err(refusal(
                encoding,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the export is over {} MiB", MAX_EXPORT_BYTES >> 20),
            ));
        }
        Err(error) => {
            return Err(refusal(
                encoding,
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {}", innermost(&error)),
            ));
        }
    };
    Ok((encoding, bytes))
}

/// An empty export response: the same (no) bytes for traces and for logs.
fn success(encoding: Encoding) -> Response {
    let response = ExportTraceServiceResponse::default();
    match encoding {
        Encoding::Protobuf => (
            [(CONTENT_TYPE, "application/x-protobuf")],
            Bytes::from(response.encode_to_vec()),
        )
            .into_response(),
        Encoding::Json => ([(CONTENT_TYPE, "application/json")], "{}").into_response(),
    }
}

/// 400 for a malformed export; 503 (which OTLP exporters retry) when it cannot be written.
fn http_refusal(encoding: Encoding, refused: Refused) -> Response {
    match refused {
        Refused::Invalid(message) => refusal(encoding, StatusCode::BAD_REQUEST, message),
        Refused::Unavailable(message) => {
            refusal(encoding, StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
}

/// `google.rpc.Status`, the body OTLP/HTTP errors carry.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn refusal(encoding: Encoding, status: StatusCode, message: String) -> Response {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => tonic::Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        _ => tonic::Code::InvalidArgument,
    } as i32;
    match encoding {
        Encoding::Protobuf => (
            status,
            [(CONTENT_TYPE, "application/x-protobuf")],
            Bytes::from(RpcStatus { code, message }.encode_to_vec()),
        )
            .into_response(),
        Encoding::Json => (
            status,
            [(CONTENT_TYPE, "application/json")],
            serde_json::json!({"code": code, "message": message}).to_string(),
        )
            .into_response(),
    }
}

/// Whether reading the body failed on a size limit: ours, or the wire's (which the gzip decoder
/// wraps in an `io::Error`).
fn too_large(error: &axum::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => error.source(),
        };
    }
    false
}
