//! Local mode: a personal key on this machine, for using envv with no
//! account and no server. Like an ssh key made without a passphrase, it is
//! protected by file permissions (0600 in a 0700 directory), not a password.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use envv_core::crypto::{EpochIdentity, Grant, TeamKeyring, UserIdentity};

const PERSONAL_FILE: &str = "personal-key.json";

/// The personal key file: an identity, and the personal "team" key granted
/// to it (so local files use the same format and code as team files).
#[derive(Serialize, Deserialize)]
struct PersonalFile {
    version: u32,
    team: Uuid,
    identity: String,
    grant: Grant,
}

impl Drop for PersonalFile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.identity);
    }
}

/// Loads the personal keyring from `data_dir`, making it on first use.
pub(super) fn load_or_create(data_dir: &Path) -> std::io::Result<TeamKeyring> {
    let path = data_dir.join(PERSONAL_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => open(&Zeroizing::new(bytes), &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(data_dir),
        Err(e) => Err(e),
    }
}

/// The personal keyring if this machine has one; never makes one (an
/// account's agent reads it only to move a local project to a team).
pub(super) fn load_existing(data_dir: &Path) -> std::io::Result<Option<TeamKeyring>> {
    let path = data_dir.join(PERSONAL_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => open(&Zeroizing::new(bytes), &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn open(bytes: &[u8], path: &Path) -> std::io::Result<TeamKeyring> {
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is readable by other users; run `chmod 600` on it",
                path.display()
            ),
        ));
    }
    let file: PersonalFile = serde_json::from_slice(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is corrupt", path.display()),
        )
    })?;
    let identity = UserIdentity::from_secret_str(&file.identity).map_err(std::io::Error::other)?;
    let key = file
        .grant
        .open(&identity, file.team, 1)
        .map_err(std::io::Error::other)?;
    Ok(TeamKeyring::new(key))
}

fn create(data_dir: &Path) -> std::io::Result<TeamKeyring> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)?;
    let team = Uuid::new_v4();
    let identity = UserIdentity::generate();
    let key = EpochIdentity::generate(team, 1);
    let grant = key
        .grant_to(&identity.public_key())
        .map_err(std::io::Error::other)?;
    let file = PersonalFile {
        version: 1,
        team,
        identity: identity.to_secret_string().to_string(),
        grant,
    };
    let text = Zeroizing::new(serde_json::to_vec(&file).map_err(std::io::Error::other)?);
    let path = data_dir.join(PERSONAL_FILE);
    // create_new: two agents racing to make the key keep the first one.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(&text)?;
            f.sync_all()
        });
    match written {
        Ok(()) => Ok(TeamKeyring::new(key)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(data_dir),
        Err(e) => Err(e),
    }
}
