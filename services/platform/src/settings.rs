//! Settings read from the environment (docs/configuration.md lists them).
//!
//! Each service reads only the groups it needs (`HttpSettings`, `MongoSettings`, ...), so a missing
//! variable that a service does not use can never stop it. A bad value stops the process at start
//! with one line naming the variable: [`SettingsError`].
//!
//! Each module that reads variables declares them beside the code that reads them, as
//! [`Variable`]s: their names, defaults and help, written once. A binary's `--help` lists them
//! ([`help_table`]), and tests/docs.rs checks docs/configuration.md against that list.

use std::{fmt::Write as _, net::IpAddr, str::FromStr};

/// A variable a binary reads: what `--help` says of it, and what docs/configuration.md is
/// checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The variable's name.
    pub name: &'static str,
    /// The value the code uses when it is unset or empty; `None`: unset means "none" or "off",
    /// which `help` says.
    pub default: Option<&'static str>,
    /// What it sets, in a line.
    pub help: &'static str,
}

/// The lines of a `--help` listing `variables`, one a line (see [`help_line`]).
pub fn help_table<'a>(variables: impl IntoIterator<Item = &'a Variable>) -> String {
    variables
        .into_iter()
        .map(|variable| help_line(variable.name, variable.default, variable.help))
        .collect()
}

/// A variable's line in a `--help`: its name, its help, and its default as clap writes an
/// option's (`[default: 3600]`), which tests/docs.rs reads back. Apart from [`help_table`], for a
/// variable whose default is known at run time only (each service's `PORT`).
pub fn help_line(name: &str, default: Option<&str>, help: &str) -> String {
    let mut line = format!("  {name:<40} {help}");
    if let Some(default) = default {
        let _ = write!(line, " [default: {default}]");
    }
    line.push('\n');
    line
}

/// A setting that is present but unusable. Its `Display` is the one line printed at start.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct SettingsError {
    /// The variable at fault.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

impl SettingsError {
    /// The error for `variable`, saying why.
    pub fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// The variable's value, or `None` when it is unset or empty (an empty value in a `.env` file or
/// compose file means "use the default", as it does for the OpenTelemetry SDK).
pub fn var(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// The variable parsed, or `default` when it is unset.
pub fn parse_var<T>(variable: &'static str, default: T) -> Result<T, SettingsError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match var(variable) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|error| {
            SettingsError::new(variable, format!("cannot parse {raw:?}: {error}"))
        }),
    }
}

/// Where the service listens: `HOST` and `PORT`.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The address to bind (127.0.0.1).
    pub host: IpAddr,
    /// The port to bind: 0 lets the system choose, and the service logs the one it got.
    pub port: u16,
}

impl HttpSettings {
    /// The variables read. `PORT`'s default is each service's own (`ServiceInfo::default_port`),
    /// which its `--help` puts in.
    pub const VARIABLES: &[Variable] = &[
        Variable {
            name: "HOST",
            default: Some("127.0.0.1"),
            help: "the address it listens on; 0.0.0.0: every interface",
        },
        Variable {
            name: "PORT",
            default: None,
            help: "its port; 0: any free port, logged at start",
        },
    ];

    /// `HOST` and `PORT`, with the service's own port by default.
    pub fn from_env(default_port: u16) -> Result<Self, SettingsError> {
        Ok(Self {
            host: parse_var("HOST", IpAddr::from([127, 0, 0, 1]))?,
            port: parse_var("PORT", default_port)?,
        })
    }
}

/// The database: `MONGODB_URI` and `MONGODB_DB`.
#[derive(Debug, Clone)]
pub struct MongoSettings {
    /// The server's connection string.
    pub uri: String,
    /// The database the service uses.
    pub database: String,
}

impl MongoSettings {
    /// The variables read, as `--help` lists them.
    pub const VARIABLES: &[Variable] = &[
        Variable {
            name: "MONGODB_URI",
            default: Some("mongodb://localhost:27017"),
            help: "the MongoDB server",
        },
        Variable {
            name: "MONGODB_DB",
            default: Some("blog"),
            help: "its database",
        },
    ];

    /// `MONGODB_URI` and `MONGODB_DB`, with their defaults.
    pub fn from_env() -> Result<Self, SettingsError> {
        Ok(Self {
            uri: var("MONGODB_URI").unwrap_or_else(|| "mongodb://localhost:27017".to_owned()),
            database: var("MONGODB_DB").unwrap_or_else(|| "blog".to_owned()),
        })
    }
}

/// [`author_url_from_env`]'s variable.
pub const AUTHOR_URL_VARIABLES: &[Variable] = &[Variable {
    name: "AUTHOR_URL",
    default: Some("http://localhost:3004"),
    help: "where author-service answers",
}];

/// Where author-service answers: `AUTHOR_URL`.
pub fn author_url_from_env() -> Result<reqwest::Url, SettingsError> {
    parse_var(
        "AUTHOR_URL",
        reqwest::Url::parse("http://localhost:3004").expect("the default URL is valid"),
    )
}

/// What every token names and is checked against: `JWT_ISSUER` and `JWT_AUDIENCE`.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Every token's `iss`.
    pub issuer: String,
    /// Every token's `aud`.
    pub audience: String,
}

impl TokenSettings {
    /// The variables read, as `--help` lists them.
    pub const VARIABLES: &[Variable] = &[
        Variable {
            name: "JWT_ISSUER",
            default: Some("blog-authen"),
            help: "the tokens' iss",
        },
        Variable {
            name: "JWT_AUDIENCE",
            default: Some("blog-api"),
            help: "the tokens' aud",
        },
    ];

    /// `JWT_ISSUER` and `JWT_AUDIENCE`, with their defaults.
    pub fn from_env() -> Self {
        Self {
            issuer: var("JWT_ISSUER").unwrap_or_else(|| "blog-authen".to_owned()),
            audience: var("JWT_AUDIENCE").unwrap_or_else(|| "blog-api".to_owned()),
        }
    }
}

/// The public keys tokens are verified with (`keys::PublicKeys::from_env`).
pub const PUBLIC_KEY_VARIABLES: &[Variable] = &[Variable {
    name: "JWT_PUBLIC_KEY",
    default: Some("keys/public.pem"),
    help: "the RSA public keys tokens are checked with: PEM files separated by commas, each with \
           one or more keys",
}];

/// Reads a key file named by `variable` (or its default path) into a string.
pub fn read_key_file(variable: &'static str, default: &str) -> Result<String, SettingsError> {
    read_file(variable, var(variable).as_deref().unwrap_or(default))
}

/// Reads a file named by `variable` into a string.
pub fn read_file(variable: &'static str, path: &str) -> Result<String, SettingsError> {
    std::fs::read_to_string(path)
        .map_err(|error| SettingsError::new(variable, format!("cannot read {path}: {error}")))
}
