//! SQLite's hottest reads, run on the calling thread.
//!
//! sqlx drives each SQLite connection from a thread of its own and hands
//! every statement and every row across threads: for a read of one
//! statement the hand-offs cost more than the read, and they were most of
//! the control plane's CPU under load (`bench/results.md`). The membership
//! check every team route makes, a team's member version and its member
//! list (`member_lists.rs`) run here instead:
//! through rusqlite, on connections of their own that refuse writes
//! (`query_only`), on the runtime's thread.
//!
//! That thread is not held for long. In WAL mode a reader never waits for
//! the writer, and these statements read a few index pages, from SQLite's
//! cache or the operating system's. The rare read that does find the
//! database locked (a WAL recovery after a crash, or another process
//! holding the file exclusively) gets no busy wait here: it is run again on
//! a blocking thread, where it may wait as long as the pool would. At most
//! [`BLOCKING_READS`] wait so at once; a read that can't start one within
//! the pool's acquire timeout fails as the pool's would.
//!
//! It pays (`bench/results.md`, 2026-12-05, against the same two reads on
//! sqlx's pool): in process, `GET /teams/{id}/members` 17.5–20 µs against
//! 87–96 µs, `membership` 2.1–2.5 µs against 27–37 µs; over TCP (wrk, 2
//! cores) 33.5k–37.8k req/s against 15.7k–17.8k.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::Semaphore;

use super::{ACQUIRE_TIMEOUT, StoreError};

/// Reads waiting for a locked database on blocking threads at once (which
/// the password hashing shares).
const BLOCKING_READS: usize = 4;

pub struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Idle connections kept: one per thread that may read at once.
    keep_idle: usize,
    blocking: Semaphore,
}

impl InlineReads {
    /// Reads of the database file at `path`, which must exist and be in WAL
    /// mode (the pool's connections made it so).
    pub fn new(path: &Path) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        InlineReads {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            keep_idle: threads + BLOCKING_READS,
            blocking: Semaphore::new(BLOCKING_READS),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn checkout(&self) -> rusqlite::Result<Connection> {
        if let Some(conn) = self.idle().pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "query_only", true)?;
        conn.busy_timeout(Duration::ZERO)?;
        Ok(conn)
    }

    fn checkin(&self, conn: Connection) {
        let mut idle = self.idle();
        if idle.len() < self.keep_idle {
            idle.push(conn);
        }
    }

    /// Runs `read` on a connection of its own, on this thread; if the
    /// database is locked, again on a blocking thread that waits for it.
    /// The connection goes back unless `read` failed.
    pub async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.checkout()?;
        let (conn, result) = match read(&conn) {
            Err(e) if is_busy(&e) => {
                let _permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.blocking.acquire())
                    .await
                    .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?
                    .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
                tokio::task::spawn_blocking(move || {
                    let result = conn
                        .busy_timeout(ACQUIRE_TIMEOUT)
                        .and_then(|()| read(&conn))
                        .and_then(|t| conn.busy_timeout(Duration::ZERO).map(|()| t));
                    (conn, result)
                })
                .await
                .map_err(|e| match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // Cancelled: the runtime is shutting down.
                    Err(_) => StoreError::Database(sqlx::Error::PoolClosed),
                })?
            }
            result => (conn, result),
        };
        let value = result?;
        self.checkin(conn);
        Ok(value)
    }
}

/// The database was locked (by then for the whole busy timeout, on a
/// blocking read).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL database with one table of one row, and reads of it.
    fn database() -> (tempfile::TempDir, InlineReads) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "wal").unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        let reads = InlineReads::new(&path);
        (dir, reads)
    }

    fn count(conn: &Connection) -> rusqlite::Result<i64> {
        conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
    }

    #[tokio::test]
    async fn reads_see_commits_and_reuse_connections() {
        let (dir, reads) = database();
        assert_eq!(reads.read(count).await.unwrap(), 1);
        let writer = Connection::open(dir.path().join("db")).unwrap();
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert_eq!(reads.read(count).await.unwrap(), 2);
        assert_eq!(reads.idle().len(), 1);
    }

    #[tokio::test]
    async fn reads_cannot_write() {
        let (_dir, reads) = database();
        let write = reads
            .read(|conn| conn.execute("INSERT INTO t VALUES (2)", []))
            .await;
        assert!(matches!(write, Err(StoreError::Sqlite(_))), "{write:?}");
        // The failed read's connection was not kept.
        assert_eq!(reads.idle().len(), 0);
        assert_eq!(reads.read(count).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_locked_database_is_waited_for_off_the_runtime() {
        let (dir, reads) = database();
        // A connection in exclusive locking mode holds the file itself,
        // which WAL readers can't read around.
        let holder = Connection::open(dir.path().join("db")).unwrap();
        holder
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
            .unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            holder.execute_batch("COMMIT;").unwrap();
            drop(holder);
        });
        // The test's runtime has one thread: a read waiting on it would
        // stop this task too.
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        assert_eq!(reads.read(count).await.unwrap(), 1);
        ticker.abort();
        release.join().unwrap();
        let ticks = ticks.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            ticks >= 10,
            "the runtime ran {ticks} ticks while the read waited"
        );
        // The connection came back, without a busy wait of its own.
        assert_eq!(reads.idle().len(), 1);
        let conn = reads.checkout().unwrap();
        let timeout: i64 = conn
            .query_row("PRAGMA busy_timeout", [], |row| row.get(0))
            .unwrap();
        assert_eq!(timeout, 0);
    }
}
