//! The projects this agent has opened or bound, remembered across restarts
//! in `projects.json` so the dashboard can list them. Paths only: nothing
//! here is secret, but it says where a user keeps secrets, so it is 0600.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proto_ipc::{ProjectInfo, Response};
use uuid::Uuid;

use super::cache::{read_json, write_private};
use super::state::{Agent, Outcome};
use envv_core::envfile::{EnvName, format};
use envv_core::project;

/// A generous bound on the file: thousands of paths.
const MAX_FILE: u64 = 1024 * 1024;

pub(super) struct KnownProjects {
    file: PathBuf,
    roots: BTreeSet<PathBuf>,
}

impl KnownProjects {
    /// What the file holds; a missing, oversized or unreadable file is an
    /// empty list (the dashboard just shows fewer projects).
    pub fn load(data_dir: &Path) -> KnownProjects {
        let file = data_dir.join("projects.json");
        let roots = read_json(&file, MAX_FILE).unwrap_or_default();
        KnownProjects { file, roots }
    }

    /// Every project root remembered.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.roots.iter().cloned().collect()
    }

    /// Remembers `root`; writes the file only when it is new.
    pub fn note(&mut self, root: &Path) {
        if self.roots.contains(root) {
            return;
        }
        self.roots.insert(root.to_path_buf());
        let saved = serde_json::to_vec(&self.roots)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_private(&self.file, &bytes));
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not save the list of known projects");
        }
    }
}

/// A project's environments, `.env.enc` first; a project with no file yet
/// shows its default environment.
pub(super) fn environments(root: &Path) -> Vec<Option<String>> {
    let mut envs: Vec<Option<String>> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let env = EnvName::from_file_name(name.to_str()?)?;
            Some((env != EnvName::default_env()).then(|| env.as_str().to_owned()))
        })
        .collect();
    if envs.is_empty() {
        envs.push(None);
    }
    envs.sort();
    envs
}

/// The epoch in an environment file's header, if it reads (see
/// [`format::unverified_epoch`]); the file's size is bounded by the reader.
fn epoch_of(root: &Path, env: Option<&str>) -> Option<u64> {
    use std::io::Read;
    let path = root.join(project::env_file_name(env));
    let mut text = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(format::MAX_EPOCH_PREFIX as u64)
        .read_to_end(&mut text)
        .ok()?;
    format::unverified_epoch(&text).ok()
}

impl Agent {
    /// The projects of `team` this agent knows, other than those in
    /// `done`, with an environment file still at an epoch before `epoch`:
    /// what a rotation did not re-encrypt (other checkouts of the project).
    pub(super) fn left_behind(&self, team: Uuid, epoch: u64, done: &[PathBuf]) -> Vec<PathBuf> {
        let done: BTreeSet<PathBuf> = done
            .iter()
            .filter_map(|dir| project::find_root(dir).map(|(root, _)| root))
            .collect();
        let known: Vec<PathBuf> = self.known_projects().roots.iter().cloned().collect();
        known
            .into_iter()
            .filter(|root| !done.contains(root))
            .filter(|root| {
                project::find_root(root).is_some_and(|(r, file)| &r == root && file.team == team)
            })
            .filter(|root| {
                environments(root)
                    .iter()
                    .any(|env| epoch_of(root, env.as_deref()).is_some_and(|e| e < epoch))
            })
            .collect()
    }

    pub(super) fn projects(&self, here: Option<&Path>) -> Outcome {
        let here = here.and_then(project::find_root);
        if let Some((root, _)) = &here {
            self.note_project(root);
        }
        let known: Vec<PathBuf> = self.known_projects().roots.iter().cloned().collect();
        let mut projects: Vec<ProjectInfo> = here
            .into_iter()
            .chain(
                known
                    .iter()
                    // Still a project root: not deleted, not unbound.
                    .filter_map(|root| project::find_root(root).filter(|(r, _)| r == root)),
            )
            .map(|(root, file)| {
                let envs = environments(&root);
                ProjectInfo {
                    epochs: envs
                        .iter()
                        .map(|env| epoch_of(&root, env.as_deref()))
                        .collect(),
                    envs,
                    root,
                    team: file.team,
                }
            })
            .collect();
        // The project around the client's directory stays first.
        let mut seen = BTreeSet::new();
        projects.retain(|p| seen.insert(p.root.clone()));
        Ok(Response::Projects { projects })
    }
}
