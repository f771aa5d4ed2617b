//! The HTTP routes and the middleware around them.

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::state::AppState;

pub mod audit;
pub mod auth;
pub mod billing;
pub mod invites;
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

/// Every route, each registered with its OpenAPI operation by `routes!`, so
/// the router and `/openapi.json` can't disagree.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(auth::prelogin))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(teams::list, teams::create))
        .routes(routes!(teams::get, teams::delete))
        .routes(routes!(teams::rename))
        .routes(routes!(teams::members))
        .routes(routes!(teams::set_settings))
        .routes(routes!(teams::remove_member))
        .routes(routes!(teams::change_role))
        .routes(routes!(invites::invite))
        .routes(routes!(invites::invites))
        .routes(routes!(invites::revoke_invite))
        .routes(routes!(invites::preview_invite))
        .routes(routes!(invites::accept_invite))
        .routes(routes!(teams::team_chain, teams::append_statement))
        .routes(routes!(invites::invite_chain))
        .routes(routes!(keys::fetch))
        .routes(routes!(keys::public_key))
        .routes(body_limit(routes!(keys::rotate), keys::MAX_ROTATE_BODY))
        .routes(routes!(keys::post_grant))
        .routes(routes!(keys::pending))
        .routes(body_limit(
            routes!(audit::query, audit::ingest),
            audit::MAX_INGEST_BODY,
        ))
        .routes(routes!(audit::export))
        .routes(routes!(audit::exposure))
        .routes(routes!(billing::usage))
        .routes(routes!(billing::set_billing))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
}

pub fn router(state: AppState) -> Router {
    let (api, _) = api().split_for_parts();
    let api = api
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
fn body_limit(route: UtoipaMethodRouter<AppState>, bytes: usize) -> UtoipaMethodRouter<AppState> {
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
