//! The span exporter: OTLP over gRPC or HTTP/protobuf, set by the standard
//! `OTEL_EXPORTER_OTLP_*` variables, with the request written by [`protobuf`].
//!
//! It takes the place of opentelemetry-otlp's exporter, which spent two thirds of what tracing
//! added to a request on copying each span into other structs before encoding them. The
//! transport is the same: tonic's gRPC client, or an HTTP POST of the same bytes.

mod protobuf;

use std::time::Duration;

use bytes::{Buf, BufMut};
use http::{HeaderMap, HeaderName, HeaderValue, header::CONTENT_TYPE, uri::PathAndQuery};
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataMap,
    transport::Channel,
};

use crate::settings::SettingsError;
use protobuf::EncodedResource;

/// Each setting's traces-only variable, which wins, and the general one.
const PROTOCOL: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];
const ENDPOINT: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];
const HEADERS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_HEADERS",
];
const TIMEOUT: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
];
const COMPRESSION: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
];

/// The gRPC method every OTLP trace receiver serves.
const EXPORT_METHOD: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Where and how spans are sent, from the standard variables (the OpenTelemetry specification's
/// "OTLP Exporter Configuration").
#[derive(Debug)]
pub(crate) struct ExportSettings {
    protocol: Protocol,
    /// gRPC's receiver, or HTTP's full URL (with `/v1/traces`).
    endpoint: http::Uri,
    /// Sent with every export; often a receiver's API key, so never logged.
    headers: HeaderMap,
    timeout: Duration,
}

/// How spans are sent (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC, `grpc`: the default.
    Grpc,
    /// OTLP/HTTP with protobuf bodies, `http/protobuf`.
    HttpProtobuf,
}

/// Where the services send their spans and with which protocol, by the specification's rules:
/// the traces-only variable wins, and only the general HTTP endpoint gets `/v1/traces` appended.
/// `var` reads the environment. The launcher reads it to start a receiver where spans will go.
pub fn traces_endpoint(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Protocol, http::Uri), SettingsError> {
    let protocol = protocol(&var)?;
    Ok((protocol, endpoint(&var, protocol)?))
}

impl ExportSettings {
    /// The settings `var` gives (it reads the environment), or what is wrong with them.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let (protocol, endpoint) = traces_endpoint(&var)?;
        if let Some((variable, value)) = first_set(&var, COMPRESSION)
            && value != "none"
        {
            return Err(SettingsError::new(
                variable,
                format!("{value:?} is not supported; leave it unset or none"),
            ));
        }
        Ok(Self {
            protocol,
            endpoint,
            headers: headers(&var)?,
            timeout: timeout(&var)?,
        })
    }
}

fn protocol(var: &impl Fn(&str) -> Option<String>) -> Result<Protocol, SettingsError> {
    match first_set(var, PROTOCOL) {
        None => Ok(Protocol::Grpc),
        Some((_, value)) if value == "grpc" => Ok(Protocol::Grpc),
        Some((_, value)) if value == "http/protobuf" => Ok(Protocol::HttpProtobuf),
        Some((variable, other)) => Err(SettingsError::new(
            variable,
            format!("{other:?} is not supported; use grpc or http/protobuf"),
        )),
    }
}

/// The traces endpoint as it is, else the general one (the receiver's root, under which HTTP's
/// traces have a path of their own), else the protocol's local default.
fn endpoint(
    var: &impl Fn(&str) -> Option<String>,
    protocol: Protocol,
) -> Result<http::Uri, SettingsError> {
    let (variable, endpoint) = match (var(ENDPOINT[0]), var(ENDPOINT[1]), protocol) {
        (Some(traces), _, _) => (ENDPOINT[0], traces),
        (None, Some(general), Protocol::Grpc) => (ENDPOINT[1], general),
        (None, Some(general), Protocol::HttpProtobuf) => (
            ENDPOINT[1],
            format!("{}/v1/traces", general.trim_end_matches('/')),
        ),
        (None, None, Protocol::Grpc) => (ENDPOINT[1], "http://localhost:4317".to_owned()),
        (None, None, Protocol::HttpProtobuf) => {
            (ENDPOINT[1], "http://localhost:4318/v1/traces".to_owned())
        }
    };
    match reqwest::Url::parse(&endpoint) {
        Ok(url) if url.scheme() == "http" && url.has_host() => url
            .as_str()
            .parse()
            .map_err(|error| SettingsError::new(variable, format!("{endpoint:?}: {error}"))),
        Ok(url) if url.scheme() == "https" => Err(SettingsError::new(
            variable,
            "https is not built in; send to a collector on the same network over http",
        )),
        _ => Err(SettingsError::new(
            variable,
            format!("{endpoint:?} is not an http:// URL"),
        )),
    }
}

