//! What envv's integration tests and benches share, written once: where the
//! workspace's real binaries are, a real control plane per test on a
//! SQLite file of its own, and a proxy in front of it that can hang.
//!
//! The binaries are the ones cargo built before the tests ran: a
//! `cargo nextest run --workspace` (the README's test command, and what CI
//! runs) builds every binary of the workspace first. Nothing here runs
//! cargo from inside a test.

mod proxy;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use proxy::Proxy;

/// The workspace binary `name` in the target directory this test or bench
/// was built into.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test runs from target/<profile>/deps");
    let path = profile.join(name);
    assert!(
        path.exists(),
        "no {name} at {}: run the tests for the whole workspace (`cargo nextest run --workspace`), \
         which builds every binary first, or `cargo build --bin {name}`",
        path.display()
    );
    path
}

/// Waits up to 30 s for `ready`.
pub fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not happen in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The real `envv-control-plane` on a SQLite file in `dir`, on `port`;
/// killed when dropped. Its database and signing key stay in `dir`, so a
/// restart on the same `dir` and `port` is the same server.
pub struct ControlPlane {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
    extra: Vec<std::ffi::OsString>,
}

impl ControlPlane {
    pub fn start(dir: &Path, port: u16) -> ControlPlane {
        ControlPlane::start_with(dir, port, &[])
    }

    /// With extra `serve` arguments (`--tls-cert`, say).
    pub fn start_with(dir: &Path, port: u16, extra: &[&OsStr]) -> ControlPlane {
        let mut server = ControlPlane {
            child: None,
            dir: dir.to_path_buf(),
            port,
            extra: extra.iter().map(|a| a.to_os_string()).collect(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: nothing is flushed that SQLite hasn't
    /// committed).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same database and port.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(bin("envv-control-plane"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--database-url",
            ])
            .arg(format!("sqlite:{}", self.dir.join("cp.db").display()))
            .arg("--signing-key-file")
            .arg(self.dir.join("cp-key"))
            .args(&self.extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the control plane");
        self.child = Some(child);
        let port = self.port;
        wait_for("the control plane to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}
