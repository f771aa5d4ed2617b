//! The team chain as the store keeps it: each statement's exact text in
//! `team_chain`, in order. Every write that changes a chain fact, inside
//! its transaction and after locking the team row:
//! 1. [`load_chain`](SqlStore::load_chain) replays the stored statements
//!    (each was checked, signature included, when it was appended);
//! 2. [`at_head`] refuses a statement not made at the chain's head (409:
//!    another append came first);
//! 3. [`apply`] checks it against every rule, its signature included;
//! 4. [`insert_statement`](SqlStore::insert_statement) stores it. The
//!    `(team_id, seq)` key refuses a second statement at one position,
//!    whatever the isolation level.

use chrono::{DateTime, Utc};
use envv_core::chain::{Body, Statement, TeamChain};
use uuid::Uuid;

use super::StoreError;
use super::backend::Backend;
use super::sql::SqlStore;

/// Refuses a statement not made at the chain's head.
pub(super) fn at_head(chain: &TeamChain, statement: &Statement) -> Result<(), StoreError> {
    if statement.seq() != chain.seq() + 1 || statement.prev() != chain.head() {
        return Err(StoreError::ChainConflict);
    }
    Ok(())
}

/// Checks the statement against the chain's rules and its signature, and
/// adds it to `chain`.
pub(super) fn apply(chain: &mut TeamChain, statement: &Statement) -> Result<(), StoreError> {
    chain
        .apply(statement)
        .map_err(|e| StoreError::InvalidStatement(e.to_string()))
}

/// A refusal of a statement that says other than its request.
pub(super) fn differs(what: &str) -> StoreError {
    StoreError::InvalidStatement(format!("the statement's {what} differs from the request's"))
}

fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::InvalidStatement("seq is out of range".into()))
}

impl<DB: Backend> SqlStore<DB> {
    /// The team's chain, replayed from its stored statements. Call after
    /// locking the team row.
    pub(super) async fn load_chain(
        conn: &mut DB::Connection,
        team: Uuid,
    ) -> Result<TeamChain, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT body FROM team_chain WHERE team_id = $1 ORDER BY seq")
                .bind(team)
                .fetch_all(&mut *conn)
                .await?;
        let statements = rows
            .iter()
            .map(|(body,)| Statement::parse(body))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(format!("team chain: {e}")))?;
        TeamChain::replay_verified(&statements)
            .map_err(|e| StoreError::Corrupt(format!("team chain: {e}")))
    }

    /// Refuses, on the route that appends bare statements, every kind that
    /// would change a table besides the chain; a `checkpoint` must name an
    /// event this server's audit trail holds, with the hash it holds.
    pub(super) async fn check_side_effect_free(
        conn: &mut DB::Connection,
        team: Uuid,
        statement: &Statement,
    ) -> Result<(), StoreError> {
        let Body::Checkpoint {
            audit_seq,
            audit_head,
        } = statement.body()
        else {
            return Err(StoreError::InvalidStatement(format!(
                "this route takes only `checkpoint` statements, not `{}`: the others come \
                 with their own requests",
                statement.body().kind()
            )));
        };
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT hash FROM audit_events WHERE team_id = $1 AND chain_seq = $2")
                .bind(team)
                .bind(seq_i64(*audit_seq)?)
                .fetch_optional(&mut *conn)
                .await?;
        match row {
            Some((Some(hash),)) if hash.as_slice() == audit_head.0.as_slice() => Ok(()),
            Some(_) => Err(StoreError::InvalidStatement(format!(
                "the checkpoint's hash of audit event {audit_seq} is not the trail's"
            ))),
            None => Err(StoreError::InvalidStatement(format!(
                "the audit trail holds no event {audit_seq}"
            ))),
        }
    }

    /// Stores a checked statement. A second statement at the same position
    /// (a concurrent append that passed its checks too) is a conflict.
    pub(super) async fn insert_statement(
        conn: &mut DB::Connection,
        team: Uuid,
        statement: &Statement,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO team_chain (team_id, seq, hash, body, recorded_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(team)
        .bind(seq_i64(statement.seq())?)
        .bind(statement.hash().0.to_vec())
        .bind(statement.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::ChainConflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The statements after `after`, oldest first, and the chain's length,
    /// read in one transaction so the length covers the page.
    pub(super) async fn read_chain_page(
        &self,
        team: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let mut tx = self.pool.begin().await?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT body FROM team_chain WHERE team_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(team)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let (head,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM team_chain WHERE team_id = $1")
                .bind(team)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        let head =
            u64::try_from(head).map_err(|_| StoreError::Corrupt(format!("chain seq {head}")))?;
        Ok((rows.into_iter().map(|(b,)| b).collect(), head))
    }
}
