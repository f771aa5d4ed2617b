//! Accounts and sessions: prelogin, signup, login, refresh, logout, me.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use envv_api::{
    ChangePasswordRequest, ErrorBody, KDF_SALT_LEN, KdfParams, LoginRequest, LogoutRequest,
    PreloginRequest, PreloginResponse, RefreshRequest, Session, SignupRequest, TokenPair, User,
};
use tracing::instrument;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, AuthUser, ClientIp};
use crate::state::AppState;
use crate::store::{
    self, AuditEvent, NewRefreshToken, NewUser, PasswordChange, RefreshOutcome, UserRecord,
};
use crate::tokens::{hash_refresh_token, new_refresh_token};
use crate::validate;

/// The KDF salt and parameters for an email. An unknown email gets a fake
/// that is stable (derived from the server key) and shaped like a real one.
#[utoipa::path(post, path = "/auth/prelogin", tag = "auth",
    request_body = PreloginRequest,
    responses((status = 200, body = PreloginResponse), (status = 400, body = ErrorBody)))]
#[instrument(level = "debug", skip_all)]
pub async fn prelogin(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PreloginRequest>,
) -> ApiResult<Json<PreloginResponse>> {
    let email = validate::normalise_email(&req.email)?;
    let kdf = match state.store.user_by_email(&email).await? {
        Some(user) => user.kdf,
        None => {
            let defaults = state.config.client_kdf;
            let salt: [u8; KDF_SALT_LEN] = state
                .keys
                .current()
                .keyed_hash("prelogin-salt", email.as_bytes());
            KdfParams {
                algorithm: "argon2id".into(),
                memory_kib: defaults.memory_kib,
                iterations: defaults.iterations,
                parallelism: defaults.parallelism,
                salt: STANDARD.encode(salt),
            }
        }
    };
    Ok(Json(PreloginResponse { kdf }))
}

