//! `envv agent start|stop|status`, `envv lock`, `envv unlock`.

use std::io::Write;

use proto_ipc::socket::socket_path;
use proto_ipc::{AgentStatus, IpcError, Mode, Request, Response};
use rustix::process::Pid;
use serde::Serialize;

use crate::account;
use crate::cli::PasswordArgs;
use crate::connect::{self, connect_existing};
use crate::error::{Failure, exit, from_ipc};
use crate::out::outln;
use crate::unexpected;

pub fn start() -> Result<(), Failure> {
    match connect_existing() {
        Ok(client) => {
            outln!("the agent is already running (pid {})", client.agent_pid);
            return Ok(());
        }
        Err(IpcError::AgentNotRunning { .. }) => {}
        Err(IpcError::VersionMismatch { pid, agent, .. }) => {
            eprintln!("stopping the running agent (pid {pid}, protocol {agent})");
            connect::stop_pid(pid)?;
        }
        Err(e) => return Err(from_ipc(e)),
    }
    let client = connect::start_and_connect()?;
    outln!(
        "started the agent (pid {}, envvd {})",
        client.agent_pid,
        client.agent_version
    );
    Ok(())
}

pub fn stop() -> Result<(), Failure> {
    let mut client = match connect_existing() {
        Ok(client) => client,
        Err(IpcError::AgentNotRunning { .. }) => {
            outln!("the agent is not running");
            return Ok(());
        }
        Err(IpcError::VersionMismatch { pid, .. }) => {
            connect::stop_pid(pid)?;
            outln!("stopped the agent (pid {pid})");
            return Ok(());
        }
        Err(e) => return Err(from_ipc(e)),
    };
    let pid = client.agent_pid;
    match client.request(&Request::Shutdown) {
        Ok(_) => {}
        // It may close the connection before or instead of answering.
        Err(IpcError::Frame(_)) => {}
        Err(e) => return Err(from_ipc(e)),
    }
    connect::wait_gone(i32::try_from(pid).ok().and_then(Pid::from_raw));
    outln!("stopped the agent (pid {pid})");
    Ok(())
}

/// `envv agent status --json`: the agent's own status, plus where it is.
#[derive(Serialize)]
struct StatusJson<'a> {
    running: bool,
    socket: String,
    #[serde(flatten)]
    status: Option<&'a AgentStatus>,
}

pub fn status(json: bool) -> Result<(), Failure> {
    let socket = socket_path().display().to_string();
    let status = match connect_existing() {
        Ok(mut client) => match client.request(&Request::Status).map_err(from_ipc)? {
            Response::Status(status) => Some(status),
            _ => return Err(unexpected("status")),
        },
        Err(IpcError::AgentNotRunning { .. }) => None,
        Err(e) => return Err(from_ipc(e)),
    };
    let mut out = std::io::stdout().lock();
    let text = if json {
        let body = StatusJson {
            running: status.is_some(),
            socket: socket.clone(),
            status: status.as_ref(),
        };
        format!(
            "{}\n",
            serde_json::to_string_pretty(&body).unwrap_or_default()
        )
    } else {
        match &status {
            Some(s) => human(s, &socket),
            None => format!("the agent is not running (socket {socket})\n"),
        }
    };
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    match status {
        Some(_) => Ok(()),
        None => Err(Failure::new(exit::AGENT, "")),
    }
}

fn human(s: &AgentStatus, socket: &str) -> String {
    let secs = |t: Option<u64>| t.map_or_else(|| "-".to_owned(), |t| format!("{t} s"));
    let mode = match (s.mode, &s.account) {
        (Mode::Account, Some(a)) => format!("account ({} on {})", a.email, a.server),
        (Mode::Account, None) => "account".to_owned(),
        (Mode::Local, _) => "local (personal key, no account)".to_owned(),
    };
    let server = match (s.mode, s.online) {
        (Mode::Local, _) => "none (local mode)",
        (Mode::Account, true) => "online",
        (Mode::Account, false) => "offline (the agent reconnects by itself)",
    };
    let last_sync = s.last_sync.as_deref().unwrap_or("never");
    format!(
        "agent:          running, pid {}\n\
         version:        envvd {} (protocol {})\n\
         socket:         {socket}\n\
         mode:           {mode}\n\
         control plane:  {server}\n\
         last sync:      {last_sync}\n\
         locked:         {}\n\
         idle lock in:   {}\n\
         hard lock in:   {}\n\
         cached files:   {}\n",
        s.pid,
        s.agent_version,
        s.protocol,
        if s.locked { "yes" } else { "no" },
        secs(s.idle_lock_in),
        secs(s.absolute_lock_in),
        s.cached_files,
    )
}

pub fn lock() -> Result<(), Failure> {
    let mut client = match connect_existing() {
        Ok(client) => client,
        Err(IpcError::AgentNotRunning { .. }) => {
            eprintln!("the agent is not running: no keys are loaded");
            return Ok(());
        }
        Err(e) => return Err(from_ipc(e)),
    };
    client.request(&Request::Lock).map_err(from_ipc)?;
    eprintln!("locked: the agent forgot its keys and decrypted values");
    Ok(())
}

/// In account mode the password unlocks the identity key; a local agent's
/// personal key needs none.
pub fn unlock(args: &PasswordArgs) -> Result<(), Failure> {
    let mut client = connect::connect()?;
    let mode = match client.request(&Request::Status).map_err(from_ipc)? {
        Response::Status(status) => status.mode,
        _ => return Err(unexpected("status")),
    };
    let password = match mode {
        Mode::Account => Some(account::password_from(args, false)?),
        Mode::Local => None,
    };
    client
        .request(&Request::Unlock { password })
        .map_err(from_ipc)?;
    let offline = match client.request(&Request::Status) {
        Ok(Response::Status(status)) => !status.online,
        _ => false,
    };
    if offline {
        eprintln!(
            "unlocked on this machine; the control plane did not renew the session \
             (unreachable or refusing for now): the agent logs in by itself once it answers"
        );
    } else {
        eprintln!("unlocked");
    }
    Ok(())
}
