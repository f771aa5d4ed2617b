//! What the agent answers: [`Response`] and the views in it (the account,
//! teams, members, invites and audit rows as the agent verified or read
//! them).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ImportChange, Role, UsageReport};
use crate::Secret;
use crate::error::ErrorCode;

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
