//! Log records beside spans in the trace viewer: a program nobody here wrote (the OpenTelemetry
//! SDK for Python) logs inside two spans and exports over gRPC or HTTP to `traces serve`, its
//! records before its spans; the viewer keeps them with the trace, answers them at `/api/logs`,
//! shows them under their spans in a real browser (a `<script>` body as text) and in the
//! terminal, and drops them when the trace is evicted.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
};

use e2e_tests::{Browser, Viewer, spans_of};
use serde_json::{Value, json};

const HOSTILE: &str = "<script>alert(1)</script>";

/// The Python SDK's program, running with its spans still open, and the ids it printed.
struct PythonService {
    child: Child,
    stdin: Option<ChildStdin>,
    trace_id: String,
    root: String,
    child_span: String,
}

impl PythonService {
    /// Starts tests/fixtures/python_sdk_logs.py against the viewer (`grpc` or `http`), and
    /// returns once its three records are exported and its two spans are still open.
    fn start(protocol: &str, endpoint: &str) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/python_sdk_logs.py");
        let mut child = Command::new(python())
            .arg(script)
            .args([protocol, endpoint])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the program prints its ids");
        let ids: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the program printed {line:?}, not its ids"));
        Self {
            stdin: child.stdin.take(),
            child,
            trace_id: ids["traceId"].as_str().unwrap().to_owned(),
            root: ids["root"].as_str().unwrap().to_owned(),
            child_span: ids["child"].as_str().unwrap().to_owned(),
        }
    }

    /// Ends the spans (which exports them) and waits for the program to exit.
    fn finish(mut self) -> Self {
        let mut stdin = self.stdin.take().unwrap();
        stdin.write_all(b"\n").unwrap();
        drop(stdin);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the Python program failed: {status}");
        self
    }
}

/// The venv's Python, where scripts/test.sh installs the OpenTelemetry SDK.
fn python() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        path.is_file(),
        "{} is missing: run the tests with scripts/test.sh, which installs the OpenTelemetry SDK \
         for Python into .tools/venv",
        path.display()
    );
    path
}

/// Every record of a `/api/logs` answer, flattened.
fn records(answer: &Value) -> Vec<Value> {
    answer["result"]["resourceLogs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["scopeLogs"].as_array().into_iter().flatten())
        .flat_map(|s| s["logRecords"].as_array().into_iter().flatten())
        .cloned()
        .collect()
}

fn attribute<'a>(record: &'a Value, key: &str) -> &'a Value {
    record["attributes"]
        .as_array()
        .and_then(|attributes| attributes.iter().find(|kv| kv["key"] == key))
        .map(|kv| &kv["value"])
        .unwrap_or_else(|| panic!("no attribute {key} in {record}"))
}

#[tokio::test]
async fn records_sent_over_grpc_before_their_spans_are_shown_under_them() {
    let viewer = Viewer::start().await;
    let service = PythonService::start("grpc", &viewer.grpc);
    let trace_id = service.trace_id.clone();

    // The records came first: the viewer holds them, and no trace yet.
    let early = viewer.wait_for_logs(&trace_id, 3).await;
    assert_eq!(records(&early).len(), 3);
    let (status, _) = viewer.get(&format!("/api/v3/traces/{trace_id}")).await;
    assert_eq!(status, 404, "a trace of records only is no trace yet");

    let service = service.finish();
    viewer
        .wait_for_trace(&trace_id, |spans| spans.len() == 2)
        .await;

    the_api_answers_the_records_and_jaegers_errors(&viewer, &service).await;
    the_terminal_shows_the_records_under_their_spans(&viewer, &trace_id);
    the_page_shows_the_records_as_text(&viewer, &service);
}

/// The API: every record with its trace and span ids in hex, severity and typed attributes;
/// errors as the query API writes them.
async fn the_api_answers_the_records_and_jaegers_errors(viewer: &Viewer, service: &PythonService) {
    let trace_id = &service.trace_id;
    let (status, answer) = viewer.get(&format!("/api/logs?traceId={trace_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["result"]["resourceLogs"][0]["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == "service.name")
            .unwrap()["value"],
        json!({"stringValue": "python-shop"})
    );
    let records = records(&answer);
    let summary: Vec<(&str, &str, i64, &str)> = records
        .iter()
        .map(|record| {
            (
                record["traceId"].as_str().unwrap(),
                record["spanId"].as_str().unwrap(),
                record["severityNumber"].as_i64().unwrap(),
                record["body"]["stringValue"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                trace_id.as_str(),
                service.root.as_str(),
                9,
                "checkout started"
            ),
            (trace_id.as_str(), service.child_span.as_str(), 13, HOSTILE),
            (
                trace_id.as_str(),
                service.child_span.as_str(),
                17,
                "card declined"
            ),
        ]
    );
    assert_eq!(
        attribute(&records[0], "cart.items"),
        &json!({"intValue": "3"})
    );
    assert_eq!(
        attribute(&records[1], "payment.provider"),
        &json!({"stringValue": "acme"})
    );
    assert!(
        records[0]["timeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );

    let (status, body) = viewer
        .get("/api/logs?traceId=0af7651916cd43dd8448eb211c80319c")
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": {"httpCode": 404,
                   "message": "No logs found: trace 0af7651916cd43dd8448eb211c80319c"}})
        )
    );
    let (status, body) = viewer.get("/api/logs?traceId=not-an-id").await;
    assert_eq!((status, &body["error"]["httpCode"]), (400, &json!(400)));
}

