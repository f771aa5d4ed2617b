//! `envv doctor`: checks this machine's set-up and says what to fix. Each
//! check prints one line, `ok`, `warn` or `FAIL`, with the fix after a
//! failure; any failure makes the exit status 1.
//!
//! The CLI has no HTTP or TLS of its own: the server is probed by the
//! agent (`Request::Probe`), with the trust it uses for every call.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use envv_core::project::{Binding, PROJECT_FILE, find_root};
use proto_ipc::{ErrorCode, IpcError, Mode, Request, Response};

use crate::connect::{connect, find_agent, find_dashboard};
use crate::error::{Failure, exit};
use crate::unexpected;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

struct Report {
    lines: Vec<(Verdict, &'static str, String)>,
}

impl Report {
    fn add(&mut self, verdict: Verdict, what: &'static str, text: impl Into<String>) {
        self.lines.push((verdict, what, text.into()));
    }

    fn print(&self) {
        for (verdict, what, text) in &self.lines {
            let tag = match verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            println!("{tag}  {what:<9} {text}");
        }
    }
}

pub fn doctor(dir: &Path, server: Option<String>) -> Result<(), Failure> {
    let mut report = Report { lines: Vec::new() };
    let status = check_agent(&mut report);
    check_socket(&mut report);
    let account_server = status
        .as_ref()
        .and_then(|s| s.account.as_ref().map(|a| a.server.clone()));
    let local = status.as_ref().is_some_and(|s| s.mode == Mode::Local);
    match account_server.or(server) {
        Some(server) => check_server(&mut report, &server),
        None if local => report.add(
            Verdict::Ok,
            "server",
            "none used: local mode (no account); `envv auth signup` to share with a team",
        ),
        None => report.add(
            Verdict::Warn,
            "server",
            "not checked: no account and no ENVV_SERVER",
        ),
    }
    check_project(&mut report, dir);
    report.print();
    if report.lines.iter().any(|(v, _, _)| *v == Verdict::Fail) {
        Err(Failure::new(exit::ERROR, "some checks failed; see above"))
    } else {
        Ok(())
    }
}

/// The agent's program, and the agent itself (started if need be).
fn check_agent(report: &mut Report) -> Option<proto_ipc::AgentStatus> {
    match find_agent() {
        Ok(path) => report.add(Verdict::Ok, "agent", format!("program {}", path.display())),
        Err(e) => {
            report.add(Verdict::Fail, "agent", e.message);
            return None;
        }
    }
    // Missing, it fails `envv ui` only: a warning.
    match find_dashboard() {
        Ok(path) => report.add(
            Verdict::Ok,
            "dashboard",
            format!("program {}", path.display()),
        ),
        Err(e) => report.add(Verdict::Warn, "dashboard", e.message),
    }
    let status = connect()
        .and_then(|mut client| {
            client
                .request(&Request::Status)
                .map_err(crate::error::from_ipc)
        })
        .and_then(|response| match response {
            Response::Status(status) => Ok(status),
            _ => Err(unexpected("status")),
        });
    match status {
        Ok(status) => {
            let mode = match (&status.account, status.mode) {
                (Some(a), _) => format!("account {} on {}", a.email, a.server),
                (None, Mode::Local) => "local mode".to_owned(),
                (None, Mode::Account) => "no account".to_owned(),
            };
            report.add(
                Verdict::Ok,
                "agent",
                format!(
                    "running, pid {}, envvd {} (protocol {}), {mode}, {}",
                    status.pid,
                    status.agent_version,
                    status.protocol,
                    if status.locked { "locked" } else { "unlocked" }
                ),
            );
            Some(status)
        }
        Err(e) => {
            report.add(
                Verdict::Fail,
                "agent",
                format!("{}; `envv agent stop` and retry", e.message),
            );
            None
        }
    }
}

/// The socket and its directory: ours, and closed to other users.
fn check_socket(report: &mut Report) {
    let socket = proto_ipc::socket::socket_path();
    let uid = rustix::process::getuid().as_raw();
    let mut problems = Vec::new();
    for (path, what) in [
        (socket.parent().unwrap_or(Path::new("/")), "directory"),
        (socket.as_path(), "socket"),
    ] {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            problems.push(format!("the {what} {} is missing", path.display()));
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if meta.uid() != uid {
            problems.push(format!(
                "the {what} {} belongs to another user (uid {}): remove it and retry",
                path.display(),
                meta.uid()
            ));
        } else if mode & 0o077 != 0 {
            let want = if what == "socket" { "600" } else { "700" };
            problems.push(format!(
                "the {what} {} is open to other users (mode {mode:o}): run `chmod {want} {}`",
                path.display(),
                path.display()
            ));
        }
    }
    if problems.is_empty() {
        report.add(
            Verdict::Ok,
            "socket",
            format!("{} (only you can use it)", socket.display()),
        );
    }
    for problem in problems {
        report.add(Verdict::Fail, "socket", problem);
    }
}

/// The control plane answers, over TLS the agent trusts.
fn check_server(report: &mut Report, server: &str) {
    let answer = match connect() {
        Ok(mut client) => client.request(&Request::Probe {
            server: server.to_owned(),
        }),
        Err(e) => {
            report.add(
                Verdict::Fail,
                "server",
                format!("not checked: {}", e.message),
            );
            return;
        }
    };
    let tls = server.starts_with("https://");
    match answer {
        Ok(Response::Done) if tls => report.add(
            Verdict::Ok,
            "server",
            format!("{server} answers; its TLS certificate is trusted"),
        ),
        Ok(Response::Done) => {
            let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|p| server.starts_with(p));
            report.add(
                if local { Verdict::Ok } else { Verdict::Warn },
                "server",
                if local {
                    format!("{server} answers (plain HTTP, on this machine)")
                } else {
                    format!(
                        "{server} answers over plain HTTP: use https:// for a server on the network"
                    )
                },
            );
        }
        Err(IpcError::Agent { code, message }) => {
            let untrusted = [
                "certificate",
                "UnknownIssuer",
                "CaUsedAsEndEntity",
                "NotValidForName",
            ]
            .iter()
            .any(|w| message.contains(w));
            // A TLS failure is an error of its own, never "offline".
            let fix = if tls && untrusted {
                "the server's certificate is not trusted: if it comes from a private CA, \
                 set ENVV_SERVER_CA to that CA's PEM file and restart the agent \
                 (`envv agent stop`)"
            } else if code == ErrorCode::Offline {
                "start the control plane, or check the URL (ENVV_SERVER, or the account's \
                 server) and the network"
            } else {
                "see the message"
            };
            report.add(Verdict::Fail, "server", format!("{message}: {fix}"));
        }
        Ok(_) => report.add(Verdict::Fail, "server", "unexpected answer from the agent"),
        Err(e) => report.add(
            Verdict::Fail,
            "server",
            format!("not checked: {}", crate::error::from_ipc(e).message),
        ),
    }
}

