//! The server entry point: an already-bound listener and a shutdown future
//! in, requests served until the future resolves.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::routes;
use crate::state::AppState;

/// Serves the API on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes::router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
