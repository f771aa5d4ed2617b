//! One client connection: check who it is, agree on the protocol, then
//! answer requests until the client hangs up.

use std::sync::Arc;

use proto_ipc::{
    ErrorCode, Hello, PROTOCOL_VERSION, Request, Response, Welcome, read_frame_async as read,
    write_frame_async as write,
};
use tokio::net::UnixStream;
use zeroize::Zeroize;

use super::state::Agent;

pub(super) async fn handle(mut stream: UnixStream, agent: Arc<Agent>) {
    // Only our own user may talk to us, whatever the socket's mode says.
    let own = rustix::process::getuid().as_raw();
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == own => {}
        Ok(cred) => {
            tracing::warn!(uid = cred.uid(), "refused a connection from another user");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the peer's credentials");
            return;
        }
    }
    if let Err(e) = converse(&mut stream, &agent).await {
        tracing::debug!(error = %e, "connection ended");
    }
}

async fn converse(stream: &mut UnixStream, agent: &Agent) -> Result<(), proto_ipc::FrameError> {
    let hello = read(stream).await?;
    let version = serde_json::from_slice::<Hello>(&hello)
        .map(|h| h.version)
        .ok();
    let welcome = match version {
        Some(PROTOCOL_VERSION) => Welcome::Accepted {
            version: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
        },
        _ => Welcome::VersionMismatch {
            agent: PROTOCOL_VERSION,
            pid: std::process::id(),
        },
    };
    write(stream, &serde_json::to_vec(&welcome).unwrap_or_default()).await?;
    if !matches!(welcome, Welcome::Accepted { .. }) {
        return Ok(());
    }
    loop {
        let mut payload = read(stream).await?;
        let parsed = serde_json::from_slice::<Request>(&payload);
        // The frame may hold a secret value or password.
        payload.zeroize();
        let stop = matches!(parsed, Ok(Request::Shutdown));
        // Subscribe before answering, so no event falls between the two.
        let events = matches!(parsed, Ok(Request::Subscribe)).then(|| agent.subscribe());
        let response = match parsed {
            Ok(request) => {
                let name = request.name();
                let response = agent.handle(request).await;
                tracing::debug!(op = name, ok = !matches!(response, Response::Error { .. }), "request");
                response
            }
            // Never echo what failed to parse: it may be a secret.
            Err(_) => Response::Error {
                code: ErrorCode::Invalid,
                message: "the agent could not understand this request; are envv and envvd the same version?".into(),
            },
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_default();
        drop(response);
        let sent = write(stream, &out).await;
        out.zeroize();
        sent?;
        if stop {
            agent.request_stop();
            return Ok(());
        }
        if let Some(events) = events {
            return stream_events(stream, events).await;
        }
    }
}

/// Sends every event to a subscriber until it hangs up.
async fn stream_events(
    stream: &mut UnixStream,
    mut events: tokio::sync::broadcast::Receiver<proto_ipc::Event>,
) -> Result<(), proto_ipc::FrameError> {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            // A subscriber too slow to keep up misses some; it can re-query.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
        };
        let frame = serde_json::to_vec(&Response::Event(event)).unwrap_or_default();
        write(stream, &frame).await?;
    }
}
