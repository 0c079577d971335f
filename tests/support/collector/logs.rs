//! The log records the collector received (over gRPC or HTTP, with the spans or to an endpoint
//! of their own), and waiting for them.

use std::time::{Duration, Instant};

use super::{Collector, ExportedLogRecord, Value};

/// One line per record, for failure messages.
pub fn describe_records(records: &[ExportedLogRecord]) -> String {
    records
        .iter()
        .map(ExportedLogRecord::describe)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Collector {
    /// Every log record received so far: those of each trace, the traces in the order they
    /// arrived, then those written outside any trace.
    pub fn log_records(&self) -> Vec<ExportedLogRecord> {
        self.store.flat_records()
    }

    /// How many logs export requests it took, whatever they held.
    pub fn log_exports(&self) -> u64 {
        self.double
            .log_exports
            .load(std::sync::atomic::Ordering::Relaxed)
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
