//! A service binary's command line. Without arguments it serves; `healthcheck` probes the service
//! running beside it (see [`crate::probe`]); `--help` lists the settings it reads from its
//! environment; `--version` names it. Anything else is refused, so that a mistyped subcommand
//! never starts a server.

use std::{fmt::Write as _, process::ExitCode};

use crate::ServiceInfo;

/// A setting read from the environment, as `--help` lists it.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    /// The variable's name.
    pub name: &'static str,
    /// What it sets, with its default in parentheses.
    pub meaning: &'static str,
}

/// What every service reads for its telemetry and logs (`crate::telemetry`): the OpenTelemetry
/// SDK's standard variables and `RUST_LOG`.
pub const TELEMETRY_VARIABLES: &[Variable] = &[
    Variable {
        name: "OTEL_EXPORTER_OTLP_ENDPOINT",
        meaning: "where spans and log records go over OTLP, http:// or https:// \
                  (http://localhost:4317); each OTEL_EXPORTER_OTLP_ variable has a _TRACES_ \
                  and a _LOGS_ twin, which win for their signal",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_PROTOCOL",
        meaning: "grpc or http/protobuf (grpc)",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_HEADERS",
        meaning: "name=value,... sent with every export, values percent-encoded (none)",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_TIMEOUT",
        meaning: "milliseconds an export may take, its retries included (10000)",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_COMPRESSION",
        meaning: "gzip or none (none)",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_CERTIFICATE",
        meaning: "PEM file of the authorities trusted for an https:// endpoint (the system's roots)",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        meaning: "and OTEL_EXPORTER_OTLP_CLIENT_KEY: PEM files for mutual TLS (none)",
    },
    Variable {
        name: "OTEL_LOGS_EXPORTER",
        meaning: "otlp: log records are sent beside the spans; none: they are not (otlp)",
    },
    Variable {
        name: "OTEL_BLRP_*",
        meaning: "the batch log record processor: OTEL_BLRP_SCHEDULE_DELAY, \
                  OTEL_BLRP_MAX_QUEUE_SIZE, ...",
    },
    Variable {
        name: "OTEL_TRACES_SAMPLER",
        meaning: "and OTEL_TRACES_SAMPLER_ARG: which traces are kept (parentbased_always_on)",
    },
    Variable {
        name: "OTEL_BSP_*",
        meaning: "the batch span processor: OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, ...",
    },
    Variable {
        name: "OTEL_RESOURCE_ATTRIBUTES",
        meaning: "more attributes for every span's resource",
    },
    Variable {
        name: "OTEL_SDK_DISABLED",
        meaning: "true: no span or log record is exported (false)",
    },
    Variable {
        name: "MONGODB_SERVICE_NAME",
        meaning: "the service.name of the database's spans (mongodb)",
    },
    Variable {
        name: "RUST_LOG",
        meaning: "which log lines are written and sent as log records (info); spans are not \
                  filtered",
    },
];

/// What every service reads for the scenario flags (`crate::flags`).
pub const SCENARIO_VARIABLES: &[Variable] = &[
    Variable {
        name: "FLAGS_FILE",
        meaning: "the scenario flags, flagd's format, re-read while running (flags.json); \
                  missing: every flag off",
    },
    Variable {
        name: "FLAGS_SEED",
        meaning: "seeds the draws of authorFailureRate, for repeatable runs (random)",
    },
];

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve,
    Healthcheck,
    Help,
    Version,
    Unknown(String),
}

impl Command {
    fn parse(mut args: impl Iterator<Item = String>) -> Self {
        let command = match args.next().as_deref() {
            None => Self::Serve,
            Some("healthcheck") => Self::Healthcheck,
            Some("-h" | "--help") => Self::Help,
            Some("-V" | "--version") => Self::Version,
            Some(other) => return Self::Unknown(other.to_owned()),
        };
        match args.next() {
            Some(extra) if command != Self::Serve => Self::Unknown(extra),
            _ => command,
        }
    }
}

/// Does what the command line asks unless it is to serve: `Some` is the exit code to stop with.
/// `settings` are the groups of variables the service reads besides `HOST`, `PORT` and
/// [`TELEMETRY_VARIABLES`] and [`SCENARIO_VARIABLES`].
pub fn dispatch(service: &ServiceInfo, settings: &[&[Variable]]) -> Option<ExitCode> {
    match Command::parse(std::env::args().skip(1)) {
        Command::Serve => None,
        Command::Healthcheck => Some(crate::probe::run(service)),
        Command::Help => {
            print!("{}", usage(service, settings));
            Some(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("{} {}", service.name, service.version);
            Some(ExitCode::SUCCESS)
        }
        Command::Unknown(argument) => {
            let name = service.name;
            eprintln!("{name}: unknown argument {argument:?}; `{name} --help` says what it takes");
            Some(ExitCode::from(2))
        }
    }
}

/// The `--help` text.
pub fn usage(service: &ServiceInfo, settings: &[&[Variable]]) -> String {
    let name = service.name;
    let mut text = format!(
        "{name} {}, a service of the blog platform.\n\n\
         Usage: {name}              serve until SIGINT or SIGTERM\n       \
         {name} healthcheck  exit 0 if the {name} beside it answers GET /healthz\n       \
         {name} --help | --version\n\n\
         Settings, from the environment (a .env file in the working directory may fill it in):\n",
        service.version
    );
    let port = format!(
        "its port ({}; 0: any free port, logged at start)",
        service.default_port
    );
    let listening = [
        ("HOST", "its address (127.0.0.1; 0.0.0.0: every interface)"),
        ("PORT", &port),
    ];
    let variables = settings
        .iter()
        .copied()
        .flatten()
        .chain(TELEMETRY_VARIABLES)
        .chain(SCENARIO_VARIABLES);
    let lines = listening
        .into_iter()
        .chain(variables.map(|variable| (variable.name, variable.meaning)));
    for (name, meaning) in lines {
        let _ = writeln!(text, "  {name:<40} {meaning}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        Command::parse(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn arguments_choose_the_command() {
        assert_eq!(parse(&[]), Command::Serve);
        assert_eq!(parse(&["healthcheck"]), Command::Healthcheck);
        assert_eq!(parse(&["--help"]), Command::Help);
        assert_eq!(parse(&["-h"]), Command::Help);
        assert_eq!(parse(&["--version"]), Command::Version);
        assert_eq!(parse(&["-V"]), Command::Version);
        assert_eq!(parse(&["serve"]), Command::Unknown("serve".into()));
        assert_eq!(parse(&["--help", "me"]), Command::Unknown("me".into()));
        assert_eq!(
            parse(&["healthcheck", "now"]),
            Command::Unknown("now".into())
        );
    }

    #[test]
    fn usage_lists_every_setting_with_the_services_port() {
        const MINE: &[Variable] = &[Variable {
            name: "MY_SETTING",
            meaning: "what it does (42)",
        }];
        let service = ServiceInfo {
            name: "blog-service",
            version: "1.2.3",
            default_port: 3003,
        };
        let text = usage(&service, &[MINE]);
        assert!(text.starts_with("blog-service 1.2.3"), "{text}");
        for name in [
            "HOST",
            "PORT",
            "MY_SETTING",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "RUST_LOG",
        ] {
            assert!(
                text.lines().any(|line| line.trim_start().starts_with(name)),
                "{name}: {text}"
            );
        }
        assert!(text.contains("its port (3003;"), "{text}");
    }
}
