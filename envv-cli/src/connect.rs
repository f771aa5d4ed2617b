//! Reaching the agent: connect, and start it when it isn't running (or
//! restart it when it speaks another protocol version).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use proto_ipc::socket::socket_path;
use proto_ipc::{Client, IpcError};
use rustix::process::{Pid, Signal, kill_process, test_kill_process};

use crate::error::{Failure, exit, from_ipc};

/// How long a started agent has to answer, and a stopped one to go.
const START_TIMEOUT: Duration = Duration::from_secs(5);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

pub fn client_name() -> String {
    format!("envv {}", env!("CARGO_PKG_VERSION"))
}

/// Connects to the running agent, without starting one.
pub fn connect_existing() -> Result<Client, IpcError> {
    Client::connect(&socket_path(), &client_name())
}

/// Connects to the agent, starting it if needed.
pub fn connect() -> Result<Client, Failure> {
    match connect_existing() {
        Ok(client) => Ok(client),
        // Reset during the handshake: an agent that is exiting, or one that
        // lost a race to bind. Start one (it leaves a live agent alone).
        Err(IpcError::AgentNotRunning { .. } | IpcError::Frame(_)) => start_and_connect(),
        Err(IpcError::VersionMismatch { pid, .. }) => {
            stop_pid(pid)?;
            start_and_connect()
        }
        Err(e) => Err(from_ipc(e)),
    }
}

/// Starts the agent and waits for it to answer.
pub fn start_and_connect() -> Result<Client, Failure> {
    let path = socket_path();
    let agent = find_agent()?;
    spawn_detached(&agent, &path)?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match connect_existing() {
            Ok(client) => return Ok(client),
            // Another envv may have started one too: whichever binds wins,
            // and a loser may accept a connection before it gives up.
            Err(IpcError::AgentNotRunning { .. } | IpcError::Frame(_))
                if Instant::now() < deadline =>
            {
                sleep(POLL)
            }
            Err(IpcError::AgentNotRunning { .. }) => {
                return Err(Failure::new(
                    exit::AGENT,
                    format!(
                        "started the agent ({}) but it did not answer on {} within {} s; \
                         run `{} --socket {}` to see why",
                        agent.display(),
                        path.display(),
                        START_TIMEOUT.as_secs(),
                        agent.display(),
                        path.display()
                    ),
                ));
            }
            Err(e) => return Err(from_ipc(e)),
        }
    }
}

/// SIGTERMs an agent that speaks another protocol and waits for it to go.
pub fn stop_pid(pid: u32) -> Result<(), Failure> {
    let refuse = || {
        Failure::new(
            exit::AGENT,
            format!(
                "the agent on {} claims pid {pid}; stop it yourself",
                socket_path().display()
            ),
        )
    };
    let pid_raw = i32::try_from(pid).map_err(|_| refuse())?;
    let pid = Pid::from_raw(pid_raw).filter(|p| *p != rustix::process::getpid() && !p.is_init());
    let Some(pid) = pid else {
        return Err(refuse());
    };
    // Already gone is fine: we only want it stopped.
    let _ = kill_process(pid, Signal::TERM);
    wait_gone(Some(pid));
    Ok(())
}

/// Waits until the agent process is gone (when known) and its socket too,
/// or the timeout passes. A socket left behind by a dead agent is stale:
/// the next agent replaces it.
pub fn wait_gone(pid: Option<Pid>) {
    let path = socket_path();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        let alive = pid.is_some_and(alive);
        if !alive && (pid.is_some() || !path.exists()) {
            return;
        }
        sleep(POLL);
    }
}

