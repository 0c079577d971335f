//! The load engine: what to send, when, and what came back.
//!
//! - [`Rng`] and [`Mix`]: the kinds of request in their proportions, drawn from a seed
//!   (SplitMix64), so a run can be repeated.
//! - [`OpenLoop`] and [`ClosedLoop`]: when to send. Open loop starts requests at a steady rate
//!   whatever the platform's pace, and counts what it cannot start on time; closed loop keeps a
//!   number of senders busy, each sending as soon as its last answer came.
//! - [`Record`], [`Summary`] and [`percentile`]: what came back, counted by kind and status, with
//!   nearest-rank percentiles and the trace each answer names.
//!
//! `traffic`, the tests' load (`tests/support/load.rs`) and the benchmark's seeding (`traffic
//! seed`) use it. For raw throughput the benchmark measures with wrk instead, which keeps many
//! connections busy with less CPU of its own than any load generator in this workspace would
//! (see `scripts/bench.sh`).

mod mix;
mod record;
mod report;
mod rng;
mod schedule;

pub use mix::{Kind, Mix};
pub use record::{Answer, Record, TraceRef, error_chain};
pub use report::{Summary, describe, latency_percentile, percentile, status_counts};
pub use rng::Rng;
pub use schedule::{ClosedLoop, OpenLoop, Progress, Tally};
