//! Team key epochs and grants: the SQL of [`KeyStore`](super::KeyStore).

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use envv_core::chain::{Body, Statement};
use uuid::Uuid;

use super::backend::Backend;
use super::rows::{EpochGrantRow, PendingGrantRow, TeamRoleRow, conflict, epoch};
use super::sql::SqlStore;
use super::sql_chain::{apply, at_head, differs};
use super::{
    AuditEvent, EpochGrantRecord, GrantRefusal, KeyStore, NewEpoch, RotateRefusal, StoreError,
    TeamRecord,
};

#[async_trait]
impl<DB: Backend> KeyStore for SqlStore<DB> {
    async fn fetch_keys(
        &self,
        team: Uuid,
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<(TeamRecord, Vec<EpochGrantRecord>)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<TeamRoleRow> = sqlx::query_as(
            "SELECT t.id, t.name, t.current_epoch, t.rekey_required, t.max_staleness_secs, t.created_at, m.role \
             FROM memberships m JOIN teams t ON t.id = m.team_id \
             WHERE m.team_id = $1 AND m.user_id = $2",
        )
        .bind(team)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (record, _role): (TeamRecord, envv_api::Role) = row.try_into()?;
        let grants: Vec<EpochGrantRow> = sqlx::query_as(
            "SELECT g.epoch, e.public_key, g.grant_blob, g.granted_by, g.created_at \
             FROM grants g JOIN team_epochs e \
               ON e.team_id = g.team_id AND e.epoch = g.epoch \
             WHERE g.team_id = $1 AND g.user_id = $2 ORDER BY g.epoch DESC",
        )
        .bind(team)
        .bind(user)
        .fetch_all(&mut *tx)
        .await?;
        let grants = grants
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<_>, _>>()?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("key.fetch")
                .team(team)
                .actor(user)
                .details(serde_json::json!({ "epoch": record.current_epoch })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some((record, grants)))
    }

    async fn public_key(&self, team: Uuid) -> Result<Option<(u32, String)>, StoreError> {
        let row: Option<(i32, String)> = sqlx::query_as(
            "SELECT e.epoch, e.public_key FROM teams t JOIN team_epochs e \
             ON e.team_id = t.id AND e.epoch = t.current_epoch WHERE t.id = $1",
        )
        .bind(team)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(n, key)| Ok((epoch(n)?, key))).transpose()
    }

    async fn pending_grants(&self, team: Uuid) -> Result<Vec<envv_api::PendingGrant>, StoreError> {
        let rows: Vec<PendingGrantRow> = sqlx::query_as(
            "SELECT u.id AS user_id, u.email, u.name, m.role, u.identity_public_key, \
             u.signing_public_key, m.joined_at, i.id AS invite_id, i.proof, i.consent \
             FROM memberships m \
             JOIN users u ON u.id = m.user_id \
             LEFT JOIN invites i ON i.id = ( \
               SELECT i2.id FROM invites i2 \
               WHERE i2.team_id = m.team_id AND i2.accepted_by = m.user_id \
               ORDER BY i2.accepted_at DESC LIMIT 1) \
             WHERE m.team_id = $1 AND NOT m.admitted \
             ORDER BY m.joined_at, u.id",
        )
        .bind(team)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

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
    ) -> Result<Result<(), GrantRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        Self::touch_team(&mut tx, team, now).await?;
        let mut chain = Self::load_chain(&mut tx, team).await?;
        at_head(&chain, &statement)?;
        let current = Self::current_epoch(&mut tx, team)
            .await?
            .ok_or(StoreError::NotFound)?;
        if epoch != current {
            return Ok(Err(GrantRefusal::StaleEpoch { current }));
        }
        // The newcomer as they registered, and the invite they accepted.
        let newcomer: Option<(bool, String, String, Option<Uuid>)> = sqlx::query_as(
            "SELECT m.admitted, u.identity_public_key, u.signing_public_key, \
             (SELECT i.id FROM invites i WHERE i.team_id = m.team_id \
               AND i.accepted_by = m.user_id ORDER BY i.accepted_at DESC LIMIT 1) \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.team_id = $1 AND m.user_id = $2",
        )
        .bind(team)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((admitted, age, signing, invite)) = newcomer else {
            return Ok(Err(GrantRefusal::NotMember));
        };
        if admitted {
            return Ok(Err(GrantRefusal::AlreadyGranted));
        }
        let Body::Admit {
            invite: admits_for,
            age: admits_age,
            signing: admits_signing,
            ..
        } = statement.body()
        else {
            return Err(differs("kind"));
        };
        if invite != Some(*admits_for) {
            return Err(differs("invite"));
        }
        if admits_age.as_str() != age || admits_signing.to_hex() != signing {
            return Err(StoreError::InvalidStatement(
                "the statement admits other keys than the newcomer registered".into(),
            ));
        }
        if chain.current_epoch() != u64::from(current) {
            return Err(StoreError::Corrupt(format!(
                "the team is at epoch {current}, its chain at {}",
                chain.current_epoch()
            )));
        }
        apply(&mut chain, &statement)?;
        let inserted = sqlx::query(
            "INSERT INTO grants (team_id, epoch, user_id, grant_blob, granted_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(team)
        .bind(current as i32)
        .bind(user)
        .bind(grant)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(conflict);
        match inserted {
            Ok(_) => {}
            Err(StoreError::Conflict) => return Ok(Err(GrantRefusal::AlreadyGranted)),
            Err(e) => return Err(e),
        }
        sqlx::query("UPDATE memberships SET admitted = TRUE WHERE team_id = $1 AND user_id = $2")
            .bind(team)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        Self::insert_statement(&mut tx, team, &statement, now).await?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("grant")
                .team(team)
                .actor(actor)
                .target(user.to_string())
                .details(serde_json::json!({ "epoch": current })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn rotate(
        &self,
        team: Uuid,
        actor: Uuid,
        expected: u32,
        next: NewEpoch,
        now: DateTime<Utc>,
        statement: Statement,
    ) -> Result<Result<u32, RotateRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        // The team row lock makes the epoch check and the member
        // set below hold until commit.
        Self::touch_team(&mut tx, team, now).await?;
        let mut chain = Self::load_chain(&mut tx, team).await?;
        at_head(&chain, &statement)?;
        let current = Self::current_epoch(&mut tx, team)
            .await?
            .ok_or(StoreError::NotFound)?;
        if current != expected {
            return Ok(Err(RotateRefusal::EpochConflict { current }));
        }
        // The chain's members: admitted ones, not newcomers still pending.
        let members: BTreeSet<Uuid> = chain.members().keys().copied().collect();
        let granted: BTreeSet<Uuid> = next.grants.iter().map(|(id, _)| *id).collect();
        if granted != members || granted.len() != next.grants.len() {
            return Ok(Err(RotateRefusal::MemberSetChanged));
        }
        apply(&mut chain, &statement)?;
        let new_epoch = current + 1;
        let member_count = members.len();
        Self::insert_epoch(&mut tx, team, new_epoch, actor, next, now).await?;
        Self::insert_statement(&mut tx, team, &statement, now).await?;
        sqlx::query("UPDATE teams SET current_epoch = $2, rekey_required = FALSE WHERE id = $1")
            .bind(team)
            .bind(new_epoch as i32)
            .execute(&mut *tx)
            .await?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("rotate")
                .team(team)
                .actor(actor)
                .details(serde_json::json!({
                    "from": current,
                    "to": new_epoch,
                    "members": member_count,
                })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(new_epoch))
    }
}
