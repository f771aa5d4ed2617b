//! What envv's integration tests and benches share, written once: where the
//! workspace's real binaries are, a real control plane per test on a
//! SQLite file of its own, and a proxy in front of it that can hang.
//!
//! The binaries are the ones cargo built before the tests ran: a
//! `cargo nextest run --workspace` (the README's test command, and what CI
//! runs) builds every binary of the workspace first. Nothing here runs
//! cargo from inside a test.

mod pg_cluster;
mod proxy;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use pg_cluster::PgCluster;
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
    /// A PostgreSQL database of its own instead of the SQLite file.
    postgres: Option<Postgres>,
    /// Another database instead of either (replicas sharing one).
    database_url: Option<String>,
    /// Where its log goes (else nowhere).
    log: Option<PathBuf>,
}

/// A database of its own on the test PostgreSQL server
/// (`$ENVV_TEST_POSTGRES_URL`), created with `psql` and dropped with the
/// control plane, or when dropped.
pub struct Postgres {
    admin_url: String,
    name: String,
}

impl Postgres {
    pub fn create() -> Postgres {
        let admin_url = std::env::var("ENVV_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!(
            "envv_e2e_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let db = Postgres { admin_url, name };
        db.psql(&format!("CREATE DATABASE {}", db.name));
        db
    }

    pub fn url(&self) -> String {
        match self.admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{}", self.name),
            None => panic!("ENVV_TEST_POSTGRES_URL has no database part"),
        }
    }

    fn psql(&self, sql: &str) {
        let status = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", &self.admin_url, "-c", sql])
            .stdout(Stdio::null())
            .status()
            .expect("psql (PostgreSQL's client) runs");
        assert!(status.success(), "psql failed: {sql}");
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-q",
                &self.admin_url,
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Which database a control plane of the tests runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
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
            postgres: None,
            database_url: None,
            log: None,
        };
        server.restart();
        server
    }

    /// On `backend`: the SQLite file in `dir`, or a fresh PostgreSQL
    /// database of its own.
    pub fn start_on(backend: Backend, dir: &Path, port: u16) -> ControlPlane {
        let mut server = ControlPlane {
            child: None,
            dir: dir.to_path_buf(),
            port,
            extra: Vec::new(),
            postgres: (backend == Backend::Postgres).then(Postgres::create),
            database_url: None,
            log: None,
        };
        server.restart();
        server
    }

    /// On the database at `url` (several replicas may share one), with
    /// the signing key in `dir` and extra `serve` arguments; its log (level
    /// `warn`) goes to `log` if given.
    pub fn start_at(
        url: &str,
        dir: &Path,
        port: u16,
        extra: &[&OsStr],
        log: Option<&Path>,
    ) -> ControlPlane {
        let mut server = ControlPlane {
            child: None,
            dir: dir.to_path_buf(),
            port,
            extra: extra.iter().map(|a| a.to_os_string()).collect(),
            postgres: None,
            database_url: Some(url.to_owned()),
            log: log.map(Path::to_path_buf),
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
        // Its log goes to standard output.
        let log = self.log.as_ref().map(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("the control plane's log file")
        });
        let child = Command::new(bin("envv-control-plane"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--database-url",
            ])
            .arg(match (&self.database_url, &self.postgres) {
                (Some(url), _) => url.clone(),
                (None, Some(db)) => db.url(),
                (None, None) => format!("sqlite:{}", self.dir.join("cp.db").display()),
            })
            .arg("--signing-key-file")
            .arg(self.dir.join("cp-key"))
            .args(&self.extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.map_or_else(Stdio::null, Stdio::from))
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

/// How many `action` events `team`'s trail holds, read through a real
/// agent (`client`), page by page.
pub fn count_actions(client: &mut proto_ipc::Client, team: uuid::Uuid, action: &str) -> usize {
    use proto_ipc::{AuditFilter, Request, Response};
    let mut total = 0;
    let mut cursor = None;
    loop {
        let filter = AuditFilter {
            action: Some(action.into()),
            cursor: cursor.clone(),
            limit: Some(1000),
            ..AuditFilter::default()
        };
        let Response::AuditPage {
            events,
            next_cursor,
        } = client.request(&Request::Audit { team, filter }).unwrap()
        else {
            panic!("an audit page");
        };
        total += events.len();
        match next_cursor {
            Some(next) => cursor = Some(next),
            None => return total,
        }
    }
}
