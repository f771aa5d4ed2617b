//! The SQL of [`OperatorStore`](super::OperatorStore): the operator's
//! views, plans and deals, accounts, the seat history and weekly stats.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use envv_api::{Plan, Role};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::backend::Backend;
use super::operator::{PlanSchedule, parse_plan};
use super::rows::AuditRow;
use super::sql::SqlStore;
use super::{
    AccountAction, AccountChange, AccountRefusal, AccountState, AuditEvent, AuditRecord,
    MemberSummary, OperatorStore, PlanChange, SEAT_ADDED, SEAT_REMOVED, StoreError, TeamSummary,
    WeekStats,
};

/// Actions an operator (or a deal ending) causes.
const OPERATOR_ACTIONS: &str = "(action LIKE 'admin.%' OR action = 'plan.deal_end')";

/// Helpers the shared store files call, inside the caller's transaction.
impl<DB: Backend> SqlStore<DB> {
    /// Locks the team row and reads its plan schedule.
    pub(super) async fn lock_schedule(
        conn: &mut DB::Connection,
        team: Uuid,
        now: DateTime<Utc>,
    ) -> Result<PlanSchedule, StoreError> {
        type Row = (String, Option<DateTime<Utc>>, Option<String>, DateTime<Utc>);
        let row: Option<Row> = sqlx::query_as(
            "UPDATE teams SET updated_at = $2 WHERE id = $1 \
                 RETURNING plan, plan_until, plan_after, created_at",
        )
        .bind(team)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        let (plan, until, after, created) = row.ok_or(StoreError::NotFound)?;
        PlanSchedule::from_row(&plan, until, after.as_deref(), created)
    }

