//! The trace viewer (`traces serve`, from its release binary) for one test, its terminal
//! commands, and headless Chromium to look at its pages.

use std::{
    collections::HashMap,
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tempfile::TempDir;

use launcher::{Process, paths};

use crate::Api;

/// A `traces serve` process on free loopback ports.
pub struct Viewer {
    /// `http://127.0.0.1:PORT` of each listener.
    pub grpc: String,
    pub http: String,
    pub ui: String,
    client: reqwest::Client,
    process: Process,
    _dir: TempDir,
}

/// One span of a trace the viewer answered with, flattened from its OTLP/JSON.
#[derive(Debug, Clone)]
pub struct ViewedSpan {
    pub service: String,
    pub name: String,
    /// OTLP's number: 1 internal, 2 server, 3 client.
    pub kind: i64,
    pub span_id: String,
    pub parent_span_id: String,
    pub error: bool,
}

/// The OTLP/gRPC, OTLP/HTTP and UI addresses of `traces serve`'s start-up line
/// (`traces: OTLP/gRPC on http://A, OTLP/HTTP on http://B/v1/traces; ... on http://C/search`).
async fn listening_addresses(process: &Process) -> [String; 3] {
    let started = Instant::now();
    loop {
        let output = process.output();
        if let Some(line) = output
            .lines()
            .find(|line| line.starts_with("traces: OTLP/gRPC on "))
        {
            let after = |prefix: &str, end: &str| -> String {
                let rest = &line[line.find(prefix).expect(prefix) + prefix.len()..];
                rest[..rest.find(end).expect(end)].to_owned()
            };
            return [
                after("OTLP/gRPC on http://", ","),
                after("OTLP/HTTP on http://", "/v1/traces"),
                after("query API on http://", "/search"),
            ];
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "traces serve did not say where it listens in 15 s:\n{}",
            process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
/// What a terminal command printed, and how it exited.
#[derive(Debug)]
pub struct CliRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Viewer {
    /// `traces serve` with its defaults but the addresses, ready to receive and answer.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// `traces serve ARGS...` on ports the system chooses (port 0), ready.
    ///
    /// Ports picked in advance and released before the viewer binds them can be taken in
    /// between by another test's process; so the viewer binds port 0 and the addresses are read
    /// from the line it prints once it listens.
    pub async fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a directory for the viewer's log");
        let any_port = "127.0.0.1:0";
        let mut command = Command::new(traces_binary());
        command
            .args([
                "serve",
                "--otlp-grpc",
                any_port,
                "--otlp-http",
                any_port,
                "--ui",
                any_port,
            ])
            .args(args);
        let process = Process::spawn("traces", command, &dir.path().join("traces.log"))
            .expect("traces serve starts");
        let [grpc, http, ui] = listening_addresses(&process).await;
        let viewer = Self {
            grpc: format!("http://{grpc}"),
            http: format!("http://{http}"),
            ui: format!("http://{ui}"),
            client: reqwest::Client::new(),
            process,
            _dir: dir,
        };
        viewer.wait_ready().await;
        viewer
    }

    async fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            if let Ok(response) = self
                .client
                .get(format!("{}/api/v3/services", self.ui))
                .send()
                .await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "traces serve did not answer in 15 s:\n{}",
                self.process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The environment that makes the services export to this viewer over OTLP/gRPC.
    pub fn grpc_env(&self) -> Vec<(String, String)> {
        vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), self.grpc.clone())]
    }

    /// The environment that makes the services export to this viewer over OTLP/HTTP (protobuf).
    pub fn http_env(&self) -> Vec<(String, String)> {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), self.http.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "http/protobuf".into()),
        ]
    }

    /// `GET` on the UI port: the status and the body as JSON (`Null` when it is not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, text) = self.page(path).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET` on the UI port: the status and the body as text.
    pub async fn page(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.ui))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        let status = response.status().as_u16();
        (status, response.text().await.expect("a whole answer"))
    }

    /// `POST /v1/traces` with this body and headers: the status, the Content-Type and the body.
    pub async fn export_http(
        &self,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String, Vec<u8>) {
        let mut request = self
            .client
            .post(format!("{}/v1/traces", self.http))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the receiver answers");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (
            status,
            content_type,
            response.bytes().await.expect("a whole answer").to_vec(),
        )
    }

    /// `POST /v1/traces` written over a plain connection while the answer is read: for bodies
    /// the receiver refuses before reading them whole (413), where reqwest, still writing, would
    /// see only a broken pipe. Returns the status.
    pub async fn export_raw(&self, headers: &[(&str, &str)], body: &[u8]) -> u16 {
        let port = self
            .http
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("a port");
        let api = Api::new(&HashMap::from([("otlp-http", port)]));
        let mut head = format!(
            "POST /v1/traces HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        api.send_raw("otlp-http", request).await.status
    }

    /// Waits until `GET /api/v3/traces/{id}` holds spans for which `complete` is true (at most
    /// 15 s), and returns the answer.
    pub async fn wait_for_trace(
        &self,
        trace_id: &str,
        complete: impl Fn(&[ViewedSpan]) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let (status, answer) = self.get(&format!("/api/v3/traces/{trace_id}")).await;
            let spans = spans_of(&answer);
            if status == 200 && complete(&spans) {
                return answer;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "trace {trace_id} did not complete in the viewer in 15 s; it has {status}: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /api/logs?traceId=` once it holds at least `count` records of the trace.
    pub async fn wait_for_logs(&self, trace_id: &str, count: usize) -> Value {
        let started = Instant::now();
        loop {
            let (status, answer) = self.get(&format!("/api/logs?traceId={trace_id}")).await;
            let records = answer["result"]["resourceLogs"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["scopeLogs"].as_array().into_iter().flatten())
                .flat_map(|s| s["logRecords"].as_array().into_iter().flatten())
                .count();
            if status == 200 && records >= count {
                return answer;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the viewer did not hold {count} records of trace {trace_id} in 15 s; it has \
                 {status}: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `traces ARGS... --from <this viewer>`.
    pub fn cli(&self, args: &[&str]) -> CliRun {
        run_cli(args.iter().copied().chain(["--from", &self.ui]), &[])
    }

    /// Whether `traces serve` still runs.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid().expect("traces serve runs")
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.process.output()
    }

    /// Stops it as a service manager would (SIGTERM) and waits until it exited, at most 10 s.
    pub fn stop(&mut self) {
        let took = self
            .process
            .stop(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10));
        assert!(
            took.is_some(),
            "traces serve did not stop within 10 s of SIGTERM:\n{}",
            self.process.log_tail()
        );
    }
}

/// `traces serve ARGS...` (on ports the system chooses) that is expected to refuse to start:
/// how it exited and what it printed, once it has (at most 15 s, else it is killed and the
/// test fails).
pub fn serve_refused(args: &[&str]) -> CliRun {
    let any_port = "127.0.0.1:0";
    let mut child = Command::new(traces_binary())
        .args(["serve", "--otlp-grpc", any_port, "--otlp-http", any_port])
        .args(["--ui", any_port])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running traces serve");
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("its status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("its output");
            panic!(
                "traces serve {args:?} still ran after 15 s instead of refusing:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("its output");
    CliRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `traces` binary built with the tests.
fn traces_binary() -> PathBuf {
    paths::binary("traces").unwrap_or_else(|error| panic!("{error}"))
}

/// Runs the `traces` binary with `args` and extra environment, its stdout a pipe (not a
/// terminal).
pub fn run_cli<'a>(args: impl IntoIterator<Item = &'a str>, env: &[(&str, &str)]) -> CliRun {
    let output: Output = Command::new(traces_binary())
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("running traces");
    CliRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The spans of an API v3 answer (`{"result": {"resourceSpans": ...}}`), flattened.
pub fn spans_of(answer: &Value) -> Vec<ViewedSpan> {
    let mut spans = Vec::new();
    for resource_spans in answer["result"]["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let service = resource_spans["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|kv| kv["key"] == "service.name")
            .and_then(|kv| kv["value"]["stringValue"].as_str())
            .unwrap_or_default();
        for scope_spans in resource_spans["scopeSpans"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for span in scope_spans["spans"].as_array().into_iter().flatten() {
                spans.push(ViewedSpan {
                    service: service.to_owned(),
                    name: span["name"].as_str().unwrap_or_default().to_owned(),
                    kind: span["kind"].as_i64().unwrap_or_default(),
                    span_id: span["spanId"].as_str().unwrap_or_default().to_owned(),
                    parent_span_id: span["parentSpanId"].as_str().unwrap_or_default().to_owned(),
                    error: span["status"]["code"] == 2,
                });
            }
        }
    }
    spans
}

/// Debian's headless Chromium, from `CHROMIUM_BIN` (which scripts/test.sh sets after installing
/// it) or `chromium` on PATH. Never skipped: a missing browser fails the test that needs it.
pub struct Browser {
    binary: PathBuf,
}

impl Browser {
    pub fn find() -> Self {
        let binary = std::env::var_os("CHROMIUM_BIN")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("chromium"));
        let works = Command::new(&binary)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        assert!(
            works,
            "{} does not run: run the tests with scripts/test.sh, which installs Debian's \
             chromium and sets CHROMIUM_BIN",
            binary.display()
        );
        Self { binary }
    }

    /// The page's DOM after Chromium loaded and rendered it.
    pub fn dom(&self, url: &str) -> String {
        let output = self.run(&["--dump-dom", url]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A PNG of the page at this window size, written to `path`.
    pub fn screenshot(&self, url: &str, path: &Path, (width, height): (u32, u32)) {
        let _ = std::fs::remove_file(path);
        let output = self.run(&[
            &format!("--screenshot={}", path.display()),
            &format!("--window-size={width},{height}"),
            "--hide-scrollbars",
            url,
        ]);
        assert!(
            path.is_file(),
            "Chromium wrote no screenshot of {url}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Chromium headless, with the flags that keep it off the network and out of the user's
    /// profile, killed if it takes over a minute.
    fn run(&self, args: &[&str]) -> Output {
        let profile = tempfile::tempdir().expect("a profile directory for Chromium");
        let mut child = Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting Chromium");
        // Read both pipes while waiting: a DOM bigger than a pipe's buffer would block Chromium.
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("a piped stdout")));
        let stderr = drain(Box::new(child.stderr.take().expect("a piped stderr")));
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().expect("Chromium's status") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("Chromium did not finish {args:?} in 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        }
    }
}
