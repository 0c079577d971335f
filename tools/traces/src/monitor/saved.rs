//! The counts as `--data` keeps them: one record per series and minute, a protobuf message of
//! its calls, errors and latency buckets, merged into on every export and read back at start.

use prost::Message as _;

use super::{Counts, Minute, SeriesKey, Tally};

/// One series' minute on disk.
#[derive(Clone, PartialEq, prost::Message)]
struct SavedMinute {
    #[prost(uint32, tag = "1")]
    calls: u32,
    #[prost(uint32, tag = "2")]
    errors: u32,
    /// The non-empty latency buckets, ascending, and their counts beside them.
    #[prost(uint32, repeated, tag = "3")]
    buckets: Vec<u32>,
    #[prost(uint32, repeated, tag = "4")]
    counts: Vec<u32>,
}

/// A series' minute as the disk names it: service, operation, span kind, minute since the epoch.
type SavedKey<'a> = (&'a str, &'a str, u8, u32);

impl Tally {
    /// Each series' minute of the export that the retention keeps (from `oldest` on), with its
    /// counts merged into the saved ones (`saved`, as read from the disk), ready to be written.
    pub(crate) fn merged_with_saved(
        &self,
        oldest_minute: u32,
        mut saved: impl FnMut(SavedKey<'_>) -> Result<Option<Vec<u8>>, String>,
    ) -> Result<Vec<(SavedKey<'_>, Vec<u8>)>, String> {
        let mut merged = Vec::with_capacity(self.minutes.len());
        for ((service, operation, kind), minute) in &self.minutes {
            if minute.minute < oldest_minute {
                continue;
            }
            let key = (&**service, &**operation, *kind, minute.minute);
            let mut total = minute.clone();
            if let Some(bytes) = saved(key)? {
                total.merge(decode(&bytes, minute.minute)?);
            }
            merged.push((key, encode(&total)));
        }
        Ok(merged)
    }
}

impl Counts {
    /// Adds the counts read back from the disk.
    pub(crate) fn restore(&self, saved: Vec<(SeriesKey, u32, Vec<u8>)>) -> Result<(), String> {
        let minutes = saved
            .into_iter()
            .map(|(key, minute, bytes)| Ok((key, decode(&bytes, minute)?)))
            .collect::<Result<_, String>>()?;
        self.add(Tally { minutes });
        Ok(())
    }
}

fn encode(minute: &Minute) -> Vec<u8> {
    SavedMinute {
        calls: minute.calls,
        errors: minute.errors,
        buckets: minute
            .latencies
            .iter()
            .map(|(b, _)| u32::from(*b))
            .collect(),
        counts: minute.latencies.iter().map(|(_, c)| *c).collect(),
    }
    .encode_to_vec()
}

fn decode(bytes: &[u8], minute: u32) -> Result<Minute, String> {
    let saved = SavedMinute::decode(bytes).map_err(|error| format!("saved counts: {error}"))?;
    if saved.buckets.len() != saved.counts.len() {
        return Err("saved counts: buckets and counts differ in number".into());
    }
    let mut restored = Minute {
        minute,
        calls: saved.calls,
        errors: saved.errors,
        latencies: Vec::with_capacity(saved.buckets.len()),
    };
    for (bucket, count) in saved.buckets.into_iter().zip(saved.counts) {
        let bucket = u16::try_from(bucket).map_err(|_| "saved counts: a bucket out of range")?;
        restored.add_bucket(bucket, count);
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_survives_encoding_and_merges() {
        let mut minute = Minute {
            minute: 7,
            ..Minute::default()
        };
        minute.count(1_000_000, false, 3);
        minute.count(9_000_000, true, 1);
        let back = decode(&encode(&minute), 7).unwrap();
        assert_eq!(back, minute);
        assert!(decode(b"\xff\xff", 7).is_err());
    }
}
