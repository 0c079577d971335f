//! Durations as Jaeger's query API takes them (Go's `time.ParseDuration`: `100ms`, `1.5s`,
//! `2h45m`), and durations and times as people read them (`12.4ms`, `2026-11-29 14:02:11.123 UTC`).

use std::time::Duration;

use time::{OffsetDateTime, macros::format_description};

/// Parses a Go duration: a sequence of decimal numbers, each with an optional fraction and a unit
/// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), like `300ms` or `1h2m`; `0` alone is zero. Negative
/// durations mean nothing to a trace search, so they are refused.
pub fn parse_go(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    if text.starts_with('-') {
        return Err(format!("negative duration {text:?}"));
    }
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total_nanos: f64 = 0.0;
    let mut rest = rest;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {text:?}"))?;
        let number: f64 = match &rest[..number_len] {
            "" | "." => return Err(invalid()),
            digits => digits.parse().map_err(|_| invalid())?,
        };
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        rest = &rest[unit_len..];
        total_nanos += number * nanos_per_unit;
    }
    if total_nanos > u64::MAX as f64 {
        return Err(format!("time: invalid duration {text:?} (too long)"));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// A duration in nanoseconds the way a waterfall labels it: three significant digits in the
/// largest unit that keeps the number at or above 1 (`850µs`, `12.4ms`, `1.20s`, `3m05s`).
pub fn human(nanos: u64) -> String {
    let value = nanos as f64;
    let (scaled, unit) = match nanos {
        0..1_000 => return format!("{nanos}ns"),
        1_000..1_000_000 => (value / 1e3, "µs"),
        1_000_000..1_000_000_000 => (value / 1e6, "ms"),
        1_000_000_000..60_000_000_000 => (value / 1e9, "s"),
        _ => {
            let seconds = nanos / 1_000_000_000;
            return format!("{}m{:02}s", seconds / 60, seconds % 60);
        }
    };
    let decimals = if scaled >= 100.0 {
        0
    } else if scaled >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.decimals$}{unit}")
}

/// A time in nanoseconds since the Unix epoch, in UTC to the millisecond.
pub fn utc(nanos: u64) -> String {
    let format = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3] UTC"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .ok()
        .and_then(|time| time.format(format).ok())
        .unwrap_or_else(|| format!("{nanos} ns after the epoch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        let ms = Duration::from_millis;
        assert_eq!(parse_go("100ms"), Ok(ms(100)));
        assert_eq!(parse_go("1.5s"), Ok(ms(1500)));
        assert_eq!(
            parse_go("2h45m"),
            Ok(Duration::from_secs(2 * 3600 + 45 * 60))
        );
        assert_eq!(parse_go("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_go("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_go(".5s"), Ok(ms(500)));
        assert_eq!(parse_go("+7ns"), Ok(Duration::from_nanos(7)));
        for bad in ["", "1", "ms", "1x", "1.2.3s", "-1s", ".s", "1s2", "abc"] {
            assert!(parse_go(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn durations_read_with_three_significant_digits() {
        assert_eq!(human(0), "0ns");
        assert_eq!(human(999), "999ns");
        assert_eq!(human(850_000), "850µs");
        assert_eq!(human(1_234), "1.23µs");
        assert_eq!(human(12_410_000), "12.4ms");
        assert_eq!(human(1_200_000_000), "1.20s");
        assert_eq!(human(185_000_000_000), "3m05s");
    }

    #[test]
    fn times_read_in_utc() {
        assert_eq!(
            utc(1_795_946_400_123_456_789),
            "2026-11-29 10:00:00.123 UTC"
        );
    }
}
