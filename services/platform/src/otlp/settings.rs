//! Where and how telemetry is sent: the standard `OTEL_EXPORTER_OTLP_*` variables, read by the
//! OpenTelemetry specification's rules ("OTLP Exporter Configuration"): each setting has a general
//! variable and a twin for each signal (`_TRACES_`, `_LOGS_`), which wins.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::settings::{SettingsError, Variable};

/// What is exported: each signal has its own twin of every general variable, which wins, and its
/// own path under a general HTTP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans: `OTEL_EXPORTER_OTLP_TRACES_*`, `/v1/traces`.
    Traces,
    /// Log records: `OTEL_EXPORTER_OTLP_LOGS_*`, `/v1/logs`.
    Logs,
}

/// One setting of an export, read from a general variable or its signal's twin.
#[derive(Clone, Copy)]
enum Setting {
    Protocol,
    Endpoint,
    Headers,
    Timeout,
    Compression,
    Certificate,
    ClientKey,
    ClientCertificate,
}

// The variables of each setting, in the order of `Setting`: the general ones and each signal's
// twins, which win.
const GENERAL: [&str; 8] = [
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
];
const TRACES: [&str; 8] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
];
const LOGS: [&str; 8] = [
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
];

/// The general variables, in the order of [`GENERAL`], as `--help` lists them; each has a
/// `_TRACES_` and a `_LOGS_` twin (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), which wins for its signal.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "OTEL_EXPORTER_OTLP_PROTOCOL",
        default: Some("grpc"),
        help: "grpc or http/protobuf",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_ENDPOINT",
        default: Some("http://localhost:4317"),
        help: "where spans and log records go, http:// or https://; http/protobuf: \
               http://localhost:4318, with /v1/traces or /v1/logs appended",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_HEADERS",
        default: None,
        help: "name=value,... sent with every export, values percent-encoded; unset: none",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_TIMEOUT",
        default: Some("10000"),
        help: "milliseconds an export may take, its retries included",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_COMPRESSION",
        default: Some("none"),
        help: "gzip or none",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_CERTIFICATE",
        default: None,
        help: "PEM file of the only authorities trusted for an https:// endpoint; unset: the \
               system's roots",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        default: None,
        help: "PEM private key of the client certificate, for mutual TLS",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        default: None,
        help: "PEM certificate shown to the collector, for mutual TLS",
    },
];

impl Signal {
    /// The variables of `setting`: the signal's own, which wins, and the general one.
    fn variables(self, setting: Setting) -> [&'static str; 2] {
        let own = match self {
            Self::Traces => &TRACES,
            Self::Logs => &LOGS,
        };
        [own[setting as usize], GENERAL[setting as usize]]
    }

    /// Where the signal goes under a general HTTP endpoint.
    fn http_path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Logs => "/v1/logs",
        }
    }

    /// What the signal's items are called in the log.
    pub(crate) fn items(self) -> &'static str {
        match self {
            Self::Traces => "spans",
            Self::Logs => "log records",
        }
    }
}

/// Where and how one signal is sent.
#[derive(Debug)]
pub(crate) struct ExportSettings {
    pub(crate) signal: Signal,
    pub(crate) protocol: Protocol,
    /// gRPC's receiver, or HTTP's full URL (with `/v1/traces` or `/v1/logs`).
    pub(crate) endpoint: http::Uri,
    /// Sent with every export; often a receiver's API key, so never logged.
    pub(crate) headers: HeaderMap,
    /// How long one export may take, its retries included.
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
    /// For `https://` endpoints: whom to trust and who we are. Unused over `http://`.
    pub(crate) tls: TlsFiles,
}

/// How telemetry is sent (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC, `grpc`: the default.
    Grpc,
    /// OTLP/HTTP with protobuf bodies, `http/protobuf`.
    HttpProtobuf,
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
}

