//! The project file `envv init` writes: it binds a directory tree to the
//! key its `.env*.enc` files are encrypted to.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The file's name at a project's root.
pub const PROJECT_FILE: &str = ".envv.json";

/// Where a project's key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// This user's personal key on this machine.
    Local,
    /// A team on a control plane.
    Team {
        /// The control plane's URL.
        server: String,
    },
}

/// `.envv.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectFile {
    /// 1.
    pub version: u32,
    /// The team (or, in local mode, the personal key) the files are
    /// encrypted to.
    pub team: Uuid,
    /// Where that key comes from.
    pub binding: Binding,
}

/// Largest project file read: one is a few dozen bytes.
pub const MAX_PROJECT_FILE: u64 = 64 * 1024;

/// The nearest directory at or above `dir` holding a readable project
/// file, and that file.
pub fn find_root(dir: &Path) -> Option<(PathBuf, ProjectFile)> {
    dir.ancestors().find_map(|d| {
        let path = d.join(PROJECT_FILE);
        if std::fs::metadata(&path).ok()?.len() > MAX_PROJECT_FILE {
            return None;
        }
        let text = std::fs::read(&path).ok()?;
        let file = serde_json::from_slice(&text).ok()?;
        Some((d.to_path_buf(), file))
    })
}

/// The file an environment lives in: `.env.enc` for the default one
/// (`None`), else `.env.NAME.enc`. The one place this is spelled.
pub fn env_file_name(env: Option<&str>) -> String {
    match env {
        Some(env) => format!(".env.{env}.enc"),
        None => ".env.enc".to_owned(),
    }
}

/// Writes `file` as `dir`'s project file, whole or not at all.
#[cfg(feature = "format")]
pub fn write(dir: &Path, file: &ProjectFile) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    text.push(b'\n');
    crate::envfile::edit::atomic_write(&dir.join(PROJECT_FILE), &text)
        .map_err(std::io::Error::other)
}
