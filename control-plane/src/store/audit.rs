//! The audit trail's storage: the per-team hash chain, client-reported
//! events, usage counters, plans and retention ([`AuditStore`]).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use envv_api::{AuditEntry, ExposedSecret, Plan, UsageDay};
use uuid::Uuid;

use super::{AuditRecord, StoreError};

/// An event about to join its team's chain.
/// Where a page of a team's audit trail starts, and which way it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Oldest first, from just after this chain position (0: the start).
    After(i64),
    /// Newest first, from just before this chain position (`i64::MAX`:
    /// the end): what a live view shows.
    Before(i64),
}

#[derive(Debug, Clone)]
pub struct ChainItem {
    pub event_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target: Option<String>,
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    /// Indexed for the secret filter and the exposure report.
    pub secret_names: Vec<String>,
    /// The environment the names belong to (`None`: the default file).
    pub env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOutcome {
    pub accepted: u32,
    pub duplicate: u32,
}

/// Filters of an audit query, already validated.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<Uuid>,
    pub action: Option<String>,
    pub secret: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The number of secrets a client reported for one file after writing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCount {
    /// The hash of the file's path (`""` from clients that send none).
    pub path_hash: String,
    pub count: u32,
    /// When the client wrote the file.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct PlanInfo {
    /// The plan in force (see [`PlanSchedule::in_force`]).
    pub plan: Plan,
    pub schedule: super::PlanSchedule,
    pub billing_email: Option<String>,
    pub team_created: DateTime<Utc>,
    pub secret_count: u32,
    pub seats: u32,
}

/// The message of a refused seat: names the plan and its limit.
pub fn member_limit_message(plan: Plan, max: u32) -> String {
    format!("The {plan} plan allows {max} members; upgrade the team's plan to add more")
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// A team's audit rows, oldest first.
    async fn audit_events(&self, team: Uuid, limit: i64) -> Result<Vec<AuditRecord>, StoreError>;
    /// A user's account-level rows (signup, login, logout), oldest first.
    async fn account_events(&self, user: Uuid, limit: i64) -> Result<Vec<AuditRecord>, StoreError>;

    /// Appends the client's events not already stored (by event id) to the
    /// team's chain, with their usage counts, in one transaction. The team
    /// row is locked first, so concurrent batches (on any replica)
    /// serialise and each event is stored once. `file_counts` are the
    /// secret counts the batch reported per file; a file's count replaces
    /// an older one, and the team's secret count becomes their sum over
    /// its files.
    async fn ingest(
        &self,
        team: Uuid,
        items: Vec<ChainItem>,
        file_counts: Vec<FileCount>,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError>;
    /// Up to `limit` chained events from `page`, in its direction.
    async fn audit_page(
        &self,
        team: Uuid,
        filter: &AuditFilter,
        page: Page,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// The secrets `user` decrypted (or ran with) in the team, and when.
    async fn exposure(&self, team: Uuid, user: Uuid) -> Result<Vec<ExposedSecret>, StoreError>;
    async fn usage(
        &self,
        team: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<UsageDay>, StoreError>;
    async fn plan_info(&self, team: Uuid) -> Result<Option<PlanInfo>, StoreError>;
    /// Sets the plan and billing contact, with its `plan.change` audit row
    /// and history row. During the operator's deal the plan becomes the one
    /// the team moves to when the deal ends, and the deal stays.
    async fn set_plan(
        &self,
        team: Uuid,
        actor: Uuid,
        plan: Plan,
        billing_email: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes each team's audit rows stored longer ago than its plan
    /// keeps: a prefix of the chain. Returns how many rows went.
    async fn apply_retention(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
