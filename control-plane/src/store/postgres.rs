//! The production backend: PostgreSQL, shared by any number of replicas.

use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use envv_api::Role;
use uuid::Uuid;

use super::backend::{HotReads, MEMBER_VERSION, MEMBERS, MEMBERSHIP};
use super::lease::Leases;
use super::member_lists::MemberList;
use super::rows::{TeamRoleRow, VersionedMemberRow, member_list};
use super::sql::SqlStore;
use super::{StoreError, TeamRecord};

pub type PgStore = SqlStore<Postgres>;

/// Half the connections, for the hottest reads (see `lease.rs`).
pub struct Reads(Leases<sqlx::PgConnection>);

impl SqlStore<Postgres> {
    /// Connects to `url` and runs the migrations (sqlx takes an advisory lock,
    /// so replicas starting together migrate once).
    pub async fn connect(url: &str, pool_size: Option<u32>) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        // Milliseconds: PostgreSQL cancels a statement running longer.
        let timeout = super::STATEMENT_TIMEOUT.as_millis().to_string();
        let options = options.options([("statement_timeout", timeout.as_str())]);
        let (pooled, leased) = split_pool(pool_size.unwrap_or(16));
        let reads = Reads(Leases::new(options.clone(), leased));
        let pool = PgPoolOptions::new()
            .max_connections(pooled)
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(super::ping_if_idle)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(SqlStore::new(pool, reads))
    }
}

impl HotReads for Reads {
    /// The team and the user's role in it, on a lease (no release ping).
    async fn membership(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(TeamRecord, Role)>, StoreError> {
        let row: Option<TeamRoleRow> = self
            .0
            .read(async |conn| {
                sqlx::query_as(MEMBERSHIP)
                    .bind(team)
                    .bind(user)
                    .fetch_optional(conn)
                    .await
            })
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// The team's member version, on a lease.
    async fn member_version(&self, team: Uuid) -> Result<Option<i64>, StoreError> {
        let version = self
            .0
            .read(async |conn| {
                sqlx::query_scalar(MEMBER_VERSION)
                    .bind(team)
                    .fetch_optional(conn)
                    .await
            })
            .await?;
        Ok(version)
    }

    /// The team's members, on a lease.
    async fn members(&self, team: Uuid) -> Result<Option<MemberList>, StoreError> {
        let rows: Vec<VersionedMemberRow> = self
            .0
            .read(async |conn| sqlx::query_as(MEMBERS).bind(team).fetch_all(conn).await)
            .await?;
        member_list(rows)
    }
}

/// `size` connections in all (at least 2): the sqlx pool's share (writes,
/// and reads of more than one statement) and the leases' (the hottest
/// reads).
fn split_pool(size: u32) -> (u32, u32) {
    let size = size.max(2);
    let leased = size / 2;
    (size - leased, leased)
}
