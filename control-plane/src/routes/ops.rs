//! Health, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// `{"status": ...}`, the answer of the health and readiness checks.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok` from `/healthz`, `ready` from `/readyz`.
    #[schema(value_type = String)]
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is up.", body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// The process can serve: its database answers.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "The database answers.", body = Status),
        (status = 503, description = "The database does not answer.", body = envv_api::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::Unavailable
    })?;
    Ok(Json(Status { status: "ready" }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "The Prometheus text format.", body = String,
    content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object)))]
pub async fn openapi() -> Json<&'static Value> {
    Json(crate::openapi::document())
}
