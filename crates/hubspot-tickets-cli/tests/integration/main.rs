//! The command's integration tests, as one test binary (one link instead of one per
//! file): each module runs the real `hubspot-tickets` binary against the emulator, on
//! ephemeral loopback ports. Run one of them with
//! `cargo test -p hubspot-tickets-cli --test integration cli::`.

mod common;

mod answers;

mod bad_input;
mod check;
mod cli;
mod oauth;
mod rate_ceiling;
mod reliability;
mod resume_files;
mod security;
mod versions;
