//! The control plane's integration tests, in one binary (a module per
//! area) so the dependency graph is linked once, as cargo and ripgrep do.
//! Shared harness code is in `common/`.
//!
//! nextest runs each test in a process of its own; `cargo test` runs them
//! all in this one, so no test may rely on being alone in it:
//! `zero_knowledge`'s process-wide log subscriber only adds to what every
//! server in the process logs, and servers bind port 0.

#[macro_use]
mod common;

mod accounts;
mod admin;
mod audit_chain;
mod audit_ingest;
mod authz;
mod binary;
mod chain;
mod console;
mod console_browser;
mod console_hardening;
mod fuzz;
#[cfg(feature = "fuzzing")]
mod fuzz_bodies;
mod hardening;
mod keys;
mod openapi;
mod operator;
mod rotation;
mod store;
mod teams;
mod tls;
mod zero_knowledge;