#[utoipa::path(post, path = "/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses((status = 201, body = Session), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
#[instrument(level = "debug", skip_all)]
pub async fn signup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let email_norm = validate::normalise_email(&req.email)?;
    let name = validate::display_name("name", &req.name)?;
    let auth_key = validate::auth_key(req.auth_key.expose())?;
    validate::age_recipient("identity_public_key", &req.identity_public_key)?;
    validate::signing_key("signing_public_key", &req.signing_public_key)?;
    validate::opaque_blob(
        "wrapped_identity",
        &req.wrapped_identity,
        validate::MAX_WRAPPED_IDENTITY,
    )?;
    validate::kdf(&req.kdf)?;

    let user = NewUser {
        id: Uuid::new_v4(),
        email: req.email.trim().to_owned(),
        email_norm,
        name,
        auth_key_hash: state.hasher.hash(auth_key).await?,
        identity_public_key: req.identity_public_key,
        signing_public_key: req.signing_public_key,
        wrapped_identity: req.wrapped_identity,
        kdf: req.kdf,
        created_at: store::now(),
    };
    match state.store.create_user(user.clone()).await {
        Ok(()) => {}
        Err(store::StoreError::Conflict) => {
            return Err(ApiError::Conflict(
                "an account with this email exists; log in instead".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let record = UserRecord {
        id: user.id,
        email: user.email,
        name: user.name,
        auth_key_hash: user.auth_key_hash,
        identity_public_key: user.identity_public_key,
        signing_public_key: user.signing_public_key,
        wrapped_identity: user.wrapped_identity,
        kdf: user.kdf,
        disabled: false,
        created_at: user.created_at,
    };
    let session = start_session(&state, &record, "login").await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// Unknown email, wrong key and disabled account all get the same answer,
/// after the same argon2 work.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
#[instrument(level = "debug", skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<Session>> {
    let email = validate::normalise_email(&req.email)?;
    let auth_key = validate::auth_key(req.auth_key.expose())?;
    if let Some(ip) = ip {
        state
            .ip_limiter
            .check(ip)
            .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    }
    let now = store::now();
    if let Some(until) = state.store.login_locked_until(&email, now).await? {
        return Err(too_many(until - now));
    }

    let user = state.store.user_by_email(&email).await?;
    let stored = user.as_ref().map(|u| u.auth_key_hash.clone());
    let verified = state.hasher.verify(auth_key, stored).await?;
    match user {
        Some(user) if verified && !user.disabled => {
            state.store.clear_login_failures(&email).await?;
            Ok(Json(start_session(&state, &user, "login").await?))
        }
        user => {
            if let Some(ip) = ip {
                state.ip_limiter.record_failure(ip);
            }
            let mut audit = AuditEvent::new("login.failed");
            if let Some(user) = &user {
                audit = audit.actor(user.id);
            }
            let policy = state.config.login_throttle;
            state
                .store
                .record_login_failure(&email, now, policy, audit)
                .await?;
            Err(ApiError::InvalidCredentials)
        }
    }
}

/// Changes the caller's password: the current auth key must verify (a
/// stolen access token alone changes nothing); then the new auth key,
/// wrapped identity and KDF parameters replace the old, every session of
/// the account is revoked and a new one starts for the caller. Access
/// tokens already issued run out on their own (minutes).
#[utoipa::path(post, path = "/auth/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses((status = 200, body = Session), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: AuthUser,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Json<Session>> {
    let current = validate::auth_key(req.current_auth_key.expose())?;
    let new = validate::auth_key(req.new_auth_key.expose())?;
    validate::opaque_blob(
        "wrapped_identity",
        &req.wrapped_identity,
        validate::MAX_WRAPPED_IDENTITY,
    )?;
    validate::kdf(&req.kdf)?;
    if let Some(ip) = ip {
        state
            .ip_limiter
            .check(ip)
            .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    }
    let user = state
        .store
        .user_by_id(caller.id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(ApiError::Unauthorized)?;
    let verified = state
        .hasher
        .verify(current, Some(user.auth_key_hash.clone()))
        .await?;
    if !verified {
        if let Some(ip) = ip {
            state.ip_limiter.record_failure(ip);
        }
        return Err(ApiError::InvalidCredentials);
    }
    let change = PasswordChange {
        user: user.id,
        auth_key_hash: state.hasher.hash(new).await?,
        wrapped_identity: req.wrapped_identity.clone(),
        kdf: req.kdf.clone(),
    };
    let (refresh_token, token_hash) = new_refresh_token();
    let now = store::now();
    let family_id = Uuid::new_v4();
    state
        .store
        .change_password(
            change,
            NewRefreshToken {
                token_hash,
                family_id,
                user_id: user.id,
                created_at: now,
                expires_at: now + state.keys.refresh_ttl,
            },
        )
        .await?;
    Ok(Json(Session {
        tokens: token_pair(&state, user.id, family_id, refresh_token)?,
        user: user.to_api(),
        wrapped_identity: req.wrapped_identity,
        kdf: req.kdf,
    }))
}

fn too_many(wait: chrono::Duration) -> ApiError {
    ApiError::TooManyRequests {
        retry_after: wait.to_std().unwrap_or_default(),
    }
}

async fn start_session(
    state: &AppState,
    user: &UserRecord,
    action: &'static str,
) -> ApiResult<Session> {
    let (refresh_token, token_hash) = new_refresh_token();
    let now = store::now();
    let family_id = Uuid::new_v4();
    state
        .store
        .start_session(
            NewRefreshToken {
                token_hash,
                family_id,
                user_id: user.id,
                created_at: now,
                expires_at: now + state.keys.refresh_ttl,
            },
            AuditEvent::new(action).actor(user.id),
        )
        .await?;
    Ok(Session {
        tokens: token_pair(state, user.id, family_id, refresh_token)?,
        user: user.to_api(),
        wrapped_identity: user.wrapped_identity.clone(),
        kdf: user.kdf.clone(),
    })
}

fn token_pair(
    state: &AppState,
    user: Uuid,
    session: Uuid,
    refresh_token: String,
) -> ApiResult<TokenPair> {
    let access_token = state
        .keys
        .issue_access(user, session)
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(TokenPair {
        access_token: access_token.into(),
        token_type: "Bearer".into(),
        expires_in: state.keys.access_ttl.as_secs(),
        refresh_token: refresh_token.into(),
    })
}

/// Spends the refresh token and returns a new pair. Presenting a spent
/// token revokes its whole session, the newest token included.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody)))]
#[instrument(level = "debug", skip_all)]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    let old_hash = hash_refresh_token(req.refresh_token.expose());
    let (new_token, new_hash) = new_refresh_token();
    let now = store::now();
    let outcome = state
        .store
        .rotate_refresh(&old_hash, &new_hash, now, now + state.keys.refresh_ttl)
        .await?;
    match outcome {
        RefreshOutcome::Rotated { user_id, family_id } => {
            Ok(Json(token_pair(&state, user_id, family_id, new_token)?))
        }
        RefreshOutcome::Reused => Err(ApiError::RefreshTokenReused),
        RefreshOutcome::Invalid => Err(ApiError::InvalidRefreshToken),
    }
}

/// Ends the session the refresh token belongs to.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    request_body = LogoutRequest,
    responses((status = 204), (status = 401, body = ErrorBody)))]
#[instrument(level = "debug", skip_all)]
pub async fn logout(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LogoutRequest>,
) -> ApiResult<StatusCode> {
    let hash = hash_refresh_token(req.refresh_token.expose());
    if state.store.revoke_session(&hash, store::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::InvalidRefreshToken)
    }
}

#[utoipa::path(get, path = "/me", tag = "auth",
    responses((status = 200, body = User), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<User>> {
    let user = state
        .store
        .user_by_id(caller.id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(ApiError::Unauthorized)?;
    Ok(Json(user.to_api()))
}
