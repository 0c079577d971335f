//! What a run's answers add up to: counts by kind and status, nearest-rank percentiles, and the
//! tables `traffic` and the tests print.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    time::{Duration, Instant},
};

use crate::{Kind, Record, TraceRef};

/// The nearest-rank percentile of sorted values: the smallest value that `percent` per cent of
/// the values are less than or equal to. `None` for no values.
pub fn percentile<T: Copy>(sorted: &[T], percent: u64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (percent.min(100) * n).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

/// The `percent`th percentile of the answered requests' latencies (zero when none was).
pub fn latency_percentile<'a, K: Kind, N: 'a>(
    records: impl IntoIterator<Item = &'a Record<K, N>>,
    percent: u64,
) -> Duration {
    let mut latencies: Vec<Duration> = records
        .into_iter()
        .filter(|record| record.outcome.is_ok())
        .map(|record| record.latency)
        .collect();
    latencies.sort_unstable();
    percentile(&latencies, percent).unwrap_or_default()
}

/// Counts by status, e.g. `200: 812, 201: 95, 503: 40, no answer: 2`.
pub fn status_counts<'a, K: Kind, N: 'a>(
    records: impl IntoIterator<Item = &'a Record<K, N>>,
) -> String {
    let mut summary = Summary::default();
    for record in records {
        summary.record(record);
    }
    summary.status_counts()
}

/// The first ten of `records`, one per line, for failure messages; times relative to `origin`.
pub fn describe<K: Kind, N>(records: &[&Record<K, N>], origin: Instant) -> String {
    let mut lines: Vec<String> = records
        .iter()
        .take(10)
        .map(|record| format!("  {}", record.describe(origin)))
        .collect();
    if records.len() > 10 {
        lines.push(format!("  ... and {} more", records.len() - 10));
    }
    lines.join("\n")
}

/// A request worth opening in a trace viewer: the slowest, or the first of an error status.
#[derive(Clone, Debug)]
pub struct Sample<K> {
    pub kind: K,
    pub status: u16,
    pub latency: Duration,
    pub trace: Option<TraceRef>,
}

#[derive(Debug)]
struct KindSummary<K> {
    /// The latency of every answered request (transport failures have none).
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
    /// The first request answered with each status of 400 and above.
    examples: BTreeMap<u16, Sample<K>>,
    slowest: Option<Sample<K>>,
    transport_errors: u64,
    /// The first transport failure's message, e.g. "Connection refused (os error 111)".
    error_example: Option<String>,
}

impl<K> Default for KindSummary<K> {
    fn default() -> Self {
        Self {
            latencies: Vec::new(),
            statuses: BTreeMap::new(),
            examples: BTreeMap::new(),
            slowest: None,
            transport_errors: 0,
            error_example: None,
        }
    }
}

/// Every answer of a run, counted as it comes: cheap to update, so a long run need not keep its
/// records.
#[derive(Debug)]
pub struct Summary<K> {
    kinds: BTreeMap<K, KindSummary<K>>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

impl<K> Default for Summary<K> {
    fn default() -> Self {
        Self {
            kinds: BTreeMap::new(),
            statuses: BTreeMap::new(),
            transport_errors: 0,
        }
    }
}

impl<K: Kind> Summary<K> {
    pub fn record<N>(&mut self, record: &Record<K, N>) {
        let kind = self.kinds.entry(record.kind).or_default();
        let answer = match &record.outcome {
            Ok(answer) => answer,
            Err(message) => {
                self.transport_errors += 1;
                kind.transport_errors += 1;
                kind.error_example.get_or_insert_with(|| message.clone());
                return;
            }
        };
        *self.statuses.entry(answer.status).or_default() += 1;
        *kind.statuses.entry(answer.status).or_default() += 1;
        kind.latencies.push(record.latency);
        let sample = Sample {
            kind: record.kind,
            status: answer.status,
            latency: record.latency,
            trace: answer.trace.clone(),
        };
        if answer.status >= 400 && !kind.examples.contains_key(&answer.status) {
            kind.examples.insert(answer.status, sample.clone());
        }
        if kind
            .slowest
            .as_ref()
            .is_none_or(|s| record.latency > s.latency)
        {
            kind.slowest = Some(sample);
        }
    }

    /// Requests that got an HTTP answer.
    pub fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Requests that got no HTTP answer (connection refused or reset, timeout, ...).
    pub fn transport_errors(&self) -> u64 {
        self.transport_errors
    }

    /// Requests that failed: no answer, or a 5xx.
    pub fn failed(&self) -> u64 {
        self.transport_errors + self.statuses.range(500..).map(|(_, n)| n).sum::<u64>()
    }

    /// Counts by status, e.g. `200: 150, 201: 24, no answer: 1`.
    pub fn status_counts(&self) -> String {
        let statuses = self
            .statuses
            .iter()
            .map(|(status, n)| (status.to_string(), *n));
        let no_answer =
            Some(("no answer".to_owned(), self.transport_errors)).filter(|(_, n)| *n > 0);
        let parts: Vec<String> = statuses
            .chain(no_answer)
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        parts.join(", ")
    }

    /// The slowest answered request of all.
    pub fn slowest(&self) -> Option<&Sample<K>> {
        self.kinds
            .values()
            .filter_map(|k| k.slowest.as_ref())
            .max_by_key(|s| s.latency)
    }

    /// The slowest answered request of each kind.
    pub fn slowest_per_kind(&self) -> impl Iterator<Item = &Sample<K>> {
        self.kinds.values().filter_map(|k| k.slowest.as_ref())
    }

    /// The first request of each kind answered with each status of 400 and above.
    pub fn first_errors(&self) -> impl Iterator<Item = &Sample<K>> {
        self.kinds.values().flat_map(|k| k.examples.values())
    }

    /// Requests by kind and status, with their share, marking what a healthy platform would not
    /// answer; then the transport errors with an example of each kind's.
    pub fn counts_table(&self) -> String {
        let total = self.answered() + self.transport_errors;
        let share = |n: u64| n as f64 * 100.0 / total.max(1) as f64;
        let mut out = format!(
            "{:<22} {:>6} {:>8} {:>7}\n",
            "requests", "status", "count", "share"
        );
        for (kind, summary) in &self.kinds {
            for (&status, &count) in &summary.statuses {
                let mark = if kind.expects(status) {
                    ""
                } else {
                    "  <- unexpected"
                };
                let _ = writeln!(
                    out,
                    "{:<22} {status:>6} {count:>8} {:>6.1}%{mark}",
                    kind.label(),
                    share(count)
                );
            }
            if summary.transport_errors > 0 {
                let (label, n) = (kind.label(), summary.transport_errors);
                let _ = writeln!(
                    out,
                    "{label:<22} {:>6} {n:>8} {:>6.1}%  <- no answer",
                    "error",
                    share(n)
                );
            }
        }
        let _ = writeln!(
            out,
            "{:<22} {:>6} {total:>8} {:>6.1}%",
            "total",
            "",
            share(total)
        );
        let _ = writeln!(
            out,
            "transport errors (no HTTP answer): {}",
            self.transport_errors
        );
        for (kind, summary) in &self.kinds {
            if let Some(message) = &summary.error_example {
                let _ = writeln!(out, "  e.g. {}: {message}", kind.label());
            }
        }
        out
    }

    /// Latency percentiles of the answered requests, by kind and of all.
    pub fn latency_table(&self) -> String {
        let mut out = format!(
            "{:<22} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            "latency (ms)", "answered", "p50", "p90", "p99", "max"
        );
        let mut all = Vec::new();
        for (kind, summary) in &self.kinds {
            all.extend_from_slice(&summary.latencies);
            out.push_str(&latency_row(kind.label(), &mut summary.latencies.clone()));
        }
        out.push_str(&latency_row("all", &mut all));
        out
    }
}

fn latency_row(label: &str, latencies: &mut [Duration]) -> String {
    latencies.sort_unstable();
    let cell = |p| percentile(latencies, p).map_or_else(|| "-".to_owned(), milliseconds);
    format!(
        "{label:<22} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        latencies.len(),
        cell(50),
        cell(90),
        cell(99),
        cell(100)
    )
}

/// `12.3`: a duration in milliseconds, as the tables show it.
fn milliseconds(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Answer;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), Some(50));
        assert_eq!(percentile(&values, 90), Some(90));
        assert_eq!(percentile(&values, 99), Some(99));
        assert_eq!(percentile(&values, 100), Some(100));
        assert_eq!(percentile(&values, 0), Some(1));

        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&ten, 50), Some(5));
        assert_eq!(percentile(&ten, 90), Some(9));
        // 99% of 10 values is 9.9: the 10th value is the first that covers it.
        assert_eq!(percentile(&ten, 99), Some(10));
        assert_eq!(percentile(&ten, 95), Some(10));

        assert_eq!(percentile(&[7u32], 50), Some(7));
        assert_eq!(percentile(&[7u32], 99), Some(7));
        assert_eq!(percentile::<u32>(&[], 50), None);

        let three = [
            Duration::from_millis(1),
            Duration::from_millis(2),
            Duration::from_millis(30),
        ];
        assert_eq!(percentile(&three, 50), Some(Duration::from_millis(2)));
        assert_eq!(percentile(&three, 99), Some(Duration::from_millis(30)));
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Test {
        Read,
        Write,
    }

    impl Kind for Test {
        fn label(self) -> &'static str {
            match self {
                Test::Read => "GET /things",
                Test::Write => "POST /things",
            }
        }

        fn expects(self, status: u16) -> bool {
            status == if self == Test::Read { 200 } else { 201 }
        }
    }

    fn record(kind: Test, ms: u64, outcome: Result<u16, &str>) -> Record<Test> {
        Record {
            kind,
            started: Instant::now(),
            latency: Duration::from_millis(ms),
            outcome: outcome
                .map(|status| Answer {
                    status,
                    trace: TraceRef::parse(&format!("00-{:032x}-{:016x}-01", ms + 1, 1)),
                })
                .map_err(str::to_owned),
            note: (),
        }
    }

    fn records() -> Vec<Record<Test>> {
        vec![
            record(Test::Read, 3, Ok(200)),
            record(Test::Read, 9, Ok(200)),
            record(Test::Write, 4, Ok(403)),
            record(Test::Write, 5, Ok(403)),
            record(Test::Write, 80, Ok(201)),
            record(Test::Read, 2, Ok(503)),
            record(Test::Read, 1, Err("Connection refused")),
        ]
    }

    #[test]
    fn a_summary_counts_by_kind_and_status() {
        let mut summary = Summary::default();
        records().iter().for_each(|r| summary.record(r));
        assert_eq!(summary.answered(), 6);
        assert_eq!(summary.transport_errors(), 1);
        assert_eq!(summary.failed(), 2);
        assert_eq!(
            summary.status_counts(),
            "200: 2, 201: 1, 403: 2, 503: 1, no answer: 1"
        );
        assert_eq!(status_counts(&records()), summary.status_counts());
        let slowest = summary.slowest().unwrap();
        assert_eq!((slowest.kind, slowest.status), (Test::Write, 201));
        // The first 403 is the example, though the second was slower.
        let first_errors: Vec<(u16, Duration)> = summary
            .first_errors()
            .map(|s| (s.status, s.latency))
            .collect();
        assert_eq!(
            first_errors,
            [
                (503, Duration::from_millis(2)),
                (403, Duration::from_millis(4))
            ]
        );
    }

    #[test]
    fn the_tables_mark_the_unexpected_and_show_percentiles() {
        let mut summary = Summary::default();
        records().iter().for_each(|r| summary.record(r));
        let counts = summary.counts_table();
        let line = |text: &str, start: &str| {
            text.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("{start}: {text}"))
                .to_owned()
        };
        assert!(line(&counts, "GET /things").contains("200"), "{counts}");
        assert!(
            counts.contains("503        1   14.3%  <- unexpected"),
            "{counts}"
        );
        assert!(
            counts.contains("error        1   14.3%  <- no answer"),
            "{counts}"
        );
        assert!(
            counts.contains("e.g. GET /things: Connection refused"),
            "{counts}"
        );
        let latency = summary.latency_table();
        // Reads answered in 3, 9 and 2 ms: p50 is 3, max 9.
        assert_eq!(
            line(&latency, "GET /things")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["GET", "/things", "3", "3.0", "9.0", "9.0", "9.0"]
        );
        assert!(line(&latency, "all").contains(" 80.0"), "{latency}");
        assert_eq!(latency_percentile(&records(), 50), Duration::from_millis(4));
    }
}