    /// Adds a row to the team's plan history.
    pub(super) async fn record_plan_change(
        conn: &mut DB::Connection,
        team: Uuid,
        change: &PlanChange,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO plan_changes \
             (team_id, changed_at, from_plan, to_plan, until, note, changed_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(team)
        .bind(change.changed_at)
        .bind(change.from.as_str())
        .bind(change.to.as_str())
        .bind(change.until)
        .bind(change.note.clone())
        .bind(change.changed_by.clone())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn account_state(disabled: bool, closed: Option<DateTime<Utc>>) -> AccountState {
    match (closed, disabled) {
        (Some(_), _) => AccountState::Disabled,
        (None, true) => AccountState::Locked,
        (None, false) => AccountState::Active,
    }
}

fn role_rank(role: Role) -> u8 {
    match role {
        Role::Owner => 0,
        Role::Admin => 1,
        Role::Member => 2,
    }
}

#[async_trait]
impl<DB: Backend> OperatorStore for SqlStore<DB> {
    async fn team_summaries(&self, now: DateTime<Utc>) -> Result<Vec<TeamSummary>, StoreError> {
        type Row = (
            Uuid,
            String,
            String,
            Option<DateTime<Utc>>,
            Option<String>,
            Option<String>,
            i64,
            DateTime<Utc>,
            i64,
            i64,
            Option<DateTime<Utc>>,
        );
        let since = now.date_naive() - Duration::days(29);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT t.id, t.name, t.plan, t.plan_until, t.plan_after, t.billing_email, \
               t.secret_count, t.created_at, \
               (SELECT COUNT(*) FROM memberships m WHERE m.team_id = t.id), \
               (SELECT CAST(COALESCE(SUM(u.count), 0) AS BIGINT) FROM usage_daily u \
                 WHERE u.team_id = t.id AND u.day >= $1), \
               (SELECT MAX(e.occurred_at) FROM audit_events e WHERE e.team_id = t.id) \
             FROM teams t ORDER BY t.created_at, t.id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(
                    id,
                    name,
                    plan,
                    until,
                    after,
                    billing_email,
                    secrets,
                    created,
                    seats,
                    events,
                    last,
                )| {
                    let schedule = PlanSchedule::from_row(&plan, until, after.as_deref(), created)?;
                    Ok(TeamSummary {
                        id,
                        name,
                        plan: schedule.in_force(now),
                        deal: schedule.running(now),
                        billing_email,
                        seats: u32::try_from(seats).unwrap_or(0),
                        secrets: u32::try_from(secrets).unwrap_or(0),
                        events_30d: count(events),
                        created_at: created,
                        last_activity: last,
                    })
                },
            )
            .collect()
    }

    async fn member_summaries(&self, team: Uuid) -> Result<Vec<MemberSummary>, StoreError> {
        let rows: Vec<(String, String, DateTime<Utc>, bool, Option<DateTime<Utc>>)> =
            sqlx::query_as(
                "SELECT u.email, m.role, m.joined_at, u.disabled, u.closed_at \
                 FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.team_id = $1",
            )
            .bind(team)
            .fetch_all(&self.pool)
            .await?;
        let mut members = rows
            .into_iter()
            .map(|(email, role, joined_at, disabled, closed)| {
                Ok(MemberSummary {
                    email,
                    role: role
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                    joined_at,
                    account: account_state(disabled, closed),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        members.sort_by(|a, b| {
            (role_rank(a.role), a.joined_at, &a.email).cmp(&(
                role_rank(b.role),
                b.joined_at,
                &b.email,
            ))
        });
        Ok(members)
    }

    async fn plan_changes(&self, team: Uuid) -> Result<Vec<PlanChange>, StoreError> {
        type Row = (
            DateTime<Utc>,
            String,
            String,
            Option<DateTime<Utc>>,
            Option<String>,
            String,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT changed_at, from_plan, to_plan, until, note, changed_by \
             FROM plan_changes WHERE team_id = $1 ORDER BY changed_at",
        )
        .bind(team)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(changed_at, from, to, until, note, changed_by)| {
                Ok(PlanChange {
                    changed_at,
                    from: parse_plan(&from)?,
                    to: parse_plan(&to)?,
                    until,
                    note,
                    changed_by,
                })
            })
            .collect()
    }

    async fn operator_events(
        &self,
        team: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let columns = "SELECT seq, event_id, team_id, actor_id, action, target, details, \
                       occurred_at FROM audit_events WHERE ";
        let rows: Vec<AuditRow> = match team {
            Some(team) => {
                let sql = format!(
                    "{columns}team_id = $1 AND {OPERATOR_ACTIONS} ORDER BY seq DESC LIMIT $2"
                );
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(team)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("{columns}{OPERATOR_ACTIONS} ORDER BY seq DESC LIMIT $1");
                sqlx::query_as(AssertSqlSafe(sql))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn operator_set_plan(
        &self,
        team: Uuid,
        plan: Plan,
        until: Option<DateTime<Utc>>,
        note: Option<String>,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<PlanChange, StoreError> {
        let mut tx = self.begin_write().await?;
        let schedule = Self::lock_schedule(&mut tx, team, now).await?;
        let from = schedule.in_force(now);
        // What follows a deal: the team's own choice, kept from a deal
        // already running, else the plan it is on if an owner could have
        // picked it, else free.
        let after = until.map(|_| match schedule.running(now) {
            Some(deal) => deal.then,
            None if from.owner_may_choose() => from,
            None => Plan::Free,
        });
        sqlx::query("UPDATE teams SET plan = $2, plan_until = $3, plan_after = $4 WHERE id = $1")
            .bind(team)
            .bind(plan.as_str())
            .bind(until)
            .bind(after.map(|p| p.as_str().to_owned()))
            .execute(&mut *tx)
            .await?;
        let change = PlanChange {
            changed_at: now,
            from,
            to: plan,
            until,
            note: note.clone(),
            changed_by: format!("operator:{operator}"),
        };
        Self::record_plan_change(&mut tx, team, &change).await?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("admin.plan")
                .team(team)
                .target(plan.as_str())
                .details(serde_json::json!({
                    "operator": operator,
                    "from": from.as_str(),
                    "to": plan.as_str(),
                    "until": until,
                    "then": after.map(Plan::as_str),
                    "note": note,
                })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn end_deals(&self, now: DateTime<Utc>) -> Result<Vec<(Uuid, PlanChange)>, StoreError> {
        type Row = (
            Uuid,
            String,
            Option<DateTime<Utc>>,
            Option<String>,
            DateTime<Utc>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, plan, plan_until, plan_after, created_at FROM teams \
             WHERE plan_until IS NOT NULL OR plan = 'design_partner' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        // Only teams whose deal is over take a write transaction.
        let mut due = Vec::new();
        for (team, plan, until, after, created) in rows {
            let schedule = PlanSchedule::from_row(&plan, until, after.as_deref(), created)?;
            if schedule.ends.is_some_and(|d| now >= d.until) {
                due.push(team);
            }
        }
        let mut ended = Vec::new();
        for team in due {
            let mut tx = self.begin_write().await?;
            let schedule = Self::lock_schedule(&mut tx, team, now).await?;
            let Some(deal) = schedule.ends.filter(|d| now >= d.until) else {
                continue;
            };
            sqlx::query(
                "UPDATE teams SET plan = $2, plan_until = NULL, plan_after = NULL WHERE id = $1",
            )
            .bind(team)
            .bind(deal.then.as_str())
            .execute(&mut *tx)
            .await?;
            let change = PlanChange {
                changed_at: deal.until,
                from: schedule.stored,
                to: deal.then,
                until: None,
                note: None,
                changed_by: "deal end".into(),
            };
            Self::record_plan_change(&mut tx, team, &change).await?;
            Self::insert_audit(
                &mut tx,
                AuditEvent::new("plan.deal_end")
                    .team(team)
                    .target(deal.then.as_str())
                    .details(serde_json::json!({
                        "from": schedule.stored.as_str(),
                        "to": deal.then.as_str(),
                        "until": deal.until,
                    })),
                now,
            )
            .await?;
            tx.commit().await?;
            ended.push((team, change));
        }
        Ok(ended)
    }

    async fn set_account_state(
        &self,
        email_norm: &str,
        action: AccountAction,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<AccountChange, AccountRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(Uuid, String, bool, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT id, email, disabled, closed_at FROM users WHERE email_norm = $1",
        )
        .bind(email_norm)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user, email, disabled, closed)) = row else {
            return Ok(Err(AccountRefusal::NoSuchAccount));
        };
        let before = account_state(disabled, closed);
        let (after, closed_at) = match (action, before) {
            (AccountAction::Unlock, AccountState::Disabled) => {
                return Ok(Err(AccountRefusal::Disabled));
            }
            (AccountAction::Unlock, _) => (AccountState::Active, None),
            (AccountAction::Lock, AccountState::Disabled) => (AccountState::Disabled, closed),
            (AccountAction::Lock, _) => (AccountState::Locked, None),
            (AccountAction::Disable, _) => (AccountState::Disabled, closed.or(Some(now))),
        };
        sqlx::query("UPDATE users SET disabled = $2, closed_at = $3 WHERE id = $1")
            .bind(user)
            .bind(after != AccountState::Active)
            .bind(closed_at)
            .execute(&mut *tx)
            .await?;
        let sessions_revoked = if after == AccountState::Active {
            // A lock may have followed failed logins: start afresh.
            sqlx::query("DELETE FROM login_throttle WHERE email_norm = $1")
                .bind(email_norm)
                .execute(&mut *tx)
                .await?;
            0
        } else {
            let done = sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL AND used_at IS NULL",
            )
            .bind(user)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            DB::rows_affected(&done)
        };
        let teams: Vec<(String,)> = sqlx::query_as(
            "SELECT t.name FROM memberships m JOIN teams t ON t.id = m.team_id \
             WHERE m.user_id = $1 ORDER BY t.name",
        )
        .bind(user)
        .fetch_all(&mut *tx)
        .await?;
        let audit_action = match action {
            AccountAction::Lock => "admin.account.lock",
            AccountAction::Unlock => "admin.account.unlock",
            AccountAction::Disable => "admin.account.disable",
        };
        Self::insert_audit(
            &mut tx,
            AuditEvent::new(audit_action)
                .target(user.to_string())
                .details(serde_json::json!({
                    "operator": operator,
                    "email": email,
                    "from": before.as_str(),
                    "to": after.as_str(),
                    "sessions_revoked": sessions_revoked,
                })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(AccountChange {
            user_id: user,
            email,
            before,
            after,
            sessions_revoked,
            teams: teams.into_iter().map(|(t,)| t).collect(),
        }))
    }

    async fn seat_days(
        &self,
        team: Uuid,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<(NaiveDate, u32)>, StoreError> {
        let last = to.min(now.date_naive());
        if last < from {
            return Ok(Vec::new());
        }
        let (seats_now,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE team_id = $1")
                .bind(team)
                .fetch_one(&self.pool)
                .await?;
        let quoted = |actions: &[&str]| {
            actions
                .iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "SELECT day, action, count FROM usage_daily \
             WHERE team_id = $1 AND day >= $2 AND action IN ({}, {})",
            quoted(&SEAT_ADDED),
            quoted(&SEAT_REMOVED)
        );
        let rows: Vec<(NaiveDate, String, i64)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(team)
            .bind(from)
            .fetch_all(&self.pool)
            .await?;
        // Joins and departures per day, from `from` on (to today and past
        // it: the counts run to the present, whatever `now` says).
        let mut moves: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
        for (day, action, n) in rows {
            let entry = moves.entry(day).or_default();
            if SEAT_ADDED.contains(&action.as_str()) {
                entry.0 += n;
            } else {
                entry.1 += n;
            }
        }
        // Seats at the end of the day before `from`, walking back from now.
        let net: i64 = moves.values().map(|(add, remove)| add - remove).sum();
        let mut held = seats_now - net;
        let mut days = Vec::new();
        let mut day = from;
        while day <= last {
            let (add, remove) = moves.get(&day).copied().unwrap_or_default();
            days.push((day, u32::try_from((held + add).max(0)).unwrap_or(0)));
            held += add - remove;
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        Ok(days)
    }

    async fn weekly_stats(
        &self,
        weeks: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<WeekStats>, StoreError> {
        let today = now.date_naive();
        let this_week = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        let first = this_week - Duration::weeks(i64::from(weeks.max(1)) - 1);
        let week_of = |day: NaiveDate| -> Option<usize> {
            let n = (day - first).num_days().div_euclid(7);
            usize::try_from(n)
                .ok()
                .filter(|&i| i < weeks.max(1) as usize)
        };
        let mut stats: Vec<WeekStats> = (0..weeks.max(1))
            .map(|i| WeekStats {
                week_start: first + Duration::weeks(i64::from(i)),
                signups: 0,
                active_teams: 0,
                decrypts: 0,
            })
            .collect();
        let start = first.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let signups: Vec<(DateTime<Utc>,)> =
            sqlx::query_as("SELECT created_at FROM users WHERE created_at >= $1")
                .bind(start)
                .fetch_all(&self.pool)
                .await?;
        for (at,) in signups {
            if let Some(i) = week_of(at.date_naive()) {
                stats[i].signups += 1;
            }
        }
        let usage: Vec<(Uuid, NaiveDate, String, i64)> =
            sqlx::query_as("SELECT team_id, day, action, count FROM usage_daily WHERE day >= $1")
                .bind(first)
                .fetch_all(&self.pool)
                .await?;
        let mut active: HashSet<(usize, Uuid)> = HashSet::new();
        for (team, day, action, n) in usage {
            let Some(i) = week_of(day) else { continue };
            active.insert((i, team));
            if action == "decrypt" || action == "exec" {
                stats[i].decrypts += count(n);
            }
        }
        for (i, _) in active {
            stats[i].active_teams += 1;
        }
        Ok(stats)
    }
}
