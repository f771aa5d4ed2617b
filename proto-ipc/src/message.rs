//! What crosses the socket. Requests name paths and teams; roles, plans and
//! the usage report are the control plane's own types (`envv_api`); the
//! rest (team and member summaries, audit rows) are the agent's views of
//! what it verified or read.

use std::path::PathBuf;

pub use envv_api::{Plan, Role, UsageReport};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Secret;

mod response;
pub use response::*;

/// The client's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    /// `envv 0.1.0`, `envv-tui 0.1.0`: for the agent's log.
    pub client: String,
}

/// The agent's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Welcome {
    Accepted {
        version: u32,
        agent_version: String,
        pid: u32,
    },
    /// The agent speaks another version: the client stops it (SIGTERM to
    /// `pid`) and starts its own.
    VersionMismatch { agent: u32, pid: u32 },
}

/// Why secrets are read: the agent audits each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadPurpose {
    Exec,
    Get,
    Export,
}

/// The formats of [`Request::Export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `KEY="value"` lines that re-import to the same values.
    Dotenv,
    /// One JSON object, keys sorted.
    Json,
    /// `export KEY='value'` lines for POSIX shells.
    Shell,
}

/// A project directory and one of its environments (`None`: `.env.enc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvRef {
    pub dir: PathBuf,
    pub env: Option<String>,
}

/// What a client asks: everything the CLI and the dashboard can do goes
/// through one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Lock state, mode, timers.
    Status,
    /// Creates an account on `server` and unlocks it.
    Signup {
        server: String,
        email: String,
        name: String,
        password: Secret,
        /// Skip the password strength check (scripts that must use a
        /// given password).
        #[serde(default)]
        allow_weak_password: bool,
    },
    /// Logs in on this machine (a new device) and unlocks.
    Login {
        server: String,
        email: String,
        password: Secret,
    },
    /// Ends the session and forgets the account on this machine.
    Logout,
    /// Whether the control plane at `server` answers (before asking a
    /// person for an email and password to send it).
    CheckServer {
        server: String,
    },
    /// Re-wraps the identity under `new`, replaces the account's auth key
    /// on the control plane and ends its other sessions.
    ChangePassword {
        current: Secret,
        new: Secret,
    },
    /// The account this agent holds, if any.
    Whoami,
    /// Whether the control plane at `server` answers (`GET /healthz`), over
    /// TLS the agent trusts for `https://`: `Done`, or an `offline` error
    /// naming the cause (refused, DNS, an untrusted certificate).
    Probe {
        server: String,
    },
    /// A team with the caller as owner; its first key is made here.
    CreateTeam {
        name: String,
    },
    /// The caller's teams.
    ListTeams,
    /// A team's members, with whether each holds the current key.
    Members {
        team: Uuid,
    },
    /// Gives the team another display name (admins).
    RenameTeam {
        team: Uuid,
        name: String,
    },
    /// Deletes the team (its owner).
    DeleteTeam {
        team: Uuid,
    },
    /// The team's invites, from its verified chain.
    Invites {
        team: Uuid,
    },
    /// Withdraws an open invite (a `revoke-invite` statement).
    RevokeInvite {
        team: Uuid,
        invite: Uuid,
    },
    /// Invites `email` with `role`; answers the invite code to hand over
    /// out of band.
    Invite {
        team: Uuid,
        email: String,
        role: Role,
    },
    /// Joins with an invite code; an admin's agent then grants the key.
    Join {
        code: Secret,
    },
    /// Verifies newcomers' proofs and grants them the team key (an admin's
    /// agent also does this on its own while unlocked).
    AdmitPending {
        team: Uuid,
    },
    SetRole {
        team: Uuid,
        user: Uuid,
        role: Role,
    },
    /// Sets how long members' agents may read from cached keys while the
    /// control plane is unreachable (admins).
    SetTeamSettings {
        team: Uuid,
        max_staleness_secs: u32,
    },
    /// Removes a member (or, for oneself, leaves): their key fetches stop
    /// at once and the team needs a rotation.
    RemoveMember {
        team: Uuid,
        user: Uuid,
    },
    /// Moves the team to a new key epoch and re-encrypts the `.env*.enc`
    /// files of the projects in `dirs`.
    Rotate {
        team: Uuid,
        dirs: Vec<PathBuf>,
    },
    /// One page of a team's audit trail, newest filters applied server-side.
    Audit {
        team: Uuid,
        filter: AuditFilter,
    },
    /// Fetches the team's whole export and checks its hash chain here, on
    /// this machine, so a tampering server can't vouch for itself.
    AuditVerify {
        team: Uuid,
    },
    /// What a former member of the team could read: every secret name in
    /// the team's files (in `dirs`' projects and the projects this machine
    /// knows) sealed at an epoch they held, marked where the audit trail
    /// shows they decrypted it.
    Exposure {
        team: Uuid,
        user: Uuid,
        dirs: Vec<PathBuf>,
    },
    /// Ships the local audit spool now instead of at the next tick.
    SyncAudit,
    /// The team's plan, seats, limits, consumption and invoice preview.
    Usage {
        team: Uuid,
    },
    /// Sets the team's plan and billing contact (owners only).
    SetBilling {
        team: Uuid,
        plan: Plan,
        billing_email: String,
    },
    /// Turns this connection into a stream of [`Event`]s (the dashboard's
    /// live view) until the client hangs up.
    Subscribe,
    /// Forgets every key and decrypted value until the next unlock.
    Lock,
    /// Loads the keys again (in local mode the personal key needs no password).
    Unlock {
        password: Option<Secret>,
    },
    /// The projects this agent has opened or bound, with their
    /// environments; the project around `here` (the client's directory)
    /// comes first even if the agent hasn't seen it yet.
    Projects {
        here: Option<PathBuf>,
    },
    /// Binds `dir` to `team`, or with no team (and no account) to this
    /// user's personal key.
    Init {
        dir: PathBuf,
        team: Option<Uuid>,
    },
    /// Moves the project around `dir`, bound to another key (the personal
    /// key, or another team), to `team` (else the only team): every
    /// environment's file is re-encrypted to the team's current key, then
    /// `.envv.json` is rewritten. A file already moved is left as is, so
    /// an interrupted move can be run again.
    MoveProject {
        dir: PathBuf,
        team: Option<Uuid>,
    },
    /// Decrypted secrets of an environment (all, or `only` these names).
    Read {
        at: EnvRef,
        only: Vec<String>,
        purpose: ReadPurpose,
    },
    /// Names only.
    Names {
        at: EnvRef,
    },
    /// The environment rendered as dotenv, JSON or shell text.
    Export {
        at: EnvRef,
        format: ExportFormat,
    },
    Set {
        at: EnvRef,
        name: String,
        value: Secret,
    },
    Unset {
        at: EnvRef,
        name: String,
    },
    /// Dotenv (or JSON) text to merge into the environment, all or nothing.
    Import {
        at: EnvRef,
        dotenv: Secret,
        /// The variables of the importing process's environment that the
        /// text may reference ([`referenced_names`]): `$NAME` resolves from
        /// earlier names in the text, then from here, and never from the
        /// agent's own environment.
        env: Vec<(String, Secret)>,
        options: ImportOptions,
    },
    /// A file the agent refuses for its signer: why, and its names with
    /// how each value compares with the last version this agent accepted,
    /// for a person to review before [`Request::Reseal`].
    ResealPreview {
        at: EnvRef,
    },
    /// Re-seals a reviewed file at the team's current epoch, signed by this
    /// user (audited as `reseal`).
    Reseal {
        at: EnvRef,
    },
    /// Locks, removes the socket and exits.
    Shutdown,
}

