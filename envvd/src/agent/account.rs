//! Account mode: the account file on disk and the session with the control
//! plane (whose calls are in `control_plane.rs`).
//!
//! On disk (0600 in the 0700 data directory) is only what the server also
//! holds: the KDF parameters and the identity wrapped by the password's
//! wrap key. Tokens live in memory only: after a restart, `envv unlock`
//! logs in again.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use envv_api::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use envv_core::crypto::KdfParams;

const ACCOUNT_FILE: &str = "account.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AccountFile {
    pub version: u32,
    pub server: String,
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub kdf: KdfParams,
    pub wrapped_identity: String,
}

impl AccountFile {
    pub fn load(data_dir: &Path) -> std::io::Result<Option<AccountFile>> {
        let path = data_dir.join(ACCOUNT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                if std::fs::metadata(&path)?.permissions().mode() & 0o077 != 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!(
                            "{} is readable by other users; run `chmod 600` on it",
                            path.display()
                        ),
                    ));
                }
                serde_json::from_slice(&bytes).map(Some).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is corrupt", path.display()),
                    )
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Written to a temporary file and renamed, so a crash leaves the old or
    /// the new account, never half of one.
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(data_dir)?;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        let tmp = data_dir.join(format!(".{ACCOUNT_FILE}.{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, data_dir.join(ACCOUNT_FILE))
    }

    pub fn remove(data_dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(data_dir.join(ACCOUNT_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn describe(&self) -> proto_ipc::Account {
        proto_ipc::Account {
            server: self.server.clone(),
            user_id: self.user_id,
            email: self.email.clone(),
            name: self.name.clone(),
            fingerprint: None,
        }
    }
}

/// Tokens for the control plane, in memory only.
pub(super) struct Session {
    pub access: SecretString,
    pub refresh: SecretString,
    /// On the wall clock, as the server's `exp`: a monotonic clock would
    /// stop while the machine sleeps and call a token fresh after a night.
    pub expires: SystemTime,
}

impl Session {
    pub fn from_pair(pair: envv_api::TokenPair) -> Session {
        Session {
            access: pair.access_token,
            refresh: pair.refresh_token,
            // A lifetime past what the clock can hold is "soon": refresh.
            expires: SystemTime::now()
                .checked_add(Duration::from_secs(pair.expires_in))
                .unwrap_or_else(SystemTime::now),
        }
    }

    /// Refresh a minute early, so a request never carries a dying token.
    pub fn fresh(&self) -> bool {
        self.expires > SystemTime::now() + Duration::from_secs(60)
    }
}
