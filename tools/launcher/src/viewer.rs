//! The local trace viewer (`traces serve`), for a machine where nothing receives the services'
//! spans: a bare machine without Jaeger or a collector would otherwise drop every span. It is
//! started only when the services export to this machine and nothing listens on that port, so a
//! Jaeger or collector the user runs is never shadowed.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use nix::sys::signal::Signal;
use platform::otlp::Protocol;

use crate::process::Process;

/// Where Jaeger's UI listens, which the trace links the project prints point to: the viewer's by
/// default.
pub const UI_PORT: u16 = 16686;

/// How long `traces serve` may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The OTLP receiver the services will send their spans to, as the OpenTelemetry SDK's variables
/// say: which protocol, and which port on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalEndpoint {
    /// `traces serve`'s option for a receiver of that protocol: `--otlp-grpc` or `--otlp-http`.
    receiver_option: &'static str,
    /// The other protocol's option, and its usual port.
    other_option: &'static str,
    other_port: u16,
    /// The endpoint's port.
    pub port: u16,
}

impl LocalEndpoint {
    /// The endpoint the services will export to, when it is a plain `http://` one on this machine;
    /// `None` when tracing is disabled, the endpoint is another machine's or over TLS, or the
    /// services would refuse it (they say why when they start). `var` reads the environment.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        if var("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true")) {
            return None;
        }
        let (protocol, endpoint) = platform::otlp::traces_endpoint(var).ok()?;
        let (receiver_option, other_option, other_port) = match protocol {
            Protocol::Grpc => ("--otlp-grpc", "--otlp-http", 4318),
            Protocol::HttpProtobuf => ("--otlp-http", "--otlp-grpc", 4317),
        };
        let local = endpoint.scheme_str() == Some("http")
            && matches!(
                endpoint.host(),
                Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
            );
        Some(Self {
            receiver_option,
            other_option,
            other_port,
            // The endpoint is http://: without a port, 80.
            port: endpoint.port_u16().unwrap_or(80),
        })
        .filter(|_| local)
    }

    /// Whether a receiver already listens there (a Jaeger, a collector, a viewer).
    pub fn is_served(&self) -> bool {
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.port)),
            Duration::from_millis(300),
        )
        .is_ok()
    }

    /// `traces serve`'s arguments: a receiver on the endpoint's port, the other protocol's on
    /// its usual port when that is free (else any), the UI on `ui_port`, the traces kept in
    /// `data`.
    fn serve_arguments(&self, ui_port: u16, data: &Path) -> Vec<String> {
        let other_port = if port_is_free(self.other_port) {
            self.other_port
        } else {
            0
        };
        vec![
            "serve".to_owned(),
            self.receiver_option.to_owned(),
            format!("127.0.0.1:{}", self.port),
            self.other_option.to_owned(),
            format!("127.0.0.1:{other_port}"),
            "--ui".to_owned(),
            format!("127.0.0.1:{ui_port}"),
            "--data".to_owned(),
            data.display().to_string(),
        ]
    }
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A running `traces serve`.
pub struct TraceViewer {
    process: Process,
    ui: SocketAddr,
    data: PathBuf,
}

impl TraceViewer {
    /// Starts `binary serve` for `endpoint`, its UI on `ui_port`, its traces kept in `data`
    /// across restarts, and waits until it listens. Refuses when the UI's port is taken: trace
    /// links would open whatever holds it.
    pub async fn start(
        binary: &Path,
        endpoint: LocalEndpoint,
        ui_port: u16,
        data: &Path,
        log_dir: &Path,
    ) -> Result<Self, String> {
        if !port_is_free(ui_port) {
            return Err(format!(
                "port {ui_port} (the trace viewer's UI) is already in use, though nothing \
                 receives spans on port {}",
                endpoint.port
            ));
        }
        let mut command = Command::new(binary);
        command.args(endpoint.serve_arguments(ui_port, data));
        let mut process = Process::spawn("traces", command, &log_dir.join("traces.log"))
            .map_err(|error| format!("starting {}: {error}", binary.display()))?;
        let ui = process.address(ui_address, START_TIMEOUT).await?;
        Ok(Self {
            process,
            ui,
            data: data.to_owned(),
        })
    }

    /// Where it keeps its traces.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The page of recent traces.
    pub fn url(&self) -> String {
        format!("http://{}/search", self.ui)
    }

    /// The port of its pages and query API.
    pub fn ui_port(&self) -> u16 {
        self.ui.port()
    }

    /// The running process.
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// The process's exit status, once it has exited.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process.exit_status()
    }

    /// Stops it, after the services: they send their last spans as they stop.
    pub fn stop(&mut self) {
        self.process.stop(Signal::SIGTERM, Duration::from_secs(10));
    }
}

/// `traces serve`'s start-up line names the UI: `... traces and Jaeger's query API on
/// http://127.0.0.1:16686/search ...`.
fn ui_address(line: &str) -> Option<SocketAddr> {
    let after = line.split_once("query API on http://")?.1;
    after.split_once('/')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn endpoint(env: &[(&str, &str)]) -> Option<LocalEndpoint> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LocalEndpoint::from_env(|name| env.get(name).cloned())
    }

    #[test]
    fn the_default_endpoint_is_grpc_on_this_machine() {
        let default = endpoint(&[]).unwrap();
        assert_eq!(default.port, 4317);
        assert_eq!(default.receiver_option, "--otlp-grpc");
        let http = endpoint(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap();
        assert_eq!((http.port, http.receiver_option), (4318, "--otlp-http"));
        let chosen = endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:14317")]);
        assert_eq!(chosen.unwrap().port, 14317);
        let traces_only = endpoint(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:14317"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://[::1]:14318/v1/traces",
            ),
        ])
        .unwrap();
        assert_eq!(
            (traces_only.port, traces_only.receiver_option),
            (14318, "--otlp-http")
        );
    }

    #[test]
    fn no_viewer_for_another_machine_or_disabled_tracing() {
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-gateway:4317")]),
            None
        );
        assert_eq!(endpoint(&[("OTEL_SDK_DISABLED", "true")]), None);
        // A collector behind TLS is the user's own, even on this machine.
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://localhost:4317")]),
            None
        );
    }

    #[test]
    fn the_start_up_line_names_the_ui() {
        let line = "traces: OTLP/gRPC on http://127.0.0.1:4317, OTLP/HTTP on \
                    http://127.0.0.1:4318/v1/traces; traces and Jaeger's query API on \
                    http://127.0.0.1:16686/search (keeps the 10000 most recent traces)";
        assert_eq!(ui_address(line), Some("127.0.0.1:16686".parse().unwrap()));
        assert_eq!(ui_address("traces: cannot listen"), None);
    }
}
