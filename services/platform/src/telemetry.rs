//! Traces and logs, set up once for every service.
//!
//! - Spans are written with `tracing` and turned into OpenTelemetry spans by
//!   `tracing-opentelemetry`; they leave through a batch span processor and the OTLP exporter of
//!   [`crate::otlp`] (gRPC, or HTTP/protobuf when `OTEL_EXPORTER_OTLP_PROTOCOL` says so). Every
//!   knob is a standard `OTEL_*` variable: the SDK reads the sampler and batch settings, the
//!   exporter its endpoint, headers, timeout, compression and TLS files.
//! - MongoDB command spans come from the driver, through a second tracer provider whose
//!   `service.name` is the database (`mongodb` unless `MONGODB_SERVICE_NAME` says otherwise), so
//!   Jaeger draws the database as a node of its own, as HotROD does.
//! - Log lines go to stdout, JSON when stdout is not a terminal and text when it is, and every line
//!   written inside a span carries its `trace_id` and `span_id`. The same events also leave as
//!   OpenTelemetry log records, beside the spans ([`logs`]).
//! - `OTEL_SDK_DISABLED=true` turns export off: nothing is sampled or sent, but trace ids are still
//!   made and propagated, so logs and the `traceresponse` header keep correlating requests.

mod log_lines;
mod logs;
pub mod variables;

use std::{io::IsTerminal, sync::Arc, time::Duration};

use opentelemetry::{
    KeyValue, global,
    propagation::TextMapCompositePropagator,
    trace::{Status, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    logs::SdkLoggerProvider,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::{
        BatchConfig, BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData,
        SpanProcessor,
    },
};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, fmt::format::Format, layer::SubscriberExt,
    util::SubscriberInitExt,
};

use self::log_lines::{JsonWithTraceIds, NoSpanFields, TextWithTraceIds};
use crate::{
    otlp::{self, Reporter},
    settings::{SettingsError, var},
};

/// Names a service in traces and logs.
#[derive(Debug, Clone, Copy)]
pub struct ServiceInfo {
    /// The `service.name` of its spans and the program's name, such as `blog-service`.
    pub name: &'static str,
    /// The `service.version` of its spans: the crate's version.
    pub version: &'static str,
    /// The port it listens on when `PORT` is not set.
    pub default_port: u16,
}

/// The tracer providers and the logger provider, kept to flush and shut them down when the
/// service stops.
pub struct Telemetry {
    enabled: bool,
    service: SdkTracerProvider,
    database: SdkTracerProvider,
    /// None when log records are not exported.
    logs: Option<SdkLoggerProvider>,
}

/// How long shutting down may wait for the last spans and records to leave; a service has 5 s
/// to stop, and an unreachable collector must not hold it longer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

