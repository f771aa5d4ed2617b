//! The CLI's own settings (`$XDG_CONFIG_HOME/envv/config.json`) and the
//! project file it reads to default `--team`.

use std::path::{Path, PathBuf};

use envv_core::project::Binding;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Failure, exit};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Config {
    /// `envv team switch`: the default `--team`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_team: Option<Uuid>,
    /// Settings of later versions survive a rewrite.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

fn path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("envv/config.json"))
}

/// The settings; missing or unreadable means none.
pub fn load() -> Config {
    path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

pub fn current_team() -> Option<Uuid> {
    load().current_team
}

pub fn set_current_team(team: Option<Uuid>) -> Result<(), Failure> {
    let mut config = load();
    if config.current_team == team {
        return Ok(());
    }
    config.current_team = team;
    let Some(path) = path() else {
        return Err(Failure::new(
            exit::ERROR,
            "cannot find your config directory: set HOME or XDG_CONFIG_HOME",
        ));
    };
    let failed = |e: std::io::Error| {
        Failure::new(
            exit::ERROR,
            format!("could not write {}: {e}", path.display()),
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut text = serde_json::to_vec_pretty(&config).unwrap_or_default();
    text.push(b'\n');
    // Whole or not at all: a temp file beside it, then rename.
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, &text).map_err(failed)?;
    std::fs::rename(&temp, &path).map_err(failed)
}

/// The project around `dir`: its root and, when bound to a team on a
/// control plane, that team (`None` for a personal-key project).
pub fn project(dir: &Path) -> Option<(PathBuf, Option<Uuid>)> {
    let (root, file) = envv_core::project::find_root(dir)?;
    let team = match file.binding {
        Binding::Local => None,
        Binding::Team { .. } => Some(file.team),
    };
    Some((root, team))
}