fn timeout(var: &impl Fn(&str) -> Option<String>) -> Result<Duration, SettingsError> {
    match first_set(var, TIMEOUT) {
        None => Ok(Duration::from_secs(10)),
        Some((variable, value)) => value
            .trim()
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| SettingsError::new(variable, format!("{value:?} is not milliseconds"))),
    }
}

/// The first of `variables` that is set, with its value.
fn first_set(
    var: &impl Fn(&str) -> Option<String>,
    variables: [&'static str; 2],
) -> Option<(&'static str, String)> {
    variables
        .into_iter()
        .find_map(|variable| var(variable).map(|value| (variable, value)))
}

/// Both header lists, `name=value,...` with percent-encoded values; a traces-only header replaces
/// the general one of the same name. An error never quotes a value, which may be a secret.
fn headers(var: &impl Fn(&str) -> Option<String>) -> Result<HeaderMap, SettingsError> {
    let mut headers = HeaderMap::new();
    for variable in [HEADERS[1], HEADERS[0]] {
        let Some(list) = var(variable) else { continue };
        for (position, entry) in list.split(',').enumerate() {
            if entry.trim().is_empty() {
                continue;
            }
            let invalid =
                |what: &str| SettingsError::new(variable, format!("entry {} {what}", position + 1));
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| invalid("is not name=value"))?;
            let name = HeaderName::try_from(name.trim())
                .map_err(|_| invalid("does not have a header's name"))?;
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .ok()
                .and_then(|value| HeaderValue::try_from(value.as_ref()).ok())
                .ok_or_else(|| invalid("does not have a header's value"))?;
            headers.insert(name, value);
        }
    }
    Ok(headers)
}

/// Sends each batch the processor hands over, as one OTLP request.
#[derive(Debug)]
pub(crate) struct OtlpExporter {
    transport: Transport,
    resource: EncodedResource,
    /// The batch processor exports from a thread of its own; the connections live on the
    /// service's runtime, whose reactor drives them.
    runtime: tokio::runtime::Handle,
}

#[derive(Debug, Clone)]
enum Transport {
    Grpc {
        client: Box<tonic::client::Grpc<Channel>>,
        metadata: MetadataMap,
    },
    Http {
        client: reqwest::Client,
        url: String,
    },
}

impl OtlpExporter {
    /// An exporter that connects when it first sends. Call inside the tokio runtime.
    pub(crate) fn new(settings: ExportSettings) -> Result<Self, SettingsError> {
        let transport = match settings.protocol {
            Protocol::Grpc => {
                let channel = Channel::builder(settings.endpoint)
                    .timeout(settings.timeout)
                    .connect_lazy();
                Transport::Grpc {
                    client: Box::new(tonic::client::Grpc::new(channel)),
                    metadata: MetadataMap::from_headers(settings.headers),
                }
            }
            Protocol::HttpProtobuf => Transport::Http {
                client: reqwest::Client::builder()
                    .timeout(settings.timeout)
                    .default_headers(settings.headers)
                    .build()
                    .map_err(|error| {
                        SettingsError::new(
                            PROTOCOL[1],
                            format!("cannot make the HTTP client: {error}"),
                        )
                    })?,
                url: settings.endpoint.to_string(),
            },
        };
        Ok(Self {
            transport,
            resource: EncodedResource::default(),
            runtime: tokio::runtime::Handle::current(),
        })
    }
}

impl SpanExporter for OtlpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let request = protobuf::export_request(&self.resource, &batch);
        drop(batch);
        self.runtime
            .spawn(self.transport.clone().send(request))
            .await
            .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))?
    }

    /// The provider's resource (`service.name`, ...), which every request carries.
    fn set_resource(&mut self, resource: &Resource) {
        self.resource = EncodedResource::new(resource);
    }
}

