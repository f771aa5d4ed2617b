//! The envv control plane: accounts, teams, roles and key distribution over
//! HTTP, on SQLite or PostgreSQL. It never holds a plaintext secret, a
//! plaintext team key, or anything that can unwrap one.
//!
//! [`server::serve`] runs it on a bound listener; the binary's `serve`
//! command ([`cli`]) adds configuration, key files, TLS and signals.

pub mod admin;
pub mod authz;
pub mod chain;
pub mod cli;
pub mod console;
pub mod error;
pub mod extract;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod invoice;
pub mod metrics;
pub mod openapi;
pub mod password;
pub mod ratelimit;
pub mod retention;
pub mod routes;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod validate;

pub use server::{serve, serve_tls};
pub use state::{AppState, Config};
