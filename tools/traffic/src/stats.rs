//! What happened: every answer's status, latency and trace, the progress line and the summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::mix::Kind;

/// The trace a response names in its `traceresponse` header (`00-<trace-id>-<span-id>-<flags>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRef {
    pub trace_id: String,
    /// The flags' sampled bit: an unsampled trace was never exported, Jaeger cannot have it.
    pub sampled: bool,
}

impl TraceRef {
    /// Parses a W3C `traceresponse` (or `traceparent`) value; None if it is not one.
    pub fn parse(header: &str) -> Option<TraceRef> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(version, 2) || !hex(trace_id, 32) || !hex(span_id, 16) || !hex(flags, 2) {
            return None;
        }
        if version == "ff" || trace_id.bytes().all(|b| b == b'0') {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceRef {
            trace_id: trace_id.to_ascii_lowercase(),
            sampled: flags & 1 == 1,
        })
    }
}

/// An HTTP answer, whatever its status.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub trace: Option<TraceRef>,
}

/// A request that took this long and got this trace.
#[derive(Clone, Debug)]
pub struct Sample {
    pub kind: Kind,
    pub status: u16,
    pub latency: Duration,
    pub trace: Option<TraceRef>,
}

#[derive(Debug, Default)]
struct KindStats {
    /// The latency of every answered request (transport failures have none).
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
    /// The first request answered with each status of 400 and above.
    examples: BTreeMap<u16, Sample>,
    slowest: Option<Sample>,
    transport_errors: u64,
    /// The first transport failure's message, e.g. "Connection refused (os error 111)".
    error_example: Option<String>,
}

