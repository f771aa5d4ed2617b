//! A control plane whose database is out of reach answers 503: for reads
//! that counts as offline, and the cached keys open the files; a write
//! waits. Any other error answer falls back on nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::world::*;
use proto_ipc::{Client, ErrorCode, IpcError, Request};

/// A server on `port` that answers every request with `status` and the
/// control plane's error body, until dropped.
struct Answering {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Answering {
    fn start(port: u16, status: &'static str, code: &'static str) -> Answering {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(mut conn) = conn else { continue };
                    // The request's head; its body, if any, goes unread.
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let body = format!(r#"{{"error":{{"code":"{code}","message":"as {code}"}}}}"#);
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                         retry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        });
        Answering {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop, which then sees the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_503_reads_from_the_cache_and_any_other_error_does_not() {
    let home = tempfile::tempdir().unwrap();
    let port = envv_testkit::free_port();
    let mut real = ControlPlane::start_with(home.path(), port, &[]);
    let (_agent, socket) = start_agent(home.path(), "", &[], &[]);
    let mut client = Client::connect(&socket, "test").unwrap();
    let server = format!("http://127.0.0.1:{port}");
    let (_, project) = team_project_in(home.path(), &mut client, &server, "outage@example.com");
    real.stop();
    drop(real);

    // The database out of reach: offline, and the cached keys open the file.
    let unavailable = Answering::start(port, "503 Service Unavailable", "unavailable");
    client.request(&Request::Lock).unwrap();
    unlock(&mut client);
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");
    let status = status(&mut client);
    assert!(!status.online, "a 503 is offline: {status:?}");
    // But nothing is sealed to the chain this machine verified before: the
    // server is up, and its chain may be ahead of that one by a removal.
    let before = std::fs::read(project.join(".env.enc")).unwrap();
    let err = set(&mut client, &project, "KEY", "w").unwrap_err();
    assert!(
        matches!(&err, IpcError::Agent { code: ErrorCode::Offline, message }
            if message.contains("nothing is sealed until it answers")),
        "{err}"
    );
    assert_eq!(std::fs::read(project.join(".env.enc")).unwrap(), before);
    drop(unavailable);

    // Any other failure is an error, and nothing cached stands in.
    for (status, code) in [
        ("500 Internal Server Error", "internal"),
        ("502 Bad Gateway", "bad_gateway"),
        ("507 Insufficient Storage", "storage_full"),
    ] {
        let _failing = Answering::start(port, status, code);
        client.request(&Request::Lock).unwrap();
        unlock(&mut client);
        let err = read(&mut client, &project).unwrap_err();
        assert!(
            matches!(&err, IpcError::Agent { code: ErrorCode::Server, message }
                if message.contains(&format!("as {code}"))),
            "{status}: {err}"
        );
    }
}
