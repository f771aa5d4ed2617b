//! The one error type handlers return. It answers a stable code and a plain
//! message, and logs the cause (never a request body: it may hold a secret).

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use envv_api::{ErrorBody, ErrorDetail};

use crate::store::{Outage, StoreError};

/// What a 503 asks the client to wait before retrying: about as long as a
/// database restart or failover takes to begin answering again.
pub const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("the request body is larger than the {limit}-byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("missing or invalid access token; log in again")]
    Unauthorized,
    #[error("email or password is incorrect")]
    InvalidCredentials,
    #[error("this refresh token is invalid or expired; log in again")]
    InvalidRefreshToken,
    #[error("this refresh token was already used, so its session was revoked; log in again")]
    RefreshTokenReused,
    #[error("your role in this team does not allow this")]
    Forbidden,
    /// A plan only the service's operator sets (enterprise, design partner).
    #[error(
        "the {0} plan is arranged with the service's operator, not chosen here: contact us; \
         owners can pick free, starter or pro"
    )]
    OperatorPlan(envv_api::Plan),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("the team must keep at least one owner; make someone else owner first")]
    LastOwner,
    #[error("the team moved to key epoch {current} meanwhile; fetch the team keys and retry")]
    EpochConflict { current: u32 },
    #[error("the team's members changed meanwhile; fetch the members and retry")]
    MemberSetChanged,
    #[error("the team chain has statements this one was not made after; read the chain and retry")]
    ChainConflict,
    /// The message says which rule the statement breaks (no secrets: ids,
    /// positions and kinds only).
    #[error("the chain statement is refused: {0}")]
    InvalidStatement(String),
    #[error("too many attempts; retry in {} seconds", retry_after.as_secs())]
    TooManyRequests { retry_after: Duration },
    /// A plan limit; the message names the plan and the limit.
    #[error("{0}")]
    PlanLimit(String),
    /// The database is out of reach for now (restarting, every connection
    /// busy): answered with `Retry-After`.
    #[error("the server is busy or its database is out of reach; retry shortly")]
    Unavailable,
    /// The database has no space left: writes fail until the operator frees
    /// some, reads keep working.
    #[error("the server's storage is full, so nothing can be saved; reads still work")]
    StorageFull,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidJson(_) | ApiError::InvalidStatement(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized
            | ApiError::InvalidCredentials
            | ApiError::InvalidRefreshToken
            | ApiError::RefreshTokenReused => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::OperatorPlan(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_)
            | ApiError::LastOwner
            | ApiError::EpochConflict { .. }
            | ApiError::MemberSetChanged
            | ApiError::ChainConflict => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PlanLimit(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Every code [`ApiError::code`] answers: the document's enum of
    /// `error.code`, which clients may match on.
    pub const CODES: [&'static str; 23] = [
        "bad_request",
        "invalid_json",
        "payload_too_large",
        "unsupported_media_type",
        "unauthorized",
        "invalid_credentials",
        "invalid_refresh_token",
        "refresh_token_reused",
        "forbidden",
        "operator_plan",
        "not_found",
        "method_not_allowed",
        "conflict",
        "last_owner",
        "epoch_conflict",
        "member_set_changed",
        "chain_conflict",
        "invalid_statement",
        "rate_limited",
        "plan_limit",
        "unavailable",
        "storage_full",
        "internal",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::InvalidRefreshToken => "invalid_refresh_token",
            ApiError::RefreshTokenReused => "refresh_token_reused",
            ApiError::Forbidden => "forbidden",
            ApiError::OperatorPlan(_) => "operator_plan",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::LastOwner => "last_owner",
            ApiError::EpochConflict { .. } => "epoch_conflict",
            ApiError::MemberSetChanged => "member_set_changed",
            ApiError::ChainConflict => "chain_conflict",
            ApiError::InvalidStatement(_) => "invalid_statement",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::PlanLimit(_) => "plan_limit",
            ApiError::Unavailable => "unavailable",
            ApiError::StorageFull => "storage_full",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => ApiError::Conflict("it already exists".into()),
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::PlanLimit(message) => ApiError::PlanLimit(message),
            StoreError::ChainConflict => ApiError::ChainConflict,
            StoreError::InvalidStatement(message) => ApiError::InvalidStatement(message),
            // Load or an outage, not a bug: tell the client to retry, or
            // that nothing can be saved; the cause goes to the log.
            other => match Outage::of(&other) {
                Some(Outage::Unavailable) => {
                    tracing::warn!(error = %other, "database unavailable");
                    ApiError::Unavailable
                }
                Some(Outage::StorageFull) => {
                    tracing::error!(error = %other, "database storage full: free space");
                    ApiError::StorageFull
                }
                None => ApiError::Internal(other.into()),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        } else if status.is_server_error() {
            tracing::warn!(code = self.code(), "request refused");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match self {
            ApiError::TooManyRequests { retry_after } => Some(retry_after),
            ApiError::Unavailable => Some(RETRY_AFTER_UNAVAILABLE),
            _ => None,
        };
        if let Some(retry_after) = retry_after {
            let secs = retry_after.as_secs().max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of each kind; the match makes a new kind a compile error
    /// here until it has a sample, so [`ApiError::CODES`] can't miss it.
    fn one_of_each() -> Vec<ApiError> {
        let all = vec![
            ApiError::BadRequest(String::new()),
            ApiError::InvalidJson(String::new()),
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType,
            ApiError::Unauthorized,
            ApiError::InvalidCredentials,
            ApiError::InvalidRefreshToken,
            ApiError::RefreshTokenReused,
            ApiError::Forbidden,
            ApiError::OperatorPlan(envv_api::Plan::Enterprise),
            ApiError::NotFound("team"),
            ApiError::MethodNotAllowed,
            ApiError::Conflict(String::new()),
            ApiError::LastOwner,
            ApiError::EpochConflict { current: 1 },
            ApiError::MemberSetChanged,
            ApiError::ChainConflict,
            ApiError::InvalidStatement(String::new()),
            ApiError::TooManyRequests {
                retry_after: Duration::from_secs(1),
            },
            ApiError::PlanLimit(String::new()),
            ApiError::Unavailable,
            ApiError::StorageFull,
            ApiError::Internal(anyhow::anyhow!("cause")),
        ];
        let index = |e: &ApiError| match e {
            ApiError::BadRequest(_) => 0,
            ApiError::InvalidJson(_) => 1,
            ApiError::PayloadTooLarge { .. } => 2,
            ApiError::UnsupportedMediaType => 3,
            ApiError::Unauthorized => 4,
            ApiError::InvalidCredentials => 5,
            ApiError::InvalidRefreshToken => 6,
            ApiError::RefreshTokenReused => 7,
            ApiError::Forbidden => 8,
            ApiError::OperatorPlan(_) => 9,
            ApiError::NotFound(_) => 10,
            ApiError::MethodNotAllowed => 11,
            ApiError::Conflict(_) => 12,
            ApiError::LastOwner => 13,
            ApiError::EpochConflict { .. } => 14,
            ApiError::MemberSetChanged => 15,
            ApiError::ChainConflict => 16,
            ApiError::InvalidStatement(_) => 17,
            ApiError::TooManyRequests { .. } => 18,
            ApiError::PlanLimit(_) => 19,
            ApiError::Unavailable => 20,
            ApiError::StorageFull => 21,
            ApiError::Internal(_) => 22,
        };
        for (i, e) in all.iter().enumerate() {
            assert_eq!(index(e), i, "one sample per kind, in order");
        }
        all
    }

    #[test]
    fn codes_lists_every_code_once() {
        let codes: Vec<&str> = one_of_each().iter().map(ApiError::code).collect();
        assert_eq!(codes, ApiError::CODES);
    }

    #[test]
    fn a_database_out_of_reach_is_503_not_500() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let unavailable = [
            StoreError::Database(sqlx::Error::PoolTimedOut),
            StoreError::Sqlite(busy),
        ];
        for e in unavailable {
            assert_eq!(ApiError::from(e).status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        let broken = StoreError::Sqlite(rusqlite::Error::InvalidQuery);
        assert_eq!(
            ApiError::from(broken).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn unavailable_says_when_to_retry_and_storage_full_does_not() {
        let response = ApiError::Unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let response = ApiError::from(StoreError::Sqlite(full)).into_response();
        assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
    }
}