impl Telemetry {
    /// Installs the global subscriber, propagator and tracer provider. Call once, inside the tokio
    /// runtime (the gRPC exporter needs it).
    pub fn init(service: &ServiceInfo) -> Result<Self, SettingsError> {
        let enabled = !crate::settings::parse_var("OTEL_SDK_DISABLED", false)?;
        let reporter = Arc::new(Reporter::default());
        let logger_provider = logs::logger_provider(enabled, service_resource(service), &reporter)?;
        let service_provider = tracer_provider(
            enabled,
            service_resource(service),
            drop_event_targets,
            &reporter,
        )?;
        let database_name = var("MONGODB_SERVICE_NAME").unwrap_or_else(|| "mongodb".to_owned());
        let database_provider = tracer_provider(
            enabled,
            Resource::builder().with_service_name(database_name).build(),
            follow_the_database_conventions,
            &reporter,
        )?;

        global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]));
        global::set_tracer_provider(service_provider.clone());

        let tracer = service_provider.tracer(service.name);
        // The log filter (RUST_LOG) applies to log lines only: a quieter log must not lose spans.
        let log_filter = log_filter()?;
        // Spans carry what the semantic conventions name and nothing of the libraries' own
        // bookkeeping: no source locations (paths of the machine that built the binary), thread
        // ids, `target`s or busy/idle timings. A log line with an `error` field does not decide a
        // span's status either: the conventions do (see `http_spans`).
        let otel_layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_error_events_to_status(false)
            .with_filter(LevelFilter::INFO)
            .with_filter(filter_fn(|metadata| {
                !is_exporter_internal(metadata.target())
            }));
        let log_layer = if std::io::stdout().is_terminal() {
            tracing_subscriber::fmt::layer()
                .event_format(TextWithTraceIds(Format::default()))
                .boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .fmt_fields(NoSpanFields)
                .event_format(JsonWithTraceIds)
                .boxed()
        };
        // The SDK logs every failed export at ERROR; the exporter has already said why, at most
        // once a minute (`otlp::report`), so the SDK's line would only repeat it, batch by batch.
        let log_layer = log_layer
            .with_filter(log_filter)
            .with_filter(filter_fn(|metadata| {
                !matches!(
                    metadata.name(),
                    "BatchSpanProcessor.ExportError" | "BatchLogProcessor.ExportError"
                )
            }));
        let records_layer = match &logger_provider {
            Some(provider) => Some(logs::bridge(provider, self::log_filter()?)),
            None => None,
        };
        tracing_subscriber::registry()
            .with(log_layer)
            .with(otel_layer)
            .with(records_layer)
            .try_init()
            .map_err(|error| {
                SettingsError::new("RUST_LOG", format!("cannot install logging: {error}"))
            })?;

        Ok(Self {
            enabled,
            service: service_provider,
            database: database_provider,
            logs: logger_provider,
        })
    }

    /// Whether spans are sampled and exported at all (`OTEL_SDK_DISABLED` is not true).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The provider for MongoDB's command spans.
    pub fn database_tracer_provider(&self) -> SdkTracerProvider {
        self.database.clone()
    }

    /// Exports what is still buffered and stops the providers, for at most [`FLUSH_TIMEOUT`] and
    /// never past `deadline`. Each provider stops on a thread of its own, not on tokio's blocking
    /// pool: the runtime waits for its blocking tasks when it shuts down, so a collector that never
    /// answers would hold the exit past the deadline. An abandoned thread ends with the process.
    pub async fn shutdown(self, deadline: tokio::time::Instant) {
        let timeout = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .min(FLUSH_TIMEOUT);
        type Stop = Box<dyn FnOnce(Duration) -> OTelSdkResult + Send>;
        let mut providers: Vec<(&str, Stop)> = vec![
            (
                "tracer",
                Box::new(move |t| self.service.shutdown_with_timeout(t)),
            ),
            (
                "tracer",
                Box::new(move |t| self.database.shutdown_with_timeout(t)),
            ),
        ];
        if let Some(logs) = self.logs {
            providers.push(("logger", Box::new(move |t| logs.shutdown_with_timeout(t))));
        }
        let (done, mut finished) = tokio::sync::mpsc::channel::<()>(providers.len());
        for (kind, stop) in providers {
            let done = done.clone();
            let flush = move || {
                if let Err(error) = stop(timeout) {
                    eprintln!("telemetry: shutting down the {kind} provider failed: {error}");
                }
                let _ = done.blocking_send(());
            };
            if let Err(error) = std::thread::Builder::new()
                .name("telemetry-flush".into())
                .spawn(flush)
            {
                eprintln!("telemetry: cannot flush the last spans: {error}");
            }
        }
        drop(done);
        let flushed = async { while finished.recv().await.is_some() {} };
        if tokio::time::timeout(timeout, flushed).await.is_err() {
            eprintln!(
                "telemetry: the trace collector did not answer in time; unsent spans dropped"
            );
        }
    }
}

/// The log lines' filter: `RUST_LOG`, else `info`.
fn log_filter() -> Result<EnvFilter, SettingsError> {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new("info"))
        .map_err(|error| SettingsError::new("RUST_LOG", error.to_string()))
}

