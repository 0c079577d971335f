//! The blog platform as processes, defined once: which processes run, in what order, with which
//! environment and ports, and when each is ready ([`definition`], [`services`]); the embedded
//! MongoDB server for machines without one ([`mongo`]); child processes that say where they
//! listen and are never leaked ([`process`]); the local trace viewer for a machine where nothing
//! receives spans ([`viewer`]).
//!
//! The tests start their platforms with it, the `launcher` binary runs it for `scripts/up.sh`
//! and `scripts/bench.sh`, and `traffic` takes the services' default addresses from it.

pub mod definition;
pub mod keys;
pub mod mongo;
pub mod paths;
pub mod process;
pub mod services;
pub mod signal;
pub mod viewer;

pub use definition::{SERVICES, Service, Wiring};
pub use mongo::EmbeddedMongo;
pub use process::Process;
pub use services::{Plan, Services};
