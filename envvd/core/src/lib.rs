//! envv's core: what the agent, the CLI, the control plane's tests and the
//! fuzz targets share, as plain synchronous code (no async runtime, no
//! HTTP, no argument parsing).
//!
//! [`chain`] is the team chain: the signed statements from which clients
//! learn members, roles and epoch keys. [`crypto`] holds keys and who can open what: password derivation,
//! identities, team epochs and grants, invite binding. [`envfile`] is the
//! `.env.enc` format, its editing and the dotenv reader. [`project`] is the
//! project file that binds a directory to a team and the names of its
//! environments' files, and [`secret`] the types that hold secret bytes.
//! [`loader`] names the variables that change which code programs load.
//!
//! Everything but [`project`] and [`loader`] is behind the default feature `format`; the
//! CLI and the dashboard turn it off and link no crypto.

#![warn(missing_docs)]

#[cfg(feature = "format")]
pub mod chain;
#[cfg(feature = "format")]
pub mod crypto;
#[cfg(feature = "format")]
pub mod envfile;
#[cfg(feature = "format")]
#[doc(hidden)]
pub mod fuzzing;
pub mod loader;
pub mod project;
#[cfg(feature = "format")]
pub mod secret;
