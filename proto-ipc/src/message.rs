//! What crosses the socket. Requests name paths and teams; roles, plans and
//! the usage report are the control plane's own types (`envv_api`); the
//! rest (team and member summaries, audit rows) are the agent's views of
//! what it verified or read.

use std::path::PathBuf;

pub use envv_api::{Plan, Role, UsageReport};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Secret;
use crate::error::ErrorCode;

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

/// How the agent holds keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A personal key on this machine; no account, no server.
    Local,
    /// An account on a control plane; team keys come as grants.
    Account,
}

/// The account an agent holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub server: String,
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    /// Grouped hex of the user's two public keys (see `MemberInfo`); known
    /// while the agent is unlocked.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// Filters of an audit query; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<Uuid>,
    /// The actor by email, former members included.
    #[serde(default)]
    pub actor_email: Option<String>,
    pub action: Option<String>,
    pub secret: Option<String>,
    /// RFC 3339, a date (`2026-12-05`, midnight UTC) or an age (`1h`, `7d`).
    pub since: Option<String>,
    /// As `since`.
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// Newest first, paging back in time (a cursor keeps the direction).
    #[serde(default)]
    pub newest_first: bool,
}

/// Something the dashboard wants to hear about as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Locked,
    Unlocked,
    /// The control plane answered after failing to.
    Online,
    /// A call to the control plane failed; `why` says how.
    Offline {
        why: String,
    },
    /// This agent recorded an audit event (names only).
    Audit {
        /// The event's id, which the trail keeps once it is shipped.
        id: Uuid,
        team: Uuid,
        action: String,
        names: Vec<String>,
        /// RFC 3339.
        at: String,
    },
}

/// A `checkpoint` statement of a team chain: the audit event it vouches
/// for, and who made it when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Its position in the team chain.
    pub statement: u64,
    /// The audit event (chain position) it vouches for.
    pub audit_seq: u64,
    pub by: Uuid,
    pub by_email: String,
    /// RFC 3339, the signer's clock.
    pub at: String,
}

/// What a former member could read, from the files this machine sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposureReport {
    pub email: String,
    /// The newest epoch they held a key for, and the statement that
    /// removed them.
    pub last_epoch: u64,
    pub removed_seq: u64,
    /// Every name in a file sealed at an epoch they held, by name.
    pub secrets: Vec<ExposedName>,
    /// The project roots whose files were read.
    pub projects: Vec<PathBuf>,
    /// Files of the team sealed at a later epoch (re-sealed since): their
    /// names are not listed, though values not changed since are known.
    pub later: Vec<PathBuf>,
    /// Names the trail shows they decrypted that no file here holds.
    pub decrypted_elsewhere: Vec<String>,
    /// Why the trail could not be read, if it could not.
    pub trail_error: Option<String>,
}

/// One secret name a former member could read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposedName {
    pub name: String,
    /// The environments whose files hold it (`None`: the default).
    pub envs: Vec<Option<String>>,
    /// The audit trail shows they decrypted or ran a command with it.
    pub decrypted: bool,
}

/// One audit event as a client shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    /// The id the recording client gave it.
    pub event_id: Uuid,
    /// RFC 3339.
    pub at: String,
    pub actor: Option<Uuid>,
    /// The actor's email, also once they left the team.
    #[serde(default)]
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// The target's email when the target is a user (role changes,
    /// removals, grants).
    #[serde(default)]
    pub target_email: Option<String>,
    /// The event's details as JSON text (names, never values).
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Holds the team's current key; false while waiting for an admin.
    pub has_key: bool,
    /// In the verified team chain. False for someone who accepted an
    /// invite and waits for an admin to admit them: their role and keys
    /// are only the server's word until then.
    #[serde(default)]
    pub admitted: bool,
    /// Grouped hex of the member's two public keys, from the chain, to
    /// compare out of band; empty until admitted.
    #[serde(default)]
    pub fingerprint: String,
}

/// An invite as the team chain records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteInfo {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// The admin who issued it.
    pub issued_by: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// `open`, or why it can admit no one: `used`, `revoked`, `expired`,
    /// `issuer removed`, `issuer may no longer issue it`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamInfo {
    pub id: Uuid,
    pub name: String,
    /// The caller's role in the team.
    pub role: Role,
    pub current_epoch: u32,
    /// A member was removed since the last rotation.
    pub rekey_required: bool,
    /// How long agents may read from cached keys offline.
    pub max_staleness_secs: u32,
}

