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
//! uses `std`'s Unix sockets, which is all `envv exec` needs, and the async
//! client (feature `async`) only tokio's I/O traits.

mod client;
mod error;
mod frame;
mod message;
mod secret;
pub mod socket;

#[cfg(feature = "async")]
pub use client::AsyncClient;
pub use client::Client;
pub use error::{ErrorCode, IpcError};
pub use frame::{FrameError, MAX_FRAME, decode_frame, encode_frame, read_frame, write_frame};
pub use message::*;
pub use secret::Secret;

/// Bumped whenever a request or response changes shape.
pub const PROTOCOL_VERSION: u32 = 3;

/// The body of the fuzz target (`fuzz/fuzz_targets/frames.rs`), here so
/// stable-Rust tests can run it too: split `data` into frames and parse
/// each as a request, a hello and a response, as the agent and the clients
/// do. It must never panic or allocate beyond what `data` announces within
/// [`MAX_FRAME`].
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
}
