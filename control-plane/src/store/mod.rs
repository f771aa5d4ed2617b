//! Storage: one thin trait, one implementation per backend.
//!
//! Both backends run the same SQL (SQLite accepts PostgreSQL's `$n`
//! placeholders), so the query code is written once, generic over
//! [`Backend`] ([`SqlStore`], `sql*.rs`), and `backend.rs` holds the little
//! that differs; each backend keeps its own connection set-up
//! (`sqlite.rs`, `postgres.rs`) and its own migrations with native column
//! types.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use envv_api::{KdfParams, Role};
use envv_core::chain::Statement;
use uuid::Uuid;

mod audit;
mod backend;
mod console;
mod inline;
mod keys;
mod lease;
mod member_lists;
mod operator;
mod outage;
mod postgres;
mod rows;
mod sql;
mod sql_accounts;
mod sql_audit;
mod sql_chain;
mod sql_console;
mod sql_keys;
mod sql_operator;
mod sql_teams;
mod sqlite;

pub use audit::*;
pub use backend::Backend;
pub use console::*;
pub use keys::*;
pub use member_lists::MemberList;
pub use operator::*;
pub use outage::Outage;
pub use postgres::PgStore;
pub use sql::SqlStore;
pub use sqlite::SqliteStore;

/// Open the store a database URL names: `postgres://` or `postgresql://`
/// selects PostgreSQL, `sqlite:` (or a bare path) SQLite. Runs migrations.
pub async fn connect(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    connect_with(url, None).await
}

/// [`connect`] with at most `pool_size` connections (else the backend's
/// default).
pub async fn connect_with(
    url: &str,
    pool_size: Option<u32>,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::connect(url, pool_size).await?))
    } else {
        Ok(std::sync::Arc::new(
            SqliteStore::connect(url, pool_size).await?,
        ))
    }
}

/// How long a request waits for a database connection before it is
/// answered 503: while the database is down (sqlx keeps trying to connect
/// until then) or every connection is busy. It bounds how long a client
/// waits on an outage, so it is short; a request normally waits
/// milliseconds.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The longest one PostgreSQL statement may run before the server cancels
/// it (answered 503). No query of the API takes near this long; one that
/// does is waiting on a lock or a database in trouble.
const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A pooled connection idle longer than this is pinged before it is handed
/// out. sqlx's default (`test_before_acquire`) pings on every checkout: a
/// round trip per query, on top of the ping sqlx makes whenever a connection
/// goes back to the pool. A connection in steady use was proven live by that
/// ping moments ago; one that sat idle (say, across a database restart) is
/// still checked before use.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// For `PoolOptions::before_acquire`: pings connections idle for longer than
/// [`PING_IF_IDLE_FOR`]; a failed ping discards the connection.
///
/// So does a connection still inside a transaction. A `COMMIT` that fails
/// (SQLite's disk full, say) can leave sqlx counting a transaction the
/// database has already rolled back, and the `ROLLBACK` sqlx then sends
/// fails too; handed out again, every `BEGIN` on it would fail for good.
fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if conn.is_in_transaction() {
            tracing::warn!("discarding a database connection left inside a transaction");
            return Ok(false);
        }
        if meta.idle_for > PING_IF_IDLE_FOR {
            conn.ping().await?;
        }
        Ok(true)
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a row with the same key already exists")]
    Conflict,
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A plan limit refused the change; the message names plan and limit.
    #[error("{0}")]
    PlanLimit(String),
    /// The statement was not made at the chain's head: another append came
    /// first. The client reads the chain again and retries.
    #[error("the team chain moved on; read it again and retry")]
    ChainConflict,
    /// The statement breaks a chain rule, or says other than its request.
    #[error("{0}")]
    InvalidStatement(String),
}

/// The time as the database stores it: microseconds, UTC.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[derive(Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: String,
    pub email_norm: String,
    pub name: String,
    pub auth_key_hash: String,
    pub identity_public_key: String,
    pub signing_public_key: String,
    pub wrapped_identity: String,
    pub kdf: KdfParams,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub auth_key_hash: String,
    pub identity_public_key: String,
    pub signing_public_key: String,
    pub wrapped_identity: String,
    pub kdf: KdfParams,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl UserRecord {
    pub fn to_api(&self) -> envv_api::User {
        envv_api::User {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            identity_public_key: self.identity_public_key.clone(),
            signing_public_key: self.signing_public_key.clone(),
            created_at: self.created_at,
        }
    }
}

