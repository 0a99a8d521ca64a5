//! The workspace integration tests, as one test binary (one link instead of one per
//! file): the facade against the emulator and wiremock. Run one of them with
//! `cargo test -p integration-tests --test integration reliability_stop::`.
//!
//! `facade_redaction` and `security_token` stay binaries of their own: each installs
//! a process-wide `tracing` subscriber and asserts on everything logged in its process,
//! which the other tests here would flood (and only one global subscriber can be set).

mod bad_input_library;
mod facade_emulator;
mod facade_wiremock;
mod journal;
mod rate_ceiling;
mod reliability_soak;
mod reliability_stop;
mod reliability_timeouts;
mod security_transport;
mod token_sources;
mod version_rehearsal;
mod versions;
