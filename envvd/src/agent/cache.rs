//! The offline cache of a team's grants: what `GET /teams/{id}/keys` last
//! answered, 0600 on disk. Grants are encrypted to the user's identity, so
//! the cache is as safe as the server's copy; it lets a locked-then-unlocked
//! agent read a team's files with the control plane unreachable, up to a
//! maximum staleness, after which it fails closed.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CachedGrant {
    pub epoch: u64,
    pub grant: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CachedTeam {
    pub fetched_at: DateTime<Utc>,
    pub current_epoch: u64,
    pub grants: Vec<CachedGrant>,
    /// The team's own bound on offline use (absent in older caches).
    #[serde(default)]
    pub max_staleness_secs: Option<u64>,
}

fn path(data_dir: &Path, team: Uuid) -> PathBuf {
    data_dir.join("teams").join(format!("{team}.json"))
}

impl CachedTeam {
    pub fn save(&self, data_dir: &Path, team: Uuid) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_private(&path(data_dir, team), &bytes)
    }

    pub fn load(data_dir: &Path, team: Uuid) -> Option<CachedTeam> {
        // Thousands of epochs' grants fit many times over.
        read_json(&path(data_dir, team), 16 * 1024 * 1024)
    }
}

/// Replaces `file` with `bytes`, 0600 in a 0700 directory, all or nothing.
pub(super) fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = file.with_extension("tmp");
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    out.write_all(bytes)?;
    out.sync_data()?;
    std::fs::rename(&tmp, file)
}

/// A JSON file of ours, if it is there, at most `max` bytes and readable;
/// else `None` (the caller starts empty).
pub(super) fn read_json<T: serde::de::DeserializeOwned>(file: &Path, max: u64) -> Option<T> {
    let meta = std::fs::metadata(file).ok()?;
    if meta.len() > max {
        tracing::warn!(file = %file.display(), "too large; ignored");
        return None;
    }
    let bytes = std::fs::read(file).ok()?;
    serde_json::from_slice(&bytes)
        .inspect_err(|e| tracing::warn!(file = %file.display(), error = %e, "unreadable; ignored"))
        .ok()
}
