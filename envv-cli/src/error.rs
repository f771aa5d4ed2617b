//! What a failure tells the user, and the exit code it maps to
//! (`docs/cli.md` lists them).
//!
//! Messages never hold a secret value: the agent's messages name files and
//! secrets only, and the CLI adds nothing but names and next steps.

use std::fmt;

use proto_ipc::{ErrorCode, IpcError};

/// Exit codes. `exec` exits with its command's status instead.
pub mod exit {
    /// Defines the codes and [`ALL`], which lists every one of them (so
    /// the documented table can be checked against all the codes).
    macro_rules! codes {
        ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
            $($(#[$doc])* pub const $name: u8 = $value;)*
            /// Every exit code envv itself chooses, by name.
            pub const ALL: &[(&str, u8)] = &[$((stringify!($name), $value)),*];
        };
    }

    codes! {
        OK = 0;
        ERROR = 1;
        /// Bad arguments (clap's own code), a bad name or input.
        USAGE = 2;
        /// The agent can't be reached or started.
        AGENT = 3;
        LOCKED = 4;
        /// No project, no such secret or environment.
        NOT_FOUND = 5;
        /// A file failed to verify: tampered with, or encrypted to another key.
        VERIFY = 6;
        /// The control plane is unreachable (and the cache can't stand in).
        OFFLINE = 7;
        /// No account on this machine, or the session or password was refused.
        NOT_LOGGED_IN = 8;
        /// Your role doesn't allow it, or you aren't in that team.
        FORBIDDEN = 9;
        /// The control plane refused for now: too many attempts.
        RATE_LIMITED = 10;
        /// `exec`: the command exists but can't be run (as shells do).
        CANNOT_EXECUTE = 126;
        /// `exec`: no such command (as shells do).
        COMMAND_NOT_FOUND = 127;
        /// stdout was closed before envv was done (`envv ls | head -1`):
        /// what a shell shows for a process killed by SIGPIPE.
        CLOSED_PIPE = 141;
    }
}

/// The exit-code table, as `docs/cli.md` and the man page show it: the
/// codes of a row (none for the last, "other"), and what they mean.
pub const EXIT_TABLE: &[(&[u8], &str)] = &[
    (&[exit::OK], "Success."),
    (
        &[exit::ERROR],
        "Any other error (I/O, the agent or the control plane failed, a TLS failure talking \
         to it).",
    ),
    (
        &[exit::USAGE],
        "Usage: bad arguments, a bad secret or environment name, no value given, unreadable \
         input, a confirmation needed without a terminal (give `--yes`), a loader variable \
         without `--allow-loader-var`.",
    ),
    (
        &[exit::AGENT],
        "The agent can't be reached, started or understood; `agent status`: not running.",
    ),
    (
        &[exit::LOCKED],
        "The agent is locked and needs `envv unlock`; or you joined a team and wait for an \
         admin to grant you its key (the message names the admins).",
    ),
    (
        &[exit::NOT_FOUND],
        "Not found: not in a project (run `envv init`), no such secret, environment, team or \
         file.",
    ),
    (
        &[exit::VERIFY],
        "A file failed to verify: it was tampered with, encrypted to another key, or at a key \
         epoch the agent doesn't hold yet; a write while a removal closed the team's key (until \
         `envv rotate`); `audit verify`: the chain is broken; `team grant`: a newcomer was \
         refused.",
    ),
    (
        &[exit::OFFLINE],
        "Offline: the control plane is unreachable and the agent's cache can't stand in.",
    ),
    (
        &[exit::NOT_LOGGED_IN],
        "Not logged in (run `envv auth login`), the session ended, or the password was refused \
         (by the control plane, or by `envv unlock`).",
    ),
    (
        &[exit::FORBIDDEN],
        "Forbidden: your role doesn't allow it, or you aren't a member of that team (removed, \
         or never added).",
    ),
    (
        &[exit::RATE_LIMITED],
        "Too many attempts: the control plane refuses for a while; the message says how long.",
    ),
    (
        &[exit::CANNOT_EXECUTE, exit::COMMAND_NOT_FOUND],
        "`exec`: the command can't be run / wasn't found.",
    ),
    (
        &[exit::CLOSED_PIPE],
        "stdout was closed before envv was done (`envv ls | head -1`): envv stops quietly, \
         with the status of a process killed by SIGPIPE.",
    ),
    (&[], "`exec`: the command's own status."),
];

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
        ErrorCode::NotLoggedIn
            if message.contains("envv auth") || message.contains("try again") =>
        {
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
        ErrorCode::RateLimited => Failure::new(exit::RATE_LIMITED, message),
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
pub(crate) mod tests {
    use super::*;

    /// The rows of the markdown table under `heading` in docs/cli.md.
    pub(crate) fn docs_table(heading: &str) -> Vec<(String, String)> {
        let path = format!(
            "{}/../docs/cli.md",
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
        );
        let docs = std::fs::read_to_string(path).expect("docs/cli.md");
        let start = docs.find(heading).unwrap_or_else(|| panic!("no {heading}"));
        docs[start..]
            .lines()
            .skip(1)
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|row| {
                let row = row.trim().trim_start_matches('|').trim_end_matches('|');
                let (left, right) = row.split_once(" | ").expect("two columns");
                // A `|` in a cell is written `\|`.
                let cell = |c: &str| c.trim().replace("\\|", "|");
                (cell(left), cell(right))
            })
            .collect()
    }

    fn label(codes: &[u8]) -> String {
        if codes.is_empty() {
            return "other".to_owned();
        }
        codes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// docs/cli.md's table is the code's, row for row; every code the code
    /// defines is in it, and it names no code the code doesn't have.
    #[test]
    fn the_documented_exit_codes_are_the_codes() {
        let documented = docs_table("## Exit codes");
        let ours: Vec<(String, String)> = EXIT_TABLE
            .iter()
            .map(|(codes, meaning)| (label(codes), (*meaning).to_owned()))
            .collect();
        assert_eq!(
            documented, ours,
            "docs/cli.md's exit codes differ from EXIT_TABLE"
        );
        let in_table: std::collections::BTreeSet<u8> = EXIT_TABLE
            .iter()
            .flat_map(|(c, _)| c.iter().copied())
            .collect();
        let defined: std::collections::BTreeSet<u8> = exit::ALL.iter().map(|(_, c)| *c).collect();
        assert_eq!(
            in_table, defined,
            "a code is defined but not documented, or the reverse"
        );
        assert_eq!(defined.len(), exit::ALL.len(), "two names for one code");
    }

    /// Every code the agent can answer maps to a documented exit code.
    #[test]
    fn every_agent_error_has_a_documented_code() {
        use ErrorCode::*;
        for code in [
            Locked,
            NotLoggedIn,
            Offline,
            NotFound,
            Forbidden,
            Conflict,
            Invalid,
            Server,
            Crypto,
            Io,
            Internal,
            RateLimited,
        ] {
            let failure = from_agent(code, "x".into());
            assert!(
                exit::ALL.iter().any(|(_, c)| *c == failure.code),
                "{code:?} gives {}",
                failure.code
            );
        }
    }

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