impl Transport {
    async fn send(self, request: Vec<u8>) -> OTelSdkResult {
        let failed = |error: String| OTelSdkError::InternalFailure(error);
        match self {
            Self::Grpc {
                mut client,
                metadata,
            } => {
                client
                    .ready()
                    .await
                    .map_err(|error| failed(format!("cannot reach the receiver: {error}")))?;
                let mut request = tonic::Request::new(request);
                *request.metadata_mut() = metadata;
                client
                    .unary::<_, (), _>(
                        request,
                        PathAndQuery::from_static(EXPORT_METHOD),
                        EncodedRequest,
                    )
                    .await
                    .map_err(|status| failed(status.to_string()))?;
            }
            Self::Http { client, url } => {
                let response = client
                    .post(url)
                    .header(CONTENT_TYPE, "application/x-protobuf")
                    .body(request)
                    .send()
                    .await
                    .map_err(|error| failed(error.to_string()))?;
                if !response.status().is_success() {
                    return Err(failed(format!(
                        "the receiver answered {}",
                        response.status()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// gRPC's codec for a request that is already protobuf, and an answer that is not read: an
/// `ExportTraceServiceResponse` says at most how many spans the receiver refused, which
/// opentelemetry-otlp's exporter did not act on either.
#[derive(Debug, Clone, Copy)]
struct EncodedRequest;

impl Codec for EncodedRequest {
    type Encode = Vec<u8>;
    type Decode = ();
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
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, request: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&request);
        Ok(())
    }
}

impl Decoder for EncodedRequest {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        buf.advance(buf.remaining());
        Ok(Some(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<ExportSettings, SettingsError> {
        ExportSettings::from_vars(|name| {
            vars.iter()
                .find(|(set, _)| *set == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn endpoint(vars: &[(&str, &str)]) -> String {
        settings(vars).unwrap().endpoint.to_string()
    }

    #[test]
    fn with_nothing_set_spans_go_to_a_local_receiver_over_grpc() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.protocol, Protocol::Grpc);
        assert_eq!(settings.endpoint, "http://localhost:4317/");
        assert_eq!(settings.timeout, Duration::from_secs(10));
        assert!(settings.headers.is_empty());
    }

    #[test]
    fn http_appends_the_traces_path_to_the_general_endpoint_only() {
        let http = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        assert_eq!(endpoint(&[http]), "http://localhost:4318/v1/traces");
        assert_eq!(
            endpoint(&[
                http,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway:4318/")
            ]),
            "http://gateway:4318/v1/traces"
        );
        assert_eq!(
            endpoint(&[http, ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway/otlp")]),
            "http://gateway/otlp/v1/traces"
        );
        assert_eq!(
            endpoint(&[
                http,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://traces:9999/in"
                ),
            ]),
            "http://traces:9999/in"
        );
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4317")]),
            "http://jaeger:4317/"
        );
    }

    #[test]
    fn the_traces_only_variables_win() {
        let settings = settings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-tenant=general,api-key=general",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=tr%20aces"),
        ])
        .unwrap();
        assert_eq!(settings.protocol, Protocol::HttpProtobuf);
        assert_eq!(settings.timeout, Duration::from_millis(2500));
        assert_eq!(settings.headers["x-tenant"], "general");
        assert_eq!(settings.headers["api-key"], "tr aces");
        assert_eq!(settings.headers.len(), 2);
    }

    #[test]
    fn what_cannot_be_used_is_refused_at_start_naming_the_variable() {
        let refused = |vars: &[(&str, &str)]| settings(vars).unwrap_err().to_string();
        for (vars, variable, reason) in [
            (
                &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")][..],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "not supported",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317")],
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "not an http:// URL",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")],
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "not milliseconds",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")],
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                "not supported",
            ),
            (
                &[(
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "api-key=ok,secret-without-name",
                )],
                "OTEL_EXPORTER_OTLP_HEADERS",
                "entry 2 is not name=value",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_HEADERS", "bad name=s3cret")],
                "OTEL_EXPORTER_OTLP_HEADERS",
                "entry 1 does not have a header's name",
            ),
        ] {
            let error = refused(vars);
            assert!(error.contains(variable), "{error}");
            assert!(error.contains(reason), "{error}");
            assert!(
                !error.contains("s3cret") && !error.contains("secret"),
                "{error}"
            );
        }
        assert!(settings(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]).is_ok());
    }
}
