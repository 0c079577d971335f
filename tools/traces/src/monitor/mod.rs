//! The monitor's counts: per service, operation, span kind and minute, how many spans ended
//! (calls), how many of them failed (status ERROR), and a histogram of their durations. They are
//! counted as spans arrive and kept for a retention of their own (`--metrics-retention`), so they
//! outlive the traces the store evicts.
//!
//! A minute's histogram keeps only its non-empty buckets. The buckets are DDSketch's logarithmic
//! ones (the `sketches-ddsketch` crate's mapping) with a relative accuracy of
//! [`RELATIVE_ERROR`]: any duration is within 2% of its bucket's value, so every quantile read
//! from the counts is within 2% of the duration of the span at that rank. [`query`] reads them as
//! Jaeger's monitor API does.

pub mod query;
mod saved;
pub mod table;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{LazyLock, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, trace::v1::status::StatusCode,
};
use sketches_ddsketch::Config;

use crate::store::{SPAN_KINDS, service_name};

/// How far a quantile read from the counts may be from the true duration at that rank, relative
/// to it.
pub const RELATIVE_ERROR: f64 = 0.02;

/// How long counts are kept by default: a week.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

const MINUTE_MS: i64 = 60_000;

/// DDSketch's mapping of a duration in nanoseconds to its bucket. Durations start at 1 ns, so
/// every bucket number is at least 0; a u16 reaches far beyond any duration (2^64 ns is bucket
/// 1 100 or so).
static MAPPING: LazyLock<Config> = LazyLock::new(|| Config::new(RELATIVE_ERROR, 4096, 1.0));

fn bucket(duration_nanos: u64) -> u16 {
    let key = MAPPING.key(duration_nanos.max(1) as f64);
    u16::try_from(key.max(0)).unwrap_or(u16::MAX)
}

/// The duration a bucket stands for, in nanoseconds.
fn bucket_nanos(bucket: u16) -> f64 {
    MAPPING.value(i32::from(bucket))
}

/// A series of counts: one service's spans of one name and kind.
pub(crate) type SeriesKey = (Box<str>, Box<str>, u8);

/// One minute of one series.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Minute {
    /// Minutes since the Unix epoch.
    minute: u32,
    calls: u32,
    errors: u32,
    /// The non-empty buckets of the durations, by bucket, with their counts.
    latencies: Vec<(u16, u32)>,
}

impl Minute {
    fn count(&mut self, duration_nanos: u64, failed: bool, times: u32) {
        self.calls += times;
        self.errors += if failed { times } else { 0 };
        self.add_bucket(bucket(duration_nanos), times);
    }

    fn add_bucket(&mut self, bucket: u16, count: u32) {
        match self.latencies.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(at) => self.latencies[at].1 += count,
            Err(at) => self.latencies.insert(at, (bucket, count)),
        }
    }

    fn merge(&mut self, other: Minute) {
        self.calls += other.calls;
        self.errors += other.errors;
        for (bucket, count) in other.latencies {
            self.add_bucket(bucket, count);
        }
    }
}

/// What one export adds to the counts, computed before any lock is taken.
#[derive(Debug, Default)]
pub struct Tally {
    minutes: Vec<(SeriesKey, Minute)>,
}

impl Tally {
    /// Counts the spans of an export, each in the minute it ended.
    pub fn of(request: &ExportTraceServiceRequest) -> Self {
        let mut services = Vec::with_capacity(request.resource_spans.len());
        // foldhash rather than SipHash: this runs for every span the viewer ingests. Seeded,
        // as the names come from any exporter.
        let mut minutes: HashMap<(usize, &str, u8, u32), Minute, foldhash::fast::RandomState> =
            HashMap::default();
        for resource_spans in &request.resource_spans {
            let service = services.len();
            services.push(
                resource_spans
                    .resource
                    .as_ref()
                    .map(service_name)
                    .unwrap_or_default(),
            );
            for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
                let kind = u8::try_from(span.kind)
                    .ok()
                    .filter(|kind| usize::from(*kind) < SPAN_KINDS.len())
                    .unwrap_or(0);
                let end = span.end_time_unix_nano.max(span.start_time_unix_nano);
                let minute = u32::try_from(end / 60_000_000_000).unwrap_or(u32::MAX);
                let failed = span
                    .status
                    .as_ref()
                    .is_some_and(|status| status.code == StatusCode::Error as i32);
                minutes
                    .entry((service, span.name.as_str(), kind, minute))
                    .or_insert_with(|| Minute {
                        minute,
                        ..Minute::default()
                    })
                    .count(end - span.start_time_unix_nano, failed, 1);
            }
        }
        let minutes = minutes
            .into_iter()
            .map(|((service, operation, kind, _), minute)| {
                let key = (services[service].as_str().into(), operation.into(), kind);
                (key, minute)
            })
            .collect();
        Self { minutes }
    }
}

