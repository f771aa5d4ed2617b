//! A bare axum JSON hello-world: `GET /` answers `{"hello":"world"}`.
//! The baseline for `bench/control-plane.sh`; not part of envv.
//!
//! Usage: `envv-bench-hello PORT` listens on 127.0.0.1:PORT (0 picks a free
//! port) and prints `listening on ADDRESS` once it accepts connections.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Hello {
    hello: &'static str,
}

async fn hello() -> Json<Hello> {
    Json(Hello { hello: "world" })
}

fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        Some(Ok(port)) => port,
        _ => {
            eprintln!("usage: envv-bench-hello PORT");
            std::process::exit(2);
        }
    };
    // The multi-threaded runtime with default workers, as the control plane runs.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            println!("listening on {}", listener.local_addr()?);
            let app = Router::new().route("/", get(hello));
            axum::serve(listener, app).await
        })
}
