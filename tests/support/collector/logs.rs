//! The collector's logs receiver: OTLP log records over gRPC (`LogsService/Export`) and
//! HTTP/protobuf (`POST /v1/logs`), kept with their attributes' types beside the spans.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
    logs_service_server::{LogsService, LogsServiceServer},
};

use super::{Attributes, Collector, Store, Value, attributes, hex};

/// The log data model's severity numbers (`SeverityNumber`) of the levels the services write.
pub mod severity {
    pub const INFO: i32 = 9;
    pub const WARN: i32 = 13;
    pub const ERROR: i32 = 17;
}

/// One received log record, flattened: its resource's `service.name`, ids as hex (empty when it
/// belongs to no trace), typed attributes.
#[derive(Debug, Clone)]
pub struct ExportedLogRecord {
    pub service: String,
    /// The scope it came under: the bridge names it by the module that wrote the record.
    pub scope: String,
    pub trace_id: String,
    pub span_id: String,
    /// The log data model's `SeverityNumber` (see [`severity`]).
    pub severity_number: i32,
    pub severity_text: String,
    pub body: Value,
    pub event_name: String,
    pub attributes: Attributes,
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub resource: Attributes,
}

impl ExportedLogRecord {
    /// A string attribute's text; `None` when it is missing or of another type.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        match self.attributes.get(key) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        }
    }

    /// WARN or worse.
    pub fn is_warning_or_worse(&self) -> bool {
        self.severity_number >= severity::WARN
    }

    /// Every string this record carries, for searching for leaked secrets.
    pub fn all_text(&self) -> String {
        let mut text = format!(
            "{} {} {} {}",
            self.scope, self.severity_text, self.body, self.event_name
        );
        for (key, value) in self.attributes.iter().chain(self.resource.iter()) {
            text.push_str(&format!(" {key}={value}"));
        }
        text
    }

    /// One line, for failure messages.
    pub fn describe(&self) -> String {
        let mut attributes: Vec<String> = self
            .attributes
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        attributes.sort();
        format!(
            "  {:<16} {:<5} trace={} span={} {:?} {}",
            self.service,
            self.severity_text,
            self.trace_id,
            self.span_id,
            self.body.to_string(),
            attributes.join(" ")
        )
    }
}

/// One line per record, for failure messages.
pub fn describe_records(records: &[ExportedLogRecord]) -> String {
    records
        .iter()
        .map(ExportedLogRecord::describe)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The gRPC service the collector adds beside the trace service.
pub(super) fn grpc_service(store: Store) -> LogsServiceServer<Store> {
    LogsServiceServer::new(store).accept_compressed(tonic::codec::CompressionEncoding::Gzip)
}

#[tonic::async_trait]
impl LogsService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.note_headers("grpc", &request.metadata().clone().into_headers());
        if self.refuses() {
            return Err(tonic::Status::unavailable("the collector is restarting"));
        }
        self.ingest_logs(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

impl Store {
    pub(super) fn ingest_logs(&self, request: ExportLogsServiceRequest) {
        *self.log_exports.lock().unwrap() += 1;
        if !self.keep.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let mut received = Vec::new();
        for resource_logs in request.resource_logs {
            let resource = attributes(
                &resource_logs
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default(),
            );
            let service = match resource.get("service.name") {
                Some(Value::String(name)) => name.clone(),
                _ => String::new(),
            };
            for scope_logs in resource_logs.scope_logs {
                let scope = scope_logs.scope.map(|scope| scope.name).unwrap_or_default();
                for record in scope_logs.log_records {
                    received.push(ExportedLogRecord {
                        service: service.clone(),
                        scope: scope.clone(),
                        trace_id: hex(&record.trace_id),
                        span_id: hex(&record.span_id),
                        severity_number: record.severity_number,
                        severity_text: record.severity_text,
                        body: Value::from_otlp(record.body.as_ref()),
                        event_name: record.event_name,
                        attributes: attributes(&record.attributes),
                        time_unix_nano: record.time_unix_nano,
                        observed_time_unix_nano: record.observed_time_unix_nano,
                        resource: resource.clone(),
                    });
                }
            }
        }
        self.log_records.lock().unwrap().extend(received);
    }
}

impl Collector {
    /// Every log record received so far.
    pub fn log_records(&self) -> Vec<ExportedLogRecord> {
        self.store.log_records.lock().unwrap().clone()
    }

    /// How many log export requests arrived, kept or not.
    pub fn log_exports(&self) -> u64 {
        *self.store.log_exports.lock().unwrap()
    }

    /// The records written in the trace `trace_id`.
    pub fn trace_log_records(&self, trace_id: &str) -> Vec<ExportedLogRecord> {
        self.log_records()
            .into_iter()
            .filter(|record| record.trace_id == trace_id)
            .collect()
    }

    /// Waits until the trace's records hold those for which `complete` is true, and returns them.
    pub async fn wait_for_log_records(
        &self,
        trace_id: &str,
        complete: impl Fn(&[ExportedLogRecord]) -> bool,
    ) -> Vec<ExportedLogRecord> {
        let started = Instant::now();
        loop {
            let records = self.trace_log_records(trace_id);
            if complete(&records) {
                return records;
            }
            if started.elapsed() > Duration::from_secs(15) {
                panic!(
                    "the records of trace {trace_id} did not arrive in 15 s; it has:\n{}\nand \
                     all records are:\n{}",
                    describe_records(&records),
                    describe_records(&self.log_records())
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a WARN-or-worse record of `service` in the trace whose body is `body`, and
    /// returns it.
    pub async fn wait_for_warning(
        &self,
        trace_id: &str,
        service: &str,
        body: &str,
    ) -> ExportedLogRecord {
        let matches = |record: &ExportedLogRecord| {
            record.service == service
                && record.is_warning_or_worse()
                && record.body == Value::String(body.to_owned())
        };
        let records = self
            .wait_for_log_records(trace_id, |records| records.iter().any(matches))
            .await;
        records.into_iter().find(matches).expect("waited for it")
    }
}