/// The PEM files of the TLS variables, read (and checked) at start.
#[derive(Debug, Default)]
pub(crate) struct TlsFiles {
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE`: the only authorities trusted; unset, the system's roots.
    pub(crate) authority: Option<Vec<u8>>,
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `_CLIENT_KEY`, for mutual TLS.
    pub(crate) client: Option<ClientIdentity>,
}

/// A client certificate (or chain) and its private key, both PEM.
pub(crate) struct ClientIdentity {
    pub(crate) certificate: Vec<u8>,
    pub(crate) key: Vec<u8>,
}

/// The key is a secret: it never reaches a log through `{:?}`.
impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientIdentity { .. }")
    }
}

/// Where the services send their spans and with which protocol, by the specification's rules:
/// the traces-only variable wins, and only the general HTTP endpoint gets `/v1/traces` appended.
/// `var` reads the environment. The launcher reads it to start a receiver where spans will go.
pub fn traces_endpoint(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(Protocol, http::Uri), SettingsError> {
    signal_endpoint(&var, Signal::Traces)
}

/// Where `signal` goes and with which protocol: its own variables, else the general ones.
fn signal_endpoint(
    var: &impl Fn(&str) -> Option<String>,
    signal: Signal,
) -> Result<(Protocol, http::Uri), SettingsError> {
    let protocol = protocol(var, signal.variables(Setting::Protocol))?;
    Ok((protocol, endpoint(var, signal, protocol)?))
}

impl ExportSettings {
    /// The settings of `signal` that `var` gives (it reads the environment), or what is wrong
    /// with them. The TLS files are read here, so that a missing one stops the service at start.
    pub(crate) fn from_vars(
        signal: Signal,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let (protocol, endpoint) = signal_endpoint(&var, signal)?;
        Ok(Self {
            signal,
            protocol,
            endpoint,
            headers: headers(&var, signal.variables(Setting::Headers))?,
            timeout: timeout(&var, signal.variables(Setting::Timeout))?,
            compression: compression(&var, signal.variables(Setting::Compression))?,
            tls: tls_files(&var, signal)?,
        })
    }
}

fn protocol(
    var: &impl Fn(&str) -> Option<String>,
    variables: [&'static str; 2],
) -> Result<Protocol, SettingsError> {
    match first_set(var, variables) {
        None => Ok(Protocol::Grpc),
        Some((_, value)) if value == "grpc" => Ok(Protocol::Grpc),
        Some((_, value)) if value == "http/protobuf" => Ok(Protocol::HttpProtobuf),
        Some((variable, other)) => Err(SettingsError::new(
            variable,
            format!("{other:?} is not supported; use grpc or http/protobuf"),
        )),
    }
}

/// The signal's endpoint as it is, else the general one (the receiver's root, under which each
/// HTTP signal has a path of its own), else the protocol's local default.
fn endpoint(
    var: &impl Fn(&str) -> Option<String>,
    signal: Signal,
    protocol: Protocol,
) -> Result<http::Uri, SettingsError> {
    let [own, general] = signal.variables(Setting::Endpoint);
    let path = signal.http_path();
    let (variable, endpoint) = match (var(own), var(general), protocol) {
        (Some(signal), _, _) => (own, signal),
        (None, Some(root), Protocol::Grpc) => (general, root),
        (None, Some(root), Protocol::HttpProtobuf) => {
            (general, format!("{}{path}", root.trim_end_matches('/')))
        }
        (None, None, Protocol::Grpc) => (general, "http://localhost:4317".to_owned()),
        (None, None, Protocol::HttpProtobuf) => (general, format!("http://localhost:4318{path}")),
    };
    match reqwest::Url::parse(&endpoint) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url
            .as_str()
            .parse()
            .map_err(|error| SettingsError::new(variable, format!("{endpoint:?}: {error}"))),
        _ => Err(SettingsError::new(
            variable,
            format!("{endpoint:?} is not an http:// or https:// URL"),
        )),
    }
}

fn timeout(
    var: &impl Fn(&str) -> Option<String>,
    variables: [&'static str; 2],
) -> Result<Duration, SettingsError> {
    match first_set(var, variables) {
        None => Ok(Duration::from_secs(10)),
        Some((variable, value)) => value
            .trim()
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| SettingsError::new(variable, format!("{value:?} is not milliseconds"))),
    }
}

fn compression(
    var: &impl Fn(&str) -> Option<String>,
    variables: [&'static str; 2],
) -> Result<Compression, SettingsError> {
    match first_set(var, variables) {
        None => Ok(Compression::None),
        Some((_, value)) if value == "none" => Ok(Compression::None),
        Some((_, value)) if value == "gzip" => Ok(Compression::Gzip),
        Some((variable, other)) => Err(SettingsError::new(
            variable,
            format!("{other:?} is not supported; use gzip or none"),
        )),
    }
}

/// The TLS files, each read whole and checked to hold what its variable promises, so that a wrong
/// path or a swapped key and certificate stops the service at start rather than failing every
/// export later.
fn tls_files(
    var: &impl Fn(&str) -> Option<String>,
    signal: Signal,
) -> Result<TlsFiles, SettingsError> {
    let authority = first_set(var, signal.variables(Setting::Certificate))
        .map(|(variable, path)| read_pem(variable, &path, "CERTIFICATE"))
        .transpose()?;
    let client = match (
        first_set(var, signal.variables(Setting::ClientCertificate)),
        first_set(var, signal.variables(Setting::ClientKey)),
    ) {
        (None, None) => None,
        (Some((certificate, cert_path)), Some((key, key_path))) => Some(ClientIdentity {
            certificate: read_pem(certificate, &cert_path, "CERTIFICATE")?,
            key: read_pem(key, &key_path, "PRIVATE KEY")?,
        }),
        (Some((set, _)), None) | (None, Some((set, _))) => {
            return Err(SettingsError::new(
                set,
                "mutual TLS needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and \
                 OTEL_EXPORTER_OTLP_CLIENT_KEY (or their TRACES or LOGS twins)",
            ));
        }
    };
    Ok(TlsFiles { authority, client })
}

/// The file at `path`, which must hold at least one PEM block whose label ends with `label`
/// (`PRIVATE KEY` covers PKCS#8's, RSA's and EC's). An error names the file, never its content.
fn read_pem(variable: &'static str, path: &str, label: &str) -> Result<Vec<u8>, SettingsError> {
    let contents = std::fs::read(path)
        .map_err(|error| SettingsError::new(variable, format!("cannot read {path}: {error}")))?;
    let holds_label = pem::parse_many(&contents)
        .is_ok_and(|blocks| blocks.iter().any(|block| block.tag().ends_with(label)));
    if !holds_label {
        return Err(SettingsError::new(
            variable,
            format!("{path} holds no PEM {label}"),
        ));
    }
    Ok(contents)
}

/// The first of `variables` that is set, with its value.
fn first_set(
    var: &impl Fn(&str) -> Option<String>,
    variables: [&'static str; 2],
) -> Option<(&'static str, String)> {
    variables
        .into_iter()
        .find_map(|variable| var(variable).map(|value| (variable, value)))
}

/// Both header lists, `name=value,...` with percent-encoded values; a header of the signal's own
/// list replaces the general one of the same name. An error never quotes a value, which may be a
/// secret.
fn headers(
    var: &impl Fn(&str) -> Option<String>,
    [own, general]: [&'static str; 2],
) -> Result<HeaderMap, SettingsError> {
    let mut headers = HeaderMap::new();
    for variable in [general, own] {
        let Some(list) = var(variable) else { continue };
        for (position, entry) in list.split(',').enumerate() {
            if entry.trim().is_empty() {
                continue;
            }
            let invalid =
                |what: &str| SettingsError::new(variable, format!("entry {} {what}", position + 1));
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| invalid("is not name=value"))?;
            let name = HeaderName::try_from(name.trim())
                .map_err(|_| invalid("does not have a header's name"))?;
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .ok()
                .and_then(|value| HeaderValue::try_from(value.as_ref()).ok())
                .ok_or_else(|| invalid("does not have a header's value"))?;
            headers.insert(name, value);
        }
    }
    Ok(headers)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_variables_are_the_general_ones_in_their_order() {
        let declared: Vec<&str> = VARIABLES.iter().map(|variable| variable.name).collect();
        assert_eq!(declared, GENERAL);
        for (general, twins) in GENERAL.iter().zip(TRACES.iter().zip(LOGS)) {
            let twin = |signal| general.replace("OTEL_EXPORTER_OTLP_", signal);
            assert_eq!(
                (
                    twin("OTEL_EXPORTER_OTLP_TRACES_"),
                    twin("OTEL_EXPORTER_OTLP_LOGS_")
                ),
                (twins.0.to_string(), twins.1.to_string())
            );
        }
    }

    fn settings(vars: &[(&str, &str)]) -> Result<ExportSettings, SettingsError> {
        signal_settings(Signal::Traces, vars)
    }

    fn signal_settings(
        signal: Signal,
        vars: &[(&str, &str)],
    ) -> Result<ExportSettings, SettingsError> {
        ExportSettings::from_vars(signal, |name| {
            vars.iter()
                .find(|(set, _)| *set == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    fn endpoint(vars: &[(&str, &str)]) -> String {
        settings(vars).unwrap().endpoint.to_string()
    }

    #[test]
    fn with_nothing_set_spans_go_to_a_local_receiver_over_grpc() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.protocol, Protocol::Grpc);
        assert_eq!(settings.endpoint, "http://localhost:4317/");
        assert_eq!(settings.timeout, Duration::from_secs(10));
        assert!(settings.headers.is_empty());
    }

    #[test]
    fn http_appends_the_traces_path_to_the_general_endpoint_only() {
        let http = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        assert_eq!(endpoint(&[http]), "http://localhost:4318/v1/traces");
        assert_eq!(
            endpoint(&[
                http,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway:4318/")
            ]),
            "http://gateway:4318/v1/traces"
        );
        assert_eq!(
            endpoint(&[http, ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway/otlp")]),
            "http://gateway/otlp/v1/traces"
        );
        assert_eq!(
            endpoint(&[
                http,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://traces:9999/in"
                ),
            ]),
            "http://traces:9999/in"
        );
        assert_eq!(
            endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4317")]),
            "http://jaeger:4317/"
        );
    }

    #[test]
    fn the_traces_only_variables_win() {
        let settings = settings(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-tenant=general,api-key=general",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=tr%20aces"),
        ])
        .unwrap();
        assert_eq!(settings.protocol, Protocol::HttpProtobuf);
        assert_eq!(settings.timeout, Duration::from_millis(2500));
        assert_eq!(settings.headers["x-tenant"], "general");
        assert_eq!(settings.headers["api-key"], "tr aces");
        assert_eq!(settings.headers.len(), 2);
    }

    #[test]
    fn logs_take_their_own_twins_and_path_and_never_the_traces_ones() {
        let logs = |vars: &[(&str, &str)]| signal_settings(Signal::Logs, vars).unwrap();
        let http = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        assert_eq!(
            logs(&[http]).endpoint.to_string(),
            "http://localhost:4318/v1/logs"
        );
        assert_eq!(
            logs(&[
                http,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway:4318/")
            ])
            .endpoint
            .to_string(),
            "http://gateway:4318/v1/logs"
        );
        let settings = logs(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:9999/in"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=general,x-tenant=t"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "api-key=logs"),
        ]);
        assert_eq!(settings.signal, Signal::Logs);
        assert_eq!(settings.protocol, Protocol::Grpc);
        assert_eq!(settings.endpoint.to_string(), "http://logs:9999/in");
        assert_eq!(settings.timeout, Duration::from_secs(10));
        assert_eq!(settings.compression, Compression::Gzip);
        assert_eq!(settings.headers["api-key"], "logs");
        assert_eq!(settings.headers["x-tenant"], "t");
        let error = signal_settings(
            Signal::Logs,
            &[("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"),
            "{error}"
        );
    }

    #[test]
    fn what_cannot_be_used_is_refused_at_start_naming_the_variable() {
        let refused = |vars: &[(&str, &str)]| settings(vars).unwrap_err().to_string();
        for (vars, variable, reason) in [
            (
                &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")][..],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "not supported",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317")],
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "not an http:// or https:// URL",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")],
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "not milliseconds",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd")],
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                "not supported",
            ),
            (
                &[(
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "api-key=ok,secret-without-name",
                )],
                "OTEL_EXPORTER_OTLP_HEADERS",
                "entry 2 is not name=value",
            ),
            (
                &[("OTEL_EXPORTER_OTLP_HEADERS", "bad name=s3cret")],
                "OTEL_EXPORTER_OTLP_HEADERS",
                "entry 1 does not have a header's name",
            ),
        ] {
            let error = refused(vars);
            assert!(error.contains(variable), "{error}");
            assert!(error.contains(reason), "{error}");
            assert!(
                !error.contains("s3cret") && !error.contains("secret"),
                "{error}"
            );
        }
        assert!(settings(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]).is_ok());
    }

    #[test]
    fn https_and_gzip_are_taken_over_both_protocols() {
        for protocol in ["grpc", "http/protobuf"] {
            let settings = settings(&[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "https://collector.example:4317",
                ),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ])
            .unwrap();
            assert_eq!(settings.endpoint.scheme_str(), Some("https"));
            assert_eq!(settings.compression, Compression::Gzip);
        }
        assert_eq!(settings(&[]).unwrap().compression, Compression::None);
    }

    #[test]
    fn tls_files_are_read_at_start_and_must_hold_what_their_variable_says() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let certificate = file(
            "ca.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        );
        let key = file(
            "client.key",
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        );
        let missing = dir.path().join("missing.pem").to_str().unwrap().to_owned();

        let read = settings(&[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &certificate),
            ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", &certificate),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &key),
        ])
        .unwrap();
        assert!(read.tls.authority.is_some());
        assert!(read.tls.client.is_some());
        assert!(
            !format!("{read:?}").contains("MIIE"),
            "the key never shows in Debug"
        );

        let refused = |vars: &[(&str, &str)]| settings(vars).unwrap_err().to_string();
        for (vars, expected) in [
            (
                vec![("OTEL_EXPORTER_OTLP_CERTIFICATE", missing.as_str())],
                "OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_CERTIFICATE", key.as_str())],
                "holds no PEM CERTIFICATE",
            ),
            (
                vec![
                    (
                        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                        certificate.as_str(),
                    ),
                    ("OTEL_EXPORTER_OTLP_CLIENT_KEY", certificate.as_str()),
                ],
                "OTEL_EXPORTER_OTLP_CLIENT_KEY: ",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.as_str())],
                "mutual TLS needs both",
            ),
        ] {
            let error = refused(&vars);
            assert!(error.contains(expected), "{expected:?} in {error:?}");
            assert!(!error.contains("MIIE"), "{error}");
        }
    }
}
