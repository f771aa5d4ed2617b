//! The production backend: PostgreSQL, shared by any number of replicas.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::StoreError;
use super::lease::Leases;

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
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .before_acquire(super::ping_if_idle)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool, reads })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

impl_store!(PgStore, sqlx::Postgres);
