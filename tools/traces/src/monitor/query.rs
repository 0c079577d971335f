//! The counts read as Jaeger's monitor API reads its Prometheus store: one point every `step`
//! from `end − lookback` to `end`, each over the `ratePer` window ending there: calls per
//! second, the share of calls that failed, or a quantile of the durations in milliseconds.
//!
//! Counts are kept per minute, so a window is whole minutes: the one the point falls in and those
//! before it, `ratePer` rounded up to whole minutes (at least one). A point whose window holds no
//! call has no error share and no latency, and is left out, as Prometheus leaves out what it
//! cannot compute.

use std::collections::BTreeMap;

use super::{Counts, MINUTE_MS, Minute, bucket_nanos};

/// What to read, in Jaeger's terms (times and durations in milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    /// The services whose spans count (one at least).
    pub services: Vec<String>,
    /// One series per operation, rather than one per service.
    pub group_by_operation: bool,
    /// The span kinds that count, in OTLP's numbering.
    pub span_kinds: Vec<u8>,
    pub end_ms: i64,
    pub lookback_ms: i64,
    /// Between points; positive.
    pub step_ms: i64,
    pub rate_per_ms: i64,
}

impl MetricsQuery {
    /// The points' times: from `end − lookback` to `end`, `step` apart.
    pub fn timestamps(&self) -> impl Iterator<Item = i64> + '_ {
        let first = self.end_ms - self.lookback_ms;
        (0..)
            .map(move |k| first + k * self.step_ms)
            .take_while(|t| *t <= self.end_ms)
    }

    /// The window's length in minutes.
    pub fn window_minutes(&self) -> i64 {
        (self.rate_per_ms.max(1) + MINUTE_MS - 1) / MINUTE_MS
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// Calls per second.
    Calls,
    /// Failed calls as a share of calls, 0 to 1.
    Errors,
    /// The quantile (0 to 1) of the durations, in milliseconds.
    Latency { quantile: f64 },
}

/// One service's (or one operation's) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub service: String,
    pub operation: Option<String>,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub timestamp_ms: i64,
    pub value: f64,
}

impl Counts {
    /// The series of every service (or operation) asked for that had a call within the query's
    /// range, by service and operation.
    pub fn query(&self, query: &MetricsQuery, measure: Measure) -> Vec<Series> {
        let window = query.window_minutes();
        let first_minute = (query.end_ms - query.lookback_ms).div_euclid(MINUTE_MS) - window + 1;
        let last_minute = query.end_ms.div_euclid(MINUTE_MS);
        let inner = self.lock();
        let mut groups: BTreeMap<(&str, Option<&str>), Vec<&Minute>> = BTreeMap::new();
        for ((service, operation, kind), minutes) in &inner.series {
            if !query.span_kinds.contains(kind) || !query.services.iter().any(|s| **s == **service)
            {
                continue;
            }
            let from = minutes.partition_point(|m| i64::from(m.minute) < first_minute);
            let to = minutes.partition_point(|m| i64::from(m.minute) <= last_minute);
            if from == to {
                continue;
            }
            let operation = query.group_by_operation.then_some(&**operation);
            groups
                .entry((service, operation))
                .or_default()
                .extend(minutes.range(from..to));
        }
        groups
            .into_iter()
            .map(|((service, operation), mut minutes)| {
                minutes.sort_by_key(|m| m.minute);
                Series {
                    service: service.to_owned(),
                    operation: operation.map(str::to_owned),
                    points: points(query, measure, &minutes),
                }
            })
            .collect()
    }
}

/// A series' points from its minutes (sorted, within the query's range).
fn points(query: &MetricsQuery, measure: Measure, minutes: &[&Minute]) -> Vec<Point> {
    let window = query.window_minutes();
    // Calls and errors before each minute: a window's are a difference of two.
    let mut calls = vec![0u64; minutes.len() + 1];
    let mut errors = vec![0u64; minutes.len() + 1];
    for (i, minute) in minutes.iter().enumerate() {
        calls[i + 1] = calls[i] + u64::from(minute.calls);
        errors[i + 1] = errors[i] + u64::from(minute.errors);
    }
    // Only a latency reads the durations: calls and errors skip their buckets.
    let mut latencies =
        matches!(measure, Measure::Latency { .. }).then(|| SlidingHistogram::new(minutes));
    let mut previous: Option<(i64, Option<f64>)> = None;
    let mut points = Vec::new();
    for timestamp_ms in query.timestamps() {
        let last = timestamp_ms.div_euclid(MINUTE_MS);
        let value = match previous {
            // Points closer than a minute share their window.
            Some((minute, value)) if minute == last => value,
            _ => {
                let first = last - window + 1;
                let from = minutes.partition_point(|m| i64::from(m.minute) < first);
                let to = minutes.partition_point(|m| i64::from(m.minute) <= last);
                let in_window = calls[to] - calls[from];
                match measure {
                    Measure::Calls => Some(in_window as f64 / (window * 60) as f64),
                    _ if in_window == 0 => None,
                    Measure::Errors => Some((errors[to] - errors[from]) as f64 / in_window as f64),
                    Measure::Latency { quantile } => latencies
                        .as_mut()
                        .map(|latencies| latencies.quantile(from..to, in_window, quantile) / 1e6),
                }
            }
        };
        previous = Some((last, value));
        if let Some(value) = value {
            points.push(Point {
                timestamp_ms,
                value,
            });
        }
    }
    points
}

/// The durations of a window of minutes that only moves forward: each minute is added once as
/// the window reaches it and taken away once as the window leaves it.
struct SlidingHistogram<'a> {
    minutes: &'a [&'a Minute],
    /// Minutes `[left, right)` are in `counts`.
    left: usize,
    right: usize,
    /// Counts by bucket, from `lowest` on.
    counts: Vec<u64>,
    lowest: u16,
}

impl<'a> SlidingHistogram<'a> {
    fn new(minutes: &'a [&'a Minute]) -> Self {
        // A minute's buckets are sorted: its first and last are its lowest and highest.
        let (lowest, highest) = minutes
            .iter()
            .filter_map(|m| Some((m.latencies.first()?.0, m.latencies.last()?.0)))
            .fold((u16::MAX, 0), |(low, high), (first, last)| {
                (low.min(first), high.max(last))
            });
        let lowest = lowest.min(highest);
        Self {
            minutes,
            left: 0,
            right: 0,
            counts: vec![0; usize::from(highest - lowest) + 1],
            lowest,
        }
    }

    /// The duration at `quantile`'s rank among the `total` durations of minutes `window`, in
    /// nanoseconds: DDSketch's rank, ⌊quantile × (total − 1)⌋ from 0.
    fn quantile(&mut self, window: std::ops::Range<usize>, total: u64, quantile: f64) -> f64 {
        while self.right < window.end {
            self.apply(self.right, true);
            self.right += 1;
        }
        while self.left < window.start {
            self.apply(self.left, false);
            self.left += 1;
        }
        let rank = (quantile * (total - 1) as f64).floor() as u64;
        let mut seen = 0;
        for (offset, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen > rank {
                return bucket_nanos(self.lowest + offset as u16);
            }
        }
        bucket_nanos(self.lowest + (self.counts.len() - 1) as u16)
    }

    fn apply(&mut self, minute: usize, add: bool) {
        for (bucket, count) in &self.minutes[minute].latencies {
            let slot = &mut self.counts[usize::from(bucket - self.lowest)];
            if add {
                *slot += u64::from(*count);
            } else {
                *slot -= u64::from(*count);
            }
        }
    }
}
