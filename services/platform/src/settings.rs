//! Settings read from the environment (docs/configuration.md lists them).
//!
//! Each service reads only the groups it needs (`HttpSettings`, `MongoSettings`, ...), so a missing
//! variable that a service does not use can never stop it. A bad value stops the process at start
//! with one line naming the variable: [`SettingsError`].

use std::{net::IpAddr, str::FromStr};

use crate::cli::Variable;

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
            meaning: "the MongoDB server (mongodb://localhost:27017)",
        },
        Variable {
            name: "MONGODB_DB",
            meaning: "its database (blog)",
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
    meaning: "where author-service answers (http://localhost:3004)",
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
            meaning: "the tokens' iss (blog-authen)",
        },
        Variable {
            name: "JWT_AUDIENCE",
            meaning: "the tokens' aud (blog-api)",
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
    meaning: "the RSA public keys tokens are checked with: PEM files separated by commas, each \
              with one or more keys (keys/public.pem)",
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
