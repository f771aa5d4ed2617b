//! Where the agent's socket lives, and the checks that keep another local
//! user from planting or reading it.
//!
//! `$ENVV_AGENT_SOCK` if set; else `$XDG_RUNTIME_DIR/envv/agent.sock`; else
//! `/tmp/envv-<uid>/agent.sock`. The directory must be ours, mode 0700, and
//! not a symlink: both sides check before they bind or connect.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const SOCKET_NAME: &str = "agent.sock";

/// The socket path for this user.
pub fn socket_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ENVV_AGENT_SOCK").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    runtime_dir().join(SOCKET_NAME)
}

/// The per-user directory the socket (and nothing else) lives in.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("envv"),
        None => std::env::temp_dir().join(format!("envv-{}", rustix::process::getuid().as_raw())),
    }
}

/// Creates `dir` 0700 if missing, then checks it: a directory (not a
/// symlink), owned by us, with no access for group or others.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)?;
            }
            fs::DirBuilder::new().mode(0o700).create(dir)?;
        }
        Err(e) => return Err(e),
    }
    check_private_dir(dir)
}

/// The checks of [`ensure_private_dir`], without creating anything.
pub fn check_private_dir(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    let refuse = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} {why}; refusing to use it for the envv agent",
                dir.display()
            ),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("is a symlink");
    }
    if !meta.is_dir() {
        return refuse("is not a directory");
    }
    if meta.uid() != rustix::process::getuid().as_raw() {
        return refuse("belongs to another user");
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return refuse("is open to other users (it must be mode 0700)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_is_created_0700_and_open_ones_are_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("envv");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_private_dir(&dir).is_err());

        let link = base.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(check_private_dir(&link).is_err(), "a symlink is refused");
    }
}