/// The counts of every series, for `retention`; share it behind an `Arc`.
pub struct Counts {
    retention_minutes: u32,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Each series' minutes, oldest first.
    series: HashMap<SeriesKey, VecDeque<Minute>>,
    /// The minute the last sweep for expired minutes ran in.
    swept: u32,
}

impl Counts {
    pub fn new(retention: Duration) -> Self {
        Self {
            retention_minutes: u32::try_from(retention.as_secs().div_ceil(60))
                .unwrap_or(u32::MAX)
                .max(1),
            inner: Mutex::default(),
        }
    }

    /// The first minute the retention keeps.
    pub(crate) fn oldest_minute(&self) -> u32 {
        now_minute().saturating_sub(self.retention_minutes)
    }

    /// Adds an export's counts. Spans that ended before the retention are not counted.
    pub fn add(&self, tally: Tally) {
        let now = now_minute();
        let oldest = self.oldest_minute();
        let mut inner = self.lock();
        if inner.swept != now {
            inner.swept = now;
            inner.series.retain(|_, minutes| {
                while minutes.front().is_some_and(|m| m.minute < oldest) {
                    minutes.pop_front();
                }
                !minutes.is_empty()
            });
        }
        for (key, minute) in tally.minutes {
            if minute.minute < oldest {
                continue;
            }
            let minutes = inner.series.entry(key).or_default();
            // Spans arrive roughly in the order they end: look from the newest minute back.
            match minutes
                .iter()
                .rposition(|kept| kept.minute <= minute.minute)
            {
                Some(at) if minutes[at].minute == minute.minute => minutes[at].merge(minute),
                Some(at) => minutes.insert(at + 1, minute),
                None => minutes.push_front(minute),
            }
            // A minute that a newer one follows is (almost always) complete: it keeps no
            // spare room.
            let len = minutes.len();
            if len >= 2 {
                minutes[len - 2].latencies.shrink_to_fit();
            }
        }
    }

    /// How many key-minutes (one series' minute) are kept, and the heap bytes they take: each
    /// series' key, its minutes and their buckets, and the map's entries, by their capacities
    /// (what `traces-bench` reports per key-minute).
    pub fn heap_bytes(&self) -> (usize, usize) {
        let inner = self.lock();
        let entry = std::mem::size_of::<(SeriesKey, VecDeque<Minute>)>();
        let mut bytes = inner.series.capacity() * (entry + 1);
        let mut key_minutes = 0;
        for ((service, operation, _), minutes) in &inner.series {
            key_minutes += minutes.len();
            bytes += service.len() + operation.len();
            bytes += minutes.capacity() * std::mem::size_of::<Minute>();
            bytes += minutes
                .iter()
                .map(|m| m.latencies.capacity() * std::mem::size_of::<(u16, u32)>())
                .sum::<usize>();
        }
        (key_minutes, bytes)
    }

    /// How many spans each service sent, of every name and kind, within the retention: they
    /// outlive the traces, so a program that lets the store keep few traces still counts them all.
    pub fn spans_by_service(&self) -> BTreeMap<String, u64> {
        let mut spans = BTreeMap::new();
        for ((service, _, _), minutes) in &self.lock().series {
            let calls: u64 = minutes.iter().map(|minute| u64::from(minute.calls)).sum();
            *spans.entry(service.to_string()).or_default() += calls;
        }
        spans
    }

    /// The services with counts of spans of `kind`, by name.
    pub fn services(&self, kind: u8) -> Vec<String> {
        let inner = self.lock();
        let mut services: Vec<String> = inner
            .series
            .keys()
            .filter(|(_, _, k)| *k == kind)
            .map(|(service, _, _)| service.to_string())
            .collect();
        services.sort();
        services.dedup();
        services
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Counts are plain numbers: a panic elsewhere leaves nothing worth stopping for.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

pub(crate) fn now_minute() -> u32 {
    u32::try_from(now_ms() / MINUTE_MS).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
