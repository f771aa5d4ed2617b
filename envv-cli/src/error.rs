//! What a failure tells the user, and the exit code it maps to
//! (`docs/cli.md` lists them).
//!
//! Messages never hold a secret value: the agent's messages name files and
//! secrets only, and the CLI adds nothing but names and next steps.

use std::fmt;

use proto_ipc::{ErrorCode, IpcError};

/// Exit codes. `exec` exits with its command's status instead.
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    /// Bad arguments (clap's own code), a bad name or input.
    pub const USAGE: u8 = 2;
    /// The agent can't be reached or started.
    pub const AGENT: u8 = 3;
    pub const LOCKED: u8 = 4;
    /// No project, no such secret or environment.
    pub const NOT_FOUND: u8 = 5;
    /// A file failed to verify: tampered with, or encrypted to another key.
    pub const VERIFY: u8 = 6;
    /// The control plane is unreachable (and the cache can't stand in).
    pub const OFFLINE: u8 = 7;
    /// No account on this machine, or the session or password was refused.
    pub const NOT_LOGGED_IN: u8 = 8;
    /// Your role doesn't allow it, or you aren't in that team.
    pub const FORBIDDEN: u8 = 9;
    /// `exec`: the command exists but can't be run (as shells do).
    pub const CANNOT_EXECUTE: u8 = 126;
    /// `exec`: no such command (as shells do).
    pub const COMMAND_NOT_FOUND: u8 = 127;
}

/// A failure to report: one sentence (with the next step) and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::new(exit::USAGE, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The user's version of an error from the agent.
pub fn from_ipc(e: IpcError) -> Failure {
    match e {
        IpcError::AgentNotRunning { path } => Failure::new(
            exit::AGENT,
            format!("the envv agent is not running (no socket at {path}); run `envv agent start`"),
        ),
        IpcError::VersionMismatch { client, agent, .. } => Failure::new(
            exit::AGENT,
            format!(
                "the running agent speaks protocol {agent} and this envv {client}; \
                 run `envv agent stop`, then try again"
            ),
        ),
        IpcError::Locked => Failure::new(exit::LOCKED, "the agent is locked; run `envv unlock`"),
        IpcError::Agent { code, message } => from_agent(code, message),
        e @ (IpcError::Malformed | IpcError::Unexpected { .. }) => Failure::new(
            exit::AGENT,
            format!("{e}; is `envvd` the same version as `envv`? run `envv agent stop` and retry"),
        ),
        IpcError::Frame(e) => Failure::new(
            exit::AGENT,
            format!("lost the connection to the agent ({e}); run `envv agent status`"),
        ),
    }
}

fn from_agent(code: ErrorCode, message: String) -> Failure {
    let message = sentence(message);
    match code {
        ErrorCode::Locked => Failure::new(exit::LOCKED, "the agent is locked; run `envv unlock`"),
        // Nothing to unlock: the agent's message names the team's admins.
        ErrorCode::AwaitingKey => Failure::new(exit::LOCKED, message),
        ErrorCode::NotFound => Failure::new(exit::NOT_FOUND, message),
        ErrorCode::Invalid => Failure::new(exit::USAGE, message),
        // The agent says what went wrong and what to do: a damaged file,
        // a file at an old epoch, a mistyped invite code are not alike.
        ErrorCode::Crypto => Failure::new(exit::VERIFY, message),
        ErrorCode::NotLoggedIn if message.contains("envv auth") => {
            Failure::new(exit::NOT_LOGGED_IN, message)
        }
        ErrorCode::NotLoggedIn => Failure::new(
            exit::NOT_LOGGED_IN,
            format!("{message}; run `envv auth login`"),
        ),
        ErrorCode::Offline if message.contains("unreachable") => {
            Failure::new(exit::OFFLINE, message)
        }
        ErrorCode::Offline => Failure::new(
            exit::OFFLINE,
            format!("offline, the control plane is unreachable: {message}"),
        ),
        ErrorCode::Forbidden => Failure::new(exit::FORBIDDEN, message),
        ErrorCode::Conflict | ErrorCode::Server | ErrorCode::Io | ErrorCode::Internal => {
            Failure::new(exit::ERROR, message)
        }
    }
}

/// Agent messages may end with a full stop; ours append clauses.
fn sentence(message: String) -> String {
    match message.strip_suffix('.') {
        Some(m) => m.to_owned(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_errors_map_to_documented_codes() {
        let cases = [
            (IpcError::Locked, exit::LOCKED),
            (IpcError::AgentNotRunning { path: "/x".into() }, exit::AGENT),
            (
                IpcError::VersionMismatch {
                    client: 1,
                    agent: 2,
                    pid: 9,
                },
                exit::AGENT,
            ),
            (
                IpcError::Agent {
                    code: ErrorCode::NotFound,
                    message: "no secret named K".into(),
                },
                exit::NOT_FOUND,
            ),
            (
                IpcError::Agent {
                    code: ErrorCode::Crypto,
                    message: "bad tag".into(),
                },
                exit::VERIFY,
            ),
            (
                IpcError::Agent {
                    code: ErrorCode::Offline,
                    message: "the control plane at http://x is unreachable".into(),
                },
                exit::OFFLINE,
            ),
            (
                IpcError::Agent {
                    code: ErrorCode::NotLoggedIn,
                    message: "session expired".into(),
                },
                exit::NOT_LOGGED_IN,
            ),
            (
                IpcError::Agent {
                    code: ErrorCode::Forbidden,
                    message: "admins only".into(),
                },
                exit::FORBIDDEN,
            ),
            (
                IpcError::Agent {
                    code: ErrorCode::Invalid,
                    message: "bad name".into(),
                },
                exit::USAGE,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(from_ipc(e).code, code);
        }
    }

    #[test]
    fn locked_names_the_next_step() {
        assert!(from_ipc(IpcError::Locked).message.contains("envv unlock"));
    }

    #[test]
    fn not_logged_in_names_the_next_step() {
        let failure = from_ipc(IpcError::Agent {
            code: ErrorCode::NotLoggedIn,
            message: "the session expired.".into(),
        });
        assert_eq!(
            failure.message,
            "the session expired; run `envv auth login`"
        );
    }
}
