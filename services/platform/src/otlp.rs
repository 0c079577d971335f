//! The span exporter: OTLP over gRPC or HTTP/protobuf, set by the standard
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
    trace::{SpanData, SpanExporter},
};

use crate::settings::SettingsError;
#[cfg(feature = "opentelemetry-otlp-exporter")]
pub(crate) use library::span_exporter;
use protobuf::EncodedResource;
pub(crate) use report::Reporter;
pub(crate) use settings::ExportSettings;
pub use settings::{Protocol, traces_endpoint};
use transport::{Outcome, Transport};

/// The services' span exporter, set by the `OTEL_EXPORTER_OTLP_*` variables. (A build with the
/// `opentelemetry-otlp-exporter` feature, scripts/bench.sh's `library` mode, has
/// opentelemetry-otlp's instead, from `otlp/library.rs`.)
#[cfg(not(feature = "opentelemetry-otlp-exporter"))]
pub(crate) fn span_exporter(
    reporter: &Arc<Reporter>,
) -> Result<impl SpanExporter + 'static, SettingsError> {
    OtlpExporter::new(
        ExportSettings::from_vars(crate::settings::var)?,
        reporter.clone(),
    )
}

/// Sends each batch the processor hands over, as one OTLP request.
#[derive(Debug)]
pub(crate) struct OtlpExporter {
    transport: Transport,
    /// Shared by the service's exporters, so that a receiver that is gone is reported once.
    reporter: Arc<Reporter>,
    resource: EncodedResource,
    /// The batch processor exports from a thread of its own; the connections live on the
    /// service's runtime, whose reactor drives them.
    runtime: tokio::runtime::Handle,
}

impl OtlpExporter {
    /// An exporter that connects when it first sends and says what goes wrong through
    /// `reporter`. Call inside the tokio runtime.
    pub(crate) fn new(
        settings: ExportSettings,
        reporter: Arc<Reporter>,
    ) -> Result<Self, SettingsError> {
        Ok(Self {
            transport: Transport::new(settings)?,
            reporter,
            resource: EncodedResource::default(),
            runtime: tokio::runtime::Handle::current(),
        })
    }
}

impl SpanExporter for OtlpExporter {
    /// Sends the batch, retrying within the timeout, and says in the log what went wrong. An
    /// export that failed is an error for the SDK too (its flush and shutdown report it), but the
    /// SDK's own line for it is left out of the log (`telemetry`), which would repeat ours for
    /// every batch.
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let request = protobuf::export_request(&self.resource, &batch);
        drop(batch);
        let transport = self.transport.clone();
        let reporter = self.reporter.clone();
        let sent = async move {
            match transport.clone().export(request).await {
                Outcome::Delivered(response) => {
                    if let Some(partial) = response.partial_success {
                        reporter.partial_success(
                            transport.endpoint(),
                            partial.rejected_spans,
                            &partial.error_message,
                        );
                    }
                    Ok(())
                }
                Outcome::Dropped { failure, retried } => {
                    reporter.export_failed(transport.endpoint(), &failure.reason, spans, retried);
                    Err(OTelSdkError::InternalFailure(failure.reason))
                }
            }
        };
        self.runtime
            .spawn(sent)
            .await
            .map_err(|error| OTelSdkError::InternalFailure(error.to_string()))?
    }

    /// The provider's resource (`service.name`, ...), which every request carries.
    fn set_resource(&mut self, resource: &Resource) {
        self.resource = EncodedResource::new(resource);
    }
}
