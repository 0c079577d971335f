//! The end-to-end harness: everything a user story needs to run the real platform.
//!
//! - [`MongoServer`]: an nx-27017 process (a MongoDB wire-protocol server) with its own data
//!   directory, which a test can stop and start again.
//! - [`Collector`]: an in-process OTLP trace collector the services export to, keeping every
//!   attribute's type, and their log records beside the spans; [`conventions`] checks each span
//!   it hands a test against the semantic conventions.
//! - [`Platform`]: the four release binaries, started by the launcher's one definition of the
//!   platform against both, with a bootstrap admin, and an HTTP client with helpers for the API.
//! - [`Authority`] and [`TlsFront`]: a private certificate authority and TLS before the collector,
//!   for export over `https://`.
//! - [`Balancer`]: nginx in front of several replicas of each service, for the replicated
//!   platform ([`PlatformOptions::replicas`]).
//! - [`Viewer`]: the trace viewer (`traces serve`) the services can export to instead, its
//!   terminal commands, and [`Browser`], headless Chromium to render its pages.
//! - [`load`]: concurrent requests of a realistic mix, closed- or open-loop, each one recorded
//!   (start, latency, status), for the fault tests and the soak, on the load engine (`loadgen`).
//! - the repository's deployment files, for the tests that check them statically.
//! - [`openapi`]: a service's OpenAPI document checked, for the services' own unit tests.
//!
//! Binaries are taken from the cargo target directory of the profile the tests were built with;
//! `scripts/test.sh` builds them first.

mod api;
mod balancer;
mod collector;
pub mod conventions;
pub mod load;
mod mongo_server;
pub mod openapi;
mod platform;
mod repository;
mod tls;
mod viewer;

pub use api::{Api, Exchange, Reply, WithToken, read};
pub use balancer::{BACK_IN_ROTATION, Balancer, Route, site_config};
pub use collector::{
    Attributes, AuthorHop, Collector, ExportedLogRecord, ExportedSpan, SpanCounts, SpanKey,
    SpanKind, Value, descends_from, describe, describe_records, find, severity, span,
};
pub use launcher::{SERVICES, keys::generate as generate_keys, paths::project_root};
pub use mongo_server::MongoServer;
pub use platform::{ADMIN_PASSWORD, ADMIN_USERNAME, Platform, PlatformOptions};
pub use repository::{assert_image_pinned, read_repository_file};
pub use tls::{Authority, TlsFront};
pub use viewer::{Browser, CliRun, ViewedSpan, Viewer, run_cli, serve_refused, spans_of};

/// A port nothing listens on right now: for a client that must find no server (a refused
/// connection), or a process whose port must be fixed before it starts (pm2's). A service the
/// harness starts needs none: it listens on port 0 and says which port it got.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("binding an ephemeral port")
}
