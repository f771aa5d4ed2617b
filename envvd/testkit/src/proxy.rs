//! A TCP proxy in front of the real control plane that can be told to hang:
//! it then holds every byte in both directions, on open connections and
//! new ones, without closing anything, as a server that stopped answering
//! would.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    hang: AtomicBool,
    /// Chunks (requests or answers) held right now.
    held: AtomicUsize,
    stop: AtomicBool,
}

impl Proxy {
    /// Forwards `127.0.0.1:<new port>` to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        std::thread::spawn(move || {
            while !accepting.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            continue;
                        };
                        pipe(
                            client.try_clone().unwrap(),
                            server.try_clone().unwrap(),
                            &accepting,
                        );
                        pipe(server, client, &accepting);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy { port, shared }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on, hold every byte (or, with `false`, let them through).
    pub fn hang(&self, on: bool) {
        self.shared.hang.store(on, Ordering::SeqCst);
    }

    /// How many requests or answers are held at this moment.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.hang(false);
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` on its own thread, holding each chunk while hung.
fn pipe(mut from: TcpStream, mut to: TcpStream, shared: &Arc<Shared>) {
    let shared = shared.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if shared.hang.load(Ordering::SeqCst) {
                shared.held.fetch_add(1, Ordering::SeqCst);
                while shared.hang.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                shared.held.fetch_sub(1, Ordering::SeqCst);
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