/// Whether `pid` is still running. A zombie is not: where no init reaps
/// orphans (some containers) the agent's pid lingers after it exits.
fn alive(pid: Pid) -> bool {
    if test_kill_process(pid).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// `$ENVV_AGENTD`, else `envvd` as [`find_program`] finds it.
pub fn find_agent() -> Result<PathBuf, Failure> {
    if let Some(path) = std::env::var_os("ENVV_AGENTD").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(Failure::new(
                exit::AGENT,
                format!(
                    "$ENVV_AGENTD is {}, which is not an executable file; fix or unset it",
                    path.display()
                ),
            ))
        };
    }
    find_program("envvd").ok_or_else(|| {
        Failure::new(
            exit::AGENT,
            "cannot find the agent, `envvd`: install it beside `envv` or on your PATH \
             (`cargo install --locked --path envv-cli` installs both), or set ENVV_AGENTD \
             to its path",
        )
    })
}

/// The dashboard, `envv-tui`, as [`find_program`] finds it.
pub fn find_dashboard() -> Result<PathBuf, Failure> {
    find_program("envv-tui").ok_or_else(|| {
        Failure::new(
            exit::ERROR,
            "cannot find the dashboard, `envv-tui`: install it beside `envv` or on your PATH \
             (`cargo install --locked --path envv-cli` installs both)",
        )
    })
}

/// One of the programs installed with `envv` (`name` beside this
/// executable, else on `$PATH`); in a cargo checkout, built first if
/// missing.
fn find_program(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    let beside = exe
        .as_deref()
        .and_then(Path::parent)
        .map(|dir| dir.join(name));
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if let Some(found) = beside.iter().chain(&on_path).find(|p| is_executable(p)) {
        return Some(found.clone());
    }
    build_beside(exe.as_deref()?, name)
}

/// `cargo run -p envv-cli -- …` builds and runs `envv` alone, so the
/// package's other programs may not be in the target directory yet. cargo
/// tells the program it runs where cargo and the package are (`$CARGO`,
/// `$CARGO_MANIFEST_DIR`, `$CARGO_PKG_NAME`): build them there, in the
/// same profile, and use the one asked for. Anywhere else, nothing.
fn build_beside(exe: &Path, name: &str) -> Option<PathBuf> {
    if std::env::var_os("CARGO_PKG_NAME")? != env!("CARGO_PKG_NAME") {
        return None;
    }
    let cargo = std::env::var_os("CARGO")?;
    let manifest = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
    // target/<profile>/envv; cargo names the dev profile's directory "debug".
    let profile_dir = exe.parent()?;
    let target_dir = profile_dir.parent()?;
    let profile = match profile_dir.file_name()?.to_str()? {
        "debug" => "dev",
        other => other,
    };
    eprintln!("envv: building {name} first (`cargo run` builds `envv` alone)");
    let built = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--bins", "--profile", profile, "--target-dir"])
        .arg(target_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let path = profile_dir.join(name);
    (built && is_executable(&path)).then_some(path)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Starts `agent` detached from us: its own process group, no terminal
/// stdio, and not our child. `envv exec` replaces itself with the user's
/// command next, and that command must not inherit the agent as a child
/// (a shell's `wait` would hang on it), so the agent is started through a
/// short-lived `sh`, which backgrounds it and exits: the classic double
/// fork without unsafe code.
fn spawn_detached(agent: &Path, socket: &Path) -> Result<(), Failure> {
    let args: [OsString; 3] = [agent.into(), "--socket".into(), socket.into()];
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#""$@" </dev/null >/dev/null 2>&1 &"#)
        .arg("envv-agent-start")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        // A password meant for this envv must not live on in the agent's
        // environment (`/proc/PID/environ`).
        .env_remove("ENVV_PASSWORD")
        .status()
        .map_err(|e| {
            Failure::new(
                exit::AGENT,
                format!("could not start {}: {e}", agent.display()),
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::new(
            exit::AGENT,
            format!("could not start {} ({status})", agent.display()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pid comes from whatever answers on the socket: never signal
    /// init, ourselves or a process group.
    #[test]
    fn a_mismatched_agent_claiming_init_or_us_is_not_signalled() {
        for pid in [0, 1, std::process::id(), u32::MAX] {
            let failure = stop_pid(pid).expect_err("refused");
            assert_eq!(failure.code, exit::AGENT);
        }
    }
}
