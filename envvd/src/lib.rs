//! The envv agent core: identities, team keys and the `.env.enc` format, and
//! the daemon that holds unlocked keys behind a Unix socket.
//!
//! The daemon is [`agent`]. The cryptographic core lives in [`crypto`] (keys and who can open what)
//! and [`envfile`] (the on-disk format and its editing). Both are plain
//! synchronous code with no server or socket, so the CLI can use them
//! in-process and tests can drive them directly.

#![warn(missing_docs)]

pub mod agent;
pub mod crypto;
pub mod envfile;
#[doc(hidden)]
pub mod fuzzing;
pub mod secret;
