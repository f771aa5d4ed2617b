//! The embedded default backend: one SQLite file in WAL mode.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rusqlite::OptionalExtension;
use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use envv_api::Role;
use uuid::Uuid;

use super::backend::{HotReads, MEMBER_VERSION, MEMBERS, MEMBERSHIP};
use super::inline::InlineReads;
use super::member_lists::MemberList;
use super::rows::{TeamRoleRow, VersionedMemberRow, member_list};
use super::sql::SqlStore;
use super::{StoreError, TeamRecord};

const IN_MEMORY: StoreError = StoreError::Unsupported("a SQLite database in memory: give a file");

pub type SqliteStore = SqlStore<Sqlite>;

/// The hottest reads, on the caller's thread (see `inline.rs`).
pub struct Reads(InlineReads);

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database at `url` (`sqlite:PATH` or a
    /// bare path) and runs the migrations.
    pub async fn connect(url: &str, pool_size: Option<u32>) -> Result<Self, StoreError> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite:{url}")
        };
        // Other connections can't open a database in memory (the inline
        // reads must), and the file check below would make a file of its name.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(IN_MEMORY);
        }
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
        let pool = SqlitePoolOptions::new()
            .max_connections(pool_size.unwrap_or(8).max(1))
            .min_connections(1)
            .test_before_acquire(false)
            .before_acquire(super::ping_if_idle)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        // The file SQLite resolved the URL to (empty for one in memory).
        let (file,): (String,) =
            sqlx::query_as("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&pool)
                .await?;
        if file.is_empty() {
            return Err(IN_MEMORY);
        }
        let reads = Reads(InlineReads::new(Path::new(&file)));
        Ok(SqlStore::new(pool, reads))
    }
}

impl HotReads for Reads {
    /// The team and the user's role in it, read inline.
    async fn membership(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(TeamRecord, Role)>, StoreError> {
        let row = self
            .0
            .read(move |conn| {
                conn.prepare_cached(MEMBERSHIP)?
                    .query_row((team, user), TeamRoleRow::from_sqlite)
                    .optional()
            })
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// The team's member version, read inline.
    async fn member_version(&self, team: Uuid) -> Result<Option<i64>, StoreError> {
        self.0
            .read(move |conn| {
                conn.prepare_cached(MEMBER_VERSION)?
                    .query_row([team], |row| row.get(0))
                    .optional()
            })
            .await
    }

    /// The team's members, read inline.
    async fn members(&self, team: Uuid) -> Result<Option<MemberList>, StoreError> {
        let rows = self
            .0
            .read(move |conn| {
                conn.prepare_cached(MEMBERS)?
                    .query_map([team], VersionedMemberRow::from_sqlite)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        member_list(rows)
    }
}

/// The database holds wrapped keys: create it 0600 before SQLite does, which
/// then gives its WAL and shared-memory files the same mode.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    if path.as_os_str().is_empty() || path.exists() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_in_memory_is_refused() {
        for url in ["sqlite::memory:", "sqlite://db?mode=memory", ":memory:"] {
            let refused = SqliteStore::connect(url, None).await;
            assert!(
                matches!(refused, Err(StoreError::Unsupported(_))),
                "{url}: {:?}",
                refused.err()
            );
        }
    }
}
