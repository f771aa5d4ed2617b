//! A database of its own per test: a SQLite file in a temporary folder, or
//! a fresh PostgreSQL database on the test server, dropped at the end.

use std::sync::Arc;

use control_plane::store::{self, Store};
use sqlx::Connection;
use uuid::Uuid;

use super::Backend;

pub fn postgres_admin_url() -> String {
    std::env::var("ENVV_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped at the end.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("envv.db").display());
                TestDb {
                    backend,
                    url,
                    dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("envv_test_{}", Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at ENVV_TEST_POSTGRES_URL is not reachable ({e}); start it or set the URL")
                });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDb {
                    backend,
                    url: format!("{base}/{name}"),
                    dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        store::connect(&self.url).await.expect("open test store")
    }

    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("envv.db"))
    }

    /// Runs `sql` on the database behind the server's back, with `$1` bound
    /// to `value` and `$2` to `id` (a user's, a team's), and checks it changed
    /// one row: a test playing a malicious server, another replica, or an
    /// operator editing the database.
    pub async fn update_row<T>(&self, sql: &'static str, value: T, id: Uuid)
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + 'static,
    {
        let done = match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let query = sqlx::query(sql).bind(value).bind(id);
                query.execute(&mut conn).await.unwrap().rows_affected()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let query = sqlx::query(sql).bind(value).bind(id);
                query.execute(&mut conn).await.unwrap().rows_affected()
            }
        };
        assert_eq!(done, 1, "{sql} changed {done} rows");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                    .await
                    .ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
    }
}
