//! Binding the agent's socket: in a private directory, 0600, replacing a
//! stale socket from a dead agent but never a live one.
//!
//! A lock file beside the socket, held for the agent's life, decides which
//! of two agents starting at once gets the socket; only its holder may
//! remove a stale socket file, so one can't delete the other's.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another agent holds this socket; it is left alone.
    #[error("an envv agent is already running on {0}")]
    AlreadyRunning(String),
    /// The directory or socket could not be made.
    #[error("cannot bind {path}: {source}")]
    Io {
        /// The socket path.
        path: String,
        /// What failed.
        source: io::Error,
    },
}

/// Held for as long as the agent serves: the socket is ours while it lives.
#[derive(Debug)]
pub struct AgentLock(#[allow(dead_code)] File);

/// Binds `path` for the agent. Must run inside a tokio runtime.
pub fn bind(path: &Path) -> Result<(tokio::net::UnixListener, AgentLock), BindError> {
    let io_err = |source| BindError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        proto_ipc::socket::ensure_private_dir(dir).map_err(io_err)?;
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io_err)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(BindError::AlreadyRunning(path.display().to_string()));
        }
        Err(TryLockError::Error(e)) => return Err(io_err(e)),
    }
    // We hold the lock, so a socket file here belongs to a dead agent —
    // unless an agent from before this lock existed still answers on it.
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BindError::AlreadyRunning(path.display().to_string()));
        }
        std::fs::remove_file(path).map_err(io_err)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(io_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    Ok((listener, AgentLock(lock)))
}
