//! The SQL both backends run, written once and instantiated per pool type by
//! [`impl_store!`]. Rules that keep it portable:
//! - placeholders are `$n`; upserts use `ON CONFLICT`; writes use `RETURNING`;
//! - times are bound from Rust (see [`super::now`]), never `now()` in SQL;
//! - a transaction that changes a team's membership first touches the team
//!   row, which serialises such changes on PostgreSQL (row lock) as SQLite's
//!   `BEGIN IMMEDIATE` does for every write.

use chrono::{DateTime, Utc};
use envv_api::{KdfParams, Role};
use sqlx::types::Json;
use uuid::Uuid;

use super::{InviteRecord, StoreError, TeamRecord, UserRecord};

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    auth_key_hash: String,
    identity_public_key: String,
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
            wrapped_identity: r.wrapped_identity,
            kdf: r.kdf.0,
            disabled: r.disabled,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TeamRoleRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    role: String,
}

impl TryFrom<TeamRoleRow> for (TeamRecord, Role) {
    type Error = StoreError;

    fn try_from(r: TeamRoleRow) -> Result<Self, StoreError> {
        let role = parse_role(&r.role)?;
        Ok((
            TeamRecord {
                id: r.id,
                name: r.name,
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
            joined_at: r.joined_at,
        })
    }
}

/// A member row with the role of the caller who asked for the list.
#[derive(sqlx::FromRow)]
pub(super) struct CallerMemberRow {
    #[sqlx(flatten)]
    member: MemberRow,
    caller_role: String,
}

/// The caller's role and the members, or `None` when no row came back: the
/// caller is not a member (every row carries the caller's role, and a member
/// always lists at least themself).
pub(super) fn members_as_caller(
    rows: Vec<CallerMemberRow>,
) -> Result<Option<(Role, Vec<envv_api::Member>)>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let role = parse_role(&first.caller_role)?;
    let members = rows
        .into_iter()
        .map(|r| r.member.try_into())
        .collect::<Result<_, _>>()?;
    Ok(Some((role, members)))
}

#[derive(sqlx::FromRow)]
pub(super) struct InviteRow {
    id: Uuid,
    team_id: Uuid,
    email: String,
    email_norm: String,
    role: String,
    accept_token_hash: Vec<u8>,
    sealed_secret: Option<String>,
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
            sealed_secret: r.sealed_secret,
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
     wrapped_identity, kdf, disabled, created_at";

pub(super) const INVITE_COLUMNS: &str = "id, team_id, email, email_norm, role, accept_token_hash, \
     sealed_secret, invited_by, created_at, expires_at, accepted_by, revoked_at";

/// Implements the storage traits for a backend struct with a `pool` field and
/// a `begin_write` method (a transaction that holds the write lock early).
macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        use $crate::store::sql::{
            AuditRow, CallerMemberRow, InviteRow, MemberRow, TeamRoleRow, UserRow, conflict,
            members_as_caller, INVITE_COLUMNS, USER_COLUMNS,
        };
        use $crate::store::{
            AccountStore, AuditEvent, AuditRecord, InviteRecord, MembershipRefusal, NewInvite,
            NewRefreshToken, NewUser, RefreshOutcome, Store, StoreError, TeamRecord, TeamStore,
            ThrottlePolicy, UserRecord,
        };
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use envv_api::Role;
        use sqlx::types::Json;
        use sqlx::AssertSqlSafe;
        use uuid::Uuid;

