//! Team key epochs and grants: what [`KeyStore`] keeps. Every value here is
//! public (recipients) or opaque (grants: encrypted to one member).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use envv_core::chain::Statement;
use uuid::Uuid;

use super::{StoreError, TeamRecord};

/// A new epoch: its public key, and one grant per member.
#[derive(Debug, Clone)]
pub struct NewEpoch {
    pub public_key: String,
    pub grants: Vec<(Uuid, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochGrantRecord {
    pub epoch: u32,
    pub public_key: String,
    pub grant: String,
    pub granted_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    NotMember,
    /// Grants are only posted for the current epoch.
    StaleEpoch {
        current: u32,
    },
    /// The member was admitted already.
    AlreadyGranted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateRefusal {
    /// Someone rotated first; the client must start again from `current`.
    EpochConflict { current: u32 },
    /// The grants don't cover exactly the current members (one joined or
    /// left meanwhile): the client must fetch the members and retry.
    MemberSetChanged,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The member's grants, newest epoch first, with the team, or `None` for
    /// a non-member. Membership is read in the same transaction that writes
    /// the `key.fetch` audit row.
    async fn fetch_keys(
        &self,
        team: Uuid,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<(TeamRecord, Vec<EpochGrantRecord>)>, StoreError>;
    /// The current epoch and its public key.
    async fn public_key(&self, team: Uuid) -> Result<Option<(u32, String)>, StoreError>;
    /// Members who accepted an invite and wait to be admitted, with the
    /// invite and their signatures of the acceptance.
    async fn pending_grants(&self, team: Uuid) -> Result<Vec<envv_api::PendingGrant>, StoreError>;
    /// Admits a newcomer: their `admit` statement and their grant for the
    /// current epoch, in one transaction.
    // Who, to whom, what, when, and the statement that records it.
    #[allow(clippy::too_many_arguments)]
    async fn post_grant(
        &self,
        team: Uuid,
        actor: Uuid,
        user: Uuid,
        epoch: u32,
        grant: String,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<Result<(), GrantRefusal>, StoreError>;
    /// Moves the team to `expected + 1` with `next`'s grants and its
    /// `rotate` statement, all in one transaction with its audit row, if
    /// `expected` is still current and the grants cover exactly the chain's
    /// members.
    async fn rotate(
        &self,
        team: Uuid,
        actor: Uuid,
        expected: u32,
        next: NewEpoch,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<Result<u32, RotateRefusal>, StoreError>;
}
