//! Accounts, sessions and login throttling: the SQL of [`AccountStore`](super::AccountStore).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use uuid::Uuid;

use super::backend::Backend;
use super::rows::{USER_COLUMNS, UserRow, conflict};
use super::sql::SqlStore;
use super::{
    AccountStore, AuditEvent, NewRefreshToken, NewUser, PasswordChange, RefreshOutcome, StoreError,
    ThrottlePolicy, UserRecord,
};

#[async_trait]
impl<DB: Backend> AccountStore for SqlStore<DB> {
    async fn create_user(&self, user: NewUser) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (id, email, email_norm, name, auth_key_hash, \
             identity_public_key, signing_public_key, wrapped_identity, kdf, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(user.id)
        .bind(&user.email)
        .bind(&user.email_norm)
        .bind(&user.name)
        .bind(&user.auth_key_hash)
        .bind(&user.identity_public_key)
        .bind(&user.signing_public_key)
        .bind(&user.wrapped_identity)
        .bind(Json(user.kdf))
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("signup").actor(user.id),
            user.created_at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_email(&self, email_norm: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_norm = $1");
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(email_norm)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn change_password(
        &self,
        change: PasswordChange,
        session: NewRefreshToken,
    ) -> Result<(), StoreError> {
        let now = session.created_at;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE users SET auth_key_hash = $2, wrapped_identity = $3, kdf = $4 WHERE id = $1",
        )
        .bind(change.user)
        .bind(&change.auth_key_hash)
        .bind(&change.wrapped_identity)
        .bind(Json(change.kdf))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(change.user)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens \
             (token_hash, family_id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.token_hash)
        .bind(session.family_id)
        .bind(session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        Self::insert_audit(
            &mut tx,
            AuditEvent::new("password.change").actor(change.user),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn start_session(
        &self,
        token: NewRefreshToken,
        audit: AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO refresh_tokens \
             (token_hash, family_id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.token_hash)
        .bind(token.family_id)
        .bind(token.user_id)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict)?;
        Self::insert_audit(&mut tx, audit, token.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        // Spending is one conditional UPDATE, so of many concurrent
        // refreshes with one token exactly one sees the row unspent.
        // A disabled account's token stays unspent and invalid.
        let spent: Option<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL \
             AND EXISTS (SELECT 1 FROM users u \
               WHERE u.id = refresh_tokens.user_id AND NOT u.disabled) \
             RETURNING family_id, user_id, expires_at",
        )
        .bind(old_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match spent {
            Some((family_id, user_id, old_expiry)) if old_expiry > now => {
                sqlx::query(
                    "INSERT INTO refresh_tokens \
                     (token_hash, family_id, user_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(new_hash)
                .bind(family_id)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await
                .map_err(conflict)?;
                RefreshOutcome::Rotated { user_id, family_id }
            }
            Some(_) => RefreshOutcome::Invalid,
            None => {
                let known: Option<(Uuid, Uuid, Option<DateTime<Utc>>)> = sqlx::query_as(
                    "SELECT family_id, user_id, used_at FROM refresh_tokens \
                     WHERE token_hash = $1",
                )
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
                match known {
                    Some((family_id, user_id, Some(_))) => {
                        // A spent token came back: someone holds a copy.
                        // Revoke the whole family, the newest token too.
                        sqlx::query(
                            "UPDATE refresh_tokens SET revoked_at = $2 \
                             WHERE family_id = $1 AND revoked_at IS NULL",
                        )
                        .bind(family_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        Self::insert_audit(
                            &mut tx,
                            AuditEvent::new("session.reuse_detected")
                                .actor(user_id)
                                .target(family_id.to_string()),
                            now,
                        )
                        .await?;
                        RefreshOutcome::Reused
                    }
                    _ => RefreshOutcome::Invalid,
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn revoke_session(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let known: Option<(Uuid, Uuid)> =
            sqlx::query_as("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((family_id, user_id)) = known else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 \
             WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Self::insert_audit(&mut tx, AuditEvent::new("logout").actor(user_id), now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn login_locked_until(
        &self,
        email_norm: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(Option<DateTime<Utc>>,)> =
            sqlx::query_as("SELECT locked_until FROM login_throttle WHERE email_norm = $1")
                .bind(email_norm)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(until,)| until).filter(|until| *until > now))
    }

    async fn record_login_failure(
        &self,
        email_norm: &str,
        now: DateTime<Utc>,
        policy: ThrottlePolicy,
        audit: AuditEvent,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut tx = self.begin_write().await?;
        // One statement counts the failure, so concurrent failures all count.
        let (failures,): (i32,) = sqlx::query_as(
            "INSERT INTO login_throttle (email_norm, failures, window_start) \
             VALUES ($1, 1, $2) \
             ON CONFLICT (email_norm) DO UPDATE SET \
               failures = CASE WHEN login_throttle.window_start > $3 \
                          THEN login_throttle.failures + 1 ELSE 1 END, \
               window_start = CASE WHEN login_throttle.window_start > $3 \
                          THEN login_throttle.window_start ELSE $2 END \
             RETURNING failures",
        )
        .bind(email_norm)
        .bind(now)
        .bind(now - policy.window)
        .fetch_one(&mut *tx)
        .await?;
        let locked_until = if failures >= policy.max_failures {
            let until = now + policy.lockout;
            sqlx::query(
                "UPDATE login_throttle SET locked_until = $2, failures = 0, \
                 window_start = $3 WHERE email_norm = $1",
            )
            .bind(email_norm)
            .bind(until)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Some(until)
        } else {
            None
        };
        Self::insert_audit(&mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(locked_until)
    }

    async fn clear_login_failures(&self, email_norm: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_throttle WHERE email_norm = $1")
            .bind(email_norm)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
