//! A trace's log records as people read them: each with its severity, its body and attributes as
//! text, placed under the span it was written in. The web page and the terminal both show this.

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::logs::v1::ResourceLogs;

use crate::waterfall::{Row, display, pairs};

/// One log record.
#[derive(Debug, Clone)]
pub struct Record {
    /// The span it was written in (hex), empty if none.
    pub span_id: String,
    /// Nanoseconds since the Unix epoch: when it happened, else when it was observed.
    pub time: u64,
    pub severity: Severity,
    /// The severity as the record names it (`WARN`, `warning`), else as its number does.
    pub severity_text: String,
    pub body: String,
    /// Its own attributes, and `event.name` first when it has one.
    pub attributes: Vec<(String, String)>,
    /// The `service.name` of its resource.
    pub service: String,
}

/// The log data model's severity ranges (`SeverityNumber` 1–4 TRACE … 21–24 FATAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Unspecified,
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Severity {
    /// From the record's number, or its text when it has no number (as some SDKs send).
    fn of(number: i32, text: &str) -> Self {
        match number {
            1..=4 => Self::Trace,
            5..=8 => Self::Debug,
            9..=12 => Self::Info,
            13..=16 => Self::Warn,
            17..=20 => Self::Error,
            21..=24 => Self::Fatal,
            _ => match text.to_ascii_uppercase().as_str() {
                "TRACE" => Self::Trace,
                "DEBUG" => Self::Debug,
                "INFO" => Self::Info,
                "WARN" | "WARNING" => Self::Warn,
                "ERROR" => Self::Error,
                "FATAL" | "CRITICAL" => Self::Fatal,
                _ => Self::Unspecified,
            },
        }
    }

    /// The upper-case name, which is also the CSS class of the severity's colour.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        }
    }
}

/// Every record of the answer, the earliest first (records of equal times in arrival order).
pub fn records(resource_logs: &[ResourceLogs]) -> Vec<Record> {
    let mut records = Vec::new();
    for resource_logs in resource_logs {
        let service = resource_logs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .map(display)
            .unwrap_or_default();
        for record in resource_logs
            .scope_logs
            .iter()
            .flat_map(|scope| &scope.log_records)
        {
            let severity = Severity::of(record.severity_number, &record.severity_text);
            let mut attributes = Vec::new();
            if !record.event_name.is_empty() {
                attributes.push(("event.name".to_owned(), record.event_name.clone()));
            }
            attributes.extend(pairs(&record.attributes));
            records.push(Record {
                span_id: hex::encode(&record.span_id),
                time: match record.time_unix_nano {
                    0 => record.observed_time_unix_nano,
                    time => time,
                },
                severity,
                severity_text: match record.severity_text.as_str() {
                    "" => severity.name().to_owned(),
                    text => text.to_owned(),
                },
                body: record.body.as_ref().map(display).unwrap_or_default(),
                attributes,
                service: service.clone(),
            });
        }
    }
    records.sort_by_key(|record| record.time);
    records
}

/// The records placed under the rows of a waterfall: by span id, and those whose span is not
/// among the rows (written outside any span, or in a span that did not arrive), in time order.
pub struct Placed<'a> {
    pub by_span: HashMap<&'a str, Vec<&'a Record>>,
    pub elsewhere: Vec<&'a Record>,
}

pub fn place<'a>(records: &'a [Record], rows: &[Row]) -> Placed<'a> {
    let spans: HashSet<&str> = rows.iter().map(|row| row.span_id.as_str()).collect();
    let mut placed = Placed {
        by_span: HashMap::new(),
        elsewhere: Vec::new(),
    };
    for record in records {
        if spans.contains(record.span_id.as_str()) {
            placed
                .by_span
                .entry(record.span_id.as_str())
                .or_default()
                .push(record);
        } else {
            placed.elsewhere.push(record);
        }
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_come_from_the_number_else_the_text() {
        assert_eq!(Severity::of(13, "warning"), Severity::Warn);
        assert_eq!(Severity::of(24, ""), Severity::Fatal);
        assert_eq!(Severity::of(0, "Error"), Severity::Error);
        assert_eq!(Severity::of(0, "loud"), Severity::Unspecified);
        assert_eq!(Severity::of(99, "INFO"), Severity::Info);
    }
}