/// Everything recorded in a run. Cheap to update: the senders lock it for a few pushes.
#[derive(Debug, Default)]
pub struct Stats {
    kinds: [KindStats; Kind::ALL.len()],
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

impl Stats {
    pub fn record(&mut self, kind: Kind, latency: Duration, result: Result<Answer, String>) {
        let stats = &mut self.kinds[kind.index()];
        match result {
            Ok(answer) => {
                *self.statuses.entry(answer.status).or_default() += 1;
                *stats.statuses.entry(answer.status).or_default() += 1;
                stats.latencies.push(latency);
                let sample = Sample {
                    kind,
                    status: answer.status,
                    latency,
                    trace: answer.trace,
                };
                if answer.status >= 400 && !stats.examples.contains_key(&answer.status) {
                    stats.examples.insert(answer.status, sample.clone());
                }
                if stats.slowest.as_ref().is_none_or(|s| latency > s.latency) {
                    stats.slowest = Some(sample);
                }
            }
            Err(message) => {
                self.transport_errors += 1;
                stats.transport_errors += 1;
                stats.error_example.get_or_insert(message);
            }
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

    /// The counts by status for the progress line: `200:150 201:24 403:17 err:0`.
    pub fn status_counts(&self) -> String {
        let mut line = String::new();
        for (status, count) in &self.statuses {
            let _ = write!(line, "{status}:{count} ");
        }
        let _ = write!(line, "err:{}", self.transport_errors);
        line
    }

    /// The slowest answered request of all.
    pub fn slowest(&self) -> Option<&Sample> {
        self.kinds
            .iter()
            .filter_map(|k| k.slowest.as_ref())
            .max_by_key(|s| s.latency)
    }
}

/// The nearest-rank percentile of sorted values: the smallest value that `percent` per cent of
/// the values are less than or equal to. None for no values.
pub fn percentile<T: Copy>(sorted: &[T], percent: u64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (percent.min(100) * n).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

/// What the summary says about the run besides the recorded answers.
pub struct RunInfo<'a> {
    pub run_id: &'a str,
    pub seed: u64,
    pub target_rate: f64,
    pub elapsed: Duration,
    pub sent: u64,
    /// Sends skipped because `--concurrency` requests were already in flight.
    pub skipped_busy: u64,
    /// Sends skipped because the scheduler itself woke up late (the machine was too busy).
    pub skipped_late: u64,
    pub concurrency: usize,
    pub interrupted: bool,
    pub users: &'a [String],
    pub jaeger_ui: &'a str,
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// A rate as a short number: `20`, `19.6`, `0.5`.
pub fn rate(value: f64) -> String {
    if value.fract() == 0.0 && value < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

impl RunInfo<'_> {
    pub fn trace_link(&self, trace: &TraceRef) -> String {
        let mut link = format!(
            "{}/trace/{}",
            self.jaeger_ui.trim_end_matches('/'),
            trace.trace_id
        );
        if !trace.sampled {
            link.push_str("  (not sampled: not in Jaeger)");
        }
        link
    }
}

/// The report printed at the end of a run.
pub fn summary(stats: &Stats, run: &RunInfo) -> String {
    let mut out = String::new();
    let secs = run.elapsed.as_secs_f64();
    let achieved = if secs > 0.0 {
        run.sent as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "traffic run {}{}: {} requests in {:.1} s, {:.1}/s (target {}/s)",
        run.run_id,
        if run.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        run.sent,
        secs,
        achieved,
        rate(run.target_rate),
    );
    let _ = writeln!(
        out,
        "seed {} (repeat the same mix with --seed {})",
        run.seed, run.seed
    );
    let _ = writeln!(
        out,
        "skipped sends: {} (already {} in flight, --concurrency), {} (scheduler late)",
        run.skipped_busy, run.concurrency, run.skipped_late
    );
    if !run.users.is_empty() {
        let _ = writeln!(out, "users: {}", run.users.join(", "));
    }

    // Counts per (kind, status).
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>8} {:>7}",
        "requests", "status", "count", "share"
    );
    let total = stats.answered() + stats.transport_errors();
    let share = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 * 100.0 / total as f64
        }
    };
    for kind in Kind::ALL {
        let k = &stats.kinds[kind.index()];
        for (&status, &count) in &k.statuses {
            let _ = writeln!(
                out,
                "{:<22} {:>6} {:>8} {:>6.1}%{}",
                kind.label(),
                status,
                count,
                share(count),
                if kind.expects(status) {
                    ""
                } else {
                    "  <- unexpected"
                }
            );
        }
        if k.transport_errors > 0 {
            let _ = writeln!(
                out,
                "{:<22} {:>6} {:>8} {:>6.1}%  <- no answer",
                kind.label(),
                "error",
                k.transport_errors,
                share(k.transport_errors)
            );
        }
    }
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>8} {:>6.1}%",
        "total",
        "",
        total,
        share(total)
    );
    let _ = writeln!(
        out,
        "transport errors (no HTTP answer): {}",
        stats.transport_errors()
    );
    for kind in Kind::ALL {
        if let Some(message) = &stats.kinds[kind.index()].error_example {
            let _ = writeln!(out, "  e.g. {}: {message}", kind.label());
        }
    }

    // Latencies per kind, answered requests only.
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<22} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "latency (ms)", "answered", "p50", "p90", "p99", "max"
    );
    let mut all = Vec::new();
    let mut row = |label: &str, latencies: &mut Vec<Duration>| {
        latencies.sort_unstable();
        let cell = |p| percentile(latencies, p).map_or_else(|| "-".to_owned(), ms);
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>8} {:>8} {:>8} {:>8}",
            label,
            latencies.len(),
            cell(50),
            cell(90),
            cell(99),
            cell(100)
        );
    };
    for kind in Kind::ALL {
        let mut latencies = stats.kinds[kind.index()].latencies.clone();
        all.extend_from_slice(&latencies);
        row(kind.label(), &mut latencies);
    }
    row("all", &mut all);

    // Where to look in Jaeger.
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "traces to open (Jaeger UI {}):",
        run.jaeger_ui.trim_end_matches('/')
    );
    let mut line = |what: &str, sample: &Sample| {
        let link = sample.trace.as_ref().map_or_else(
            || "(no traceresponse header)".to_owned(),
            |t| run.trace_link(t),
        );
        let _ = writeln!(
            out,
            "  {:<16} {:<22} {:>3} {:>8} ms  {}",
            what,
            sample.kind.label(),
            sample.status,
            ms(sample.latency),
            link
        );
    };
    let slowest_kind = stats.slowest().map(|s| s.kind);
    for kind in Kind::ALL {
        if let Some(slowest) = &stats.kinds[kind.index()].slowest {
            let what = if Some(kind) == slowest_kind {
                "slowest of all"
            } else {
                "slowest"
            };
            line(what, slowest);
        }
    }
    for kind in Kind::ALL {
        for (status, sample) in &stats.kinds[kind.index()].examples {
            line(&format!("a {status}"), sample);
        }
    }
    if slowest_kind.is_none() {
        let _ = writeln!(out, "  (no request was answered)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn traceresponse_parsing() {
        let t = TraceRef::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(t.sampled);
        let t =
            TraceRef::parse(" 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-00").unwrap();
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(!t.sampled);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",
            "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceRef::parse(bad), None, "{bad}");
        }
    }

    fn answer(status: u16, id: &str) -> Result<Answer, String> {
        Ok(Answer {
            status,
            trace: Some(TraceRef {
                trace_id: id.to_owned(),
                sampled: true,
            }),
        })
    }

    #[test]
    fn records_and_summarizes() {
        let mut stats = Stats::default();
        let ms = Duration::from_millis;
        stats.record(Kind::ListBlogs, ms(3), answer(200, "a1"));
        stats.record(Kind::ListBlogs, ms(9), answer(200, "a2"));
        stats.record(Kind::ReaderPost, ms(4), answer(403, "b1"));
        stats.record(Kind::ReaderPost, ms(5), answer(403, "b2"));
        stats.record(Kind::GoodLogin, ms(80), answer(200, "c1"));
        stats.record(Kind::ListBlogs, ms(2), answer(503, "d1"));
        stats.record(Kind::GetBlog, ms(1), Err("Connection refused".to_owned()));

        assert_eq!(stats.answered(), 6);
        assert_eq!(stats.transport_errors(), 1);
        assert_eq!(stats.failed(), 2);
        assert_eq!(stats.status_counts(), "200:3 403:2 503:1 err:1");
        let slowest = stats.slowest().unwrap();
        assert_eq!(slowest.kind, Kind::GoodLogin);
        assert_eq!(slowest.trace.as_ref().unwrap().trace_id, "c1");

        let users = vec!["u1".to_owned()];
        let text = summary(
            &stats,
            &RunInfo {
                run_id: "r",
                seed: 5,
                target_rate: 20.0,
                elapsed: Duration::from_secs(2),
                sent: 7,
                skipped_busy: 0,
                skipped_late: 0,
                concurrency: 16,
                interrupted: false,
                users: &users,
                jaeger_ui: "http://jaeger:16686/",
            },
        );
        assert!(
            text.contains("7 requests in 2.0 s, 3.5/s (target 20/s)"),
            "{text}"
        );
        assert!(text.contains("--seed 5"), "{text}");
        let line_of = |start: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(start))
                .unwrap_or_else(|| panic!("no line {start}: {text}"))
                .to_owned()
        };
        // The first 403 is the example; the slowest 403 is the second.
        assert!(
            line_of("a 403").ends_with("http://jaeger:16686/trace/b1"),
            "{text}"
        );
        assert!(
            line_of("a 503").ends_with("http://jaeger:16686/trace/d1"),
            "{text}"
        );
        assert!(
            line_of("slowest of all").contains("POST /login (good)"),
            "{text}"
        );
        assert!(line_of("slowest of all").ends_with("/trace/c1"), "{text}");
        assert_eq!(text.matches("/trace/c1").count(), 1, "{text}");
        assert!(text.contains("Jaeger UI http://jaeger:16686):"), "{text}");
        assert!(text.contains("<- unexpected"), "{text}");
        assert!(
            text.contains("e.g. GET /blogs/{id}: Connection refused"),
            "{text}"
        );
    }
}
