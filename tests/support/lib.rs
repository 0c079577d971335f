//! The end-to-end harness: everything a user story needs to run the real platform.
//!
//! - [`MongoServer`]: an nx-27017 process (a MongoDB wire-protocol server) with its own data
//!   directory, which a test can stop and start again.
//! - [`Collector`]: an in-process OTLP/gRPC trace collector the services export to.
//! - [`Platform`]: the four release binaries, started by the launcher's one definition of the
//!   platform against both, with a bootstrap admin, and an HTTP client with helpers for the API.
//! - [`load`]: concurrent requests of a realistic mix, closed- or open-loop, each one recorded
//!   (start, latency, status), for the fault tests and the soak, on the load engine (`loadgen`).
//!
//! Binaries are taken from the cargo target directory of the profile the tests were built with;
//! `scripts/test.sh` builds them first.

mod api;
mod collector;
pub mod load;
mod mongo_server;
mod platform;

pub use api::{Api, Exchange, Reply, read};
pub use collector::{Collector, ExportedSpan, SpanCounts, SpanKind, descends_from, describe, find};
pub use launcher::{SERVICES, keys::generate as generate_keys, paths::project_root};
pub use mongo_server::MongoServer;
pub use platform::{ADMIN_PASSWORD, ADMIN_USERNAME, Platform, PlatformOptions};

/// A port nothing listens on right now: for a client that must find no server (a refused
/// connection), or a process whose port must be fixed before it starts (pm2's). A service the
/// harness starts needs none: it listens on port 0 and says which port it got.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("binding an ephemeral port")
}
