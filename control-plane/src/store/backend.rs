//! What differs between the two databases, behind one trait: the store's
//! queries are written once, generic over [`Backend`] (see [`super::sql`]).
//!
//! The SQL is the same on both (SQLite accepts PostgreSQL's `$n`
//! placeholders, `ON CONFLICT` and `RETURNING`). What is not the same lives
//! here: how a write transaction takes its lock, how many rows a statement
//! changed, and where the hottest reads run.

use std::future::Future;

use sqlx::{Database, Decode, Encode, IntoArguments, Pool, Postgres, Sqlite, Transaction, Type};
use uuid::Uuid;

use super::{StoreError, TeamRecord};
use envv_api::Role;

/// A database the store runs on. The bounds sqlx needs of the Rust types
/// the queries bind and read are listed with each generic impl (Rust does
/// not carry a trait's `where` clauses to its users); [`Column`] keeps each
/// to one line.
pub trait Backend: Database<Arguments: IntoArguments<Self>> {
    /// Per-store state of the backend's hottest reads.
    type Reads: Send + Sync;

    /// Starts a transaction that writes. SQLite has one writer: taking its
    /// lock up front (`BEGIN IMMEDIATE`) avoids the deadlock of two readers
    /// both trying to upgrade. PostgreSQL serialises with row locks, taken
    /// by each query (see [`super::sql`]).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// How many rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// The team and the user's role in it, if they are a member: the check
    /// every team route makes, on the backend's fastest path.
    fn membership(
        reads: &Self::Reads,
        team: Uuid,
        user: Uuid,
    ) -> impl Future<Output = Result<Option<(TeamRecord, Role)>, StoreError>> + Send;

    /// The caller's role and every member, `None` for a non-member, on the
    /// backend's fastest path.
    fn members_as(
        reads: &Self::Reads,
        team: Uuid,
        user: Uuid,
    ) -> impl Future<Output = Result<Option<(Role, Vec<envv_api::Member>)>, StoreError>> + Send;
}

/// A Rust type a backend binds as a parameter and reads back from a row.
pub trait Column<DB: Database>:
    for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send
{
}

impl<DB: Database, T> Column<DB> for T where
    T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> + Send
{
}

impl Backend for Sqlite {
    type Reads = super::sqlite::Reads;

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    async fn membership(
        reads: &Self::Reads,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(TeamRecord, Role)>, StoreError> {
        reads.membership(team, user).await
    }

    async fn members_as(
        reads: &Self::Reads,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(Role, Vec<envv_api::Member>)>, StoreError> {
        reads.members_as(team, user).await
    }
}

impl Backend for Postgres {
    type Reads = super::postgres::Reads;

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin().await
    }

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    async fn membership(
        reads: &Self::Reads,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(TeamRecord, Role)>, StoreError> {
        reads.membership(team, user).await
    }

    async fn members_as(
        reads: &Self::Reads,
        team: Uuid,
        user: Uuid,
    ) -> Result<Option<(Role, Vec<envv_api::Member>)>, StoreError> {
        reads.members_as(team, user).await
    }
}
