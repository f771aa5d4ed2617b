//! The server entry point: an already-bound listener and a shutdown future
//! in, requests served until the future resolves.

use std::future::Future;

use tokio::net::TcpListener;

use crate::routes;
use crate::state::AppState;
use crate::tls::{PeerAddr, TlsListener};

/// Serves the API over plain HTTP on `listener` until `shutdown` resolves,
/// then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes::router(state).into_make_service_with_connect_info::<PeerAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// As [`serve`], over TLS.
pub async fn serve_tls(
    listener: TlsListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes::router(state).into_make_service_with_connect_info::<PeerAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
