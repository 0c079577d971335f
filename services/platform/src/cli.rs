//! A service binary's command line, parsed by clap. Without arguments it serves; `healthcheck`
//! probes the service running beside it (see [`crate::probe`]); `--help` lists the settings it
//! reads from its environment, with their defaults; `--version` names it. Anything else is refused
//! (exit code 2), so that a mistyped subcommand never starts a server.

use std::process::ExitCode;

use clap::{ArgMatches, Command};

use crate::{
    ServiceInfo,
    flags::ScenarioFlags,
    settings::{HttpSettings, Variable, help_line, help_table},
    telemetry,
};

/// Does what the command line asks unless it is to serve: `Some` is the exit code to stop with.
/// `settings` are the groups of variables the service reads besides those every service reads
/// (`HOST`, `PORT`, telemetry's and the scenario flags').
pub fn dispatch(service: &ServiceInfo, settings: &[&'static [Variable]]) -> Option<ExitCode> {
    match parse(service, settings, std::env::args_os()) {
        Ok(matches) if matches.subcommand_name() == Some("healthcheck") => {
            Some(crate::probe::run(service))
        }
        Ok(_) => None,
        // `--help` and `--version` arrive here too, with exit code 0.
        Err(error) => {
            let _ = error.print();
            Some(ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2)))
        }
    }
}

fn parse(
    service: &ServiceInfo,
    settings: &[&'static [Variable]],
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<ArgMatches, clap::Error> {
    let name = service.name;
    Command::new(name)
        .version(service.version)
        .about(format!(
            "{name}, a service of the blog platform: serves until SIGINT or SIGTERM"
        ))
        // `healthcheck` is the one subcommand: no `help` one beside it.
        .disable_help_subcommand(true)
        .subcommand(Command::new("healthcheck").about(format!(
            "Exit 0 if the {name} beside it answers GET /healthz"
        )))
        .after_help(settings_help(service, settings))
        .try_get_matches_from(args)
}

/// The settings part of `--help`: every variable the service reads, with its default.
fn settings_help(service: &ServiceInfo, settings: &[&'static [Variable]]) -> String {
    let port = service.default_port.to_string();
    let listening: String = HttpSettings::VARIABLES
        .iter()
        .map(|variable| {
            // PORT's default is each service's own.
            let default = if variable.name == "PORT" {
                Some(port.as_str())
            } else {
                variable.default
            };
            help_line(variable.name, default, variable.help)
        })
        .collect();
    let others = settings
        .iter()
        .copied()
        .flatten()
        .chain(ScenarioFlags::VARIABLES)
        .chain(telemetry::variables::variables());
    format!(
        "Settings, from the environment (a .env file in the working directory may fill it in); \
         each OTEL_EXPORTER_OTLP_ variable has a _TRACES_ and a _LOGS_ twin, which wins for its \
         signal:\n{listening}{}",
        help_table(others)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: ServiceInfo = ServiceInfo {
        name: "blog-service",
        version: "1.2.3",
        default_port: 3003,
    };

    const MINE: &[Variable] = &[Variable {
        name: "MY_SETTING",
        default: Some("42"),
        help: "what it does",
    }];

    fn parse_args(args: &[&str]) -> Result<Option<String>, clap::error::ErrorKind> {
        let args = std::iter::once("blog-service").chain(args.iter().copied());
        parse(&SERVICE, &[MINE], args)
            .map(|matches| matches.subcommand_name().map(str::to_owned))
            .map_err(|error| error.kind())
    }

    #[test]
    fn arguments_choose_the_command() {
        use clap::error::ErrorKind;
        assert_eq!(parse_args(&[]), Ok(None));
        assert_eq!(parse_args(&["healthcheck"]), Ok(Some("healthcheck".into())));
        assert_eq!(parse_args(&["--help"]), Err(ErrorKind::DisplayHelp));
        assert_eq!(parse_args(&["-h"]), Err(ErrorKind::DisplayHelp));
        assert_eq!(parse_args(&["--version"]), Err(ErrorKind::DisplayVersion));
        assert_eq!(parse_args(&["-V"]), Err(ErrorKind::DisplayVersion));
        assert_eq!(parse_args(&["serve"]), Err(ErrorKind::InvalidSubcommand));
        assert!(parse_args(&["--help", "me"]).is_err());
        assert_eq!(parse_args(&["help"]), Err(ErrorKind::InvalidSubcommand));
        assert_eq!(
            parse_args(&["healthcheck", "now"]),
            Err(ErrorKind::UnknownArgument)
        );
    }

    #[test]
    fn help_lists_every_setting_with_its_default_and_the_services_port() {
        let args = ["blog-service", "--help"];
        let text = parse(&SERVICE, &[MINE], args).unwrap_err().to_string();
        assert!(text.contains("Usage: blog-service [COMMAND]"), "{text}");
        assert!(text.contains("healthcheck"), "{text}");
        let declared = HttpSettings::VARIABLES
            .iter()
            .chain(MINE)
            .chain(ScenarioFlags::VARIABLES)
            .chain(telemetry::variables::variables());
        for variable in declared {
            let name = variable.name;
            let line = text
                .lines()
                .find(|line| line.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("{name}: {text}"));
            if let Some(default) = variable.default {
                assert!(line.ends_with(&format!("[default: {default}]")), "{line}");
            }
        }
        assert!(text.contains("MY_SETTING"), "{text}");
        assert!(text.contains("[default: 3003]"), "{text}");
    }
}
