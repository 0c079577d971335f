//! The services' log records over OTLP, beside their spans: every `tracing` event the log filter
//! (`RUST_LOG`) lets through becomes an OpenTelemetry log record (the `tracing` bridge), carrying
//! the trace and span it was written in, its level as the log data model's severity, its message
//! as the body and its fields as typed attributes. Records leave through a batch processor (a
//! bounded queue, exported from a thread of its own: a full queue drops records, never delays a
//! request) and the exporter of [`crate::otlp`], with the `OTEL_EXPORTER_OTLP_LOGS_*` variables
//! winning over the general ones. `OTEL_LOGS_EXPORTER=none` turns them off; stdout is the same
//! either way.

use std::{sync::Arc, time::SystemTime};

use opentelemetry::{InstrumentationScope, logs::LogRecord};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    logs::{BatchConfigBuilder, BatchLogProcessor, LogProcessor, SdkLogRecord, SdkLoggerProvider},
};
use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, Layer, filter::filter_fn, registry::LookupSpan};

use super::is_exporter_internal;
use crate::{
    otlp::{ExportSettings, OtlpLogExporter, Reporter, Signal},
    settings::{SettingsError, Variable, var},
};

/// The variable that turns the logs signal off.
const EXPORTER_VARIABLE: &str = "OTEL_LOGS_EXPORTER";

/// What this module reads, itself or through the SDK's batch log record processor.
pub(super) const VARIABLES: &[Variable] = &[
    Variable {
        name: EXPORTER_VARIABLE,
        default: Some("otlp"),
        help: "otlp: log records are sent beside the spans; none: they are not",
    },
    Variable {
        name: "OTEL_BLRP_SCHEDULE_DELAY",
        default: Some("1000"),
        help: "milliseconds between the batch log record processor's exports",
    },
    Variable {
        name: "OTEL_BLRP_EXPORT_TIMEOUT",
        default: Some("30000"),
        help: "milliseconds the batch log record processor waits for an export",
    },
    Variable {
        name: "OTEL_BLRP_MAX_QUEUE_SIZE",
        default: Some("2048"),
        help: "log records queued for export; a record that finds it full is dropped",
    },
    Variable {
        name: "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
        default: Some("512"),
        help: "log records in one export",
    },
];

/// Whether `OTEL_LOGS_EXPORTER` (read by `var`) asks for records to be exported: unset or
/// `otlp`, yes; `none`, no; anything else is refused, as the specification's other exporters
/// (`console`, ...) are not built in.
fn exporter_wanted(var: impl Fn(&str) -> Option<String>) -> Result<bool, SettingsError> {
    match var(EXPORTER_VARIABLE).as_deref().map(str::trim) {
        None | Some("otlp") => Ok(true),
        Some("none") => Ok(false),
        Some(other) => Err(SettingsError::new(
            EXPORTER_VARIABLE,
            format!("{other:?} is not supported; use otlp or none"),
        )),
    }
}

/// The provider that exports the service's records, or none when export is off (the SDK
/// disabled, or `OTEL_LOGS_EXPORTER=none`). Call inside the tokio runtime.
pub(super) fn logger_provider(
    enabled: bool,
    resource: Resource,
    reporter: &Arc<Reporter>,
) -> Result<Option<SdkLoggerProvider>, SettingsError> {
    if !exporter_wanted(var)? || !enabled {
        return Ok(None);
    }
    let exporter = OtlpLogExporter::new(
        ExportSettings::from_vars(Signal::Logs, var)?,
        reporter.clone(),
    )?;
    // The SDK's defaults, or the `OTEL_BLRP_*` variables: a queue of 2 048 records. A request
    // that is served well writes none, so it is there for failures, which come in bursts.
    let processor = BatchLogProcessor::builder(exporter)
        .with_batch_config(BatchConfigBuilder::default().build())
        .build();
    Ok(Some(
        SdkLoggerProvider::builder()
            .with_resource(resource)
            // First, so the batch processor's copy of the record has its time.
            .with_log_processor(EventTime)
            .with_log_processor(processor)
            .build(),
    ))
}

/// Gives each record its `time_unix_nano`, the log data model's "time when the event occurred",
/// which the `tracing` bridge leaves unset (it sets only the SDK's observed time, when the record
/// is emitted). A `tracing` event is emitted as it happens, so the two are the same moment; without
/// it a backend that orders records by their event time (as the data model asks) has none.
#[derive(Debug)]
struct EventTime;

impl LogProcessor for EventTime {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        if record.timestamp().is_none() {
            let now = record.observed_timestamp().unwrap_or_else(SystemTime::now);
            record.set_timestamp(now);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}

/// The layer that turns events into records, with the log lines' filter (`log_filter`, from
/// `RUST_LOG`), so that what is exported is what stdout shows; but never the exporter's own
/// HTTP/2 and gRPC machinery, whose every export would otherwise make records to export.
pub(super) fn bridge<S>(
    provider: &SdkLoggerProvider,
    log_filter: EnvFilter,
) -> impl Layer<S> + use<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    OpenTelemetryTracingBridge::new(provider)
        .with_filter(log_filter)
        .with_filter(filter_fn(|metadata| {
            !is_exporter_internal(metadata.target())
        }))
}

#[cfg(test)]
mod tests {
    use opentelemetry::logs::{Logger, LoggerProvider};

    use super::*;

    fn wanted(value: Option<&str>) -> Result<bool, SettingsError> {
        exporter_wanted(|name| {
            assert_eq!(name, EXPORTER_VARIABLE);
            value.map(str::to_owned)
        })
    }

    #[test]
    fn a_record_without_an_event_time_gets_its_observed_time_and_a_set_one_is_kept() {
        let observed = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let scope = InstrumentationScope::builder("test").build();
        let mut written = SdkLoggerProvider::builder()
            .build()
            .logger("test")
            .create_log_record();
        written.set_observed_timestamp(observed);
        EventTime.emit(&mut written, &scope);
        assert_eq!(written.timestamp(), Some(observed));

        let earlier = observed - std::time::Duration::from_secs(5);
        written.set_timestamp(earlier);
        EventTime.emit(&mut written, &scope);
        assert_eq!(written.timestamp(), Some(earlier), "a time given is kept");
    }

    #[test]
    fn logs_are_exported_unless_turned_off_and_a_mistyped_value_stops_the_start() {
        assert!(wanted(None).unwrap());
        assert!(wanted(Some("otlp")).unwrap());
        assert!(!wanted(Some("none")).unwrap());
        let error = wanted(Some("console")).unwrap_err().to_string();
        assert!(error.contains("OTEL_LOGS_EXPORTER"), "{error}");
        assert!(error.contains("use otlp or none"), "{error}");
    }
}
