use serde::{Deserialize, Serialize};

use crate::frame::FrameError;

/// What went wrong, for a client to act on (and to map to an exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Run `envv unlock`.
    Locked,
    /// Run `envv auth login`.
    NotLoggedIn,
    /// The control plane is unreachable and the cache is too old.
    Offline,
    NotFound,
    Forbidden,
    /// The control plane refuses for a while: too many attempts.
    RateLimited,
    Conflict,
    /// The request itself is wrong (a bad name, a bad path).
    Invalid,
    /// The control plane refused or failed.
    Server,
    /// A file or key failed to verify: tampering, or the wrong key.
    Crypto,
    Io,
    Internal,
    /// A member whose team key an admin has not granted yet: nothing to
    /// unlock; an admin's agent grants it.
    AwaitingKey,
}

#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("the envv agent is not running (no socket at {path})")]
    AgentNotRunning { path: String },
    #[error("the envv agent speaks protocol {agent}, this client {client}; restart the agent")]
    VersionMismatch { client: u32, agent: u32, pid: u32 },
    #[error("the agent is locked; run `envv unlock`")]
    Locked,
    #[error("{message}")]
    Agent { code: ErrorCode, message: String },
    #[error("the agent sent something this client does not understand")]
    Malformed,
    #[error("the agent sent an unexpected answer to {request}")]
    Unexpected { request: &'static str },
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl IpcError {
    /// The error an agent's `Error` response stands for.
    pub fn from_response(code: ErrorCode, message: String) -> Self {
        match code {
            ErrorCode::Locked => IpcError::Locked,
            code => IpcError::Agent { code, message },
        }
    }
}
