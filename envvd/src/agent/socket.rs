//! Binding the agent's socket: in a private directory, 0600, replacing a
//! stale socket from a dead agent but never a live one.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another agent answers on this socket; it is left alone.
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

/// Binds `path` for the agent. Must run inside a tokio runtime.
pub fn bind(path: &Path) -> Result<tokio::net::UnixListener, BindError> {
    let io_err = |source| BindError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        proto_ipc::socket::ensure_private_dir(dir).map_err(io_err)?;
    }
    if path.exists() {
        // Someone answers: a live agent; never steal its socket.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BindError::AlreadyRunning(path.display().to_string()));
        }
        std::fs::remove_file(path).map_err(io_err)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(io_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    Ok(listener)
}
