//! What came back from one request.

use std::time::{Duration, Instant};

use crate::Kind;

/// The trace a response names in its `traceresponse` header (`00-<trace-id>-<span-id>-<flags>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRef {
    pub trace_id: String,
    /// The flags' sampled bit: an unsampled trace was never exported, no viewer can have it.
    pub sampled: bool,
}

impl TraceRef {
    /// Parses a W3C `traceresponse` (or `traceparent`) value; `None` if it is not one.
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub trace: Option<TraceRef>,
}

/// One request: its kind, when it started, how long it took and how it ended, and whatever the
/// sender notes about it (`N`: e.g. the id of what it created).
#[derive(Clone, Debug)]
pub struct Record<K, N = ()> {
    pub kind: K,
    pub started: Instant,
    pub latency: Duration,
    /// The answer, or why no complete answer came (connection refused or reset, timeout, ...).
    pub outcome: Result<Answer, String>,
    pub note: N,
}

impl<K: Kind, N> Record<K, N> {
    pub fn finished(&self) -> Instant {
        self.started + self.latency
    }

    pub fn status(&self) -> Option<u16> {
        self.outcome.as_ref().ok().map(|answer| answer.status)
    }

    /// Answered as a healthy platform answers this kind.
    pub fn succeeded(&self) -> bool {
        self.status()
            .is_some_and(|status| self.kind.expects(status))
    }

    /// No answer, or a 5xx.
    pub fn failed(&self) -> bool {
        self.status().is_none_or(|status| status >= 500)
    }

    /// One line for failure messages, with times relative to `origin`.
    pub fn describe(&self, origin: Instant) -> String {
        let at = self.started.saturating_duration_since(origin).as_secs_f64();
        let outcome = match &self.outcome {
            Ok(answer) => answer.status.to_string(),
            Err(error) => format!("no answer ({error})"),
        };
        format!(
            "started at +{at:.3} s: {} -> {outcome} in {:?}",
            self.kind.label(),
            self.latency
        )
    }
}

/// An error with its causes, `outer: inner: innermost`, since an HTTP client's own message
/// leaves them out ("error sending request" rather than "Connection refused"). A cause whose
/// text its parent already shows is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1
                .as_deref()
                .map(|inner| inner as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        let innermost = Layer("Connection refused (os error 111)", None);
        let middle = Layer("tcp connect error", Some(Box::new(innermost)));
        let outer = Layer("error sending request", Some(Box::new(middle)));
        assert_eq!(
            error_chain(&outer),
            "error sending request: tcp connect error: Connection refused (os error 111)"
        );
        let repeated = Layer("timed out", Some(Box::new(Layer("timed out", None))));
        assert_eq!(error_chain(&repeated), "timed out");
    }
}
