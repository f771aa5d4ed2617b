//! The wire protocol between envv clients (the CLI, the dashboard) and the
//! agent, `envvd`.
//!
//! A connection is a sequence of frames, each a 4-byte big-endian length
//! and that many bytes of JSON. The client speaks first with [`Hello`],
//! carrying [`PROTOCOL_VERSION`]; the agent answers [`Welcome`] or refuses
//! a version it doesn't speak, so a mismatch is caught before any request.
//! Then every [`Request`] gets one [`Response`].
//!
//! This crate knows nothing of tokio's runtime or HTTP: the blocking client
//! uses `std`'s Unix sockets, which is all `envv exec` needs, and the frame
//! codec over tokio's I/O traits (feature `async`, the agent's) links no
//! runtime.

mod client;
mod error;
mod frame;
mod message;
pub mod socket;

pub use client::Client;
/// A secret on the socket: a password, a value, an invite code. The same
/// type as the control plane's wire secrets.
pub use envv_api::SecretString as Secret;
pub use error::{ErrorCode, IpcError};
pub use frame::{FrameError, MAX_FRAME, decode_frame, encode_frame, read_frame, write_frame};
#[cfg(feature = "async")]
pub use frame::{read_frame_async, write_frame_async};
pub use message::*;

/// Bumped whenever a request or response changes shape.
pub const PROTOCOL_VERSION: u32 = 5;

/// The body of the fuzz target (`fuzz/fuzz_targets/frames.rs`), here so
/// stable-Rust tests can run it too: split `data` into frames and parse
/// each as a request, a hello and a response, as the agent and the clients
/// do, through both readers (the clients' blocking one and, with feature
/// `async`, the agent's). It must never panic or allocate beyond what
/// `data` announces within [`MAX_FRAME`].
#[doc(hidden)]
pub fn fuzz_frames(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((payload, used))) = decode_frame(rest) {
        let _ = serde_json::from_slice::<Request>(payload);
        let _ = serde_json::from_slice::<Hello>(payload);
        let _ = serde_json::from_slice::<Response>(payload);
        rest = &rest[used..];
    }
    let _ = read_frame(&mut std::io::Cursor::new(data));
    #[cfg(feature = "async")]
    read_all_async(data);
}

/// Reads `data` frame by frame with the agent's reader until it fails. A
/// byte slice is always ready, so one poll per frame finishes it, with no
/// runtime.
#[cfg(feature = "async")]
fn read_all_async(mut data: &[u8]) {
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        let read = std::pin::pin!(read_frame_async(&mut data)).poll(&mut cx);
        match read {
            Poll::Ready(Ok(payload)) => {
                let _ = serde_json::from_slice::<Request>(&payload);
            }
            Poll::Ready(Err(_)) | Poll::Pending => return,
        }
    }
}
