//! `traces diff`: a comparison as a table, what changed most first.

use std::fmt::Write as _;

use super::{BOLD, DIM, ERROR, clean, column_width, paint, width};
use crate::{
    client::{Diff, DiffStats},
    units::human,
};

const FASTER: anstyle::Style = anstyle::AnsiColor::Green.on_default();
/// Columns of each half of the delta bar (faster to the left, slower to the right).
const HALF: usize = 12;
/// The span column: the end of its path (the span and its nearest callers).
const SPAN_WIDTH: usize = 64;

/// The header (both sides' durations), then one line per row: the span's path (its callers
/// first, cut at the left), its self time in the trace and in the baseline (`×N` when several
/// spans add up), the change, and the change as a bar; a row on one side only is marked.
pub fn diff(diff: &Diff) -> String {
    let mut out = String::new();
    let trace_id = diff.trace.trace_id.as_deref().unwrap_or_default();
    let baseline = match (&diff.baseline.trace_id, diff.baseline.traces) {
        (Some(id), _) => format!("baseline {}", clean(id)),
        (None, traces) => format!(
            "the typical trace (median of {} of its kind)",
            match traces.unwrap_or(0) {
                1 => "1 trace".to_owned(),
                n => format!("{n} traces"),
            }
        ),
    };
    let change = i128::from(diff.trace.duration_nanos) - i128::from(diff.baseline.duration_nanos);
    let _ = writeln!(
        out,
        "{}",
        paint(
            BOLD,
            &format!(
                "trace {} {} vs {baseline} {}: {}",
                clean(trace_id),
                human(diff.trace.duration_nanos),
                human(diff.baseline.duration_nanos),
                signed(change)
            )
        )
    );
    if diff.baseline.trace_id.is_none() && diff.baseline.traces == Some(0) {
        let _ = writeln!(
            out,
            "{}",
            paint(
                DIM,
                "no other trace of its kind is stored: compare with --baseline ID"
            )
        );
    }
    let _ = writeln!(out);
    let spans: Vec<String> = diff
        .rows
        .iter()
        .map(|row| {
            let path: Vec<String> = row.path.iter().map(|step| clean(step)).collect();
            cut_left(&path.join(" › "), SPAN_WIDTH)
        })
        .collect();
    let span_width = column_width(&spans, "SPAN");
    let _ = writeln!(
        out,
        "{}",
        paint(
            DIM,
            &format!(
                "{:<span_width$}  {:>13}  {:>13}  {:>9}  {:>HALF$}| slower",
                "SPAN", "TRACE SELF", "BASELINE SELF", "CHANGE", "faster "
            )
        )
    );
    let widest = diff
        .rows
        .iter()
        .map(|row| row.self_delta_nanos.unsigned_abs())
        .max()
        .unwrap_or(0);
    for (row, span) in diff.rows.iter().zip(&spans) {
        let cells = match widest {
            0 => 0,
            widest => {
                let cells = row.self_delta_nanos.unsigned_abs() as f64 / widest as f64;
                ((cells * HALF as f64).round() as usize).max(usize::from(row.self_delta_nanos != 0))
            }
        };
        let (left, right) = if row.self_delta_nanos < 0 {
            (paint(FASTER, &"█".repeat(cells)), String::new())
        } else {
            (String::new(), paint(ERROR, &"█".repeat(cells)))
        };
        let (left_cells, right_cells) = if row.self_delta_nanos < 0 {
            (cells, 0)
        } else {
            (0, cells)
        };
        let mark = match (&row.trace, &row.baseline) {
            (Some(_), None) => "  only in the trace",
            (None, Some(_)) => "  only in the baseline",
            _ => "",
        };
        let line = format!(
            "{span}{}  {:>13}  {:>13}  {:>9}  {}{left}|{right}{}{}",
            " ".repeat(span_width - width(span)),
            self_time(row.trace.as_ref()),
            self_time(row.baseline.as_ref()),
            signed(i128::from(row.self_delta_nanos)),
            " ".repeat(HALF - left_cells),
            if mark.is_empty() {
                String::new()
            } else {
                " ".repeat(HALF - right_cells)
            },
            mark,
        );
        let _ = writeln!(out, "{line}");
    }
    out
}

fn self_time(stats: Option<&DiffStats>) -> String {
    match stats {
        None => "—".to_owned(),
        Some(stats) if stats.count == 1 => human(stats.self_nanos),
        Some(stats) => format!("{} ×{}", human(stats.self_nanos), stats.count),
    }
}

/// A change: `+12.0ms`, `-850µs`, `0ns`.
fn signed(nanos: i128) -> String {
    let size = human(u64::try_from(nanos.unsigned_abs()).unwrap_or(u64::MAX));
    match nanos {
        0 => size,
        n if n > 0 => format!("+{size}"),
        _ => format!("-{size}"),
    }
}

/// At most `max` characters, the end kept: a path's last steps say the most.
fn cut_left(text: &str, max: usize) -> String {
    let count = width(text);
    if count <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().skip(count - (max - 1)).collect();
    format!("…{kept}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{DiffRow, DiffSide};

    fn row(path: &[&str], trace: Option<u64>, baseline: Option<u64>) -> DiffRow {
        let stats = |nanos: Option<u64>| {
            nanos.map(|self_nanos| DiffStats {
                count: 1,
                duration_nanos: self_nanos,
                self_nanos,
            })
        };
        DiffRow {
            service_name: String::new(),
            operation_name: String::new(),
            path: path.iter().map(|s| s.to_string()).collect(),
            trace: stats(trace),
            baseline: stats(baseline),
            self_delta_nanos: trace.unwrap_or(0) as i64 - baseline.unwrap_or(0) as i64,
        }
    }

    #[test]
    fn the_diff_reads_as_a_table_with_bars() {
        let diff = Diff {
            trace: DiffSide {
                trace_id: Some("01".repeat(16)),
                duration_nanos: 612_000_000,
                traces: None,
            },
            baseline: DiffSide {
                trace_id: None,
                duration_nanos: 105_000_000,
                traces: Some(12),
            },
            rows: vec![
                row(
                    &["blog: GET /blogs", "author: POST /authorize"],
                    Some(505_000_000),
                    Some(5_000_000),
                ),
                row(&["blog: GET /blogs", "blog: retry"], None, Some(2_000_000)),
            ],
        };
        let text = anstream::adapter::strip_str(&super::diff(&diff)).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "trace 01010101010101010101010101010101 612ms vs the typical trace (median of 12 traces of its kind) 105ms: +507ms",
                "",
                "SPAN                                           TRACE SELF  BASELINE SELF     CHANGE       faster | slower",
                "blog: GET /blogs › author: POST /authorize          505ms         5.00ms     +500ms              |████████████",
                "blog: GET /blogs › blog: retry                          —         2.00ms    -2.00ms             █|              only in the baseline",
            ]
        );
        assert_eq!(cut_left("abcdef", 4), "…def");
    }
}
