//! The embedded default backend: one SQLite file in WAL mode.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use envv_api::Role;
use uuid::Uuid;

use super::StoreError;
use super::lease::Leases;
use super::rows::{MembersRow, members_from_json};

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

    /// The caller's role and every member, in one row whose member list is
    /// a JSON array (see `rows::MembersRow`); `None` for a non-member.
    async fn members_listing(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(Role, Vec<envv_api::Member>)>, StoreError> {
        let row: Option<MembersRow> = self
            .reads
            .read(async |conn| {
                sqlx::query_as(
                    "SELECT c.role AS caller_role, \
                     (SELECT json_group_array(json_object( \
                         'user_id', lower(hex(u.id)), 'email', u.email, 'name', u.name, \
                         'role', m.role, 'identity_public_key', u.identity_public_key, \
                         'has_key', EXISTS (SELECT 1 FROM grants g WHERE g.team_id = m.team_id \
                             AND g.user_id = m.user_id AND g.epoch = t.current_epoch), \
                         'joined_at', m.joined_at)) \
                      FROM memberships m JOIN users u ON u.id = m.user_id \
                      JOIN teams t ON t.id = m.team_id \
                      WHERE m.team_id = c.team_id) AS members \
                     FROM memberships c WHERE c.team_id = $1 AND c.user_id = $2",
                )
                .bind(team)
                .bind(user)
                .fetch_optional(conn)
                .await
            })
            .await?;
        members_from_json(row)
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
