//! What the exporters say in the log about their receivers: each signal's failures at most once per
//! [`FAILURE_REPORT_INTERVAL`], with how many exports failed in between, so that a receiver gone
//! for an hour costs a line a minute for spans and one for log records rather than one per batch;
//! and each distinct `partial_success` message once, with its counts, so that a receiver refusing
//! some spans of every batch for the same reason says it once.

use super::settings::Signal;
use std::{
    collections::HashSet,
    sync::Mutex,
    time::{Duration, Instant},
};

const FAILURE_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// How many distinct `partial_success` messages are remembered; past that, a new one is still
/// logged, once, as the last that will be.
const REMEMBERED_MESSAGES: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Reporter {
    /// Spans' and log records' apart: the line says what was lost, and spans that fail are never
    /// left unreported because log records failed first.
    failures: [Mutex<Failures>; 2],
    partial_messages: Mutex<HashSet<String>>,
}

#[derive(Debug, Default)]
struct Failures {
    last_report: Option<Instant>,
    unreported: u64,
}

impl Reporter {
    /// An export of `signal` that was dropped: `reason` says why (never a header's value: see
    /// `retry::Failure`), `items` how many spans or log records went with it.
    pub(crate) fn export_failed(
        &self,
        signal: Signal,
        endpoint: &str,
        reason: &str,
        items: usize,
        retried: bool,
    ) {
        let mut failures = self.failures[signal as usize]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let now = Instant::now();
        let due = failures
            .last_report
            .is_none_or(|last| now.duration_since(last) >= FAILURE_REPORT_INTERVAL);
        if !due {
            failures.unreported += 1;
            return;
        }
        let unreported = std::mem::take(&mut failures.unreported);
        failures.last_report = Some(now);
        drop(failures);
        let given_up = if retried { " after retrying" } else { "" };
        tracing::warn!(
            endpoint,
            reason,
            dropped = items,
            failed_exports_since_last_report = unreported,
            "telemetry: {} could not be exported{given_up} and were dropped; the next such \
             failure is reported in {} s at the earliest",
            signal.items(),
            FAILURE_REPORT_INTERVAL.as_secs()
        );
    }

    /// A receiver's `partial_success`: it took the request but refused `rejected` of its spans
    /// or log records (`signal`).
    pub(crate) fn partial_success(
        &self,
        signal: Signal,
        endpoint: &str,
        rejected: i64,
        message: &str,
    ) {
        if rejected == 0 && message.is_empty() {
            return;
        }
        let mut seen = self
            .partial_messages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if seen.contains(message) || seen.len() > REMEMBERED_MESSAGES {
            return;
        }
        seen.insert(message.to_owned());
        let last = if seen.len() > REMEMBERED_MESSAGES {
            "; further new messages are not logged"
        } else {
            ""
        };
        drop(seen);
        match signal {
            Signal::Traces => tracing::warn!(
                endpoint,
                rejected_spans = rejected,
                error_message = message,
                "telemetry: the receiver refused part of an export (logged once per message){last}"
            ),
            Signal::Logs => tracing::warn!(
                endpoint,
                rejected_log_records = rejected,
                error_message = message,
                "telemetry: the receiver refused part of an export (logged once per message){last}"
            ),
        }
    }
}
