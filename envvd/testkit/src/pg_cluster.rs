//! A PostgreSQL server of the test's own, in a temporary directory on a
//! free port, that the test may stop and start: the shared server at 5432
//! serves other tests at the same time and must never be restarted.
//!
//! Built with the server's own tools (`initdb`, `pg_ctl` from
//! `/usr/lib/postgresql/<version>/bin`, or `$ENVV_TEST_PG_BIN`). PostgreSQL
//! refuses to run as root, so as root they run as the `postgres` user
//! (which the server's package creates; `.ci/run` makes sure), through
//! `setpriv`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct PgCluster {
    /// Holds the data directory and the socket; removed when dropped.
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Set when the tools must run as `postgres` rather than as us.
    as_postgres: bool,
    pub port: u16,
}

impl PgCluster {
    /// Initialises a cluster (trust authentication, user `postgres`) and
    /// starts it.
    pub fn start() -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("envv-pg-")
            .tempdir()
            .expect("a temporary directory");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(
                status.success(),
                "chown to postgres failed: is there a `postgres` user?"
            );
        }
        let cluster = PgCluster {
            dir,
            bin: pg_bin(),
            as_postgres,
            port: crate::free_port(),
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        cluster.start_again();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A URL of database `name` on it.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name`.
    pub fn create_database(&self, name: &str) {
        let status = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", &self.url("postgres"), "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .stdout(Stdio::null())
            .status()
            .expect("psql runs");
        assert!(status.success(), "CREATE DATABASE {name} failed");
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "30",
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.path().join("log").display().to_string(),
                "-o",
                &options,
            ],
        );
    }

    /// Stops the server (`fast`: sessions are ended, as in a restart for
    /// maintenance) and waits until it is down.
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                "fast",
                "-D",
                &self.data().display().to_string(),
            ],
        );
    }

    /// `tool` of the server's, run as the user who owns the cluster.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--clear-groups",
                "--",
            ])
            .arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool} runs: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        // Whatever state it is in; `immediate` does not wait for clients.
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D", &data])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Where `initdb` and `pg_ctl` are: `$ENVV_TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("ENVV_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (is the PostgreSQL server installed?)",
                root.display()
            )
        })
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| panic!("no initdb under {}", root.display()))
}
