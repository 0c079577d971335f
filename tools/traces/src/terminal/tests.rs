use super::*;
use crate::testing::{attribute, export, span};
use opentelemetry_proto::tonic::trace::v1::{Status, status::StatusCode};

const MS: u64 = 1_000_000;
const START: u64 = 1_795_946_400_000_000_000;

fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

fn sample() -> Waterfall {
    let mut failed = span(
        1,
        3,
        Some(2),
        "POST /authorize",
        START + 2 * MS,
        START + 7 * MS,
    );
    failed.status = Some(Status {
        message: "permission denied".into(),
        code: StatusCode::Error as i32,
    });
    failed.attributes = vec![attribute("http.route", "/authorize")];
    let mut request = export(
        "blog-service",
        vec![
            span(1, 1, None, "POST /blogs", START, START + 20 * MS),
            span(1, 2, Some(1), "POST /authorize", START + MS, START + 8 * MS),
        ],
    );
    request
        .resource_spans
        .extend(export("author-service", vec![failed]).resource_spans);
    Waterfall::all(&request.resource_spans).remove(0)
}

#[test]
fn the_waterfall_reads_line_by_line() {
    let text = plain(&waterfall(
        &sample(),
        "http://localhost:16686/trace/0101",
        None,
        None,
    ));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "blog-service: POST /blogs",
            "trace 01010101010101010101010101010101 · 2026-11-29 10:00:00.000 UTC · 20.0ms · 3 spans · 2 services · 1 error",
            "http://localhost:16686/trace/0101",
            "",
            "SERVICE         OPERATION            DURATION  0                                 20.0ms",
            "blog-service    POST /blogs            20.0ms  ████████████████████████████████████████",
            "blog-service      POST /authorize      7.00ms    ██████████████",
            "author-service      POST /authorize    5.00ms      ██████████                            ✗ ERROR permission denied",
        ]
    );
}

#[test]
fn the_critical_path_is_marked_solid_and_summed_by_span() {
    let piece = |span: u8, service: &str, name: &str, start: u64, end: u64| Segment {
        span_id: format!("{span:02x}").repeat(8),
        service_name: service.into(),
        operation_name: name.into(),
        start_time_unix_nano: START + start * MS,
        end_time_unix_nano: START + end * MS,
    };
    let path = [
        piece(1, "blog-service", "POST /blogs", 0, 1),
        piece(2, "blog-service", "POST /authorize", 1, 2),
        piece(3, "author-service", "POST /authorize", 2, 7),
        piece(2, "blog-service", "POST /authorize", 7, 8),
        piece(1, "blog-service", "POST /blogs", 8, 20),
    ];
    let text = plain(&waterfall(
        &sample(),
        "http://localhost:16686/trace/0101",
        Some(&path),
        None,
    ));
    let lines: Vec<&str> = text.lines().skip(4).collect();
    assert_eq!(
        lines,
        [
            "  SERVICE         OPERATION            DURATION  0                                 20.0ms",
            "▶ blog-service    POST /blogs            20.0ms  ██░░░░░░░░░░░░░░████████████████████████",
            "▶ blog-service      POST /authorize      7.00ms    ██░░░░░░░░░░██",
            "▶ author-service      POST /authorize    5.00ms      ██████████                            ✗ ERROR permission denied",
            "",
            "critical path: 20.0ms in 5 pieces (trace 20.0ms)",
            "  65.0%    13.0ms  blog-service: POST /blogs",
            "  25.0%    5.00ms  author-service: POST /authorize",
            "  10.0%    2.00ms  blog-service: POST /authorize",
        ]
    );
}

#[test]
fn orphans_are_named_with_their_missing_parent() {
    let request = export(
        "author-service",
        vec![
            span(1, 1, None, "GET /blogs", START, START + 10 * MS),
            span(1, 3, Some(9), "POST /authorize", START + MS, START + 2 * MS),
        ],
    );
    let trace = Waterfall::all(&request.resource_spans).remove(0);
    let text = plain(&waterfall(&trace, "link", None, None));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[3..5],
        [
            "broken trace: 1 span without a parent in the trace",
            "  orphan author-service: POST /authorize (span 0303030303030303), missing parent 0909090909090909",
        ]
    );
    assert!(lines.last().unwrap().ends_with("  orphan"), "{text}");
}

#[test]
fn a_found_trace_is_one_line_with_its_link() {
    let line = plain(&search_line(&sample(), "http://localhost:16686/trace/0101"));
    assert_eq!(
        line,
        "2026-11-29 10:00:00.000 UTC    20.0ms    3 spans  blog-service: POST /blogs                 ✗ 1 error   http://localhost:16686/trace/0101"
    );
}

#[test]
fn the_graph_reads_as_calls() {
    let links = [
        Dependency {
            parent: "blog-service".into(),
            child: "author-service".into(),
            call_count: 12,
        },
        Dependency {
            parent: "blog-service".into(),
            child: "mongodb".into(),
            call_count: 1,
        },
    ];
    assert_eq!(
        plain(&graph(&links)),
        "blog-service → author-service  12 calls\nblog-service → mongodb          1 call\n"
    );
}

#[test]
fn text_from_spans_cannot_drive_the_terminal() {
    assert_eq!(
        clean("a\x1b[2Jb\r\nc\u{202e}d"),
        "a\\u{1b}[2Jb\\u{d}\\u{a}c\\u{202e}d"
    );
    assert_eq!(clean("<script>é</script>"), "<script>é</script>");
}

#[test]
fn records_are_printed_under_their_spans_and_the_others_after() {
    let mut warning = crate::testing::record(1, 3, START + 6 * MS, 13, "denied\x1b[2J");
    warning.attributes = vec![attribute("error.type", "forbidden")];
    let export = crate::testing::logs(
        "author-service",
        vec![
            warning,
            crate::testing::record(1, 9, START + 9 * MS, 17, "lost"),
        ],
    );
    let records = log_records::records(&export.resource_logs);
    let text = plain(&waterfall(&sample(), "link", None, Some(&records)));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[7..],
        [
            "author-service      POST /authorize    5.00ms      ██████████                            ✗ ERROR permission denied",
            "                      │ WARN   +6.00ms  denied\\u{1b}[2J  error.type=forbidden",
            "",
            "log records outside these spans:",
            "  │ ERROR  +9.00ms  author-service: lost",
        ]
    );
    let none = plain(&waterfall(&sample(), "link", None, Some(&[])));
    assert!(
        none.ends_with("\nno log records found for this trace\n"),
        "{none}"
    );
}