/// The project file, and git: `.env*.enc` committed, plaintext `.env` not.
fn check_project(report: &mut Report, dir: &Path) {
    let Some((root, file)) = find_root(dir) else {
        report.add(
            Verdict::Warn,
            "project",
            format!("no {PROJECT_FILE} here or above: run `envv init` in your project's directory"),
        );
        return;
    };
    let key = match &file.binding {
        Binding::Local => "your personal key".to_owned(),
        Binding::Team { server } => format!("team {} on {server}", file.team),
    };
    report.add(
        Verdict::Ok,
        "project",
        format!("{} (encrypted to {key})", root.join(PROJECT_FILE).display()),
    );
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    match git(&["rev-parse", "--is-inside-work-tree"]) {
        Err(_) => {
            report.add(
                Verdict::Warn,
                "git",
                "git is not installed: envv's files are meant to be committed",
            );
            return;
        }
        Ok(s) if !s.success() => {
            report.add(
                Verdict::Warn,
                "git",
                "not a git repository: `git init`, then commit .envv.json and the .env*.enc files",
            );
            return;
        }
        Ok(_) => {}
    }
    // `check-ignore` exits 0 for an ignored path.
    let ignored =
        |name: &str| git(&["check-ignore", "-q", "--no-index", name]).is_ok_and(|s| s.success());
    let mut fine = true;
    for name in [PROJECT_FILE, ".env.enc"] {
        if ignored(name) {
            fine = false;
            report.add(
                Verdict::Fail,
                "git",
                format!(
                    "{name} is ignored by git, so your team won't get it: remove it from .gitignore"
                ),
            );
        }
    }
    if root.join(".env").exists() && !ignored(".env") {
        fine = false;
        report.add(
            Verdict::Fail,
            "git",
            "a plaintext .env is not ignored by git: add `.env` to .gitignore (or `envv import .env` and delete it)",
        );
    }
    if fine {
        report.add(
            Verdict::Ok,
            "git",
            "the encrypted files can be committed; no plaintext .env would be",
        );
    }
}
