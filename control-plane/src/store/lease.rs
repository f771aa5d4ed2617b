//! PostgreSQL connections for the hottest reads, handed back without sqlx's
//! release ping (SQLite's run inline instead, see `inline.rs`).
//!
//! sqlx pings every connection that goes back into its pool, whatever the
//! options: a round trip to PostgreSQL. For a read of one statement that
//! doubles the database work per request. The membership check every team
//! route makes, a team's member version and its member list
//! (`member_lists.rs`) take a connection from here instead. It goes back as
//! it is when its statement completed; when it didn't (an error, or a
//! request cancelled mid-statement, which can leave the connection in an
//! unknown state) it is closed instead. A connection that sat idle for more
//! than a second is pinged before use, as the main pool does.
//!
//! It pays (`bench/results.md`, 2026-12-05, against the same two reads on
//! sqlx's pool of all the connections): in process, `GET
//! /teams/{id}/members` 67–68 µs against 210–231 µs, `membership` 23–24 µs
//! against 98–114 µs; over TCP (wrk, 2 cores) 14.5k–16.0k req/s against
//! 10.8k–11.2k, p99 7–15 ms against 21–22 ms.

use std::sync::Mutex;
use std::time::Instant;

use sqlx::Connection;
use tokio::sync::Semaphore;

use super::{ACQUIRE_TIMEOUT, PING_IF_IDLE_FOR};

pub struct Leases<C: Connection> {
    options: <C as Connection>::Options,
    idle: Mutex<Vec<(C, Instant)>>,
    permits: Semaphore,
}

impl<C: Connection> Leases<C> {
    /// At most `size` connections, opened on first use.
    pub fn new(options: <C as Connection>::Options, size: u32) -> Self {
        Leases {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size.max(1) as usize),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(C, Instant)>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `read` on a connection of its own. The connection goes back
    /// only if `read` completes without an error; cancelled or failed, it
    /// is dropped (closed) with this future.
    pub async fn read<T>(
        &self,
        read: impl AsyncFnOnce(&mut C) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        // As long as the main pool waits for a connection, then give up.
        let checkout = async {
            let permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| sqlx::Error::PoolClosed)?;
            let idle = self.idle().pop();
            let conn = match idle {
                Some((conn, since)) if since.elapsed() <= PING_IF_IDLE_FOR => conn,
                Some((mut conn, _)) => match conn.ping().await {
                    Ok(()) => conn,
                    Err(_) => C::connect_with(&self.options).await?,
                },
                None => C::connect_with(&self.options).await?,
            };
            Ok::<_, sqlx::Error>((permit, conn))
        };
        let (_permit, mut conn) = tokio::time::timeout(ACQUIRE_TIMEOUT, checkout)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        let result = read(&mut conn).await;
        if result.is_ok() {
            self.idle().push((conn, Instant::now()));
        }
        result
    }
}
