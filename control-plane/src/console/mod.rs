//! The operator's web console: server-rendered HTML pages over the same
//! store functions and audit as `envv-control-plane admin`, so the console
//! and the command line cannot disagree.
//!
//! It runs only on its own listener (`serve --admin-listen ADDR`), never on
//! the public API's port, behind an operator token made on the command line
//! (`admin token create`, [`tokens`]). Logging in with the token sets a
//! session cookie ([`session`]); every POST is checked for a same-origin
//! request and the session's CSRF token. It is read-only but for plan
//! changes and account lock/unlock, each behind a confirmation page
//! ([`actions`]). It shows metadata only: the server holds no secret to show.
//!
//! Pages are `maud` templates, which escape every value (team names and
//! emails are users' input); styles come from one served stylesheet, so
//! the Content-Security-Policy allows no inline script or style at all.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, extract::Request};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::ratelimit::IpLimiter;
use crate::state::AppState;
use crate::tls::{PeerAddr, TlsListener};

pub mod actions;
pub mod invoices;
pub mod layout;
pub mod session;
pub mod team;
pub mod teams;
pub mod tokens;

/// Every console page is under this prefix, which the public API never
/// routes (it answers 404 there).
pub const PREFIX: &str = "/console";

/// The largest form body a console page sends.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// What every console handler shares.
#[derive(Clone)]
pub struct Console {
    pub app: AppState,
    /// Served over TLS: the session cookie is `Secure` (and `__Host-`).
    pub tls: bool,
    /// How long a session lasts from login.
    pub session_ttl: Duration,
    /// How long a session lasts without a request.
    pub session_idle: Duration,
    /// Failed logins per client address.
    pub login_limiter: Arc<IpLimiter>,
}

impl Console {
    pub fn new(app: AppState, tls: bool) -> Console {
        Console {
            app,
            tls,
            session_ttl: session::SESSION_TTL,
            session_idle: session::SESSION_IDLE,
            login_limiter: Arc::new(IpLimiter::new(10, Duration::from_secs(60))),
        }
    }
}

/// The console's routes, with its security headers on every answer.
pub fn router(console: Console) -> Router {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/console/teams") }))
        .route("/style.css", get(layout::stylesheet))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/teams", get(teams::list))
        .route("/teams/{team}", get(team::show))
        .route(
            "/teams/{team}/plan",
            get(actions::confirm_plan).post(actions::set_plan),
        )
        .route(
            "/accounts/{action}",
            get(actions::confirm_account).post(actions::account),
        )
        .route("/invoices", get(invoices::show))
        .route("/invoices.csv", get(invoices::csv));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/teams") }))
        .nest(PREFIX, pages)
        .fallback(|| async { layout::Failure::NotFound("page").into_response() })
        .with_state(console)
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(
            // Method and path only: query strings hold emails.
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::info_span!(
                    "console",
                    method = %request.method(),
                    path = %request.uri().path(),
                )
            }),
        )
}

/// No script at all, styles from our own stylesheet only, forms posted to
/// ourselves only, never framed, never cached, and the Origin header sent
/// on our own form posts (`same-origin` referrers) for [`session`]'s check.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Serves the console over plain HTTP on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    console: Console,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(console).into_make_service_with_connect_info::<PeerAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// As [`serve`], over TLS.
pub async fn serve_tls(
    listener: TlsListener,
    console: Console,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(console).into_make_service_with_connect_info::<PeerAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A status code and page, for handlers that answer either.
pub type Page = Result<Response, layout::Failure>;

/// `303 See Other` to `to`: the answer to a form post.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}
