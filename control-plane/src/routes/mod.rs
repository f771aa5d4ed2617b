//! The HTTP routes and the middleware around them.

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::state::AppState;

pub mod audit;
pub mod auth;
pub mod billing;
pub mod keys;
pub mod ops;
pub mod teams;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids unique across replicas without a system call per request
/// (a v4 uuid asks the kernel for randomness each time): a random prefix
/// per process and a counter, `3f2a9c1b7d4e-42`.
#[derive(Clone)]
struct RequestIds {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        RequestIds {
            prefix: random[..12].into(),
            next: Default::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/prelogin", post(auth::prelogin))
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/teams", get(teams::list).post(teams::create))
        .route("/teams/{team}", get(teams::get))
        .route("/teams/{team}/members", get(teams::members))
        .route("/teams/{team}/settings", put(teams::set_settings))
        .route("/teams/{team}/members/{user}", delete(teams::remove_member))
        .route("/teams/{team}/members/{user}/role", put(teams::change_role))
        .route("/teams/{team}/invite", post(teams::invite))
        .route("/teams/{team}/invites", get(teams::invites))
        .route(
            "/teams/{team}/invites/{invite}",
            delete(teams::revoke_invite),
        )
        .route("/invites/{invite}", get(teams::preview_invite))
        .route("/invites/{invite}/accept", post(teams::accept_invite))
        .route("/teams/{team}/keys", get(keys::fetch))
        .route("/teams/{team}/keys/public", get(keys::public_key))
        .route(
            "/teams/{team}/keys/rotate",
            body_limit(post(keys::rotate), keys::MAX_ROTATE_BODY),
        )
        .route("/teams/{team}/grants", post(keys::post_grant))
        .route("/teams/{team}/grants/pending", get(keys::pending))
        .route(
            "/teams/{team}/audit",
            body_limit(
                get(audit::query).post(audit::ingest),
                audit::MAX_INGEST_BODY,
            ),
        )
        .route("/teams/{team}/audit/export", get(audit::export))
        .route(
            "/teams/{team}/members/{user}/exposure",
            get(audit::exposure),
        )
        .route("/teams/{team}/usage", get(billing::usage))
        .route("/teams/{team}/billing", post(billing::set_billing))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(envv_api::MAX_BODY_BYTES));

    let metrics = state.metrics.clone();
    api.with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
        .layer(axum::middleware::from_fn(close_after_refused_body))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds::new()))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                        // Method, path and request id only: headers carry tokens.
                        let id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id = %id,
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}

/// Raises one route's body limit above `MAX_BODY_BYTES`, and tells the
/// JSON extractor, so a 413 names the limit that applied.
fn body_limit(route: MethodRouter<AppState>, bytes: usize) -> MethodRouter<AppState> {
    route.layer((DefaultBodyLimit::max(bytes), Extension(BodyLimit(bytes))))
}

/// An error can be answered before the request body is read (bad token,
/// path or content type, a body over the limit). hyper then closes the
/// connection without saying so, and a client that reuses it from its pool
/// fails its next request, which it can't safely retry if it was a POST.
/// Saying `Connection: close` makes the client open a fresh connection.
async fn close_after_refused_body(request: axum::extract::Request, next: Next) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|len| len.as_bytes() != b"0");
    let mut response = next.run(request).await;
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