/// The service's resource: `service.name` from `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`
/// when set, else the binary's name; `service.version` from the crate.
fn service_resource(service: &ServiceInfo) -> Resource {
    let detected = Resource::builder().build();
    let named_by_environment = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let builder = Resource::builder();
    let builder = if named_by_environment {
        builder
    } else {
        builder.with_service_name(service.name)
    };
    builder
        .with_attribute(KeyValue::new("service.version", service.version))
        .build()
}

/// A provider exporting through a batch processor of its own, with `rewrite` applied to each
/// span as it ends, and export failures said through `reporter`.
fn tracer_provider(
    enabled: bool,
    resource: Resource,
    rewrite: fn(&mut SpanData),
    reporter: &Arc<Reporter>,
) -> Result<SdkTracerProvider, SettingsError> {
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if !enabled {
        return Ok(builder.with_sampler(Sampler::AlwaysOff).build());
    }
    let processor = RewriteOnEnd {
        exporter: BatchSpanProcessor::builder(otlp::span_exporter(reporter)?)
            .with_batch_config(batch_config())
            .build(),
        rewrite,
    };
    Ok(builder.with_span_processor(processor).build())
}

/// How many spans each provider (the service's own, MongoDB's) may hold while they wait for
/// export. The batch processor exports from a thread of its own, through a bounded queue: when
/// the collector is slow or gone, spans are dropped and requests never wait. The queue is
/// allocated whole when the service starts, about 360 bytes a span: 16 384 cost about 6 MB.
///
/// The SDK's default of 2 048 is 50 ms of author-service's spans at 21 000 requests a second,
/// and on two busy cores the export thread does go without the CPU for longer than that: it
/// dropped one span in ten. MongoDB's spans, two per database operation, kept the default for a
/// while and were the first to overflow when the collector went away: a 5 s outage of the bench
/// lost 12 382 of 41 624. 16 384 hold 4 s of MongoDB's spans at 1 000 `GET /blogs` a second
/// (four each); beyond that, size it with `OTEL_BSP_MAX_QUEUE_SIZE` (docs/tracing.md).
const QUEUE_SPANS: usize = 16_384;

/// An export takes an eighth of the queue, so a full queue drains in a few exports rather than
/// 32.
const EXPORT_BATCH: usize = 2_048;

/// The batch processor's settings: the `OTEL_BSP_*` variables where they are set, else the SDK's
/// defaults but for the two above. (Values set in code override the variables, so ours are set only
/// where no variable is.)
fn batch_config() -> BatchConfig {
    let mut config = BatchConfigBuilder::default();
    if var("OTEL_BSP_MAX_QUEUE_SIZE").is_none() {
        config = config.with_max_queue_size(QUEUE_SPANS);
    }
    if var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_none() {
        config = config.with_max_export_batch_size(EXPORT_BATCH);
    }
    config.build()
}

/// Rewrites each span as it ends, then hands it to the batch processor that exports it.
#[derive(Debug)]
struct RewriteOnEnd {
    exporter: BatchSpanProcessor,
    rewrite: fn(&mut SpanData),
}

impl SpanProcessor for RewriteOnEnd {
    fn on_start(
        &self,
        span: &mut opentelemetry_sdk::trace::Span,
        context: &opentelemetry::Context,
    ) {
        self.exporter.on_start(span, context);
    }

