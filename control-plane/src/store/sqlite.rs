//! The embedded default backend: one SQLite file in WAL mode.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::StoreError;
use super::lease::Leases;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Half the connections, for the hottest reads.
    reads: Leases<sqlx::SqliteConnection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite:PATH` or a
    /// bare path) and runs the migrations.
    pub async fn connect(url: &str, pool_size: Option<u32>) -> Result<Self, StoreError> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite:{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)?;
        create_private_file(options.get_filename())?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL loses at most the last transactions on power
            // loss, never consistency; FULL would fsync every commit.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let (pooled, leased) = super::split_pool(pool_size.unwrap_or(8));
        let reads = Leases::new(options.clone(), leased);
        let pool = SqlitePoolOptions::new()
            .max_connections(pooled)
            .min_connections(1)
            .test_before_acquire(false)
            .before_acquire(super::ping_if_idle)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool, reads })
    }

    /// SQLite has one writer; taking the lock up front (`IMMEDIATE`) avoids
    /// the deadlock of two readers both trying to upgrade.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// The database holds wrapped keys: create it 0600 before SQLite does, which
/// then gives its WAL and shared-memory files the same mode.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    if path.as_os_str().is_empty() || path == Path::new(":memory:") || path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(StoreError::Database(sqlx::Error::Io(e))),
        })
}

impl_store!(SqliteStore, sqlx::Sqlite);
