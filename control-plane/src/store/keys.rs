//! Team key epochs and grants: what [`KeyStore`] keeps. Every value here is
//! public (recipients) or opaque (grants: encrypted to one member).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
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
    /// Members with no grant for the current epoch, with their invite binding.
    async fn pending_grants(&self, team: Uuid) -> Result<Vec<envv_api::PendingGrant>, StoreError>;
    async fn post_grant(
        &self,
        team: Uuid,
        actor: Uuid,
        user: Uuid,
        epoch: u32,
        grant: String,
        now: DateTime<Utc>,
    ) -> Result<Result<(), GrantRefusal>, StoreError>;
    /// Moves the team to `expected + 1` with `next`'s grants, all in one
    /// transaction with its audit row, if `expected` is still current and
    /// the grants cover exactly the current members.
    async fn rotate(
        &self,
        team: Uuid,
        actor: Uuid,
        expected: u32,
        next: NewEpoch,
        now: DateTime<Utc>,
    ) -> Result<Result<u32, RotateRefusal>, StoreError>;
}
