//! What the service's operator reads and changes ([`OperatorStore`]): the
//! teams and their use, plans and deals, accounts, and the history invoices
//! are computed from. The operator is a person at the server's command
//! line, not a user of the service: their actions are audited with their
//! name in the event's details (`"operator"`), and no actor id.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use envv_api::{DESIGN_PARTNER_DAYS, Deal, Plan, Role};
use uuid::Uuid;

use super::{AuditRecord, StoreError};

/// A team as the operator's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSummary {
    pub id: Uuid,
    pub name: String,
    /// The plan in force now.
    pub plan: Plan,
    /// The deal in force, if the plan ends by itself.
    pub deal: Option<Deal>,
    pub billing_email: Option<String>,
    pub seats: u32,
    pub secrets: u32,
    /// Audit events (server's and clients') in the last 30 days.
    pub events_30d: u64,
    pub created_at: DateTime<Utc>,
    /// The newest audit event's time.
    pub last_activity: Option<DateTime<Utc>>,
}

/// One member, as the operator sees them: metadata only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSummary {
    pub email: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    pub account: AccountState,
}

/// A row of a team's plan history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    pub changed_at: DateTime<Utc>,
    pub from: Plan,
    pub to: Plan,
    pub until: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// `owner:<user id>`, `operator:<name>` or `deal end`.
    pub changed_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Active,
    /// Refused login until an operator unlocks it.
    Locked,
    /// Closed for good: `unlock` refuses.
    Disabled,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Locked => "locked",
            AccountState::Disabled => "disabled",
        }
    }
}

/// What the operator asks of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction {
    Lock,
    Unlock,
    Disable,
}

impl AccountAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountAction::Lock => "lock",
            AccountAction::Unlock => "unlock",
            AccountAction::Disable => "disable",
        }
    }
}

/// The outcome of an account action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    pub user_id: Uuid,
    pub email: String,
    pub before: AccountState,
    pub after: AccountState,
    /// Session families whose refresh tokens were revoked.
    pub sessions_revoked: u64,
    /// The teams the person is still a member of.
    pub teams: Vec<String>,
}

/// The refusals of an account action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRefusal {
    NoSuchAccount,
    /// `unlock` of a disabled account.
    Disabled,
}

/// One ISO week (Monday to Sunday, UTC) of the service's use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekStats {
    pub week_start: NaiveDate,
    pub signups: u64,
    /// Teams with at least one audit event that week.
    pub active_teams: u64,
    pub decrypts: u64,
}

/// The audit actions that add and remove a seat: the invoice's seat
/// history is read back from the per-day counts of these events
/// (`usage_daily`, which retention leaves alone).
pub const SEAT_ADDED: [&str; 2] = ["team.create", "join"];
pub const SEAT_REMOVED: [&str; 2] = ["member.remove", "member.leave"];

#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// Every team, oldest first, with its plan in force at `now`.
    async fn team_summaries(&self, now: DateTime<Utc>) -> Result<Vec<TeamSummary>, StoreError>;
    /// The team's members, owners first.
    async fn member_summaries(&self, team: Uuid) -> Result<Vec<MemberSummary>, StoreError>;
    /// The team's plan changes, oldest first.
    async fn plan_changes(&self, team: Uuid) -> Result<Vec<PlanChange>, StoreError>;
    /// The newest `limit` audit events an operator caused, newest first;
    /// of one team, or of the whole service.
    async fn operator_events(
        &self,
        team: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// Sets the team's plan for the operator `operator`, until `until` if
    /// given (then the team moves to the plan it chose, or free), with an
    /// `admin.plan` event in the team's chain and a history row, in one
    /// transaction.
    async fn operator_set_plan(
        &self,
        team: Uuid,
        plan: Plan,
        until: Option<DateTime<Utc>>,
        note: Option<String>,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<PlanChange, StoreError>;
    /// Ends every deal whose date has come by `now`: the team moves to the
    /// plan after it, with a `plan.deal_end` event and a history row dated
    /// the deal's end. Each team is its own transaction, re-read under its
    /// row's lock, so replicas running this together end a deal once.
    async fn end_deals(&self, now: DateTime<Utc>) -> Result<Vec<(Uuid, PlanChange)>, StoreError>;

    /// Locks, unlocks or disables the account with this normalised email,
    /// audited (`admin.account.lock`, …) with the operator named. Lock and
    /// disable revoke every session (refresh token) of the account.
    async fn set_account_state(
        &self,
        email_norm: &str,
        action: AccountAction,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<AccountChange, AccountRefusal>, StoreError>;

    /// Seats held each day from `from` to `to` (inclusive, UTC) until the
    /// day of `now`; later days are not returned. A seat counts on a day
    /// if it was held at any time that day.
    async fn seat_days(
        &self,
        team: Uuid,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<(NaiveDate, u32)>, StoreError>;

    /// Signups, active teams and decrypts for the `weeks` weeks up to the
    /// one holding `now`, oldest first.
    async fn weekly_stats(
        &self,
        weeks: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<WeekStats>, StoreError>;
}

/// A team's stored plan and when it ends by itself. A design partner plan
/// the operator gave no end date ends [`DESIGN_PARTNER_DAYS`] after the
/// team's creation (teams start on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSchedule {
    pub stored: Plan,
    /// When the stored plan ends and what follows, whether or not that
    /// date has passed (an ended deal stays here until [`end_deals`]
    /// records its end).
    ///
    /// [`end_deals`]: OperatorStore::end_deals
    pub ends: Option<Deal>,
    /// The end date is the operator's (`--until`), not the six months a
    /// new team starts with. An owner's pick during the operator's deal is
    /// the plan after it; during the first six months it applies at once.
    pub operator_deal: bool,
}

impl PlanSchedule {
    /// From a team row's `plan`, `plan_until`, `plan_after` and `created_at`.
    pub fn from_row(
        plan: &str,
        until: Option<DateTime<Utc>>,
        after: Option<&str>,
        created: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let stored = parse_plan(plan)?;
        let then = after.map(parse_plan).transpose()?.unwrap_or(Plan::Free);
        let operator_deal = until.is_some();
        let until = until.or_else(|| {
            (stored == Plan::DesignPartner)
                .then(|| created + chrono::Duration::days(DESIGN_PARTNER_DAYS))
        });
        Ok(PlanSchedule {
            stored,
            ends: until.map(|until| Deal { until, then }),
            operator_deal,
        })
    }

    /// The plan in force at `now`.
    pub fn in_force(&self, now: DateTime<Utc>) -> Plan {
        match self.ends {
            Some(deal) if now >= deal.until => deal.then,
            _ => self.stored,
        }
    }

    /// The deal still running at `now`.
    pub fn running(&self, now: DateTime<Utc>) -> Option<Deal> {
        self.ends.filter(|deal| now < deal.until)
    }

    /// The plan billed for `day`: the plan at the day's end, from the
    /// team's history (oldest first) and this schedule.
    pub fn on(&self, day: NaiveDate, history: &[PlanChange]) -> Plan {
        let Some(end_of_day) = day.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)) else {
            return self.stored;
        };
        let end_of_day = end_of_day.and_utc();
        if let Some(deal) = self.ends
            && end_of_day > deal.until
        {
            return deal.then;
        }
        let mut plan = history.first().map_or(self.stored, |c| c.from);
        for change in history.iter().take_while(|c| c.changed_at < end_of_day) {
            plan = change.to;
        }
        plan
    }
}

pub(super) fn parse_plan(s: &str) -> Result<Plan, StoreError> {
    s.parse()
        .map_err(|()| StoreError::Corrupt(format!("unknown plan {s:?}")))
}
