//! The span and log record exporters: OTLP over gRPC or HTTP/protobuf, set by the standard
//! `OTEL_EXPORTER_OTLP_*` variables ([`settings`]), with the request written by [`protobuf`] and
//! sent by [`transport`]: over TLS for `https://` endpoints, gzip-compressed when asked, retried
//! while the failure is transient ([`retry`]), and reported in the log without flooding it
//! ([`report`]).
//!
//! It takes the place of opentelemetry-otlp's exporter, which spent two thirds of what tracing
//! added to a request on copying each span into other structs before encoding them; and the
//! 0.31 line of that exporter, which the MongoDB driver pins, neither retries nor reads a partial
//! success (docs/tracing.md, "Ours or opentelemetry-otlp").

#[cfg(feature = "opentelemetry-otlp-exporter")]
mod library;
mod protobuf;
mod report;
mod retry;
mod settings;
mod transport;

use std::sync::Arc;

use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    logs::{LogBatch, LogExporter},
    trace::{SpanData, SpanExporter},
};

use crate::settings::SettingsError;
#[cfg(feature = "opentelemetry-otlp-exporter")]
pub(crate) use library::span_exporter;
use protobuf::EncodedResource;
pub(crate) use report::Reporter;
pub(crate) use settings::{ExportSettings, Signal};
pub use settings::{Protocol, VARIABLES, traces_endpoint};
use transport::{Outcome, Transport};

/// The services' span exporter, set by the `OTEL_EXPORTER_OTLP_*` variables. (A build with the
/// `opentelemetry-otlp-exporter` feature, scripts/bench.sh's `library` mode, has
/// opentelemetry-otlp's instead, from `otlp/library.rs`.)
#[cfg(not(feature = "opentelemetry-otlp-exporter"))]
pub(crate) fn span_exporter(
    reporter: &Arc<Reporter>,
) -> Result<impl SpanExporter + 'static, SettingsError> {
    OtlpExporter::new(
        ExportSettings::from_vars(Signal::Traces, crate::settings::var)?,
        reporter.clone(),
    )
}

/// Sends each batch of spans the processor hands over, as one OTLP request.
#[derive(Debug)]
pub(crate) struct OtlpExporter(Sender);

/// Sends each batch of log records the processor hands over, as one OTLP request.
#[derive(Debug)]
pub(crate) struct OtlpLogExporter(Sender);

/// What both exporters share: a receiver's connection, the resource every request carries, and
/// where failures are told.
#[derive(Debug)]
struct Sender {
    transport: Transport,
    /// Shared by the service's exporters, so that a receiver that is gone is reported once a
    /// minute for each signal.
    reporter: Arc<Reporter>,
    resource: EncodedResource,
    /// The batch processors export from threads of their own; the connections live on the
    /// service's runtime, whose reactor drives them.
    runtime: tokio::runtime::Handle,
}

impl Sender {
    /// A sender that connects when it first sends and says what goes wrong through `reporter`.
    /// Call inside the tokio runtime.
    fn new(settings: ExportSettings, reporter: Arc<Reporter>) -> Result<Self, SettingsError> {
        Ok(Self {
            transport: Transport::new(settings)?,
            reporter,
            resource: EncodedResource::default(),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Sends an encoded request of `items` spans or records, retrying within the timeout, and
    /// says in the log what went wrong. An export that failed is an error for the SDK too (its
    /// flush and shutdown report it), but the SDK's own line for it is left out of the log
    /// (`telemetry`), which would repeat ours for every batch.
    async fn send(&self, request: Vec<u8>, items: usize) -> OTelSdkResult {
        let transport = self.transport.clone();
        let reporter = self.reporter.clone();
        let sent = async move {
            let signal = transport.signal();
            match transport.clone().export(request).await {
                Outcome::Delivered(partial) => {
                    if let Some(partial) = partial {
                        reporter.partial_success(
                            signal,
                            transport.endpoint(),
                            partial.rejected,
                            &partial.message,
                        );
                    }
                    Ok(())
                }
                Outcome::Dropped { failure, retried } => {
                    reporter.export_failed(
                        signal,
                        transport.endpoint(),
                        &failure.reason,
                        items,
                        retried,
                    );
                    Err(OTelSdkError::InternalFailure(failure.reason))
                }
            }
        };
        self.runtime
            .spawn(sent)
            .await
            .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))?
    }
}

impl OtlpExporter {
    /// A span exporter for `settings` (of the traces signal). Call inside the tokio runtime.
    pub(crate) fn new(
        settings: ExportSettings,
        reporter: Arc<Reporter>,
    ) -> Result<Self, SettingsError> {
        Sender::new(settings, reporter).map(Self)
    }
}

impl SpanExporter for OtlpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let request = protobuf::export_request(&self.0.resource, &batch);
        drop(batch);
        self.0.send(request, spans).await
    }

    /// The provider's resource (`service.name`, ...), which every request carries.
    fn set_resource(&mut self, resource: &Resource) {
        self.0.resource = EncodedResource::new(resource);
    }
}

impl OtlpLogExporter {
    /// A log record exporter for `settings` (of the logs signal). Call inside the tokio runtime.
    pub(crate) fn new(
        settings: ExportSettings,
        reporter: Arc<Reporter>,
    ) -> Result<Self, SettingsError> {
        Sender::new(settings, reporter).map(Self)
    }
}

impl LogExporter for OtlpLogExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let request = protobuf::logs::export_request(&self.0.resource, &batch);
        self.0.send(request, batch.iter().count()).await
    }

    /// The provider's resource (`service.name`, ...), which every request carries.
    fn set_resource(&mut self, resource: &Resource) {
        self.0.resource = EncodedResource::new(resource);
    }
}
