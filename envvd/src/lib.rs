//! The envv agent, `envvd`: holds unlocked keys and decrypted environments
//! behind a Unix socket, talks to the control plane, ships the audit trail.
//! The keys and the file format it works with are `envv-core`'s.

#![warn(missing_docs)]

pub mod agent;
pub mod daemon;
