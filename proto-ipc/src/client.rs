//! Clients: connect, say hello, then one response per request.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::IpcError;
use crate::frame::{read_frame, write_frame};
use crate::message::{Event, Hello, Request, Response, Welcome};
use crate::{PROTOCOL_VERSION, socket};

/// A blocking client: no runtime, one round trip per request. This is what
/// `envv exec` uses, so it does nothing it doesn't have to.
pub struct Client {
    stream: UnixStream,
    pub agent_version: String,
    pub agent_pid: u32,
}

fn not_running(path: &Path, e: &io::Error) -> Option<IpcError> {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
    .then(|| IpcError::AgentNotRunning {
        path: path.display().to_string(),
    })
}

fn hello(client: &str) -> Vec<u8> {
    serde_json::to_vec(&Hello {
        version: PROTOCOL_VERSION,
        client: client.to_owned(),
    })
    .unwrap_or_default()
}

fn welcome(payload: &[u8]) -> Result<(String, u32), IpcError> {
    match serde_json::from_slice::<Welcome>(payload).map_err(|_| IpcError::Malformed)? {
        Welcome::Accepted {
            agent_version, pid, ..
        } => Ok((agent_version, pid)),
        Welcome::VersionMismatch { agent, pid } => Err(IpcError::VersionMismatch {
            client: PROTOCOL_VERSION,
            agent,
            pid,
        }),
    }
}

fn into_result(payload: &[u8]) -> Result<Response, IpcError> {
    match serde_json::from_slice::<Response>(payload).map_err(|_| IpcError::Malformed)? {
        Response::Error { code, message } => Err(IpcError::from_response(code, message)),
        response => Ok(response),
    }
}

impl Client {
    /// Connects to the agent at `path`. The socket's directory must pass
    /// [`socket::check_private_dir`] unless `$ENVV_AGENT_SOCK` named it.
    pub fn connect(path: &Path, client: &str) -> Result<Client, IpcError> {
        if std::env::var_os("ENVV_AGENT_SOCK").is_none()
            && let Some(dir) = path.parent()
            && let Err(e) = socket::check_private_dir(dir)
        {
            return Err(not_running(path, &e).unwrap_or(IpcError::Frame(e.into())));
        }
        let mut stream = UnixStream::connect(path)
            .map_err(|e| not_running(path, &e).unwrap_or(IpcError::Frame(e.into())))?;
        write_frame(&mut stream, &hello(client))?;
        let (agent_version, agent_pid) = welcome(&read_frame(&mut stream)?)?;
        Ok(Client {
            stream,
            agent_version,
            agent_pid,
        })
    }

    /// Connects to this user's agent ([`socket::socket_path`]).
    pub fn connect_default(client: &str) -> Result<Client, IpcError> {
        Client::connect(&socket::socket_path(), client)
    }

    /// Sends `request` and waits for its response; an `Error` response
    /// comes back as `Err`.
    pub fn request(&mut self, request: &Request) -> Result<Response, IpcError> {
        // Both frames may hold a password or secret values: wiped on drop.
        let payload = Zeroizing::new(serde_json::to_vec(request).map_err(|_| IpcError::Malformed)?);
        write_frame(&mut self.stream, &payload)?;
        into_result(&Zeroizing::new(read_frame(&mut self.stream)?))
    }

    /// After [`Request::Subscribe`] answered `Done`: the next event.
    pub fn next_event(&mut self) -> Result<Event, IpcError> {
        match into_result(&Zeroizing::new(read_frame(&mut self.stream)?))? {
            Response::Event(event) => Ok(event),
            _ => Err(IpcError::Unexpected {
                request: "subscribe",
            }),
        }
    }

    /// Bounds how long [`Client::next_event`] and requests wait.
    pub fn set_timeout(&self, timeout: Option<std::time::Duration>) -> Result<(), IpcError> {
        self.stream
            .set_read_timeout(timeout)
            .map_err(|e| IpcError::Frame(e.into()))
    }
}
