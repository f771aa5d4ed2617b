//! The store's queries, written once for both backends: [`SqlStore`] is
//! generic over [`Backend`], which holds what differs between them. The
//! queries themselves are in `sql_accounts.rs`, `sql_teams.rs`,
//! `sql_keys.rs` and `sql_audit.rs`; this file holds the store and the
//! helpers they share. Rules that keep the SQL portable:
//! - placeholders are `$n`; upserts use `ON CONFLICT`; writes use `RETURNING`;
//! - times are bound from Rust (see [`super::now`]), never `now()` in SQL;
//! - a transaction that changes a team's membership first touches the team
//!   row, which serialises such changes on PostgreSQL (row lock) as SQLite's
//!   `BEGIN IMMEDIATE` does for every write.
//!
//! The sqlx bounds the queries need are [`Backend`]'s supertraits (see
//! `backend.rs`), so every impl here says only `DB: Backend`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use envv_api::Role;
use sqlx::types::Json;
use sqlx::{Pool, Transaction};
use uuid::Uuid;

use super::backend::Backend;
use super::member_lists::MemberLists;
use super::rows::{conflict, epoch};
use super::{
    AuditEvent, AuthorisedOn, ChainItem, MembershipRefusal, NewEpoch, Store, StoreError,
    member_limit_message,
};

/// Rows per multi-row INSERT: well under both backends' limits
/// on bound parameters (SQLite 32766, PostgreSQL 65535).
const CHUNK: usize = 1000;

/// The store on one backend: its pool, the state of its hottest reads,
/// and the member lists it keeps.
pub struct SqlStore<DB: Backend> {
    pub(super) pool: Pool<DB>,
    pub(super) reads: DB::Reads,
    pub(super) member_lists: MemberLists,
}

#[async_trait]
impl<DB: Backend> Store for SqlStore<DB> {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Helpers the queries of every area use, inside the caller's transaction.
impl<DB: Backend> SqlStore<DB> {
    pub(super) fn new(pool: Pool<DB>, reads: DB::Reads) -> Self {
        SqlStore {
            pool,
            reads,
            member_lists: MemberLists::default(),
        }
    }

    /// A transaction that holds the write lock early (see
    /// [`Backend::begin_write`]).
    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, DB>, sqlx::Error> {
        DB::begin_write(&self.pool).await
    }

