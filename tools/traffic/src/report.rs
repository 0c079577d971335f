//! The report printed at the end of a run: what was sent, what came back, which traces to open.

use std::fmt::Write as _;

use loadgen::{Kind as _, Summary, Tally, TraceRef};

use crate::mix::Kind;

/// What the report says about the run besides the recorded answers.
pub struct RunInfo<'a> {
    pub run_id: &'a str,
    pub seed: u64,
    pub target_rate: f64,
    pub tally: &'a Tally,
    pub concurrency: usize,
    pub users: &'a [String],
    pub jaeger_ui: &'a str,
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
        let ui = self.jaeger_ui.trim_end_matches('/');
        let mut link = format!("{ui}/trace/{}", trace.trace_id);
        if !trace.sampled {
            link.push_str("  (not sampled: not in Jaeger)");
        }
        link
    }

    /// The run's first lines: rate achieved, seed, skipped sends, users.
    fn header(&self) -> String {
        let tally = self.tally;
        let secs = tally.elapsed.as_secs_f64();
        let achieved = if secs > 0.0 {
            tally.sent as f64 / secs
        } else {
            0.0
        };
        let interrupted = if tally.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        let mut out = format!(
            "traffic run {}{interrupted}: {} requests in {secs:.1} s, {achieved:.1}/s (target {}/s)\n",
            self.run_id,
            tally.sent,
            rate(self.target_rate),
        );
        let seed = self.seed;
        let _ = writeln!(out, "seed {seed} (repeat the same mix with --seed {seed})");
        let _ = writeln!(
            out,
            "skipped sends: {} (already {} in flight, --concurrency), {} (scheduler late)",
            tally.skipped_busy, self.concurrency, tally.skipped_late
        );
        if !self.users.is_empty() {
            let _ = writeln!(out, "users: {}", self.users.join(", "));
        }
        out
    }

    /// The slowest request of each kind and the first of each error status, with their links.
    fn traces(&self, summary: &Summary<Kind>) -> String {
        let ui = self.jaeger_ui.trim_end_matches('/');
        let mut out = format!("traces to open (Jaeger UI {ui}):\n");
        let slowest_kind = summary.slowest().map(|s| s.kind);
        let slowest = summary.slowest_per_kind().map(|sample| {
            let of_all = Some(sample.kind) == slowest_kind;
            (
                (if of_all { "slowest of all" } else { "slowest" }).to_owned(),
                sample,
            )
        });
        let errors = summary
            .first_errors()
            .map(|sample| (format!("a {}", sample.status), sample));
        for (what, sample) in slowest.chain(errors) {
            let link = sample.trace.as_ref().map_or_else(
                || "(no traceresponse header)".to_owned(),
                |t| self.trace_link(t),
            );
            let ms = sample.latency.as_secs_f64() * 1000.0;
            let (label, status) = (sample.kind.label(), sample.status);
            let _ = writeln!(
                out,
                "  {what:<16} {label:<22} {status:>3} {ms:>8.1} ms  {link}"
            );
        }
        if slowest_kind.is_none() {
            out.push_str("  (no request was answered)\n");
        }
        out
    }
}

/// The report: the header, the counts, the latencies and the traces to open.
pub fn summary(summary: &Summary<Kind>, run: &RunInfo) -> String {
    [
        run.header(),
        summary.counts_table(),
        summary.latency_table(),
        run.traces(summary),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use loadgen::{Answer, Record};

    use super::*;

    fn record(kind: Kind, ms: u64, outcome: Result<(u16, &str), &str>) -> Record<Kind> {
        Record {
            kind,
            started: Instant::now(),
            latency: Duration::from_millis(ms),
            outcome: outcome
                .map(|(status, id)| Answer {
                    status,
                    trace: Some(TraceRef {
                        trace_id: id.to_owned(),
                        sampled: true,
                    }),
                })
                .map_err(str::to_owned),
            note: (),
        }
    }

    #[test]
    fn records_and_summarizes() {
        let mut stats = Summary::default();
        for r in [
            record(Kind::ListBlogs, 3, Ok((200, "a1"))),
            record(Kind::ListBlogs, 9, Ok((200, "a2"))),
            record(Kind::ReaderPost, 4, Ok((403, "b1"))),
            record(Kind::ReaderPost, 5, Ok((403, "b2"))),
            record(Kind::GoodLogin, 80, Ok((200, "c1"))),
            record(Kind::ListBlogs, 2, Ok((503, "d1"))),
            record(Kind::GetBlog, 1, Err("Connection refused")),
        ] {
            stats.record(&r);
        }

        assert_eq!(stats.answered(), 6);
        assert_eq!(stats.transport_errors(), 1);
        assert_eq!(stats.failed(), 2);
        assert_eq!(
            stats.status_counts(),
            "200: 3, 403: 2, 503: 1, no answer: 1"
        );
        let slowest = stats.slowest().unwrap();
        assert_eq!(slowest.kind, Kind::GoodLogin);
        assert_eq!(slowest.trace.as_ref().unwrap().trace_id, "c1");

        let users = vec!["u1".to_owned()];
        let tally = Tally {
            sent: 7,
            elapsed: Duration::from_secs(2),
            ..Tally::default()
        };
        let text = summary(
            &stats,
            &RunInfo {
                run_id: "r",
                seed: 5,
                target_rate: 20.0,
                tally: &tally,
                concurrency: 16,
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
