//! One export on the wire: OTLP/gRPC through tonic's client or OTLP/HTTP through reqwest, over
//! TLS for `https://` endpoints, gzip-compressed when asked, and retried while the failure is
//! transient and the export's timeout allows (see [`super::retry`]). The request is encoded once;
//! every attempt sends the same bytes.

use std::{io::Write as _, time::Duration};

use bytes::{Buf, BufMut, Bytes};
use http::{
    HeaderMap,
    header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER},
    uri::PathAndQuery,
};
use opentelemetry_proto::tonic::collector::{
    logs::v1::ExportLogsServiceResponse, trace::v1::ExportTraceServiceResponse,
};
use prost::Message as _;
use tokio::time::Instant;
use tonic::{
    codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataMap,
    transport::{Certificate, Channel, ClientTlsConfig, Identity},
};

use super::{
    retry::{Backoff, Failure, Retry},
    settings::{Compression, ExportSettings, Protocol, Signal, TlsFiles},
};
use crate::settings::SettingsError;

/// The gRPC method an OTLP receiver serves for `signal`.
fn export_method(signal: Signal) -> PathAndQuery {
    PathAndQuery::from_static(match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    })
}

/// A receiver's connection, shared by every export (cloning it is cheap).
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    signal: Signal,
    wire: Wire,
    timeout: Duration,
    /// For the log: the endpoint's address (never its headers).
    endpoint: String,
}

#[derive(Debug, Clone)]
enum Wire {
    Grpc {
        client: Box<tonic::client::Grpc<Channel>>,
        metadata: MetadataMap,
    },
    Http {
        client: reqwest::Client,
        url: String,
        gzip: bool,
    },
}

/// What one export came to: taken (in part, when the receiver said so), or why it was dropped.
pub(crate) enum Outcome {
    Delivered(Option<PartialSuccess>),
    Dropped { failure: Failure, retried: bool },
}

/// A receiver's `partial_success`: how many of the export's spans or log records it refused, and
/// why.
pub(crate) struct PartialSuccess {
    pub(crate) rejected: i64,
    pub(crate) message: String,
}

impl Transport {
    /// A transport that connects when it first sends. Call inside the tokio runtime.
    pub(crate) fn new(settings: ExportSettings) -> Result<Self, SettingsError> {
        let https = settings.endpoint.scheme_str() == Some("https");
        let endpoint = settings.endpoint.to_string();
        let wire = match settings.protocol {
            Protocol::Grpc => {
                let mut channel = Channel::builder(settings.endpoint);
                if https {
                    channel = channel
                        .tls_config(grpc_tls(&settings.tls))
                        .map_err(|error| tls_error(&settings.tls, error))?;
                }
                let mut client = tonic::client::Grpc::new(channel.connect_lazy());
                if settings.compression == Compression::Gzip {
                    client = client.send_compressed(CompressionEncoding::Gzip);
                }
                Wire::Grpc {
                    client: Box::new(client),
                    metadata: MetadataMap::from_headers(settings.headers),
                }
            }
            Protocol::HttpProtobuf => Wire::Http {
                client: http_client(settings.headers, https.then_some(&settings.tls))?,
                url: endpoint.clone(),
                gzip: settings.compression == Compression::Gzip,
            },
        };
        Ok(Self {
            signal: settings.signal,
            wire,
            timeout: settings.timeout,
            endpoint,
        })
    }