    /// Writes a server-observed event in the caller's transaction: a
    /// team's event joins the team's chain (locking the team row),
    /// an account's event (no team) stands outside any chain.
    pub(super) async fn insert_audit(
        conn: &mut DB::Connection,
        event: AuditEvent,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(team) = event.team_id {
            let item = ChainItem {
                event_id: Uuid::new_v4(),
                actor_id: event.actor_id,
                action: event.action.to_owned(),
                target: event.target,
                details: event.details,
                occurred_at: now,
                secret_names: Vec::new(),
                env: None,
            };
            let head = Self::lock_chain(conn, team, now).await?;
            Self::append_chain(conn, team, head, vec![item], now).await?;
            return Ok(());
        }
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

    /// Locks the team row (serialising appends on every replica)
    /// and reads the chain's head: its last `chain_seq` and hash.
    pub(super) async fn lock_chain(
        conn: &mut DB::Connection,
        team: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(i64, [u8; 32]), StoreError> {
        let row: Option<(i64, Option<Vec<u8>>)> = sqlx::query_as(
            "UPDATE teams SET updated_at = $2 WHERE id = $1 \
             RETURNING audit_chain_seq, audit_head",
        )
        .bind(team)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        let (seq, head) = row.ok_or(StoreError::NotFound)?;
        let head = match head {
            None => envv_api::GENESIS_HASH,
            Some(h) => h
                .try_into()
                .map_err(|_| StoreError::Corrupt("audit head is not 32 bytes".into()))?,
        };
        Ok((seq, head))
    }

    /// Appends `items` after `head` (from [`lock_chain`], in this
    /// transaction), counts them per day and action, indexes their
    /// secret names, and moves the head.
    pub(super) async fn append_chain(
        conn: &mut DB::Connection,
        team: Uuid,
        head: (i64, [u8; 32]),
        items: Vec<ChainItem>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let (mut seq, mut prev) = head;
        let mut rows = Vec::with_capacity(items.len());
        let mut names: Vec<(i64, String, String)> = Vec::new();
        let mut counts: std::collections::BTreeMap<(NaiveDate, String), i64> = Default::default();
        for item in items {
            seq += 1;
            let entry = envv_api::AuditEntry {
                team_id: team,
                chain_seq: seq,
                event_id: item.event_id,
                actor_id: item.actor_id,
                action: item.action,
                target: item.target,
                details: item.details,
                occurred_at: item.occurred_at,
                prev_hash: String::new(),
                hash: String::new(),
            };
            let hash = envv_api::chain_hash(&prev, &entry);
            *counts
                .entry((entry.occurred_at.date_naive(), entry.action.clone()))
                .or_default() += 1;
            let env = item.env.unwrap_or_default();
            names.extend(item.secret_names.into_iter().map(|n| (seq, n, env.clone())));
            rows.push((entry, prev, hash));
            prev = hash;
        }
        for chunk in rows.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO audit_events (event_id, team_id, actor_id, action, target, \
                 details, occurred_at, chain_seq, prev_hash, hash, recorded_at) ",
            );
            q.push_values(chunk, |mut b, (e, prev, hash)| {
                b.push_bind(e.event_id)
                    .push_bind(e.team_id)
                    .push_bind(e.actor_id)
                    .push_bind(e.action.clone())
                    .push_bind(e.target.clone())
                    .push_bind(Json(e.details.clone()))
                    .push_bind(e.occurred_at)
                    .push_bind(e.chain_seq)
                    .push_bind(prev.to_vec())
                    .push_bind(hash.to_vec())
                    .push_bind(now);
            });
            q.build().execute(&mut *conn).await.map_err(conflict)?;
        }
        for chunk in names.chunks(2 * CHUNK) {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO audit_secrets (team_id, chain_seq, name, env) ",
            );
            q.push_values(chunk, |mut b, (seq, name, env)| {
                b.push_bind(team)
                    .push_bind(*seq)
                    .push_bind(name.clone())
                    .push_bind(env.clone());
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *conn).await?;
        }
        for ((day, action), n) in counts {
            sqlx::query(
                "INSERT INTO usage_daily (team_id, day, action, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (team_id, day, action) \
                 DO UPDATE SET count = usage_daily.count + excluded.count",
            )
            .bind(team)
            .bind(day)
            .bind(action)
            .bind(n)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query("UPDATE teams SET audit_chain_seq = $2, audit_head = $3 WHERE id = $1")
            .bind(team)
            .bind(seq)
            .bind(prev.to_vec())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Refuses a new member beyond the team's plan.
    pub(super) async fn check_seat(
        conn: &mut DB::Connection,
        team: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        type Row = (
            String,
            Option<DateTime<Utc>>,
            Option<String>,
            DateTime<Utc>,
            i64,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT plan, plan_until, plan_after, created_at, \
                 (SELECT COUNT(*) FROM memberships WHERE team_id = $1) \
                 FROM teams WHERE id = $1",
        )
        .bind(team)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((plan, until, after, created, members)) = row else {
            return Err(StoreError::NotFound);
        };
        let plan =
            super::PlanSchedule::from_row(&plan, until, after.as_deref(), created)?.in_force(now);
        if let Some(max) = plan.limits().max_members
            && members >= i64::from(max)
        {
            return Err(StoreError::PlanLimit(member_limit_message(plan, max)));
        }
        Ok(())
    }

    /// Locks the team row for the rest of the transaction.
    pub(super) async fn touch_team(
        conn: &mut DB::Connection,
        team: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE teams SET updated_at = $2 WHERE id = $1")
            .bind(team)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    pub(super) async fn role_in(
        conn: &mut DB::Connection,
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

    /// The target's role, if the actor and the target still hold the
    /// roles the change was authorised on. Call after `touch_team`,
    /// so no other membership change can commit in between.
    pub(super) async fn still_authorised(
        conn: &mut DB::Connection,
        team: Uuid,
        actor: Uuid,
        target: Uuid,
        authorised_on: AuthorisedOn,
    ) -> Result<Result<Role, MembershipRefusal>, StoreError> {
        let Some(current) = Self::role_in(&mut *conn, team, target).await? else {
            return Ok(Err(MembershipRefusal::NotMember));
        };
        let actor_role = if actor == target {
            Some(current)
        } else {
            Self::role_in(&mut *conn, team, actor).await?
        };
        if actor_role != Some(authorised_on.actor) || current != authorised_on.target {
            return Ok(Err(MembershipRefusal::Changed));
        }
        Ok(Ok(current))
    }

    pub(super) async fn owner_count(
        conn: &mut DB::Connection,
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

    /// Inserts an epoch and its grants.
    pub(super) async fn insert_epoch(
        conn: &mut DB::Connection,
        team: Uuid,
        epoch: u32,
        actor: Uuid,
        next: NewEpoch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let epoch = i32::try_from(epoch)
            .map_err(|_| StoreError::Corrupt(format!("epoch {epoch} out of range")))?;
        sqlx::query(
            "INSERT INTO team_epochs (team_id, epoch, public_key, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(team)
        .bind(epoch)
        .bind(&next.public_key)
        .bind(actor)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(conflict)?;
        for (user, grant) in next.grants {
            sqlx::query(
                "INSERT INTO grants (team_id, epoch, user_id, grant_blob, granted_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(team)
            .bind(epoch)
            .bind(user)
            .bind(grant)
            .bind(actor)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(conflict)?;
        }
        Ok(())
    }

    /// The team's current epoch, read inside the caller's transaction.
    pub(super) async fn current_epoch(
        conn: &mut DB::Connection,
        team: Uuid,
    ) -> Result<Option<u32>, StoreError> {
        let row: Option<(i32,)> = sqlx::query_as("SELECT current_epoch FROM teams WHERE id = $1")
            .bind(team)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|(n,)| epoch(n)).transpose()
    }
}
