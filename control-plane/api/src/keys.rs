use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Role;

/// One epoch's key as one member holds it: the epoch's public key and the
/// epoch's private key encrypted to the member's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EpochGrant {
    pub epoch: u32,
    /// The epoch's age X25519 recipient.
    pub public_key: String,
    /// Opaque to the server: only the member's identity opens it.
    pub grant: String,
    pub granted_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// `GET /teams/{team}/keys`: the caller's grants, newest epoch first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamKeys {
    pub team_id: Uuid,
    pub current_epoch: u32,
    /// A member was removed since the last rotation: rotate.
    pub rekey_required: bool,
    /// How long the agent may use these grants from its cache while the
    /// server is unreachable (the team's setting; absent from older servers).
    #[serde(default = "crate::team::default_max_staleness")]
    pub max_staleness_secs: u32,
    pub grants: Vec<EpochGrant>,
}

/// `GET /teams/{team}/keys/public`: what a client encrypts files to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamPublicKey {
    pub team_id: Uuid,
    pub epoch: u32,
    pub public_key: String,
}

/// A member who has joined but holds no grant for the current epoch, with
/// what an admin's client needs to check them before wrapping the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingGrant {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub identity_public_key: String,
    pub signing_public_key: String,
    pub joined_at: DateTime<Utc>,
    /// The invite they joined with and their two signatures of the
    /// acceptance, so the admin's client can check the keys against the
    /// invite statement in the team chain before admitting them.
    pub invite_id: Option<Uuid>,
    pub proof: Option<String>,
    pub consent: Option<String>,
}

/// `POST /teams/{team}/grants`: an admin's client wraps the current epoch
/// key for one member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostGrantRequest {
    pub user_id: Uuid,
    pub epoch: u32,
    pub grant: String,
    /// The `admit` statement for the team chain.
    pub statement: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberGrant {
    pub user_id: Uuid,
    pub grant: String,
}

/// `POST /teams/{team}/keys/rotate`: a new epoch with a grant for exactly
/// the current members, applied only if `expected_epoch` is still current.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotateRequest {
    pub expected_epoch: u32,
    pub public_key: String,
    pub grants: Vec<MemberGrant>,
    /// The `rotate` statement for the team chain: its epoch and key match
    /// this request, its member set the grants'.
    pub statement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotateResponse {
    pub team_id: Uuid,
    pub epoch: u32,
}
