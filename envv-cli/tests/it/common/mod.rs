//! A private world per test: its own HOME and XDG directories, its own
//! agent socket, the real `envv` and the real `envvd`. The agent is stopped
//! when the sandbox drops, pass or fail.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const ENVV: &str = env!("CARGO_BIN_EXE_envv");

/// The real agent binary: `$ENVV_TEST_AGENTD`, else the workspace's
/// `envvd`, as cargo built it before the tests.
pub fn agentd() -> &'static Path {
    static AGENTD: OnceLock<PathBuf> = OnceLock::new();
    AGENTD.get_or_init(|| match std::env::var_os("ENVV_TEST_AGENTD") {
        Some(path) => PathBuf::from(path),
        None => envv_testkit::bin("envvd"),
    })
}

/// The real control plane on a SQLite file of its own and a free port;
/// killed when dropped.
pub struct ControlPlane {
    server: envv_testkit::ControlPlane,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl ControlPlane {
    pub fn start() -> Self {
        ControlPlane::start_on(envv_testkit::Backend::Sqlite)
    }

    /// On SQLite or on a PostgreSQL database of its own.
    pub fn start_on(backend: envv_testkit::Backend) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("envv-cp-")
            .tempdir()
            .expect("temp dir");
        let server =
            envv_testkit::ControlPlane::start_on(backend, dir.path(), envv_testkit::free_port());
        ControlPlane {
            url: server.url(),
            server,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// Runs the operator's `envv-control-plane admin ARGS` on this
    /// server's database; returns its standard output.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(envv_testkit::bin("envv-control-plane"))
            .arg("admin")
            .args(args)
            .arg("--database-url")
            .arg(format!(
                "sqlite:{}",
                self._dir.path().join("cp.db").display()
            ))
            .args(["--operator", "test-ops"])
            .output()
            .expect("run envv-control-plane admin");
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills the server (it stops answering at once).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts it again on the same database and port.
    pub fn restart(&mut self) {
        self.server.restart();
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Sandbox {
    root: tempfile::TempDir,
    pub home: PathBuf,
    pub project: PathBuf,
    pub socket: PathBuf,
    /// `$ENVV_SERVER` for every command.
    pub server: Option<String>,
    /// The agent binary `envv` starts.
    pub agentd: PathBuf,
}

impl Sandbox {
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("envv-cli-")
            .tempdir()
            .expect("temp dir");
        let home = root.path().join("home");
        let project = root.path().join("project");
        let run = root.path().join("run");
        for dir in [&home, &project, &run] {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        Sandbox {
            server: None,
            agentd: agentd().to_path_buf(),
            socket: run.join("agent.sock"),
            home,
            project,
            root,
        }
    }

    /// A sandbox signed up on `cp` as `email` (password [`PASSWORD`]).
    pub fn signed_up(cp: &ControlPlane, email: &str) -> Self {
        let mut s = Sandbox::new();
        s.server = Some(cp.url.clone());
        s.envv(["auth", "signup", "--email", email])
            .env("ENVV_PASSWORD", PASSWORD)
            .assert()
            .success();
        s
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `envv ARGS` in the project directory, with only this sandbox's
    /// environment.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(ENVV);
        cmd.args(args);
        self.isolate(&mut cmd);
        cmd
    }

    /// `sh -c SCRIPT` in the project directory with the sandbox's
    /// environment (`$ENVV` is the envv binary).
    pub fn shell(&self, script: &str) -> Output {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).env("ENVV", ENVV);
        self.isolate(&mut cmd);
        cmd.env("ENVV", ENVV).output().expect("run sh")
    }

    pub fn isolate(&self, cmd: &mut Command) {
        cmd.current_dir(&self.project)
            .env_clear()
            .envs(self.vars())
            .stdin(Stdio::null());
    }

    /// The whole environment of a command in this sandbox.
    pub fn vars(&self) -> Vec<(&'static str, OsString)> {
        let mut vars: Vec<(&'static str, OsString)> = vec![
            ("PATH", std::env::var_os("PATH").unwrap_or_default()),
            ("HOME", self.home.clone().into()),
            ("XDG_DATA_HOME", self.home.join(".local/share").into()),
            ("XDG_CONFIG_HOME", self.home.join(".config").into()),
            ("XDG_STATE_HOME", self.home.join(".local/state").into()),
            ("XDG_CACHE_HOME", self.home.join(".cache").into()),
            ("XDG_RUNTIME_DIR", self.root().join("run").into()),
            ("ENVV_AGENT_SOCK", self.socket.clone().into()),
            ("ENVV_AGENTD", self.agentd.clone().into()),
            // Fast key derivation for the accounts tests make, and an
            // admin's agent that admits newcomers every second.
            ("ENVV_KDF_MEMORY_KIB", "8192".into()),
            ("ENVV_KDF_ITERATIONS", "1".into()),
            ("ENVV_ADMIT_INTERVAL", "1".into()),
        ];
        if let Some(server) = &self.server {
            vars.push(("ENVV_SERVER", server.into()));
        }
        vars
    }

    pub fn envv<I, S>(&self, args: I) -> assert_cmd::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        assert_cmd::Command::from_std(self.command(args))
    }

    /// Runs `envv ARGS`, asserts success, returns stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.envv(args).assert().success().get_output().clone();
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.envv(args).output().expect("run envv")
    }

    pub fn init(&self) {
        self.ok(["init"]);
    }

    /// `envv agent status --json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        let out = self.run(["agent", "status", "--json"]);
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    pub fn agent_pid(&self) -> Option<u32> {
        let status = self.status();
        status["pid"].as_u64().map(|p| p as u32)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.command(["agent", "stop"]).output();
    }
}

pub fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The team's files, as a clone of the repository brings them.
pub fn clone_project(from: &Sandbox, to: &Sandbox) {
    for entry in std::fs::read_dir(&from.project).expect("read the project") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == ".envv.json" || name.ends_with(".enc") {
            std::fs::copy(entry.path(), to.project.join(&*name)).expect("copy");
        }
    }
}

/// `who` runs `envv team join --stdin` with `code`; the output, whatever
/// it is.
pub fn accept(who: &Sandbox, code: &str) -> Output {
    use std::io::Write;
    let mut child = who
        .command(["team", "join", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("envv team join");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(code.as_bytes())
        .expect("the code on stdin");
    child.wait_with_output().expect("envv team join")
}

/// `who` joins with `code`, which must work.
pub fn join_with(who: &Sandbox, code: &str) {
    let out = accept(who, code);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `owner` invites `email` and `who` joins with the code on stdin.
pub fn join(owner: &Sandbox, who: &Sandbox, email: &str) {
    join_with(who, &owner.ok(["team", "invite", email]));
}

/// Polls `done` until it holds, for up to 45 s (agents admit and ship on
/// their own timers).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen in 45 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
