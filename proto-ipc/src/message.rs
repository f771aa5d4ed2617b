//! What crosses the socket. Requests name paths and teams; responses carry
//! the control plane's own types (`envv_api`) where they are proxied.

use std::path::PathBuf;

use envv_api::{Member, Role, Team, User};
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
    /// The agent speaks another version: the client restarts it.
    VersionMismatch { agent: u32 },
}

/// Why secrets are read: the agent audits each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadPurpose {
    Exec,
    Get,
    Export,
}

/// A project directory and one of its environments (`None`: `.env.enc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvRef {
    pub dir: PathBuf,
    pub env: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Lock state, account, connectivity.
    Status,
    Signup {
        server: String,
        email: String,
        name: String,
        password: Secret,
    },
    Login {
        server: String,
        email: String,
        password: Secret,
    },
    Logout,
    Unlock {
        password: Secret,
    },
    Lock,
    ListTeams,
    CreateTeam {
        name: String,
    },
    Members {
        team: Uuid,
    },
    Invite {
        team: Uuid,
        email: String,
        role: Role,
    },
    Join {
        code: Secret,
    },
    SetRole {
        team: Uuid,
        user: Uuid,
        role: Role,
    },
    RemoveMember {
        team: Uuid,
        user: Uuid,
    },
    /// Moves the team to a new key epoch and re-encrypts the files of `dirs`.
    Rotate {
        team: Uuid,
        dirs: Vec<PathBuf>,
    },
    /// Binds `dir` to a team, or to a personal key with no account.
    Init {
        dir: PathBuf,
        team: Option<Uuid>,
    },
    /// Decrypted secrets of an environment (all, or `only` these names).
    Read {
        at: EnvRef,
        only: Vec<String>,
        purpose: ReadPurpose,
    },
    /// Names only; needs no key.
    Names {
        at: EnvRef,
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
    /// Dotenv text to merge into the environment.
    Import {
        at: EnvRef,
        dotenv: Secret,
    },
    /// Events (audit rows, lock changes, connectivity) until the client hangs up.
    Subscribe,
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
            Request::Unlock { .. } => "unlock",
            Request::Lock => "lock",
            Request::ListTeams => "list_teams",
            Request::CreateTeam { .. } => "create_team",
            Request::Members { .. } => "members",
            Request::Invite { .. } => "invite",
            Request::Join { .. } => "join",
            Request::SetRole { .. } => "set_role",
            Request::RemoveMember { .. } => "remove_member",
            Request::Rotate { .. } => "rotate",
            Request::Init { .. } => "init",
            Request::Read { .. } => "read",
            Request::Names { .. } => "names",
            Request::Set { .. } => "set",
            Request::Unset { .. } => "unset",
            Request::Import { .. } => "import",
            Request::Subscribe => "subscribe",
            Request::Shutdown => "shutdown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub server: String,
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub agent_version: String,
    pub pid: u32,
    pub locked: bool,
    /// `None` in local mode (no account).
    pub account: Option<Account>,
    /// Whether the control plane answered last time it was asked.
    pub online: Option<bool>,
    /// Seconds until the idle lock, while unlocked.
    pub idle_lock_in: Option<u64>,
}

/// Something the dashboard wants to hear about as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Locked,
    Unlocked,
    Online,
    Offline {
        since_secs: u64,
    },
    Audit {
        team: Option<Uuid>,
        action: String,
        names: Vec<String>,
        at: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    Done,
    Status(AgentStatus),
    Account(Account),
    Teams {
        teams: Vec<Team>,
    },
    Team(Team),
    Members {
        members: Vec<Member>,
    },
    /// Print once; never log.
    InviteCode {
        code: Secret,
        invite_id: Uuid,
    },
    Rotated {
        team: Uuid,
        epoch: u32,
        files: usize,
    },
    /// Sorted by name.
    Secrets {
        secrets: Vec<(String, Secret)>,
    },
    Names {
        names: Vec<String>,
    },
    Imported {
        count: usize,
    },
    Event(Event),
    Error {
        code: ErrorCode,
        message: String,
    },
}
