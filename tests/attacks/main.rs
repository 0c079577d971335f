//! Hostile input: nothing gets in.
//!
//! Forged, stale and malformed tokens; MongoDB operators, broken, odd and oversized JSON; absurd
//! paging; malformed ids; awkward Unicode. Each case is sent to the running services and must get
//! its exact status, as a problem document when it is an error, and the database must hold
//! exactly what the accepted requests stored. Every group has positive controls (the same request
//! done right succeeds), so a refusal proves the attack was refused, not that the request was
//! broken. At the end of each test no answer, log line or span may hold a password or token used.
//!
//! Starting a platform costs seconds, so each group shares one and its cases are tables.
//!
//! One file per group: `tokens.rs`, `bodies.rs` (JSON bodies) and `paging.rs` (paging, ids,
//! Unicode and lengths); `checks.rs` holds what they share.

mod bodies;
mod checks;
mod paging;
mod tokens;
