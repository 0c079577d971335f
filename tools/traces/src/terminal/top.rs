//! `traces top`: the monitor's table in the terminal, one line per operation.

use std::fmt::Write as _;

use super::{BOLD, DIM, ERROR, clean, column_width, paint, width};
use crate::{
    monitor::table::{OperationRow, rate, share},
    units::human,
};

/// A heading, then the columns SERVICE, OPERATION, RATE (calls per second), ERRORS (the share
/// that failed, in red when any did) and P95; or a line saying there were no calls.
pub fn top(rows: &[OperationRow], heading: &str) -> String {
    let mut out = format!("{}\n\n", paint(BOLD, heading));
    if rows.is_empty() {
        let _ = writeln!(out, "{}", paint(DIM, "no server spans in this time"));
        return out;
    }
    let services: Vec<String> = rows.iter().map(|r| clean(&r.service)).collect();
    let operations: Vec<String> = rows.iter().map(|r| clean(&r.operation)).collect();
    let rates: Vec<String> = rows.iter().map(|r| rate(r.calls_per_second)).collect();
    let errors: Vec<String> = rows.iter().map(|r| share(r.error_share)).collect();
    let p95s: Vec<String> = rows
        .iter()
        .map(|r| {
            r.p95_ms
                .map_or("-".to_owned(), |ms| human((ms * 1e6) as u64))
        })
        .collect();
    let widths = [
        column_width(&services, "SERVICE"),
        column_width(&operations, "OPERATION"),
        column_width(&rates, "RATE"),
        column_width(&errors, "ERRORS"),
        column_width(&p95s, "P95"),
    ];
    let pad = |text: &str, w: usize| " ".repeat(w - width(text));
    let _ = writeln!(
        out,
        "{}",
        paint(
            DIM,
            &format!(
                "{:<a$}  {:<b$}  {:>c$}  {:>d$}  {:>e$}",
                "SERVICE",
                "OPERATION",
                "RATE",
                "ERRORS",
                "P95",
                a = widths[0],
                b = widths[1],
                c = widths[2],
                d = widths[3],
                e = widths[4],
            )
        )
    );
    for (i, row) in rows.iter().enumerate() {
        let failed = row.error_share.is_some_and(|share| share > 0.0);
        let error_cell = format!("{}{}", pad(&errors[i], widths[3]), errors[i]);
        let _ = writeln!(
            out,
            "{}{}  {}{}  {}{}  {}  {}{}",
            services[i],
            pad(&services[i], widths[0]),
            operations[i],
            pad(&operations[i], widths[1]),
            pad(&rates[i], widths[2]),
            rates[i],
            if failed {
                paint(ERROR, &error_cell)
            } else {
                error_cell
            },
            pad(&p95s[i], widths[4]),
            p95s[i],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(service: &str, operation: &str, rate: f64, errors: f64, p95_ms: f64) -> OperationRow {
        OperationRow {
            service: service.to_owned(),
            operation: operation.to_owned(),
            calls_per_second: rate,
            error_share: Some(errors),
            p95_ms: Some(p95_ms),
        }
    }

    #[test]
    fn a_line_per_operation_under_its_columns() {
        let text = anstream::adapter::strip_str(&top(
            &[
                row("blog-service", "GET /blogs", 2.5, 0.0, 12.3),
                row("blog-service", "POST /blogs\u{1b}[2J", 0.05, 0.2, 310.0),
            ],
            "last 15m",
        ))
        .to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "last 15m");
        assert_eq!(
            lines[2],
            "SERVICE       OPERATION                RATE  ERRORS     P95"
        );
        assert_eq!(
            lines[3],
            "blog-service  GET /blogs             2.50/s    0.0%  12.3ms"
        );
        assert_eq!(
            lines[4],
            "blog-service  POST /blogs\\u{1b}[2J  3.0/min   20.0%   310ms"
        );
    }

    #[test]
    fn no_rows_say_so() {
        assert!(top(&[], "last 5m").contains("no server spans in this time"));
    }
}
