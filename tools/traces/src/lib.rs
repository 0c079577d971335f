//! `traces`: a trace viewer for one machine, for when no Jaeger runs.
//!
//! - [`receiver`]: OTLP over gRPC and HTTP into a [`store::Store`] of the most recent traces,
//!   spans and the log records written in them.
//! - [`api`]: Jaeger v2's query API over that store, with Jaeger's JSON, so that clients of
//!   Jaeger read it unchanged; [`web`]: pages at Jaeger UI's paths.
//! - [`monitor`]: per-minute counts of calls, errors and durations, read as Jaeger's monitor API.
//! - [`client`] and [`terminal`]: the terminal commands, which read this or a real Jaeger.
//! - [`server`]: `traces serve`, all of the above on their addresses.
//!
//! The store and the receivers are a library so that another program (a test's collector, say)
//! can embed them.

pub mod analysis;
pub mod api;
pub mod client;
pub mod ids;
pub mod log_records;
pub mod monitor;
pub mod otlp_json;
pub mod receiver;
pub mod server;
pub mod store;
pub mod terminal;
pub mod units;
pub mod waterfall;
mod web;

#[cfg(test)]
mod testing;

/// The last error of a chain, which is usually the one that says what happened
/// ("Connection refused", "invalid gzip header").
pub(crate) fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