    fn on_end(&self, mut span: SpanData) {
        (self.rewrite)(&mut span);
        self.exporter.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    /// The provider hands its resource (our `service.name`) to the processor that exports.
    fn set_resource(&mut self, resource: &Resource) {
        self.exporter.set_resource(resource);
    }
}

/// Makes the driver's MongoDB spans read like the semantic conventions, in one pass over their
/// attributes:
/// - a command span names its command `db.command.name`, which no convention defines; the
///   conventions call it `db.operation.name`, which the driver sets only on the operation span
///   around it, so the one is renamed to the other;
/// - a failed span carries `exception.type` but not the `error.type` the conventions require;
/// - the driver's own extras go: the session id (`db.mongodb.lsid`, a JSON document of its own),
///   its connection ids and cursor ids, the server's topology type, and `db.operation.summary`
///   (the span's name again). The driver has no option to leave them out, and each costs the
///   exporter as much as an attribute a reader needs.
fn follow_the_database_conventions(span: &mut SpanData) {
    const DRIVER_EXTRAS: [&str; 6] = [
        "db.mongodb.lsid",
        "db.mongodb.driver_connection_id",
        "db.mongodb.server_connection_id",
        "db.mongodb.cursor_id",
        "server.type",
        "db.operation.summary",
    ];
    let has_operation_name = span
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "db.operation.name");
    let mut exception_type = None;
    span.attributes.retain_mut(|kv| match kv.key.as_str() {
        key if DRIVER_EXTRAS.contains(&key) => false,
        "db.command.name" if has_operation_name => false,
        "db.command.name" => {
            kv.key = opentelemetry::Key::from_static_str("db.operation.name");
            true
        }
        "exception.type" => {
            exception_type = Some(kv.value.clone());
            true
        }
        _ => true,
    });
    if matches!(span.status, Status::Error { .. }) {
        let kind = exception_type.unwrap_or_else(|| "_OTHER".into());
        span.attributes.push(KeyValue::new("error.type", kind));
    }
}

/// A log line written inside a span becomes one of its events, and `tracing-opentelemetry` gives
/// every such event a `target` (the module that logged it) with no option to leave it out. Few
/// spans have events, so on most this is one check of an empty list.
fn drop_event_targets(span: &mut SpanData) {
    for event in &mut span.events.events {
        event.attributes.retain(|kv| kv.key.as_str() != "target");
    }
}

/// A query string is the client's to fill, and clients do put tokens there (RFC 6750 §2.3's
/// `access_token`), which no span may hold. The SERVER span's `url.query` keeps each parameter's
/// value only when it is a number, as paging values are; any other value, and any parameter not of
/// the plain `name=value` form, shows as `REDACTED`.
///
/// `limit=20&offset=40` stays as it is; `access_token=eyJ...` becomes `access_token=REDACTED`.
pub(crate) fn scrub_query(query: &str) -> String {
    let plain_name = |name: &str| {
        (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    let number = |value: &str| {
        let digits = value.strip_prefix('-').unwrap_or(value);
        (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if query.is_empty() {
        return String::new();
    }
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if plain_name(name) && number(value) => pair.to_owned(),
            Some((name, _)) if plain_name(name) => format!("{name}=REDACTED"),
            _ => "REDACTED".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The exporter's own HTTP/2 and gRPC machinery must not trace itself: each export would make
/// spans that need exporting.
fn is_exporter_internal(target: &str) -> bool {
    [
        "h2",
        "hyper",
        "hyper_util",
        "tonic",
        "tower",
        "opentelemetry",
        "opentelemetry_sdk",
    ]
    .iter()
    .any(|internal| {
        target == *internal
            || target
                .strip_prefix(internal)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_numbers_and_hide_everything_else() {
        assert_eq!(scrub_query("limit=20&offset=40"), "limit=20&offset=40");
        assert_eq!(scrub_query("offset=-1"), "offset=-1");
        assert_eq!(
            scrub_query("limit=5&access_token=eyJhbGciOi.eyJzdWIi.c2ln"),
            "limit=5&access_token=REDACTED"
        );
        assert_eq!(scrub_query("eyJhbGciOi.eyJzdWIi.c2ln"), "REDACTED");
        assert_eq!(scrub_query("limit[$gt]=0"), "REDACTED");
        assert_eq!(
            scrub_query("password=12345678901234567890123"),
            "password=REDACTED"
        );
        assert_eq!(scrub_query(""), "");
    }

    #[test]
    fn exporter_internals_are_matched_by_crate_not_by_prefix() {
        assert!(is_exporter_internal("h2::codec"));
        assert!(is_exporter_internal("tonic"));
        assert!(is_exporter_internal("opentelemetry_sdk::trace"));
        assert!(!is_exporter_internal("towering_app"));
        assert!(!is_exporter_internal(
            "reqwest_tracing::reqwest_otel_span_builder"
        ));
        assert!(!is_exporter_internal("otel::tracing"));
    }
}
