//! The wire protocol between envv clients (the CLI, the dashboard) and the agent.

/// Bumped whenever a request or response changes shape.
pub const PROTOCOL_VERSION: u32 = 1;
