//! Extractors that answer in the API's error format: JSON bodies, path
//! parameters, the authenticated caller and the client address.

use std::net::IpAddr;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tls::PeerAddr;

/// `axum::Json` whose rejections use our error body. Parse errors name the
/// field that failed and never quote the input: it may be a secret.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(envv_api::MAX_BODY_BYTES, |l| l.0);
        // Refused before reading when the length is declared: the client
        // gets its answer without sending the body first.
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection, limit)),
        }
    }
}

/// A route's body limit where it isn't `MAX_BODY_BYTES`, for the 413 answer
/// to name; `routes::body_limit` sets both.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

fn json_rejection(rejection: &JsonRejection, limit: usize) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        _ => match rejection {
            JsonRejection::JsonDataError(e) => match data_error_path(e) {
                Some(path) if path != "." => {
                    ApiError::InvalidJson(format!("`{path}` is missing or has the wrong type"))
                }
                _ => ApiError::InvalidJson("the body does not have the expected fields".into()),
            },
            _ => ApiError::InvalidJson("the body is not well-formed JSON".into()),
        },
    }
}

/// The JSON path of the field that failed, from serde_path_to_error.
fn data_error_path(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(p) = err.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>() {
            return Some(p.path().to_string());
        }
        source = err.source();
    }
    None
}

/// `axum::extract::Path` whose rejections use our error body.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::BadRequest(
                "an id in the path is not a valid UUID".into(),
            )),
            Err(_) => Err(ApiError::BadRequest("the path is malformed".into())),
        }
    }
}

/// The caller, proven by a valid access token.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: Uuid,
    pub session: Uuid,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        let access = state
            .keys
            .verify_access(token.trim())
            .ok_or(ApiError::Unauthorized)?;
        Ok(AuthUser {
            id: access.user,
            session: access.session,
        })
    }
}

/// The client's address: the peer, or with `trust_forwarded_for` the last
/// hop our own proxy appended to `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.trust_forwarded_for {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok());
            if forwarded.is_some() {
                return Ok(ClientIp(forwarded));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<PeerAddr>>()
            .map(|ConnectInfo(PeerAddr(addr))| addr.ip());
        Ok(ClientIp(peer))
    }
}

/// Query-string parameters; a malformed one is a 400 in the API's format,
/// naming no value.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(_) => Err(ApiError::BadRequest(
                "a query parameter is malformed or has the wrong type".into(),
            )),
        }
    }
}
