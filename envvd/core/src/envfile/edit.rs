//! Locked, atomic read-modify-write of `.env.enc` files on disk.
//!
//! Writers take an exclusive `flock` on the file's directory (not on the
//! file, which is replaced by rename, and not on a sidecar lock file, which
//! would litter the repository), re-read the file under the lock, apply the
//! change and replace the file atomically: temporary file in the same
//! directory, fsync, rename, fsync of the directory. A crash at any point
//! leaves the old file or the new one. Readers take no lock: rename is atomic.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use super::{EnvFile, EnvFileError, EnvName, MAX_FILE_BYTES, ReadOptions, SecretName, format};
use crate::crypto::TeamKeyring;
use crate::secret::SecretValue;

/// The file of environment `env` in `dir`.
pub fn env_path(dir: &Path, env: &EnvName) -> PathBuf {
    dir.join(env.file_name())
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EnvFileError {
    let path = path.to_owned();
    move |source| EnvFileError::Io {
        action,
        path,
        source,
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Reads a file's bytes, refusing anything over the size limit.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, EnvFileError> {
    let file = File::open(path).map_err(io("opening", path))?;
    let mut buf = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io("reading", path))?;
    if buf.len() > MAX_FILE_BYTES {
        return Err(EnvFileError::TooLarge {
            what: "file",
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(buf)
}

/// Reads and verifies a file.
pub fn read(
    path: &Path,
    keyring: &TeamKeyring,
    opts: &ReadOptions,
) -> Result<EnvFile, EnvFileError> {
    format::decrypt(&read_bytes(path)?, keyring, opts)
}

/// Verified names and values of a file.
pub fn read_all(
    path: &Path,
    keyring: &TeamKeyring,
    opts: &ReadOptions,
) -> Result<BTreeMap<SecretName, SecretValue>, EnvFileError> {
    let file = read(path, keyring, opts)?;
    Ok(file.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Verified, sorted names of a file.
pub fn list(
    path: &Path,
    keyring: &TeamKeyring,
    opts: &ReadOptions,
) -> Result<Vec<SecretName>, EnvFileError> {
    Ok(read(path, keyring, opts)?.names().cloned().collect())
}

/// Holds the directory lock until dropped.
struct DirLock(File);

impl DirLock {
    fn acquire(dir: &Path) -> Result<Self, EnvFileError> {
        let f = File::open(dir).map_err(io("opening directory", dir))?;
        FileExt::lock_exclusive(&f).map_err(io("locking directory", dir))?;
        Ok(Self(f))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock anyway; unlocking first
        // just makes the release point explicit.
        let _ = FileExt::unlock(&self.0);
    }
}

/// Replaces `path` with `contents` atomically and durably.
pub fn atomic_write(path: &Path, contents: &[u8]) -> Result<(), EnvFileError> {
    let dir = dir_of(path);
    let prefix = format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(io("creating a temporary file next to", path))?;
    // Values are encrypted, so the file is as readable as any source file.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io("setting permissions on a temporary file for", path))?;
    tmp.write_all(contents).map_err(io("writing", path))?;
    tmp.as_file().sync_all().map_err(io("syncing", path))?;
    tmp.persist(path).map_err(|e| EnvFileError::Io {
        action: "replacing",
        path: path.to_owned(),
        source: e.error,
    })?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))?;
    Ok(())
}

/// Locks, re-reads (any epoch the keyring holds; a missing file starts
/// empty), applies `change`, and writes the result at the current epoch.
/// Nothing is written if `change` fails.
pub fn update<R>(
    path: &Path,
    env: &EnvName,
    keyring: &TeamKeyring,
    change: impl FnOnce(&mut EnvFile) -> Result<R, EnvFileError>,
) -> Result<R, EnvFileError> {
    let _lock = DirLock::acquire(dir_of(path))?;
    let mut file = match read(path, keyring, &ReadOptions::any_epoch(env.clone())) {
        Ok(f) => f,
        Err(EnvFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            EnvFile::new(keyring, env.clone())?
        }
        Err(e) => return Err(e),
    };
    let result = change(&mut file)?;
    let text = file.seal_for_write(keyring)?;
    atomic_write(path, text.as_bytes())?;
    Ok(result)
}

/// Sets one secret.
pub fn set(
    path: &Path,
    env: &EnvName,
    keyring: &TeamKeyring,
    name: SecretName,
    value: SecretValue,
) -> Result<(), EnvFileError> {
    update(path, env, keyring, |f| f.set(name, value))
}

/// Removes one secret ([`EnvFileError::NotFound`] if absent; nothing written).
pub fn unset(
    path: &Path,
    env: &EnvName,
    keyring: &TeamKeyring,
    name: &str,
) -> Result<(), EnvFileError> {
    update(path, env, keyring, |f| f.unset(name).map(drop))
}

/// Renames one secret.
pub fn rename(
    path: &Path,
    env: &EnvName,
    keyring: &TeamKeyring,
    from: &str,
    to: SecretName,
) -> Result<(), EnvFileError> {
    update(path, env, keyring, |f| f.rename(from, to))
}

/// Moves a file from one team's keys to another's (a local project to a
/// team): locks, reads it with `from` (any epoch), writes the same secrets
/// at `to`'s current epoch with a fresh data key. Answers the names moved;
/// `None` if the file is already `to`'s (verified with `to`, not written),
/// so an interrupted move can run again.
pub fn move_to(
    path: &Path,
    env: &EnvName,
    from: &TeamKeyring,
    to: &TeamKeyring,
) -> Result<Option<Vec<SecretName>>, EnvFileError> {
    let _lock = DirLock::acquire(dir_of(path))?;
    let opts = ReadOptions::any_epoch(env.clone());
    let old = match read(path, from, &opts) {
        Ok(file) if from.team() != to.team() => file,
        Ok(_) => return Ok(None),
        Err(EnvFileError::WrongTeam { file, .. }) if file == to.team() => {
            read(path, to, &opts)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mut new = EnvFile::new(to, env.clone())?;
    for (name, value) in old.iter() {
        new.set(name.clone(), value.clone())?;
    }
    let text = new.seal_for_write(to)?;
    atomic_write(path, text.as_bytes())?;
    Ok(Some(old.names().cloned().collect()))
}

/// Re-encrypts a file at the keyring's current epoch with a fresh data key
/// (after a rotation, or to shut out someone who saw the old data key).
pub fn reencrypt(path: &Path, env: &EnvName, keyring: &TeamKeyring) -> Result<(), EnvFileError> {
    update(path, env, keyring, |f| f.rekey(keyring.current()))
}
