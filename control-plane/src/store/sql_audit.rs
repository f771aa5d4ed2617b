//! The SQL of [`AuditStore`](super::AuditStore): ingestion into the chain,
//! queries and the raw rows, exposure, usage, plans and retention.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use envv_api::{AuditEntry, ExposedSecret, Plan, UsageDay};
use sqlx::types::Json;
use uuid::Uuid;

use super::backend::Backend;
use super::operator::PlanSchedule;
use super::rows::AuditRow;
use super::sql::SqlStore;
use super::{
    AuditEvent, AuditFilter, AuditRecord, AuditStore, ChainItem, FileCount, IngestOutcome,
    PlanInfo, StoreError,
};

#[derive(sqlx::FromRow)]
struct ChainRow {
    team_id: Uuid,
    chain_seq: i64,
    event_id: Uuid,
    actor_id: Option<Uuid>,
    action: String,
    target: Option<String>,
    details: Json<serde_json::Value>,
    occurred_at: DateTime<Utc>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl From<ChainRow> for AuditEntry {
    fn from(r: ChainRow) -> Self {
        AuditEntry {
            team_id: r.team_id,
            chain_seq: r.chain_seq,
            event_id: r.event_id,
            actor_id: r.actor_id,
            action: r.action,
            target: r.target,
            details: r.details.0,
            occurred_at: r.occurred_at,
            prev_hash: hex::encode(r.prev_hash),
            hash: hex::encode(r.hash),
        }
    }
}

#[async_trait]
impl<DB: Backend> AuditStore for SqlStore<DB> {
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

    async fn ingest(
        &self,
        team: Uuid,
        items: Vec<ChainItem>,
        file_counts: Vec<FileCount>,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let total = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let mut tx = self.begin_write().await?;
        // The lock first: a racing batch waits here, then sees
        // this batch's ids as stored.
        let head = Self::lock_chain(&mut tx, team, now).await?;
        let mut stored = std::collections::HashSet::new();
        for chunk in items.chunks(1000) {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT event_id FROM audit_events WHERE event_id IN (",
            );
            let mut ids = q.separated(", ");
            for item in chunk {
                ids.push_bind(item.event_id);
            }
            q.push(")");
            let found: Vec<(Uuid,)> = q.build_query_as().fetch_all(&mut *tx).await?;
            stored.extend(found.into_iter().map(|(id,)| id));
        }
        // A batch that repeats an id counts it once too.
        let fresh: Vec<ChainItem> = items
            .into_iter()
            .filter(|i| stored.insert(i.event_id))
            .collect();
        let accepted = u32::try_from(fresh.len()).unwrap_or(u32::MAX);
        Self::append_chain(&mut tx, team, head, fresh, now).await?;
        if accepted > 0 && !file_counts.is_empty() {
            for file in &file_counts {
                // A count older than the stored one (a late batch) loses.
                sqlx::query(
                    "INSERT INTO file_secret_counts (team_id, path_hash, count, reported_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (team_id, path_hash) DO UPDATE \
                     SET count = excluded.count, reported_at = excluded.reported_at \
                     WHERE excluded.reported_at >= file_secret_counts.reported_at",
                )
                .bind(team)
                .bind(&file.path_hash)
                .bind(i64::from(file.count))
                .bind(file.at)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE teams SET secret_count = \
                 (SELECT COALESCE(SUM(count), 0) FROM file_secret_counts WHERE team_id = $1) \
                 WHERE id = $1",
            )
            .bind(team)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(IngestOutcome {
            accepted,
            duplicate: total - accepted,
        })
    }

    async fn audit_page(
        &self,
        team: Uuid,
        filter: &AuditFilter,
        page: super::Page,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (from, order, seq) = match page {
            super::Page::After(seq) => (" AND chain_seq > ", "", seq),
            super::Page::Before(seq) => (" AND chain_seq < ", " DESC", seq),
        };
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "SELECT team_id, chain_seq, event_id, actor_id, action, target, details, \
             occurred_at, prev_hash, hash FROM audit_events WHERE team_id = ",
        );
        q.push_bind(team);
        q.push(from).push_bind(seq);
        if let Some(actor) = filter.actor {
            q.push(" AND actor_id = ").push_bind(actor);
        }
        if let Some(action) = &filter.action {
            q.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(since) = filter.since {
            q.push(" AND occurred_at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            q.push(" AND occurred_at < ").push_bind(until);
        }
        if let Some(secret) = &filter.secret {
            q.push(" AND chain_seq IN (SELECT chain_seq FROM audit_secrets WHERE team_id = ")
                .push_bind(team)
                .push(" AND name = ")
                .push_bind(secret.clone())
                .push(from)
                .push_bind(seq)
                .push(")");
        }
        q.push(" ORDER BY chain_seq")
            .push(order)
            .push(" LIMIT ")
            .push_bind(limit);
        let rows: Vec<ChainRow> = q.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn exposure(&self, team: Uuid, user: Uuid) -> Result<Vec<ExposedSecret>, StoreError> {
        let rows: Vec<(String, String, DateTime<Utc>, DateTime<Utc>, i64)> = sqlx::query_as(
            "SELECT s.name, s.env, MIN(e.occurred_at), MAX(e.occurred_at), COUNT(*) \
             FROM audit_events e JOIN audit_secrets s \
               ON s.team_id = e.team_id AND s.chain_seq = e.chain_seq \
             WHERE e.team_id = $1 AND e.actor_id = $2 \
               AND e.action IN ('decrypt', 'exec') \
             GROUP BY s.name, s.env ORDER BY s.name, s.env",
        )
        .bind(team)
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, env, first_at, last_at, count)| ExposedSecret {
                name,
                env: (!env.is_empty()).then_some(env),
                first_at,
                last_at,
                count: u64::try_from(count).unwrap_or(0),
            })
            .collect())
    }