/// `traces show --logs`: each record on the lines under its span.
fn the_terminal_shows_the_records_under_their_spans(viewer: &Viewer, trace_id: &str) {
    let run = viewer.cli(&["show", trace_id, "--logs"]);
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let row = |name: &str| {
        lines
            .iter()
            .position(|line| line.starts_with("python-shop ") && line.contains(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", run.stdout))
    };
    let (checkout, charge) = (row("checkout"), row("charge"));
    // The SDK adds attributes of its own (code.file.path, ...) after those the program gave.
    assert!(
        lines[checkout + 1].contains("│ INFO")
            && lines[checkout + 1].contains("checkout started  cart.items=3")
    );
    assert!(lines[charge + 1].contains("│ WARN") && lines[charge + 1].contains(HOSTILE));
    assert!(lines[charge + 2].contains("│ ERROR") && lines[charge + 2].contains("card declined  "));
    assert_eq!(lines.len(), charge + 3, "{}", run.stdout);
}

/// The trace page, in a real browser: the records under their spans, the hostile body as text.
fn the_page_shows_the_records_as_text(viewer: &Viewer, service: &PythonService) {
    let dom = Browser::find().dom(&format!("{}/trace/{}", viewer.ui, service.trace_id));
    assert!(
        !dom.contains(HOSTILE),
        "a record's body became markup:\n{dom}"
    );
    let at = |needle: &str| {
        dom.find(needle)
            .unwrap_or_else(|| panic!("{needle} is not on the page:\n{dom}"))
    };
    // The first element with the child span's id is its row; its records follow it.
    let child_row = at(&format!(r#"data-span-id="{}""#, service.child_span));
    let warning = at(&format!(
        r#"<details class="record sev-WARN" data-span-id="{}">"#,
        service.child_span
    ));
    assert!(child_row < warning);
    assert!(at("&lt;script&gt;alert(1)&lt;/script&gt;") > warning);
    assert!(at(r#"<details class="record sev-ERROR""#) > warning);
    assert!(
        dom.contains("payment.provider"),
        "attributes are on the page, in <details>"
    );
}

#[tokio::test]
async fn records_sent_over_http_are_evicted_with_their_trace() {
    let viewer = Viewer::start_with(&["--max-traces", "1"]).await;
    let first = PythonService::start("http", &viewer.http).finish();
    viewer
        .wait_for_trace(&first.trace_id, |spans| spans.len() == 2)
        .await;
    let answer = viewer.wait_for_logs(&first.trace_id, 3).await;
    assert_eq!(records(&answer)[1]["body"], json!({"stringValue": HOSTILE}));

    // OTLP/JSON too, as a collector takes it; a malformed record changes nothing.
    let client = reqwest::Client::new();
    let post = |body: String| {
        client
            .post(format!("{}/v1/logs", viewer.http))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let json_record = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "traceId": first.trace_id, "spanId": first.root, "severityText": "WARN",
        "body": {"stringValue": "sent as JSON"}}]}]}]});
    let response = post(json_record.to_string()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "{}");
    let bad = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "traceId": first.trace_id, "spanId": "0102", "body": {"stringValue": "bad"}}]}]}]});
    let response = post(bad.to_string()).await.unwrap();
    assert_eq!(response.status(), 400);
    let answer = viewer.wait_for_logs(&first.trace_id, 4).await;
    assert_eq!(records(&answer).len(), 4);

    // A second trace takes the only place: the first goes, its records with it.
    let second = PythonService::start("http", &viewer.http).finish();
    viewer
        .wait_for_trace(&second.trace_id, |spans| spans.len() == 2)
        .await;
    viewer.wait_for_logs(&second.trace_id, 3).await;
    let (status, _) = viewer
        .get(&format!("/api/logs?traceId={}", first.trace_id))
        .await;
    assert_eq!(status, 404, "the evicted trace's records are gone");
    let (status, answer) = viewer
        .get(&format!("/api/v3/traces/{}", first.trace_id))
        .await;
    assert_eq!((status, spans_of(&answer).len()), (404, 0));
}

#[tokio::test]
async fn a_trace_without_records_prints_its_waterfall_and_says_so() {
    let viewer = Viewer::start().await;
    // Spans over HTTP/JSON, with no records: as a Jaeger would answer, /api/logs is a 404.
    let trace_id = "5b8efff798038103d269b633813fc60c";
    let spans = json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
        "value": {"stringValue": "quiet"}}]}, "scopeSpans": [{"spans": [{"traceId": trace_id,
        "spanId": "eee19b7ec3c1b174", "name": "GET /", "startTimeUnixNano": "1000000",
        "endTimeUnixNano": "2000000"}]}]}]});
    let (status, _, _) = viewer
        .export_http(
            &[("content-type", "application/json")],
            spans.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200);
    viewer
        .wait_for_trace(trace_id, |spans| spans.len() == 1)
        .await;
    let run = viewer.cli(&["show", trace_id, "--logs"]);
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("quiet ") && line.contains("GET /")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("\nno log records found for this trace\n"),
        "{}",
        run.stdout
    );
}
