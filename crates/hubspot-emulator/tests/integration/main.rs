//! The emulator's integration tests, as one test binary (one link instead of one per
//! file): each module is one concern, over real HTTP or the real `hubspot-emulator`
//! binary. Run one of them with `cargo test -p hubspot-emulator --test integration faults::`.

mod common;

mod cli;
mod config;
mod faults;
mod limits;
mod oauth;
mod objects;
mod properties;
mod rate_limits;
mod remote;
mod spec_conformance;
mod state;
mod upsert;
mod validation;
mod versions;