    async fn usage(
        &self,
        team: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<UsageDay>, StoreError> {
        let rows: Vec<(NaiveDate, String, i64)> = sqlx::query_as(
            "SELECT day, action, count FROM usage_daily \
             WHERE team_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, action",
        )
        .bind(team)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(day, action, count)| UsageDay {
                day,
                action,
                count: u64::try_from(count).unwrap_or(0),
            })
            .collect())
    }

    async fn plan_info(&self, team: Uuid) -> Result<Option<PlanInfo>, StoreError> {
        type Row = (
            String,
            Option<DateTime<Utc>>,
            Option<String>,
            Option<String>,
            DateTime<Utc>,
            i64,
            i64,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT plan, plan_until, plan_after, billing_email, created_at, secret_count, \
                 (SELECT COUNT(*) FROM memberships WHERE team_id = $1) \
                 FROM teams WHERE id = $1",
        )
        .bind(team)
        .fetch_optional(&self.pool)
        .await?;
        row.map(
            |(plan, until, after, billing_email, team_created, secrets, seats)| {
                let schedule =
                    PlanSchedule::from_row(&plan, until, after.as_deref(), team_created)?;
                Ok(PlanInfo {
                    plan: schedule.in_force(super::now()),
                    schedule,
                    billing_email,
                    team_created,
                    secret_count: u32::try_from(secrets).unwrap_or(0),
                    seats: u32::try_from(seats).unwrap_or(0),
                })
            },
        )
        .transpose()
    }

    async fn set_plan(
        &self,
        team: Uuid,
        actor: Uuid,
        plan: Plan,
        billing_email: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let schedule = Self::lock_schedule(&mut tx, team, now).await?;
        // During the operator's deal the owners' choice is the plan after
        // it; it ends a new team's first six months at once.
        let during_deal = schedule.operator_deal && schedule.running(now).is_some();
        let from = schedule.in_force(now);
        if during_deal {
            sqlx::query("UPDATE teams SET plan_after = $2, billing_email = $3 WHERE id = $1")
                .bind(team)
                .bind(plan.as_str())
                .bind(&billing_email)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "UPDATE teams SET plan = $2, billing_email = $3, plan_until = NULL, \
                 plan_after = NULL WHERE id = $1",
            )
            .bind(team)
            .bind(plan.as_str())
            .bind(&billing_email)
            .execute(&mut *tx)
            .await?;
            Self::record_plan_change(
                &mut tx,
                team,
                &super::PlanChange {
                    changed_at: now,
                    from,
                    to: plan,
                    until: None,
                    note: None,
                    changed_by: format!("owner:{actor}"),
                },
            )
            .await?;
        }
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("plan.change")
                .team(team)
                .actor(actor)
                .details(serde_json::json!({
                    "from": from.as_str(),
                    "to": plan.as_str(),
                    "billing_email": billing_email,
                    "after_deal": during_deal,
                })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn apply_retention(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        type Row = (
            Uuid,
            String,
            Option<DateTime<Utc>>,
            Option<String>,
            DateTime<Utc>,
        );
        let teams: Vec<Row> =
            sqlx::query_as("SELECT id, plan, plan_until, plan_after, created_at FROM teams")
                .fetch_all(&self.pool)
                .await?;
        let mut deleted = 0;
        for (team, plan, until, after, created) in teams {
            let plan = PlanSchedule::from_row(&plan, until, after.as_deref(), created)?;
            let Some(days) = plan.in_force(now).limits().audit_retention_days else {
                continue;
            };
            let cutoff = now - chrono::Duration::days(i64::from(days));
            // Chain order follows `recorded_at`, so this is a
            // prefix of the chain; the first remaining row's
            // `prev_hash` anchors what is left.
            // The first row kept, walking the chain from its
            // start: only the rows to delete are read.
            let first_kept: Option<(i64, bool)> = sqlx::query_as(
                "SELECT chain_seq, recorded_at < $2 FROM audit_events \
                 WHERE team_id = $1 AND chain_seq IS NOT NULL \
                 AND (recorded_at >= $2 OR chain_seq = \
                   (SELECT MAX(chain_seq) FROM audit_events WHERE team_id = $1)) \
                 ORDER BY chain_seq LIMIT 1",
            )
            .bind(team)
            .bind(cutoff)
            .fetch_optional(&self.pool)
            .await?;
            // The head itself may be old: then everything goes.
            let keep_from = match first_kept {
                None => continue,
                Some((seq, true)) => seq + 1,
                Some((seq, false)) => seq,
            };
            let mut tx = self.begin_write().await?;
            let done =
                sqlx::query("DELETE FROM audit_events WHERE team_id = $1 AND chain_seq < $2")
                    .bind(team)
                    .bind(keep_from)
                    .execute(&mut *tx)
                    .await?;
            sqlx::query("DELETE FROM audit_secrets WHERE team_id = $1 AND chain_seq < $2")
                .bind(team)
                .bind(keep_from)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            deleted += DB::rows_affected(&done);
        }
        Ok(deleted)
    }
}
