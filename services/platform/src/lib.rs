//! What every service of the blog platform needs, written once: settings from the environment,
//! the problem+json error type, request extractors, token keys, claims and verification, password
//! hashing, the author-service client, token revocations, the MongoDB connection, telemetry, the
//! scenario flags, the parts of the OpenAPI document every service shares, and server start-up
//! with graceful shutdown.

#![warn(missing_docs)]

pub mod author;
pub mod cli;
pub mod extract;
pub mod flags;
pub mod http_spans;
pub mod keys;
pub mod mongo;
pub mod openapi;
// Built with opentelemetry-otlp's exporter instead (the benchmark's comparison), ours goes unused.
#[cfg_attr(feature = "opentelemetry-otlp-exporter", allow(dead_code))]
pub mod otlp;
pub mod password;
pub mod probe;
pub mod problem;
pub mod revocations;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod token;
pub mod users;

pub use author::{AuthorClient, Authorized, Principal};
pub use problem::ApiError;
pub use server::{App, Readiness};
pub use settings::SettingsError;
pub use telemetry::{ServiceInfo, Telemetry};
pub use token::{Claims, Permission};

/// Formats a BSON date as RFC 3339 in UTC, as every `created_at` in the API is.
pub fn rfc3339(date: mongodb::bson::DateTime) -> String {
    date.try_to_rfc3339_string()
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}
