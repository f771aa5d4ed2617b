//! Rows as both backends return them, and their conversions to the
//! store's records; shared by the generic queries of `sql*.rs`.

use chrono::{DateTime, Utc};
use envv_api::{KdfParams, Role};
use sqlx::types::Json;
use uuid::Uuid;

use super::member_lists::MemberList;
use super::{InviteRecord, StoreError, TeamRecord, UserRecord};

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    auth_key_hash: String,
    identity_public_key: String,
    signing_public_key: String,
    wrapped_identity: String,
    kdf: Json<KdfParams>,
    disabled: bool,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        UserRecord {
            id: r.id,
            email: r.email,
            name: r.name,
            auth_key_hash: r.auth_key_hash,
            identity_public_key: r.identity_public_key,
            signing_public_key: r.signing_public_key,
            wrapped_identity: r.wrapped_identity,
            kdf: r.kdf.0,
            disabled: r.disabled,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TeamRow {
    id: Uuid,
    name: String,
    current_epoch: i32,
    rekey_required: bool,
    max_staleness_secs: i32,
    created_at: DateTime<Utc>,
}

impl TryFrom<TeamRow> for TeamRecord {
    type Error = StoreError;

    fn try_from(r: TeamRow) -> Result<Self, StoreError> {
        Ok(TeamRecord {
            id: r.id,
            name: r.name,
            current_epoch: epoch(r.current_epoch)?,
            rekey_required: r.rekey_required,
            max_staleness_secs: staleness(r.max_staleness_secs)?,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TeamRoleRow {
    id: Uuid,
    name: String,
    current_epoch: i32,
    rekey_required: bool,
    max_staleness_secs: i32,
    created_at: DateTime<Utc>,
    role: String,
}

impl TeamRoleRow {
    /// The row of [`MEMBERSHIP`](super::backend::MEMBERSHIP) as SQLite's
    /// inline reads get it (the uuid a 16-byte blob, the time RFC 3339
    /// text: as sqlx writes them).
    pub(super) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(TeamRoleRow {
            id: row.get(0)?,
            name: row.get(1)?,
            current_epoch: row.get(2)?,
            rekey_required: row.get(3)?,
            max_staleness_secs: row.get(4)?,
            created_at: sqlite_time(row, 5)?,
            role: row.get(6)?,
        })
    }
}

/// A time as sqlx writes it to SQLite: RFC 3339 text. (rusqlite's own
/// conversion tries several formats through a format-string parser: a
/// tenth of a member list's cost.)
fn sqlite_time(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text = row.get_ref(idx)?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
        })
}

impl TryFrom<TeamRoleRow> for (TeamRecord, Role) {
    type Error = StoreError;

    fn try_from(r: TeamRoleRow) -> Result<Self, StoreError> {
        let role = parse_role(&r.role)?;
        Ok((
            TeamRecord {
                id: r.id,
                name: r.name,
                current_epoch: epoch(r.current_epoch)?,
                rekey_required: r.rekey_required,
                max_staleness_secs: staleness(r.max_staleness_secs)?,
                created_at: r.created_at,
            },
            role,
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    user_id: Uuid,
    email: String,
    name: String,
    role: String,
    identity_public_key: String,
    signing_public_key: String,
    has_key: bool,
    joined_at: DateTime<Utc>,
}

impl TryFrom<MemberRow> for envv_api::Member {
    type Error = StoreError;

    fn try_from(r: MemberRow) -> Result<Self, StoreError> {
        Ok(envv_api::Member {
            user_id: r.user_id,
            email: r.email,
            name: r.name,
            role: parse_role(&r.role)?,
            identity_public_key: r.identity_public_key,
            signing_public_key: r.signing_public_key,
            has_key: r.has_key,
            joined_at: r.joined_at,
        })
    }
}

/// A row of [`MEMBERS`](super::backend::MEMBERS): a member and the team's
/// member version.
#[derive(sqlx::FromRow)]
pub(super) struct VersionedMemberRow {
    #[sqlx(flatten)]
    member: MemberRow,
    member_version: i64,
}

impl VersionedMemberRow {
    /// The row as SQLite's inline reads get it.
    pub(super) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(VersionedMemberRow {
            member: MemberRow {
                user_id: row.get(0)?,
                email: row.get(1)?,
                name: row.get(2)?,
                role: row.get(3)?,
                identity_public_key: row.get(4)?,
                signing_public_key: row.get(5)?,
                has_key: row.get(6)?,
                joined_at: sqlite_time(row, 7)?,
            },
            member_version: row.get(8)?,
        })
    }
}

/// The list the rows make, `None` for none (all rows come from one
/// statement, so they carry one version).
pub(super) fn member_list(rows: Vec<VersionedMemberRow>) -> Result<Option<MemberList>, StoreError> {
    let Some(version) = rows.first().map(|r| r.member_version) else {
        return Ok(None);
    };
    let members = rows
        .into_iter()
        .map(|r| r.member.try_into())
        .collect::<Result<_, _>>()?;
    Ok(Some(MemberList::new(version, members)))
}

#[derive(sqlx::FromRow)]
pub(super) struct InviteRow {
    id: Uuid,
    team_id: Uuid,
    email: String,
    email_norm: String,
    role: String,
    accept_token_hash: Vec<u8>,
    invited_by: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    accepted_by: Option<Uuid>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<InviteRow> for InviteRecord {
    type Error = StoreError;

    fn try_from(r: InviteRow) -> Result<Self, StoreError> {
        Ok(InviteRecord {
            id: r.id,
            team_id: r.team_id,
            email: r.email,
            email_norm: r.email_norm,
            role: parse_role(&r.role)?,
            accept_token_hash: r.accept_token_hash,
            invited_by: r.invited_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            accepted_by: r.accepted_by,
            revoked: r.revoked_at.is_some(),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    event_id: Uuid,
    team_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    action: String,
    target: Option<String>,
    details: Json<serde_json::Value>,
    occurred_at: DateTime<Utc>,
}

impl From<AuditRow> for super::AuditRecord {
    fn from(r: AuditRow) -> Self {
        super::AuditRecord {
            seq: r.seq,
            event_id: r.event_id,
            team_id: r.team_id,
            actor_id: r.actor_id,
            action: r.action,
            target: r.target,
            details: r.details.0,
            occurred_at: r.occurred_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EpochGrantRow {
    epoch: i32,
    public_key: String,
    grant_blob: String,
    granted_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl TryFrom<EpochGrantRow> for super::EpochGrantRecord {
    type Error = StoreError;

    fn try_from(r: EpochGrantRow) -> Result<Self, StoreError> {
        Ok(super::EpochGrantRecord {
            epoch: epoch(r.epoch)?,
            public_key: r.public_key,
            grant: r.grant_blob,
            granted_by: r.granted_by,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PendingGrantRow {
    user_id: Uuid,
    email: String,
    name: String,
    role: String,
    identity_public_key: String,
    signing_public_key: String,
    joined_at: DateTime<Utc>,
    invite_id: Option<Uuid>,
    proof: Option<String>,
    consent: Option<String>,
}

impl TryFrom<PendingGrantRow> for envv_api::PendingGrant {
    type Error = StoreError;

    fn try_from(r: PendingGrantRow) -> Result<Self, StoreError> {
        Ok(envv_api::PendingGrant {
            user_id: r.user_id,
            email: r.email,
            name: r.name,
            role: parse_role(&r.role)?,
            identity_public_key: r.identity_public_key,
            signing_public_key: r.signing_public_key,
            joined_at: r.joined_at,
            invite_id: r.invite_id,
            proof: r.proof,
            consent: r.consent,
        })
    }
}

/// Epochs are stored as SQL integers and are never negative.
pub(super) fn epoch(n: i32) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative epoch {n}")))
}

fn staleness(n: i32) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative max_staleness_secs {n}")))
}

fn parse_role(s: &str) -> Result<Role, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown role {s:?}")))
}

/// Maps a unique-key violation to [`StoreError::Conflict`].
pub(super) fn conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(e),
    }
}

pub(super) const USER_COLUMNS: &str = "id, email, name, auth_key_hash, identity_public_key, \
     signing_public_key, wrapped_identity, kdf, disabled, created_at";

pub(super) const INVITE_COLUMNS: &str = "id, team_id, email, email_norm, role, accept_token_hash, \
     invited_by, created_at, expires_at, accepted_by, revoked_at";