        async fn insert_audit(
            conn: &mut <$db as sqlx::Database>::Connection,
            event: AuditEvent,
            now: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO audit_events \
                 (event_id, team_id, actor_id, action, target, details, occurred_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(Uuid::new_v4())
            .bind(event.team_id)
            .bind(event.actor_id)
            .bind(event.action)
            .bind(event.target)
            .bind(Json(event.details))
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Locks the team row for the rest of the transaction.
        async fn touch_team(
            conn: &mut <$db as sqlx::Database>::Connection,
            team: Uuid,
            now: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query("UPDATE teams SET updated_at = $2 WHERE id = $1")
                .bind(team)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn role_in(
            conn: &mut <$db as sqlx::Database>::Connection,
            team: Uuid,
            user: Uuid,
        ) -> Result<Option<Role>, StoreError> {
            let role: Option<(String,)> =
                sqlx::query_as("SELECT role FROM memberships WHERE team_id = $1 AND user_id = $2")
                    .bind(team)
                    .bind(user)
                    .fetch_optional(&mut *conn)
                    .await?;
            role.map(|(r,)| {
                r.parse()
                    .map_err(|_| StoreError::Corrupt(format!("unknown role {r:?}")))
            })
            .transpose()
        }

        async fn owner_count(
            conn: &mut <$db as sqlx::Database>::Connection,
            team: Uuid,
        ) -> Result<i64, StoreError> {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM memberships WHERE team_id = $1 AND role = 'owner'",
            )
            .bind(team)
            .fetch_one(&mut *conn)
            .await?;
            Ok(n)
        }

        #[async_trait]
        impl AccountStore for $store {
            async fn create_user(&self, user: NewUser) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO users (id, email, email_norm, name, auth_key_hash, \
                     identity_public_key, wrapped_identity, kdf, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(user.id)
                .bind(&user.email)
                .bind(&user.email_norm)
                .bind(&user.name)
                .bind(&user.auth_key_hash)
                .bind(&user.identity_public_key)
                .bind(&user.wrapped_identity)
                .bind(Json(&user.kdf))
                .bind(user.created_at)
                .execute(&mut *tx)
                .await
                .map_err(conflict)?;
                insert_audit(&mut tx, AuditEvent::new("signup").actor(user.id), user.created_at)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn user_by_email(&self, email_norm: &str) -> Result<Option<UserRecord>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_norm = $1");
                let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(email_norm)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn start_session(
                &self,
                token: NewRefreshToken,
                audit: AuditEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO refresh_tokens \
                     (token_hash, family_id, user_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&token.token_hash)
                .bind(token.family_id)
                .bind(token.user_id)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(conflict)?;
                insert_audit(&mut tx, audit, token.created_at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn rotate_refresh(
                &self,
                old_hash: &[u8],
                new_hash: &[u8],
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> Result<RefreshOutcome, StoreError> {
                let mut tx = self.begin_write().await?;
                // Spending is one conditional UPDATE, so of many concurrent
                // refreshes with one token exactly one sees the row unspent.
                let spent: Option<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL \
                     RETURNING family_id, user_id, expires_at",
                )
                .bind(old_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let outcome = match spent {
                    Some((family_id, user_id, old_expiry)) if old_expiry > now => {
                        sqlx::query(
                            "INSERT INTO refresh_tokens \
                             (token_hash, family_id, user_id, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(new_hash)
                        .bind(family_id)
                        .bind(user_id)
                        .bind(now)
                        .bind(expires_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict)?;
                        RefreshOutcome::Rotated { user_id, family_id }
                    }
                    Some(_) => RefreshOutcome::Invalid,
                    None => {
                        let known: Option<(Uuid, Uuid, Option<DateTime<Utc>>)> = sqlx::query_as(
                            "SELECT family_id, user_id, used_at FROM refresh_tokens \
                             WHERE token_hash = $1",
                        )
                        .bind(old_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                        match known {
                            Some((family_id, user_id, Some(_))) => {
                                // A spent token came back: someone holds a copy.
                                // Revoke the whole family, the newest token too.
                                sqlx::query(
                                    "UPDATE refresh_tokens SET revoked_at = $2 \
                                     WHERE family_id = $1 AND revoked_at IS NULL",
                                )
                                .bind(family_id)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                                insert_audit(
                                    &mut tx,
                                    AuditEvent::new("session.reuse_detected")
                                        .actor(user_id)
                                        .target(family_id.to_string()),
                                    now,
                                )
                                .await?;
                                RefreshOutcome::Reused
                            }
                            _ => RefreshOutcome::Invalid,
                        }
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn revoke_session(
                &self,
                token_hash: &[u8],
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let known: Option<(Uuid, Uuid)> = sqlx::query_as(
                    "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((family_id, user_id)) = known else {
                    return Ok(false);
                };
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2 \
                     WHERE family_id = $1 AND revoked_at IS NULL",
                )
                .bind(family_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                insert_audit(&mut tx, AuditEvent::new("logout").actor(user_id), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn login_locked_until(
                &self,
                email_norm: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                let row: Option<(Option<DateTime<Utc>>,)> =
                    sqlx::query_as("SELECT locked_until FROM login_throttle WHERE email_norm = $1")
                        .bind(email_norm)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.and_then(|(until,)| until).filter(|until| *until > now))
            }

            async fn record_login_failure(
                &self,
                email_norm: &str,
                now: DateTime<Utc>,
                policy: ThrottlePolicy,
                audit: AuditEvent,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                let mut tx = self.begin_write().await?;
                // One statement counts the failure, so concurrent failures all count.
                let (failures,): (i32,) = sqlx::query_as(
                    "INSERT INTO login_throttle (email_norm, failures, window_start) \
                     VALUES ($1, 1, $2) \
                     ON CONFLICT (email_norm) DO UPDATE SET \
                       failures = CASE WHEN login_throttle.window_start > $3 \
                                  THEN login_throttle.failures + 1 ELSE 1 END, \
                       window_start = CASE WHEN login_throttle.window_start > $3 \
                                  THEN login_throttle.window_start ELSE $2 END \
                     RETURNING failures",
                )
                .bind(email_norm)
                .bind(now)
                .bind(now - policy.window)
                .fetch_one(&mut *tx)
                .await?;
                let locked_until = if failures >= policy.max_failures {
                    let until = now + policy.lockout;
                    sqlx::query(
                        "UPDATE login_throttle SET locked_until = $2, failures = 0, \
                         window_start = $3 WHERE email_norm = $1",
                    )
                    .bind(email_norm)
                    .bind(until)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    Some(until)
                } else {
                    None
                };
                insert_audit(&mut tx, audit, now).await?;
                tx.commit().await?;
                Ok(locked_until)
            }

            async fn clear_login_failures(&self, email_norm: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM login_throttle WHERE email_norm = $1")
                    .bind(email_norm)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl TeamStore for $store {
            async fn create_team(&self, team: TeamRecord, owner: Uuid) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO teams (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                )
                .bind(team.id)
                .bind(&team.name)
                .bind(team.created_at)
                .execute(&mut *tx)
                .await
                .map_err(conflict)?;
                sqlx::query(
                    "INSERT INTO memberships (team_id, user_id, role, joined_at) \
                     VALUES ($1, $2, 'owner', $3)",
                )
                .bind(team.id)
                .bind(owner)
                .bind(team.created_at)
                .execute(&mut *tx)
                .await?;
                insert_audit(
                    &mut tx,
                    AuditEvent::new("team.create").team(team.id).actor(owner),
                    team.created_at,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn teams_of(&self, user: Uuid) -> Result<Vec<(TeamRecord, Role)>, StoreError> {
                let rows: Vec<TeamRoleRow> = sqlx::query_as(
                    "SELECT t.id, t.name, t.created_at, m.role \
                     FROM memberships m JOIN teams t ON t.id = m.team_id \
                     WHERE m.user_id = $1 ORDER BY t.created_at, t.id",
                )
                .bind(user)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn membership(
                &self,
                team: Uuid,
                user: Uuid,
            ) -> Result<Option<(TeamRecord, Role)>, StoreError> {
                let row: Option<TeamRoleRow> = sqlx::query_as(
                    "SELECT t.id, t.name, t.created_at, m.role \
                     FROM memberships m JOIN teams t ON t.id = m.team_id \
                     WHERE m.team_id = $1 AND m.user_id = $2",
                )
                .bind(team)
                .bind(user)
                .fetch_optional(&self.pool)
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn members(&self, team: Uuid) -> Result<Vec<envv_api::Member>, StoreError> {
                let rows: Vec<MemberRow> = sqlx::query_as(
                    "SELECT u.id AS user_id, u.email, u.name, m.role, u.identity_public_key, \
                     m.joined_at \
                     FROM memberships m JOIN users u ON u.id = m.user_id \
                     WHERE m.team_id = $1 ORDER BY m.joined_at, u.id",
                )
                .bind(team)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn members_as(
                &self,
                team: Uuid,
                user: Uuid,
            ) -> Result<Option<(Role, Vec<envv_api::Member>)>, StoreError> {
                let rows: Vec<CallerMemberRow> = sqlx::query_as(
                    "SELECT u.id AS user_id, u.email, u.name, m.role, u.identity_public_key, \
                     m.joined_at, c.role AS caller_role \
                     FROM memberships c \
                     JOIN memberships m ON m.team_id = c.team_id \
                     JOIN users u ON u.id = m.user_id \
                     WHERE c.team_id = $1 AND c.user_id = $2 ORDER BY m.joined_at, u.id",
                )
                .bind(team)
                .bind(user)
                .fetch_all(&self.pool)
                .await?;
                members_as_caller(rows)
            }

            async fn create_invite(&self, invite: NewInvite) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO invites (id, team_id, email, email_norm, role, \
                     accept_token_hash, sealed_secret, invited_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(invite.id)
                .bind(invite.team_id)
                .bind(&invite.email)
                .bind(&invite.email_norm)
                .bind(invite.role.as_str())
                .bind(&invite.accept_token_hash)
                .bind(&invite.sealed_secret)
                .bind(invite.invited_by)
                .bind(invite.created_at)
                .bind(invite.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(conflict)?;
                insert_audit(
                    &mut tx,
                    AuditEvent::new("invite")
                        .team(invite.team_id)
                        .actor(invite.invited_by)
                        .target(invite.email.clone())
                        .details(serde_json::json!({
                            "invite_id": invite.id,
                            "role": invite.role,
                        })),
                    invite.created_at,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn invite(&self, id: Uuid) -> Result<Option<InviteRecord>, StoreError> {
                let sql = format!("SELECT {INVITE_COLUMNS} FROM invites WHERE id = $1");
                let row: Option<InviteRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn pending_invites(
                &self,
                team: Uuid,
                now: DateTime<Utc>,
            ) -> Result<Vec<InviteRecord>, StoreError> {
                let sql = format!(
                    "SELECT {INVITE_COLUMNS} FROM invites WHERE team_id = $1 \
                     AND accepted_by IS NULL AND revoked_at IS NULL AND expires_at > $2 \
                     ORDER BY created_at, id"
                );
                let rows: Vec<InviteRow> = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(team)
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn revoke_invite(
                &self,
                team: Uuid,
                id: Uuid,
                actor: Uuid,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE invites SET revoked_at = $3 WHERE id = $2 AND team_id = $1 \
                     AND accepted_by IS NULL AND revoked_at IS NULL",
                )
                .bind(team)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                insert_audit(
                    &mut tx,
                    AuditEvent::new("invite.revoke")
                        .team(team)
                        .actor(actor)
                        .target(id.to_string()),
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn accept_invite(
                &self,
                id: Uuid,
                user: Uuid,
                proof: Option<String>,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let spent: Option<(Uuid, String)> = sqlx::query_as(
                    "UPDATE invites SET accepted_by = $2, accepted_at = $3, proof = $4 \
                     WHERE id = $1 AND accepted_by IS NULL AND revoked_at IS NULL \
                     AND expires_at > $3 RETURNING team_id, role",
                )
                .bind(id)
                .bind(user)
                .bind(now)
                .bind(proof)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((team, role)) = spent else {
                    return Ok(false);
                };
                touch_team(&mut tx, team, now).await?;
                sqlx::query(
                    "INSERT INTO memberships (team_id, user_id, role, joined_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (team_id, user_id) DO NOTHING",
                )
                .bind(team)
                .bind(user)
                .bind(&role)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                insert_audit(
                    &mut tx,
                    AuditEvent::new("join")
                        .team(team)
                        .actor(user)
                        .details(serde_json::json!({ "invite_id": id, "role": role })),
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn set_role(
                &self,
                team: Uuid,
                actor: Uuid,
                target: Uuid,
                role: Role,
                now: DateTime<Utc>,
            ) -> Result<Result<(), MembershipRefusal>, StoreError> {
                let mut tx = self.begin_write().await?;
                touch_team(&mut tx, team, now).await?;
                let Some(current) = role_in(&mut tx, team, target).await? else {
                    return Ok(Err(MembershipRefusal::NotMember));
                };
                if current == Role::Owner && role != Role::Owner && owner_count(&mut tx, team).await? <= 1 {
                    return Ok(Err(MembershipRefusal::LastOwner));
                }
                sqlx::query("UPDATE memberships SET role = $3 WHERE team_id = $1 AND user_id = $2")
                    .bind(team)
                    .bind(target)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
                insert_audit(
                    &mut tx,
                    AuditEvent::new("role.change")
                        .team(team)
                        .actor(actor)
                        .target(target.to_string())
                        .details(serde_json::json!({ "from": current, "to": role })),
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn remove_member(
                &self,
                team: Uuid,
                actor: Uuid,
                target: Uuid,
                now: DateTime<Utc>,
            ) -> Result<Result<(), MembershipRefusal>, StoreError> {
                let mut tx = self.begin_write().await?;
                touch_team(&mut tx, team, now).await?;
                let Some(current) = role_in(&mut tx, team, target).await? else {
                    return Ok(Err(MembershipRefusal::NotMember));
                };
                if current == Role::Owner && owner_count(&mut tx, team).await? <= 1 {
                    return Ok(Err(MembershipRefusal::LastOwner));
                }
                sqlx::query("DELETE FROM memberships WHERE team_id = $1 AND user_id = $2")
                    .bind(team)
                    .bind(target)
                    .execute(&mut *tx)
                    .await?;
                let action = if actor == target { "member.leave" } else { "member.remove" };
                insert_audit(
                    &mut tx,
                    AuditEvent::new(action)
                        .team(team)
                        .actor(actor)
                        .target(target.to_string())
                        .details(serde_json::json!({ "role": current })),
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn audit_events(&self, team: Uuid, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT seq, event_id, team_id, actor_id, action, target, details, occurred_at \
                     FROM audit_events WHERE team_id = $1 ORDER BY seq LIMIT $2",
                )
                .bind(team)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn account_events(&self, user: Uuid, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT seq, event_id, team_id, actor_id, action, target, details, occurred_at \
                     FROM audit_events WHERE team_id IS NULL AND actor_id = $1 ORDER BY seq LIMIT $2",
                )
                .bind(user)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}
