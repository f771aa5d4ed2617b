//! What differs between the two databases, behind one trait: the store's
//! queries are written once, generic over [`Backend`] (see [`super::sql`]).
//!
//! The SQL is the same on both (SQLite accepts PostgreSQL's `$n`
//! placeholders, `ON CONFLICT` and `RETURNING`). What is not the same lives
//! here: how a write transaction takes its lock, how many rows a statement
//! changed, and where the hottest reads run. So do the bounds sqlx needs for
//! the queries to be generic, named once as [`Backend`]'s supertraits.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use envv_api::{KdfParams, Role};
use sqlx::types::Json;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Postgres, Sqlite,
    Transaction, Type,
};
use uuid::Uuid;

use super::member_lists::MemberList;
use super::{StoreError, TeamRecord};

/// A database the store runs on, and everything the generic queries need of
/// it: the types they bind and read ([`Binds`], [`Encodes`]), the columns
/// they read by name or position ([`Indexes`]), and a connection to run a
/// statement on ([`Executes`]).
pub trait Backend:
    Database<Arguments: IntoArguments<Self>>
    + for<'c> Executes<'c>
    + Binds<Uuid>
    + Binds<Option<Uuid>>
    + Binds<String>
    + Binds<Option<String>>
    + Binds<bool>
    + Binds<i32>
    + Binds<i64>
    + Binds<Vec<u8>>
    + Binds<Option<Vec<u8>>>
    + Binds<DateTime<Utc>>
    + Binds<Option<DateTime<Utc>>>
    + Binds<NaiveDate>
    + Binds<Json<serde_json::Value>>
    + Binds<Json<KdfParams>>
    + for<'a> Encodes<&'a str>
    + for<'a> Encodes<&'a [u8]>
    + Indexes<usize>
    + for<'a> Indexes<&'a str>
{
    /// The backend's hottest reads, with the state they keep per store.
    type Reads: HotReads;

    /// Starts a transaction that writes. SQLite has one writer: taking its
    /// lock up front (`BEGIN IMMEDIATE`) avoids the deadlock of two readers
    /// both trying to upgrade. PostgreSQL serialises with row locks, taken
    /// by each query (see [`super::sql`]).
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// How many rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

/// The team and the user's role in it, if they are a member: the check
/// every team route makes. Run per backend ([`HotReads::membership`]), each on its
/// fastest path for one-statement reads.
pub(super) const MEMBERSHIP: &str = "SELECT t.id, t.name, t.current_epoch, t.rekey_required, \
     t.max_staleness_secs, t.created_at, m.role \
     FROM memberships m JOIN teams t ON t.id = m.team_id \
     WHERE m.team_id = $1 AND m.user_id = $2";

/// The team's member version (see `member_lists.rs`), if the team exists:
/// one indexed row, read on every request for the member list.
pub(super) const MEMBER_VERSION: &str = "SELECT member_version FROM teams WHERE id = $1";

/// The team's members in join order, a row each with the team's member
/// version (no rows for a team without members, or no team).
pub(super) const MEMBERS: &str = "SELECT u.id AS user_id, u.email, u.name, m.role, \
     u.identity_public_key, u.signing_public_key, \
     EXISTS (SELECT 1 FROM grants g WHERE g.team_id = m.team_id \
       AND g.user_id = m.user_id AND g.epoch = t.current_epoch) AS has_key, \
     m.joined_at, t.member_version \
     FROM teams t \
     JOIN memberships m ON m.team_id = t.id \
     JOIN users u ON u.id = m.user_id \
     WHERE t.id = $1 ORDER BY m.joined_at, u.id";

/// The reads every team request makes, each backend's fastest way
/// (`inline.rs` on SQLite, `lease.rs` on PostgreSQL; `bench/results.md`
/// says what that pays).
pub trait HotReads: Send + Sync {
    /// The team and the user's role in it, if they are a member: the check
    /// every team route makes.
    fn membership(
        &self,
        team: Uuid,
        user: Uuid,
    ) -> impl Future<Output = Result<Option<(TeamRecord, Role)>, StoreError>> + Send;

    /// The team's member version ([`MEMBER_VERSION`]), `None` for no team.
    fn member_version(
        &self,
        team: Uuid,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// The team's members at one version ([`MEMBERS`]), `None` when it has
    /// none (or there is no such team).
    fn members(
        &self,
        team: Uuid,
    ) -> impl Future<Output = Result<Option<MemberList>, StoreError>> + Send;
}

// Rust carries a trait's supertraits, and bounds on its supertraits'
// associated types, to every user of the trait, but not `where` clauses
// about other types (`Uuid: Encode<Self>`). [`Bind`] turns such a type into
// an associated type of the backend, equal to itself, which a supertrait
// can then bound: `DB: Backend` is all a generic query needs to say.

/// `T` as an associated type of the backend (always `T` itself).
pub trait Bind<T> {
    type Is;
}

impl<T> Bind<T> for Sqlite {
    type Is = T;
}

impl<T> Bind<T> for Postgres {
    type Is = T;
}

/// The backend binds `T` as a parameter and reads it back from a row.
pub trait Binds<T>: Database + Bind<T, Is = T> + Bind<T, Is: Column<Self>> {}

impl<DB: Database + Bind<T, Is = T>, T: Column<DB>> Binds<T> for DB {}

/// The backend binds `T` as a parameter (`&str` and `&[u8]`, read back as
/// `String` and `Vec<u8>`).
pub trait Encodes<T>:
    Database + Bind<T, Is = T> + Bind<T, Is: for<'q> Encode<'q, Self> + Type<Self>>
{
}

impl<DB: Database + Bind<T, Is = T>, T: for<'q> Encode<'q, DB> + Type<DB>> Encodes<T> for DB {}

/// The backend's rows are read by `T` (a column's position or name).
pub trait Indexes<T>: Database + Bind<T, Is = T> + Bind<T, Is: ColumnIndex<Self::Row>> {}

impl<DB: Database + Bind<T, Is = T>, T: ColumnIndex<DB::Row>> Indexes<T> for DB {}

/// A connection runs statements: `&mut DB::Connection` is an executor.
pub trait Executes<'c>:
    Database
    + Bind<&'c mut Self::Connection, Is = &'c mut Self::Connection>
    + Bind<&'c mut Self::Connection, Is: Executor<'c, Database = Self>>
{
}

impl<'c, DB> Executes<'c> for DB
where
    DB: Database + Bind<&'c mut DB::Connection, Is = &'c mut DB::Connection>,
    &'c mut DB::Connection: Executor<'c, Database = DB>,
{
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
}

impl Backend for Postgres {
    type Reads = super::postgres::Reads;

    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error> {
        pool.begin().await
    }

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }
}
