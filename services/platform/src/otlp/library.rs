//! opentelemetry-otlp's span exporter in place of ours, built only with the
//! `opentelemetry-otlp-exporter` feature: scripts/bench.sh's `library` mode measures the same
//! services with it, to decide whether ours still earns its place (docs/tracing.md, "Ours or
//! opentelemetry-otlp"). It is built by the benchmark and linted by .ci/run, never shipped.

use std::sync::Arc;

use super::{ExportSettings, Reporter, Signal};
use crate::settings::{SettingsError, var};

/// opentelemetry-otlp's exporter over gRPC, which reads the endpoint, headers, timeout and
/// compression from the same `OTEL_EXPORTER_OTLP_*` variables itself. Ours reads them too, so
/// that this build refuses whatever the shipped one refuses. It has no reporter: the SDK logs its
/// failures.
pub(crate) fn span_exporter(
    _reporter: &Arc<Reporter>,
) -> Result<opentelemetry_otlp::SpanExporter, SettingsError> {
    ExportSettings::from_vars(Signal::Traces, var)?;
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|error| SettingsError::new("OTEL_EXPORTER_OTLP_ENDPOINT", error.to_string()))
}
