//! The SQL of [`ConsoleStore`](super::ConsoleStore): operator tokens and
//! console sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::backend::Backend;
use super::rows::conflict;
use super::sql::SqlStore;
use super::{AuditEvent, ConsoleSession, ConsoleStore, OperatorToken, StoreError};

type TokenRow = (
    Uuid,
    String,
    DateTime<Utc>,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn token((id, name, created_at, created_by, last_used_at, revoked_at): TokenRow) -> OperatorToken {
    OperatorToken {
        id,
        name,
        created_at,
        created_by,
        last_used_at,
        revoked_at,
    }
}

#[async_trait]
impl<DB: Backend> ConsoleStore for SqlStore<DB> {
    async fn create_operator_token(
        &self,
        name: &str,
        token_hash: &[u8],
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<OperatorToken, StoreError> {
        let id = Uuid::new_v4();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO operator_tokens (id, name, token_hash, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .bind(operator)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("admin.token.create")
                .target(name)
                .details(serde_json::json!({ "operator": operator, "token_id": id })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(OperatorToken {
            id,
            name: name.to_owned(),
            created_at: now,
            created_by: operator.to_owned(),
            last_used_at: None,
            revoked_at: None,
        })
    }

    async fn operator_tokens(&self) -> Result<Vec<OperatorToken>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT id, name, created_at, created_by, last_used_at, revoked_at \
             FROM operator_tokens ORDER BY created_at, name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(token).collect())
    }

    async fn revoke_operator_token(
        &self,
        name: &str,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let row: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE operator_tokens SET revoked_at = $2 \
             WHERE name = $1 AND revoked_at IS NULL RETURNING id",
        )
        .bind(name)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id,)) = row else {
            return Ok(false);
        };
        let ended = sqlx::query("DELETE FROM console_sessions WHERE token_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("admin.token.revoke")
                .target(name)
                .details(serde_json::json!({
                    "operator": operator,
                    "token_id": id,
                    "sessions_ended": DB::rows_affected(&ended),
                })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn console_login(
        &self,
        token_hash: &[u8; 32],
        session_hash: &[u8],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let live: Vec<(Uuid, String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, name, token_hash FROM operator_tokens WHERE revoked_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        // Every live token is compared, each in constant time: how long
        // this takes says nothing about how close a guess came.
        let mut found = None;
        for (id, name, hash) in live {
            if bool::from(hash.as_slice().ct_eq(token_hash.as_slice())) {
                found = Some((id, name));
            }
        }
        let Some((id, name)) = found else {
            return Ok(None);
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // Revoked meanwhile: no session.
        let touched = sqlx::query(
            "UPDATE operator_tokens SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&touched) == 0 {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO console_sessions \
             (session_hash, token_id, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(session_hash)
        .bind(id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("admin.console.login")
                .target(name.clone())
                .details(serde_json::json!({ "operator": name, "token_id": id })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(ConsoleSession {
            token_id: id,
            operator: name,
            expires_at,
        }))
    }

    async fn console_session(
        &self,
        session_hash: &[u8],
        now: DateTime<Utc>,
        used_since: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row: Option<(Uuid, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT t.id, t.name, s.expires_at FROM console_sessions s \
             JOIN operator_tokens t ON t.id = s.token_id \
             WHERE s.session_hash = $1 AND s.expires_at > $2 \
             AND COALESCE(s.last_seen_at, s.created_at) > $3 \
             AND t.revoked_at IS NULL",
        )
        .bind(session_hash)
        .bind(now)
        .bind(used_since)
        .fetch_optional(&self.pool)
        .await?;
        let Some((token_id, operator, expires_at)) = row else {
            return Ok(None);
        };
        sqlx::query("UPDATE console_sessions SET last_seen_at = $2 WHERE session_hash = $1")
            .bind(session_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(Some(ConsoleSession {
            token_id,
            operator,
            expires_at,
        }))
    }

    async fn console_logout(&self, session_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
