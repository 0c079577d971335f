//! The variables telemetry reads, as `--help` lists them: telemetry.rs's own, those the
//! OpenTelemetry SDK reads for the sampler, the resource and the batch span processor it sets up,
//! the exporter's ([`crate::otlp::VARIABLES`]) and the log records' ([`super::logs`]).

use crate::settings::Variable;

/// Read by telemetry.rs, or by the SDK for what telemetry.rs builds with it.
const TRACING: &[Variable] = &[
    Variable {
        name: "OTEL_SDK_DISABLED",
        default: Some("false"),
        help: "true: no span or log record is exported",
    },
    Variable {
        name: "OTEL_TRACES_SAMPLER",
        default: Some("parentbased_always_on"),
        help: "which traces are kept",
    },
    Variable {
        name: "OTEL_TRACES_SAMPLER_ARG",
        default: None,
        help: "the sampler's argument, such as a ratio",
    },
    Variable {
        name: "OTEL_SERVICE_NAME",
        default: None,
        help: "the service.name of its spans; unset: the binary's name",
    },
    Variable {
        name: "OTEL_RESOURCE_ATTRIBUTES",
        default: None,
        help: "more attributes for every span's resource, name=value,...",
    },
    Variable {
        name: "OTEL_BSP_SCHEDULE_DELAY",
        default: Some("5000"),
        help: "milliseconds between the batch span processor's exports",
    },
    Variable {
        name: "OTEL_BSP_EXPORT_TIMEOUT",
        default: Some("30000"),
        help: "milliseconds the batch span processor waits for an export",
    },
    Variable {
        name: "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
        default: Some("1"),
        help: "exports of spans at once",
    },
    Variable {
        name: "OTEL_BSP_MAX_QUEUE_SIZE",
        default: Some("16384"),
        help: "spans queued for export; a span that finds it full is dropped",
    },
    Variable {
        name: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        default: Some("2048"),
        help: "spans in one export",
    },
    Variable {
        name: "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        default: Some("128"),
        help: "attributes a span keeps",
    },
    Variable {
        name: "OTEL_SPAN_EVENT_COUNT_LIMIT",
        default: Some("128"),
        help: "events a span keeps",
    },
    Variable {
        name: "OTEL_SPAN_LINK_COUNT_LIMIT",
        default: Some("128"),
        help: "links a span keeps",
    },
    Variable {
        name: "MONGODB_SERVICE_NAME",
        default: Some("mongodb"),
        help: "the service.name of the database's spans",
    },
    Variable {
        name: "RUST_LOG",
        default: Some("info"),
        help: "which log lines are written and sent as log records; spans are not filtered",
    },
];

/// Every variable a service's telemetry reads.
pub fn variables() -> impl Iterator<Item = &'static Variable> {
    TRACING
        .iter()
        .chain(crate::otlp::VARIABLES)
        .chain(super::logs::VARIABLES)
}
