//! Binding a directory to a team: `envv init` and `init --move`, which
//! re-encrypts a project's files to another team.

use std::path::Path;
use std::sync::Arc;

use proto_ipc::{EnvRef, ErrorCode, Response};
use uuid::Uuid;

use super::local;
use super::state::{Agent, Failure, Outcome};
use envv_core::envfile::{EnvName, edit};
use envv_core::project::{self, Binding, ProjectFile};

impl Agent {
    pub(super) async fn init(&self, dir: &Path, team: Option<Uuid>) -> Outcome {
        let (team, binding) = self.binding_for(team).await?;
        if let Some((root, file)) = project::find_root(dir) {
            if file.team == team {
                self.note_project(&root);
                return Ok(Response::Project { root, team });
            }
            return Err(self.bound_elsewhere(&root, &file, team).await);
        }
        let file = ProjectFile {
            version: 1,
            team,
            binding,
        };
        project::write(dir, &file)?;
        self.note_project(dir);
        Ok(Response::Project {
            root: dir.to_path_buf(),
            team,
        })
    }

    /// Why `init` won't bind an already bound project to `team`, and the
    /// way to move it there.
    async fn bound_elsewhere(&self, root: &Path, file: &ProjectFile, team: Uuid) -> Failure {
        let name = self.team_name(team).await;
        let now = match file.binding {
            Binding::Local => {
                "a local-mode project: its files are encrypted to a personal key".to_owned()
            }
            Binding::Team { .. } => format!("bound to team {}", self.team_name(file.team).await),
        };
        Failure(
            ErrorCode::Conflict,
            format!(
                "{} is already {now}; to re-encrypt its files to team {name} and bind it there, \
                 run `envv init --team {name} --move`",
                root.display()
            ),
        )
    }

    /// A team's name for a message, else its id.
    async fn team_name(&self, team: Uuid) -> String {
        if let Ok(Response::Teams { teams }) = self.list_teams().await
            && let Some(info) = teams.iter().find(|t| t.id == team)
        {
            return info.name.clone();
        }
        team.to_string()
    }

    /// See [`proto_ipc::Request::MoveProject`].
    pub(super) async fn move_project(&self, dir: &Path, team: Option<Uuid>) -> Outcome {
        let Some((root, file)) = project::find_root(dir) else {
            return Err(Failure(
                ErrorCode::NotFound,
                format!(
                    "{} is not in an envv project, so there is nothing to move; \
                     `envv init` makes one",
                    dir.display()
                ),
            ));
        };
        let (team, binding) = self.binding_for(team).await?;
        if binding == Binding::Local {
            return Err(Failure(
                ErrorCode::NotLoggedIn,
                "moving a project to a team needs an account; run `envv auth signup` or \
                 `envv auth login`"
                    .into(),
            ));
        }
        let epoch = self.sealing_epoch(team).await?;
        let mut to = self.keyring(team).await?;
        if epoch.is_some_and(|e| to.team_epoch() < e) {
            self.forget_keyring(team, &to);
            drop(to);
            to = self.keyring(team).await?;
        }
        let from = match file.binding {
            _ if file.team == team => to.clone(),
            Binding::Team { .. } => self.keyring(file.team).await?,
            Binding::Local => {
                let personal = local::load_existing(&self.config.data_dir)?
                    .filter(|ring| ring.team() == file.team);
                Arc::new(personal.ok_or_else(|| {
                    Failure(
                        ErrorCode::NotFound,
                        format!(
                            "{} is encrypted to a personal key this machine doesn't have; \
                             move it from the machine where it was made",
                            root.display()
                        ),
                    )
                })?)
            }
        };
        let envs: Vec<EnvName> = std::fs::read_dir(&root)?
            .filter_map(|entry| EnvName::from_file_name(entry.ok()?.file_name().to_str()?))
            .collect();
        let mut moved = Vec::new();
        for env in envs {
            let path = edit::env_path(&root, &env);
            let names = tokio::task::block_in_place(|| edit::move_to(&path, &env, &from, &to))?;
            self.inner().cache.remove(&path);
            if let Some(names) = names {
                moved.push((env, names));
            }
        }
        let bound = ProjectFile {
            version: 1,
            team,
            binding,
        };
        if file != bound {
            project::write(&root, &bound)?;
        }
        self.note_project(&root);
        // The team's trail shows what came into it, file by file.
        for (env, names) in &moved {
            let at = EnvRef {
                dir: root.clone(),
                env: (*env != EnvName::default_env()).then(|| env.as_str().to_owned()),
            };
            let count = u32::try_from(names.len()).unwrap_or(u32::MAX);
            let names = names.iter().map(|n| n.as_str().to_owned()).collect();
            self.record(&at, "import", names, Some(count)).await?;
        }
        Ok(Response::Moved {
            root,
            team,
            files: moved.len(),
        })
    }
}
