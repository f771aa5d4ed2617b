//! Teams, memberships and invites: the SQL of [`TeamStore`](super::TeamStore).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use envv_api::Role;
use envv_core::chain::Statement;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::backend::{Backend, HotReads, MEMBERS};
use super::member_lists::MemberList;
use super::rows::{
    INVITE_COLUMNS, InviteRow, TeamRoleRow, TeamRow, VersionedMemberRow, conflict, member_list,
};
use super::sql::SqlStore;
use super::sql_chain::{apply, at_head};
use super::{
    AuditEvent, AuthorisedOn, InviteRecord, MembershipRefusal, NewEpoch, NewInvite, StoreError,
    TeamRecord, TeamStore,
};

#[async_trait]
impl<DB: Backend> TeamStore for SqlStore<DB> {
    async fn create_team(
        &self,
        team: TeamRecord,
        owner: Uuid,
        first_epoch: NewEpoch,
        genesis: Statement,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO teams (id, name, current_epoch, max_staleness_secs, created_at, updated_at) \
             VALUES ($1, $2, 1, $3, $4, $4)",
        )
        .bind(team.id)
        .bind(&team.name)
        .bind(i32::try_from(team.max_staleness_secs).map_err(|_| StoreError::Corrupt("max_staleness_secs".into()))?)
        .bind(team.created_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        sqlx::query(
            "INSERT INTO memberships (team_id, user_id, role, joined_at, admitted) \
             VALUES ($1, $2, 'owner', $3, TRUE)",
        )
        .bind(team.id)
        .bind(owner)
        .bind(team.created_at)
        .execute(&mut *tx)
        .await?;
        Self::insert_epoch(&mut tx, team.id, 1, owner, first_epoch, team.created_at).await?;
        Self::insert_statement(&mut tx, team.id, &genesis, team.created_at).await?;
        Self::insert_audit(
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
            "SELECT t.id, t.name, t.current_epoch, t.rekey_required, t.max_staleness_secs, t.created_at, m.role \
             FROM memberships m JOIN teams t ON t.id = m.team_id \
             WHERE m.user_id = $1 ORDER BY t.created_at, t.id",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn team(&self, id: Uuid) -> Result<Option<TeamRecord>, StoreError> {
        let row: Option<TeamRow> = sqlx::query_as(
            "SELECT id, name, current_epoch, rekey_required, max_staleness_secs, created_at \
             FROM teams WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn membership(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(TeamRecord, Role)>, StoreError> {
        // Every team route's check; each backend has its fastest path.
        self.reads.membership(team, user).await
    }

    async fn members(&self, team: Uuid) -> Result<Vec<envv_api::Member>, StoreError> {
        let rows: Vec<VersionedMemberRow> = sqlx::query_as(MEMBERS)
            .bind(team)
            .fetch_all(&self.pool)
            .await?;
        Ok(member_list(rows)?.map_or_else(Vec::new, MemberList::into_members))
    }

    async fn members_as(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(Role, Arc<MemberList>)>, StoreError> {
        // One indexed row per request; the list is read again only when
        // the team's version moved (see `member_lists.rs`).
        let Some(version) = self.reads.member_version(team).await? else {
            return Ok(None);
        };
        let list = match self.member_lists.get(team, version) {
            Some(list) => list,
            None => {
                // At `version` or later: a change since is already in it.
                let Some(list) = self.reads.members(team).await? else {
                    return Ok(None);
                };
                let list = Arc::new(list);
                self.member_lists.insert(team, list.clone());
                list
            }
        };
        Ok(list.role_of(user).map(|role| (role, list)))
    }

    async fn create_invite(
        &self,
        invite: NewInvite,
        statement: Statement,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !Self::touch_team(&mut tx, invite.team_id, invite.created_at).await? {
            return Err(StoreError::NotFound);
        }
        let mut chain = Self::load_chain(&mut tx, invite.team_id).await?;
        at_head(&chain, &statement)?;
        apply(&mut chain, &statement)?;
        sqlx::query(
            "INSERT INTO invites (id, team_id, email, email_norm, role, \
             accept_token_hash, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(invite.id)
        .bind(invite.team_id)
        .bind(&invite.email)
        .bind(&invite.email_norm)
        .bind(invite.role.as_str())
        .bind(&invite.accept_token_hash)
        .bind(invite.invited_by)
        .bind(invite.created_at)
        .bind(invite.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        Self::insert_statement(&mut tx, invite.team_id, &statement, invite.created_at).await?;
        Self::insert_audit(
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
        statement: Statement,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if !Self::touch_team(&mut tx, team, now).await? {
            return Ok(false);
        }
        let mut chain = Self::load_chain(&mut tx, team).await?;
        at_head(&chain, &statement)?;
        // Open, or accepted by a newcomer no admin has admitted yet.
        let revoked: Option<(Option<Uuid>,)> = sqlx::query_as(
            "UPDATE invites SET revoked_at = $3 WHERE id = $2 AND team_id = $1 \
             AND revoked_at IS NULL AND (accepted_by IS NULL OR EXISTS ( \
               SELECT 1 FROM memberships m WHERE m.team_id = $1 \
               AND m.user_id = invites.accepted_by AND NOT m.admitted)) \
             RETURNING accepted_by",
        )
        .bind(team)
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((accepted_by,)) = revoked else {
            return Ok(false);
        };
        apply(&mut chain, &statement)?;
        if let Some(newcomer) = accepted_by {
            sqlx::query(
                "DELETE FROM memberships WHERE team_id = $1 AND user_id = $2 AND NOT admitted",
            )
            .bind(team)
            .bind(newcomer)
            .execute(&mut *tx)
            .await?;
        }
        Self::insert_statement(&mut tx, team, &statement, now).await?;
        Self::insert_audit(
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
        proof: String,
        consent: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // The team's row before the invite's, as revoking takes them: the
        // other order deadlocks against a revocation on PostgreSQL.
        let team: Option<(Uuid,)> = sqlx::query_as("SELECT team_id FROM invites WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((team,)) = team else {
            return Ok(false);
        };
        Self::touch_team(&mut tx, team, now).await?;
        let spent: Option<(String,)> = sqlx::query_as(
            "UPDATE invites SET accepted_by = $2, accepted_at = $3, proof = $4, consent = $5 \
             WHERE id = $1 AND team_id = $6 AND accepted_by IS NULL AND revoked_at IS NULL \
             AND expires_at > $3 RETURNING role",
        )
        .bind(id)
        .bind(user)
        .bind(now)
        .bind(proof)
        .bind(consent)
        .bind(team)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((role,)) = spent else {
            return Ok(false);
        };
        // Under the team lock: two accepts can't both take the last seat.
        Self::check_seat(&mut tx, team, now).await?;
        sqlx::query(
            "INSERT INTO memberships (team_id, user_id, role, joined_at, admitted) \
             VALUES ($1, $2, $3, $4, FALSE) ON CONFLICT (team_id, user_id) DO NOTHING",
        )
        .bind(team)
        .bind(user)
        .bind(&role)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Self::insert_audit(
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

    async fn chain_page(
        &self,
        team: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<String>, u64), StoreError> {
        self.read_chain_page(team, after, limit).await
    }

    async fn append_statement(
        &self,
        team: Uuid,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !Self::touch_team(&mut tx, team, now).await? {
            return Err(StoreError::NotFound);
        }
        let mut chain = Self::load_chain(&mut tx, team).await?;
        at_head(&chain, &statement)?;
        Self::check_side_effect_free(&mut tx, team, &statement).await?;
        apply(&mut chain, &statement)?;
        Self::insert_statement(&mut tx, team, &statement, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rename_team(
        &self,
        team: Uuid,
        actor: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !Self::touch_team(&mut tx, team, now).await? {
            return Err(StoreError::NotFound);
        }
        let old: Option<(String,)> = sqlx::query_as("SELECT name FROM teams WHERE id = $1")
            .bind(team)
            .fetch_optional(&mut *tx)
            .await?;
        let (old,) = old.ok_or(StoreError::NotFound)?;
        sqlx::query("UPDATE teams SET name = $2 WHERE id = $1")
            .bind(team)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("team.rename")
                .team(team)
                .actor(actor)
                .details(serde_json::json!({ "name": { "from": old, "to": name } })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_team(
        &self,
        team: Uuid,
        actor: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !Self::touch_team(&mut tx, team, now).await? {
            return Err(StoreError::NotFound);
        }
        let name: Option<(String,)> = sqlx::query_as("SELECT name FROM teams WHERE id = $1")
            .bind(team)
            .fetch_optional(&mut *tx)
            .await?;
        let (name,) = name.ok_or(StoreError::NotFound)?;
        // The trail outlives the team (its rows name the team but don't
        // reference it), so the deletion is on record.
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("team.delete")
                .team(team)
                .actor(actor)
                .details(serde_json::json!({ "name": name })),
            now,
        )
        .await?;
        sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(team)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_team_settings(
        &self,
        team: Uuid,
        actor: Uuid,
        max_staleness_secs: u32,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<(), StoreError> {
        let secs = i32::try_from(max_staleness_secs)
            .map_err(|_| StoreError::Corrupt("max_staleness_secs".into()))?;
        let mut tx = self.begin_write().await?;
        // Takes the row's lock first (PostgreSQL; SQLite's
        // writer lock already serialises), so the old value
        // the audit records is the one this change replaced.
        if !Self::touch_team(&mut tx, team, now).await? {
            return Err(StoreError::NotFound);
        }
        let mut chain = Self::load_chain(&mut tx, team).await?;
        at_head(&chain, &statement)?;
        apply(&mut chain, &statement)?;
        let old: Option<(i32,)> =
            sqlx::query_as("SELECT max_staleness_secs FROM teams WHERE id = $1")
                .bind(team)
                .fetch_optional(&mut *tx)
                .await?;
        let (old,) = old.ok_or(StoreError::NotFound)?;
        sqlx::query("UPDATE teams SET max_staleness_secs = $2, updated_at = $3 WHERE id = $1")
            .bind(team)
            .bind(secs)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        Self::insert_statement(&mut tx, team, &statement, now).await?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("team.settings")
                .team(team)
                .actor(actor)
                .details(serde_json::json!({
                    "max_staleness_secs": { "from": old, "to": secs },
                })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

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
    ) -> Result<Result<(), MembershipRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        Self::touch_team(&mut tx, team, now).await?;
        let mut chain = Self::load_chain(&mut tx, team).await?;
        at_head(&chain, &statement)?;
        let current =
            match Self::still_authorised(&mut tx, team, actor, target, authorised_on).await? {
                Ok(current) => current,
                Err(refusal) => return Ok(Err(refusal)),
            };
        if current == Role::Owner
            && role != Role::Owner
            && Self::owner_count(&mut tx, team).await? <= 1
        {
            return Ok(Err(MembershipRefusal::LastOwner));
        }
        apply(&mut chain, &statement)?;
        sqlx::query("UPDATE memberships SET role = $3 WHERE team_id = $1 AND user_id = $2")
            .bind(team)
            .bind(target)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        Self::insert_statement(&mut tx, team, &statement, now).await?;
        Self::insert_audit(
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
        authorised_on: AuthorisedOn,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<Result<(), MembershipRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        Self::touch_team(&mut tx, team, now).await?;
        let mut chain = Self::load_chain(&mut tx, team).await?;
        at_head(&chain, &statement)?;
        let current =
            match Self::still_authorised(&mut tx, team, actor, target, authorised_on).await? {
                Ok(current) => current,
                Err(refusal) => return Ok(Err(refusal)),
            };
        if current == Role::Owner && Self::owner_count(&mut tx, team).await? <= 1 {
            return Ok(Err(MembershipRefusal::LastOwner));
        }
        if chain.member(target).is_none() {
            // Accepted but not admitted: not in the chain, so no `remove`
            // can name them; their invite is still open there.
            return Err(StoreError::InvalidStatement(
                "this newcomer was not admitted yet, so the chain can't remove them: an admin \
                 revokes their invite instead"
                    .into(),
            ));
        }
        apply(&mut chain, &statement)?;
        sqlx::query("DELETE FROM memberships WHERE team_id = $1 AND user_id = $2")
            .bind(team)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        // Their key fetches stop with the membership; their grants
        // go too, and the team needs a new epoch without them.
        sqlx::query("DELETE FROM grants WHERE team_id = $1 AND user_id = $2")
            .bind(team)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        // Closed to new secrets until the next rotation, as the chain says.
        sqlx::query("UPDATE teams SET rekey_required = $2 WHERE id = $1")
            .bind(team)
            .bind(chain.closed_by_removal().is_some())
            .execute(&mut *tx)
            .await?;
        Self::insert_statement(&mut tx, team, &statement, now).await?;
        let action = if actor == target {
            "member.leave"
        } else {
            "member.remove"
        };
        Self::insert_audit(
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
}
