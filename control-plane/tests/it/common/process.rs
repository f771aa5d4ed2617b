//! The real `envv-control-plane` binary as a second replica beside an
//! in-process server: same database, same signing key.

use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::TestServer;

pub struct Replica {
    pub base: String,
    child: Child,
    _key_dir: tempfile::TempDir,
}

impl Replica {
    /// Starts the binary on the in-process server's database and key.
    pub fn start(beside: &TestServer) -> Replica {
        Replica::start_with(beside, &[])
    }

    /// As [`Replica::start`], with more `serve` arguments.
    pub fn start_with(beside: &TestServer, extra: &[&str]) -> Replica {
        let key_dir = tempfile::tempdir().expect("temp dir");
        let key_path = key_dir.path().join("signing-key");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
            .expect("key file");
        use std::io::Write;
        writeln!(
            file,
            "{}",
            STANDARD.encode(beside.state.config.signing_key.secret())
        )
        .expect("write key");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
            ])
            .arg(&beside.db.url)
            .arg("--signing-key-file")
            .arg(&key_path)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the control plane binary");
        let mut replica = Replica {
            base: format!("http://127.0.0.1:{port}"),
            child,
            _key_dir: key_dir,
        };
        replica.wait_ready(port);
        replica
    }

    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "replica did not start");
            assert!(
                self.child.try_wait().expect("poll").is_none(),
                "replica exited early"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no graceful anything, transactions in flight die with it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
