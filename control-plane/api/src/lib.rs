//! Request and response types of the envv control plane's HTTP API.
//!
//! The server, the agent (its client) and the tests share these types, so this
//! crate must stay free of anything server-only: no database driver, no router.
//! The server turns on the `openapi` feature to derive the OpenAPI schema.

mod audit;
mod auth;
pub mod authz;
mod error;
mod keys;
mod plan;
mod secret;
mod team;

pub use audit::*;
pub use auth::*;
pub use error::*;
pub use keys::*;
pub use plan::*;
pub use secret::{SecretString, boxed as boxed_secret};
pub use team::*;

/// Largest request body the control plane accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
