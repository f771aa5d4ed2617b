//! The frame decoder and the handshake, against hostile and broken peers.

use std::io::Cursor;
use std::os::unix::net::UnixListener;
use std::thread;

use proptest::prelude::*;
use proto_ipc::{
    Client, FrameError, Hello, IpcError, MAX_FRAME, PROTOCOL_VERSION, Request, Response, Secret,
    Welcome, decode_frame, encode_frame, fuzz_frames, read_frame, write_frame,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        fuzz_frames(&data);
    }

    #[test]
    fn frames_round_trip(payload in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let frame = encode_frame(&payload).unwrap();
        let (decoded, used) = decode_frame(&frame).unwrap().unwrap();
        prop_assert_eq!(decoded, &payload[..]);
        prop_assert_eq!(used, frame.len());
        prop_assert_eq!(read_frame(&mut Cursor::new(&frame)).unwrap(), payload);
        // Any strict prefix asks for more bytes rather than failing.
        for cut in 0..frame.len() {
            prop_assert!(decode_frame(&frame[..cut]).unwrap().is_none());
        }
    }

    #[test]
    fn any_announced_length_over_the_limit_is_refused_up_front(len in (MAX_FRAME as u64 + 1)..=u32::MAX as u64) {
        let header = (len as u32).to_be_bytes();
        let too_large = matches!(decode_frame(&header), Err(FrameError::TooLarge { .. }));
        prop_assert!(too_large, "decode_frame accepted {}", len);
        // No allocation of `len` bytes happens: the reader stops at the header.
        let too_large = matches!(read_frame(&mut Cursor::new(header)), Err(FrameError::TooLarge { .. }));
        prop_assert!(too_large, "read_frame accepted {}", len);
    }
}

#[test]
fn a_truncated_frame_is_an_error_not_a_hang() {
    let mut frame = encode_frame(b"{\"op\":\"status\"}").unwrap();
    frame.truncate(frame.len() - 3);
    assert!(matches!(
        read_frame(&mut Cursor::new(frame)),
        Err(FrameError::Io(_))
    ));
    assert!(matches!(
        read_frame(&mut Cursor::new(Vec::new())),
        Err(FrameError::Closed)
    ));
}

#[test]
fn secrets_never_print() {
    let request = Request::Unlock {
        password: Some(Secret::new("hunter2-canary")),
    };
    assert!(!format!("{request:?}").contains("hunter2"));
    assert_eq!(request.name(), "unlock");
    // But they do cross the wire.
    let json = serde_json::to_string(&request).unwrap();
    assert!(json.contains("hunter2-canary"));
    assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), request);
}

/// A peer on a real socket that answers the hello with `welcome`, then
/// answers one request with `answer` (raw frames, to test the client).
fn peer(
    welcome: Vec<u8>,
    answer: Option<Vec<u8>>,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    thread::JoinHandle<Hello>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = private_socket(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let hello: Hello = serde_json::from_slice(&read_frame(&mut stream).unwrap()).unwrap();
        write_frame(&mut stream, &welcome).unwrap();
        if let Some(answer) = answer {
            let _ = read_frame(&mut stream);
            use std::io::Write;
            stream.write_all(&answer).unwrap();
        }
        hello
    });
    (dir, path, handle)
}

fn accepted() -> Vec<u8> {
    serde_json::to_vec(&Welcome::Accepted {
        version: PROTOCOL_VERSION,
        agent_version: "test".into(),
        pid: 1,
    })
    .unwrap()
}

#[test]
fn the_client_says_its_version_first_and_reads_the_answer() {
    let answer = encode_frame(&serde_json::to_vec(&Response::Done).unwrap()).unwrap();
    let (_dir, path, peer) = peer(accepted(), Some(answer));
    let mut client = Client::connect(&path, "test-client").unwrap();
    assert_eq!(client.request(&Request::Lock).unwrap(), Response::Done);
    let hello = peer.join().unwrap();
    assert_eq!(
        (hello.version, hello.client.as_str()),
        (PROTOCOL_VERSION, "test-client")
    );
}

#[test]
fn a_version_mismatch_is_its_own_error() {
    let refusal = serde_json::to_vec(&Welcome::VersionMismatch {
        agent: 99,
        pid: 4242,
    })
    .unwrap();
    let (_dir, path, _peer) = peer(refusal, None);
    match Client::connect(&path, "test") {
        Err(IpcError::VersionMismatch {
            agent: 99,
            client,
            pid: 4242,
        }) => {
            assert_eq!(client, PROTOCOL_VERSION)
        }
        other => panic!("expected a version mismatch, got {:?}", other.err()),
    }
}

#[test]
fn locked_and_oversized_answers_are_distinct_errors() {
    let locked = encode_frame(br#"{"kind":"error","code":"locked","message":"locked"}"#).unwrap();
    let (_dir, path, _peer) = peer(accepted(), Some(locked));
    let mut client = Client::connect(&path, "test").unwrap();
    assert!(matches!(
        client.request(&Request::Status),
        Err(IpcError::Locked)
    ));

    let huge = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
    let (_dir, path, _peer) = peer(accepted(), Some(huge));
    let mut client = Client::connect(&path, "test").unwrap();
    assert!(matches!(
        client.request(&Request::Status),
        Err(IpcError::Frame(FrameError::TooLarge { .. }))
    ));
}

/// `agent.sock` in a fresh 0700 directory, as the agent makes it.
fn private_socket(base: &tempfile::TempDir) -> std::path::PathBuf {
    let dir = base.path().join("envv");
    proto_ipc::socket::ensure_private_dir(&dir).unwrap();
    dir.join("agent.sock")
}

#[test]
fn a_socket_in_a_directory_others_can_enter_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path, _peer) = peer(accepted(), None);
    let socket_dir = path.parent().unwrap();
    std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = Client::connect(&path, "test");
    std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(
        refused.is_err(),
        "a world-writable socket directory must not be trusted"
    );
}

#[test]
fn no_socket_means_agent_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = private_socket(&dir);
    assert!(matches!(
        Client::connect(&path, "test"),
        Err(IpcError::AgentNotRunning { .. })
    ));
    // A stale socket file nobody listens on: the same.
    drop(UnixListener::bind(&path).unwrap());
    assert!(matches!(
        Client::connect(&path, "test"),
        Err(IpcError::AgentNotRunning { .. })
    ));
}