/// A refresh token as stored: only its hash.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: Vec<u8>,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The old token was spent and the new one stored.
    Rotated { user_id: Uuid, family_id: Uuid },
    /// The token was already spent: its family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// An event the server itself observed, written in the same transaction as
/// the change it records.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub team_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub action: &'static str,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(action: &'static str) -> Self {
        AuditEvent {
            team_id: None,
            actor_id: None,
            action,
            target: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn team(mut self, team_id: Uuid) -> Self {
        self.team_id = Some(team_id);
        self
    }

    pub fn actor(mut self, actor_id: Uuid) -> Self {
        self.actor_id = Some(actor_id);
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub seq: i64,
    pub event_id: Uuid,
    pub team_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRecord {
    pub id: Uuid,
    pub name: String,
    pub current_epoch: u32,
    pub rekey_required: bool,
    pub max_staleness_secs: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewInvite {
    pub id: Uuid,
    pub team_id: Uuid,
    pub email: String,
    pub email_norm: String,
    pub role: Role,
    pub accept_token_hash: Vec<u8>,
    pub invited_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct InviteRecord {
    pub id: Uuid,
    pub team_id: Uuid,
    pub email: String,
    pub email_norm: String,
    pub role: Role,
    pub accept_token_hash: Vec<u8>,
    pub invited_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_by: Option<Uuid>,
    pub revoked: bool,
}

impl InviteRecord {
    pub fn to_api(&self) -> envv_api::Invite {
        envv_api::Invite {
            id: self.id,
            team_id: self.team_id,
            email: self.email.clone(),
            role: self.role,
            invited_by: self.invited_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

/// Every change of a chain fact writes its statement in the same
/// transaction as its tables, after checking it there: at the chain's head
/// (else [`StoreError::ChainConflict`]) and within the chain's rules (else
/// [`StoreError::InvalidStatement`]), see `sql_chain.rs`.
///
/// Why a membership change was refused inside its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipRefusal {
    /// The change would leave the team without an owner.
    LastOwner,
    /// The target is not a member.
    NotMember,
    /// The caller's or the target's role is no longer the one the change
    /// was authorised on.
    Changed,
}

/// The roles a membership change was authorised on. The change applies only
/// if both still hold inside its transaction: an admin can't remove someone
/// an owner promoted to owner a moment before. A caller removed meanwhile
/// gets the same refusal, `Changed` (409), not the 404 of a non-member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorisedOn {
    pub actor: Role,
    pub target: Role,
}

/// Failed-login bookkeeping for one normalised email.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: i32,
    pub window: chrono::Duration,
    pub lockout: chrono::Duration,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the user and its `signup` audit row together.
    async fn create_user(&self, user: NewUser) -> Result<(), StoreError>;
    async fn user_by_email(&self, email_norm: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;

    /// Stores a new session's first refresh token and its audit row.
    async fn start_session(
        &self,
        token: NewRefreshToken,
        audit: AuditEvent,
    ) -> Result<(), StoreError>;
    /// Spends `old_hash` and stores `new` in its family, atomically: of many
    /// concurrent calls with one token, exactly one rotates.
    async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError>;
    /// Revokes the family of the given token; returns whether one was found.
    async fn revoke_session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// When the email is locked out, until when.
    async fn login_locked_until(
        &self,
        email_norm: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Counts a failed login and writes its audit row; returns the lockout
    /// end if this failure tipped the email into one.
    async fn record_login_failure(
        &self,
        email_norm: &str,
        now: DateTime<Utc>,
        policy: ThrottlePolicy,
        audit: AuditEvent,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn clear_login_failures(&self, email_norm: &str) -> Result<(), StoreError>;
    /// A new password: the auth key's hash, the identity wrapped anew and
    /// the KDF parameters replaced together; every session of the user
    /// revoked; `session` (the caller's new one) stored; a
    /// `password.change` audit row. One transaction.
    async fn change_password(
        &self,
        change: PasswordChange,
        session: NewRefreshToken,
    ) -> Result<(), StoreError>;
}

/// What [`AccountStore::change_password`] writes.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub user: Uuid,
    pub auth_key_hash: String,
    pub wrapped_identity: String,
    pub kdf: KdfParams,
}

#[async_trait]
pub trait TeamStore: Send + Sync {
    /// Creates the team at epoch 1 with `owner` as its first owner, holding
    /// the epoch's grant, and `genesis` (checked by the caller with
    /// `TeamChain::genesis`) as its chain's first statement.
    async fn create_team(
        &self,
        team: TeamRecord,
        owner: Uuid,
        first_epoch: NewEpoch,
        genesis: Statement,
    ) -> Result<(), StoreError>;
    async fn teams_of(&self, user: Uuid) -> Result<Vec<(TeamRecord, Role)>, StoreError>;
    async fn team(&self, id: Uuid) -> Result<Option<TeamRecord>, StoreError>;
    /// The team and the user's role in it, if they are a member.
    async fn membership(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(TeamRecord, Role)>, StoreError>;
    async fn members(&self, team: Uuid) -> Result<Vec<envv_api::Member>, StoreError>;
    /// The user's role in the team and the team's members, if the user is a
    /// member: checked against the database on every call, the list read
    /// again only when it changed (see `member_lists.rs`).
    async fn members_as(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(Role, std::sync::Arc<MemberList>)>, StoreError>;

    /// Stores the invite with its `invite` statement, which must pass the
    /// chain's rules at its head.
    async fn create_invite(
        &self,
        invite: NewInvite,
        statement: Statement,
    ) -> Result<(), StoreError>;
    async fn invite(&self, id: Uuid) -> Result<Option<InviteRecord>, StoreError>;
    async fn pending_invites(
        &self,
        team: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<InviteRecord>, StoreError>;
    /// Revokes an invite not yet used (one accepted by a newcomer not yet
    /// admitted too: their pending membership goes with it), with its
    /// `revoke-invite` statement. False when there is no such invite.
    async fn revoke_invite(
        &self,
        team: Uuid,
        id: Uuid,
        actor: Uuid,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<bool, StoreError>;
    /// Spends the invite and adds the member, not yet admitted, once: a
    /// second accept finds it spent. Keeps the newcomer's two signatures of
    /// their acceptance for the admin who admits them.
    async fn accept_invite(
        &self,
        id: Uuid,
        user: Uuid,
        proof: String,
        consent: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Appends a statement that changes no table but the chain (a
    /// `checkpoint`), through the same lock, head check and rule check as
    /// every other append. A checkpoint must name an event of the team's
    /// audit trail by its position and hash.
    async fn append_statement(
        &self,
        team: Uuid,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<(), StoreError>;

    /// The team's chain statements after the `after`th, oldest first, at
    /// most `limit`, and the number of statements in the chain.
    async fn chain_page(
        &self,
        team: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<String>, u64), StoreError>;

    /// Renames the team, audited as `team.rename`.
    async fn rename_team(
        &self,
        team: Uuid,
        actor: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes the team and everything of it but its audit trail, which
    /// records the deletion as `team.delete`.
    async fn delete_team(
        &self,
        team: Uuid,
        actor: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Sets how long agents may read from cached keys offline, audited as
    /// `team.settings`.
    async fn set_team_settings(
        &self,
        team: Uuid,
        actor: Uuid,
        max_staleness_secs: u32,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<(), StoreError>;
    /// Sets a member's role unless that leaves the team without an owner,
    /// or the roles it was authorised on changed.
    // Who, to whom, what, when, and the statement that records it.
    #[allow(clippy::too_many_arguments)]
    async fn set_role(
        &self,
        team: Uuid,
        actor: Uuid,
        target: Uuid,
        authorised_on: AuthorisedOn,
        role: Role,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<Result<(), MembershipRefusal>, StoreError>;
    /// Removes a member (or lets one leave) unless that leaves no owner or
    /// the roles it was authorised on changed: drops their grants and marks
    /// the team for re-keying.
    async fn remove_member(
        &self,
        team: Uuid,
        actor: Uuid,
        target: Uuid,
        authorised_on: AuthorisedOn,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<Result<(), MembershipRefusal>, StoreError>;
}

/// Everything the control plane stores.
#[async_trait]
pub trait Store:
    AccountStore + TeamStore + KeyStore + AuditStore + OperatorStore + ConsoleStore
{
    /// Checks the database answers; backs `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}