/// A project directory as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    pub root: PathBuf,
    /// The team (or personal key) its files are encrypted to.
    pub team: Uuid,
    /// Its environments, from the `.env*.enc` files at its root, sorted;
    /// `None` is `.env.enc`.
    pub envs: Vec<Option<String>>,
    /// The key epoch each of `envs` is encrypted at, as its header says
    /// (unverified; `None`: no file yet, or unreadable). Files below the
    /// team's current epoch wait for `envv rotate`.
    #[serde(default)]
    pub epochs: Vec<Option<u64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub agent_version: String,
    pub protocol: u32,
    pub pid: u32,
    pub mode: Mode,
    pub locked: bool,
    /// Seconds until the idle lock, while unlocked.
    pub idle_lock_in: Option<u64>,
    /// Seconds until the absolute lock, while unlocked.
    pub absolute_lock_in: Option<u64>,
    /// Decrypted environments held in memory.
    pub cached_files: usize,
    /// Whether the last call to the control plane got through (always
    /// true in local mode).
    pub online: bool,
    /// When a call to the control plane last got through (RFC 3339).
    pub last_sync: Option<String>,
    pub account: Option<Account>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    Done,
    Status(AgentStatus),
    Account(Account),
    NoAccount,
    Teams {
        teams: Vec<TeamInfo>,
    },
    Team(TeamInfo),
    Members {
        members: Vec<MemberInfo>,
        /// The verified chain's length and the fingerprint of its newest
        /// statement: two members who see the same have the same history.
        #[serde(default)]
        chain_seq: u64,
        #[serde(default)]
        chain_head: String,
    },
    Invites {
        invites: Vec<InviteInfo>,
    },
    /// Print once; never log.
    InviteCode {
        code: Secret,
        invite_id: Uuid,
    },
    /// `refused` names newcomers whose proof did not verify.
    Admitted {
        granted: usize,
        refused: Vec<String>,
    },
    Rotated {
        team: Uuid,
        epoch: u32,
        files: usize,
        /// Other projects of the team this agent knows, with files left at
        /// an older epoch: not re-encrypted (they were not in `dirs`).
        #[serde(default)]
        missed: Vec<PathBuf>,
    },
    /// `MoveProject`: the project now bound to `team`, and how many files
    /// were re-encrypted.
    Moved {
        root: PathBuf,
        team: Uuid,
        files: usize,
    },
    AuditPage {
        events: Vec<AuditRow>,
        next_cursor: Option<String>,
    },
    /// `problem` names the first edited, deleted or inserted event.
    AuditVerified {
        events: usize,
        problem: Option<String>,
        /// The team chain's checkpoint the trail was checked against.
        #[serde(default)]
        checkpoint: Option<CheckpointInfo>,
        /// The audit position this machine had verified before, which the
        /// trail had to extend.
        #[serde(default)]
        remembered: Option<u64>,
        /// The checkpoint this (admin's) agent added for the trail just
        /// verified, or why it could not.
        #[serde(default)]
        checkpointed: Option<Result<CheckpointInfo, String>>,
    },
    /// Answer to [`Request::Exposure`].
    Exposure(ExposureReport),
    /// `Export`'s text; it holds values.
    Text {
        text: Secret,
    },
    /// The control plane's usage report (`GET /teams/{id}/usage`).
    Usage(UsageReport),
    /// One event of a [`Request::Subscribe`] stream.
    Event(Event),
    /// Events shipped now, and still waiting (control plane unreachable).
    Synced {
        shipped: usize,
        pending: usize,
    },
    /// `Init`: the project root and the team its files are encrypted to.
    Project {
        root: PathBuf,
        team: Uuid,
    },
    /// Sorted by name.
    Secrets {
        secrets: Vec<(String, Secret)>,
    },
    Names {
        names: Vec<String>,
    },
    Projects {
        projects: Vec<ProjectInfo>,
    },
    /// `count` names were read; `changes` says for each (sorted) whether it
    /// is new, changed or the same; `warnings` (names and line numbers,
    /// never values) are for the user. After a dry run nothing was written.
    ResealPreview {
        /// Why the file is refused, or that it is not.
        verdict: String,
        /// The names, each with `changed`, `new`, `same`, `removed` or
        /// `unknown` (this agent has accepted no version of the file since
        /// it was unlocked).
        names: Vec<(String, String)>,
    },
    Resealed {
        count: usize,
    },
    Imported {
        count: usize,
        changes: Vec<ImportChange>,
        warnings: Vec<String>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
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