    /// What this transport carries.
    pub(crate) fn signal(&self) -> Signal {
        self.signal
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends `request` (an encoded `ExportTraceServiceRequest` or `ExportLogsServiceRequest`) until the receiver takes it, it
    /// fails for good, or the timeout has passed.
    pub(crate) async fn export(self, request: Vec<u8>) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let body = match &self.wire {
            Wire::Http { gzip: true, .. } => gzip(&request),
            _ => Bytes::from(request),
        };
        let mut backoff = Backoff::new();
        let mut retried = false;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt = tokio::time::timeout(remaining, self.attempt(body.clone(), remaining));
            let failure = match attempt.await {
                Ok(Ok(response)) => return Outcome::Delivered(response),
                Ok(Err(failure)) => failure,
                Err(_) => Failure::new(
                    format!("no answer within the export timeout ({remaining:?} left)"),
                    Retry::Never,
                ),
            };
            let delay = match failure.retry {
                Retry::Never => None,
                Retry::AfterBackoff => Some(backoff.next_delay()),
                Retry::After(delay) => Some(delay),
            };
            match delay {
                Some(delay) if Instant::now() + delay < deadline => {
                    retried = true;
                    tokio::time::sleep(delay).await;
                }
                _ => return Outcome::Dropped { failure, retried },
            }
        }
    }

    async fn attempt(
        &self,
        body: Bytes,
        remaining: Duration,
    ) -> Result<Option<PartialSuccess>, Failure> {
        let answer = match &self.wire {
            Wire::Grpc { client, metadata } => {
                let mut client = client.clone();
                client
                    .ready()
                    .await
                    .map_err(|error| Failure::from_connection(&error))?;
                let mut request = tonic::Request::new(body);
                *request.metadata_mut() = metadata.clone();
                request.set_timeout(remaining);
                client
                    .unary::<_, Bytes, _>(request, export_method(self.signal), EncodedRequest)
                    .await
                    .map_err(|status| Failure::from_status(&status))?
                    .into_inner()
            }
            Wire::Http { client, url, gzip } => {
                let mut request = client
                    .post(url)
                    .header(CONTENT_TYPE, "application/x-protobuf")
                    .timeout(remaining)
                    .body(body);
                if *gzip {
                    request = request.header(CONTENT_ENCODING, "gzip");
                }
                let response = request
                    .send()
                    .await
                    .map_err(|error| Failure::from_connection(&error))?;
                if !response.status().is_success() {
                    return Err(Failure::from_http(
                        response.status(),
                        response.headers().get(RETRY_AFTER),
                    ));
                }
                // The body only matters for a partial success; one that cannot be read is not a
                // failure of the export, which the status already says succeeded.
                response.bytes().await.unwrap_or_default()
            }
        };
        Ok(partial_success(self.signal, answer))
    }
}

/// The partial success an answer holds, if any; an answer that cannot be decoded holds none.
fn partial_success(signal: Signal, answer: Bytes) -> Option<PartialSuccess> {
    match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(answer)
            .ok()?
            .partial_success
            .map(|partial| PartialSuccess {
                rejected: partial.rejected_spans,
                message: partial.error_message,
            }),
        Signal::Logs => ExportLogsServiceResponse::decode(answer)
            .ok()?
            .partial_success
            .map(|partial| PartialSuccess {
                rejected: partial.rejected_log_records,
                message: partial.error_message,
            }),
    }
}

/// TLS for gRPC: the named authority alone, else the system's roots; a client identity for
/// mutual TLS.
fn grpc_tls(files: &TlsFiles) -> ClientTlsConfig {
    let mut tls = ClientTlsConfig::new();
    tls = match &files.authority {
        Some(authority) => tls.ca_certificate(Certificate::from_pem(authority)),
        None => tls.with_native_roots(),
    };
    if let Some(client) = &files.client {
        tls = tls.identity(Identity::from_pem(&client.certificate, &client.key));
    }
    tls
}

/// The HTTP client, with TLS when `tls` is given: the named authority alone, else the system's
/// roots (reqwest's platform verifier); a client identity for mutual TLS.
fn http_client(
    headers: HeaderMap,
    tls: Option<&TlsFiles>,
) -> Result<reqwest::Client, SettingsError> {
    let mut builder = reqwest::Client::builder().default_headers(headers);
    if let Some(files) = tls {
        if let Some(authority) = &files.authority {
            let roots = reqwest::Certificate::from_pem_bundle(authority)
                .map_err(|error| tls_error(files, error))?;
            builder = builder.tls_certs_only(roots);
        }
        if let Some(client) = &files.client {
            let pem = [client.key.as_slice(), b"\n", client.certificate.as_slice()].concat();
            let identity =
                reqwest::Identity::from_pem(&pem).map_err(|error| tls_error(files, error))?;
            builder = builder.identity(identity);
        }
    }
    builder
        .build()
        .map_err(|error| tls_error(tls.unwrap_or(&TlsFiles::default()), error))
}

/// A TLS file that was read but could not be used, named by the variable most likely at fault.
fn tls_error(files: &TlsFiles, error: impl std::fmt::Display) -> SettingsError {
    let variable = if files.client.is_some() {
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
    } else {
        "OTEL_EXPORTER_OTLP_CERTIFICATE"
    };
    SettingsError::new(variable, format!("cannot set up TLS: {error}"))
}

/// The body gzip-compressed, once for every attempt.
fn gzip(request: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(request.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    encoder.write_all(request).expect("gzip into memory");
    Bytes::from(encoder.finish().expect("gzip into memory"))
}

/// gRPC's codec for a request that is already protobuf, and an answer kept as its bytes, decoded
/// by the caller.
#[derive(Debug, Clone, Copy)]
struct EncodedRequest;

impl Codec for EncodedRequest {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for EncodedRequest {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, request: Bytes, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&request);
        Ok(())
    }
}

impl Decoder for EncodedRequest {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}
