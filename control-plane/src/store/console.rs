//! What the operator's web console keeps ([`ConsoleStore`]): the operator
//! tokens made with `envv-control-plane admin token create`, and the
//! browser sessions they log in. Only SHA-256 hashes of tokens and session
//! cookies are stored; both are 256 random bits, so a hash is as good as a
//! password hash and can be looked up directly.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;

/// An operator token as `admin token list` shows it: never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorToken {
    pub id: Uuid,
    /// The operator's name in the audit trail of what they do.
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The operator who made it (`--operator` or the OS user).
    pub created_by: String,
    /// The last console login with it.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A live console session: who it acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub token_id: Uuid,
    /// The token's name: the operator named in the audit trail.
    pub operator: String,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Stores a new token's hash under `name` (a name already used, even by
    /// a revoked token, is a [`StoreError::Conflict`]), audited as
    /// `admin.token.create` with the creating operator named.
    async fn create_operator_token(
        &self,
        name: &str,
        token_hash: &[u8],
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<OperatorToken, StoreError>;
    /// Every token, oldest first.
    async fn operator_tokens(&self) -> Result<Vec<OperatorToken>, StoreError>;
    /// Revokes the token named `name` and ends its sessions, audited as
    /// `admin.token.revoke`. False when no live token has that name.
    async fn revoke_operator_token(
        &self,
        name: &str,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Logs in: when `token_hash` is a live token's (compared in constant
    /// time against each live token), stores a session under
    /// `session_hash` until `expires_at` and audits `admin.console.login`.
    /// None for any other token. Sweeps expired sessions.
    async fn console_login(
        &self,
        token_hash: &[u8; 32],
        session_hash: &[u8],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, StoreError>;
    /// The session a cookie's hash names, if it has not expired, was used
    /// after `used_since` and its token is not revoked; it counts as used
    /// `now`.
    async fn console_session(
        &self,
        session_hash: &[u8],
        now: DateTime<Utc>,
        used_since: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, StoreError>;
    /// Ends the session (logout); nothing if there is none.
    async fn console_logout(&self, session_hash: &[u8]) -> Result<(), StoreError>;
}
