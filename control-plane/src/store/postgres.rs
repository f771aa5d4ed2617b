//! The production backend: PostgreSQL, shared by any number of replicas.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use envv_api::Role;
use uuid::Uuid;

use super::StoreError;
use super::lease::Leases;
use super::rows::{CallerMemberRow, members_from_rows};

pub struct PgStore {
    pool: PgPool,
    /// Half the connections, for the hottest reads.
    reads: Leases<sqlx::PgConnection>,
}

impl PgStore {
    /// Connects to `url` and runs the migrations (sqlx takes an advisory lock,
    /// so replicas starting together migrate once).
    pub async fn connect(url: &str, pool_size: Option<u32>) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let (pooled, leased) = super::split_pool(pool_size.unwrap_or(16));
        let reads = Leases::new(options.clone(), leased);
        let pool = PgPoolOptions::new()
            .max_connections(pooled)
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(super::ping_if_idle)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool, reads })
    }

    /// The caller's role and every member, a row each (PostgreSQL sends
    /// them in one batch); `None` for a non-member.
    async fn members_listing(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(Role, Vec<envv_api::Member>)>, StoreError> {
        let rows: Vec<CallerMemberRow> = self
            .reads
            .read(async |conn| {
                sqlx::query_as(
                    "SELECT u.id AS user_id, u.email, u.name, m.role, u.identity_public_key, \
                     EXISTS (SELECT 1 FROM grants g WHERE g.team_id = m.team_id \
                       AND g.user_id = m.user_id AND g.epoch = t.current_epoch) AS has_key, \
                     m.joined_at, c.role AS caller_role \
                     FROM memberships c \
                     JOIN teams t ON t.id = c.team_id \
                     JOIN memberships m ON m.team_id = c.team_id \
                     JOIN users u ON u.id = m.user_id \
                     WHERE c.team_id = $1 AND c.user_id = $2 ORDER BY m.joined_at, u.id",
                )
                .bind(team)
                .bind(user)
                .fetch_all(conn)
                .await
            })
            .await?;
        members_from_rows(rows)
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

impl_store!(PgStore, sqlx::Postgres);
