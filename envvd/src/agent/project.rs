//! The project file `envv init` writes: it binds a directory tree to the
//! key its `.env*.enc` files are encrypted to.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The file's name at a project's root.
pub(super) const PROJECT_FILE: &str = ".envv.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Binding {
    /// This user's personal key on this machine.
    Local,
    /// A team on a control plane.
    Team { server: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ProjectFile {
    pub version: u32,
    pub team: Uuid,
    pub binding: Binding,
}

/// The nearest directory at or above `dir` holding a project file.
pub(super) fn find_root(dir: &Path) -> Option<(PathBuf, ProjectFile)> {
    dir.ancestors().find_map(|d| {
        let text = std::fs::read(d.join(PROJECT_FILE)).ok()?;
        // Bounded: a project file is a few dozen bytes.
        if text.len() > 64 * 1024 {
            return None;
        }
        let file = serde_json::from_slice(&text).ok()?;
        Some((d.to_path_buf(), file))
    })
}

pub(super) fn write(dir: &Path, file: &ProjectFile) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    text.push(b'\n');
    crate::envfile::edit::atomic_write(&dir.join(PROJECT_FILE), &text)
        .map_err(std::io::Error::other)
}