impl Request {
    /// The operation's name, for logs: never the request itself, which may
    /// hold a secret.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Signup { .. } => "signup",
            Request::Login { .. } => "login",
            Request::Logout => "logout",
            Request::CheckServer { .. } => "check_server",
            Request::ChangePassword { .. } => "change_password",
            Request::Whoami => "whoami",
            Request::Probe { .. } => "probe",
            Request::CreateTeam { .. } => "create_team",
            Request::ListTeams => "list_teams",
            Request::Members { .. } => "members",
            Request::RenameTeam { .. } => "rename_team",
            Request::DeleteTeam { .. } => "delete_team",
            Request::Invites { .. } => "invites",
            Request::RevokeInvite { .. } => "revoke_invite",
            Request::Invite { .. } => "invite",
            Request::Join { .. } => "join",
            Request::AdmitPending { .. } => "admit_pending",
            Request::SetRole { .. } => "set_role",
            Request::SetTeamSettings { .. } => "set_team_settings",
            Request::RemoveMember { .. } => "remove_member",
            Request::Rotate { .. } => "rotate",
            Request::Audit { .. } => "audit",
            Request::AuditVerify { .. } => "audit_verify",
            Request::Exposure { .. } => "exposure",
            Request::SyncAudit => "sync_audit",
            Request::Subscribe => "subscribe",
            Request::Usage { .. } => "usage",
            Request::SetBilling { .. } => "set_billing",
            Request::Lock => "lock",
            Request::Unlock { .. } => "unlock",
            Request::Projects { .. } => "projects",
            Request::Init { .. } => "init",
            Request::MoveProject { .. } => "move_project",
            Request::Read { .. } => "read",
            Request::Names { .. } => "names",
            Request::Export { .. } => "export",
            Request::Set { .. } => "set",
            Request::Unset { .. } => "unset",
            Request::Import { .. } => "import",
            Request::ResealPreview { .. } => "reseal_preview",
            Request::Reseal { .. } => "reseal",
            Request::Shutdown => "shutdown",
        }
    }
}

/// How [`Request::Import`] reads and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// Replace `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}`;
    /// false stores every value as written.
    pub expand: bool,
    /// An undefined reference or a line without `=` is an error, not a
    /// warning.
    pub strict: bool,
    /// Compare with the stored values and report, but write nothing.
    pub dry_run: bool,
    /// Store names that change which code programs load (`LD_PRELOAD`,
    /// `NODE_OPTIONS`, … see `envv_core::loader`); else they are refused.
    #[serde(default)]
    pub allow_loader_vars: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            expand: true,
            strict: false,
            dry_run: false,
            allow_loader_vars: false,
        }
    }
}

/// How an imported name compares with what the environment held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    New,
    Changed,
    Same,
}

/// One name of an import (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportChange {
    pub name: String,
    pub status: ImportStatus,
}

/// The names a dotenv text could reference: each `NAME` written `$NAME` or
/// `${NAME…}` (`[A-Za-z_][A-Za-z0-9_]*`). A client sends only these
/// variables of its environment with [`Request::Import`], not all of it.
pub fn referenced_names(text: &str) -> std::collections::BTreeSet<&str> {
    let mut names = std::collections::BTreeSet::new();
    for (at, _) in text.match_indices('$') {
        let rest = &text[at + 1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            continue;
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        names.insert(&rest[..len]);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_written_after_a_dollar_are_referenced() {
        let text = "A=$HOME/${USER}:${PORT:-80} $5 $ ${ 10$ $(cmd) \\$ESCAPED_TOO B=$_x1";
        let names: Vec<&str> = referenced_names(text).into_iter().collect();
        assert_eq!(names, ["ESCAPED_TOO", "HOME", "PORT", "USER", "_x1"]);
    }
}
