//! The secrets screen's model: the projects the agent knows, their
//! environments, and the names in the chosen one. Values stay masked; one
//! at a time is revealed, and hidden again as soon as the selection moves.

use std::path::PathBuf;

use proto_ipc::{EnvRef, ProjectInfo, Secret};

use crate::app::Loadable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    #[default]
    Envs,
    Names,
}

#[derive(Debug, Default)]
pub struct SecretsView {
    pub projects: Loadable<Vec<ProjectInfo>>,
    /// Index into [`SecretsView::envs`].
    pub env_selected: usize,
    pub names: Loadable<Vec<String>>,
    /// The environment `names` belong to.
    pub names_of: Option<EnvRef>,
    /// Index into [`SecretsView::visible_names`].
    pub name_selected: usize,
    pub focus: Pane,
    /// Names containing this (any case) are shown.
    pub search: String,
    /// The one value on screen, and its name.
    pub revealed: Option<(String, Secret)>,
    /// The value asked for and not yet arrived; moving away cancels it.
    pub pending_reveal: Option<(EnvRef, String)>,
}

impl SecretsView {
    /// Every environment of every project, in display order.
    pub fn envs(&self) -> Vec<EnvRef> {
        let Loadable::Ready(projects) = &self.projects else {
            return Vec::new();
        };
        projects
            .iter()
            .flat_map(|p| {
                p.envs.iter().map(|env| EnvRef {
                    dir: p.root.clone(),
                    env: env.clone(),
                })
            })
            .collect()
    }

    pub fn selected_env(&self) -> Option<EnvRef> {
        self.envs().into_iter().nth(self.env_selected)
    }

    /// The project roots bound to `team`, for a rotation.
    pub fn roots_of(&self, team: uuid::Uuid) -> Vec<PathBuf> {
        match &self.projects {
            Loadable::Ready(projects) => projects
                .iter()
                .filter(|p| p.team == team)
                .map(|p| p.root.clone())
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn visible_names(&self) -> Vec<&str> {
        let Loadable::Ready(names) = &self.names else {
            return Vec::new();
        };
        let needle = self.search.to_lowercase();
        names
            .iter()
            .map(String::as_str)
            .filter(|n| n.to_lowercase().contains(&needle))
            .collect()
    }

    pub fn selected_name(&self) -> Option<String> {
        self.visible_names()
            .get(self.name_selected)
            .map(|n| (*n).to_owned())
    }

    /// Moves the selection in the focused pane; a new environment's names
    /// are then due (the caller asks), and any revealed value is hidden.
    pub fn move_by(&mut self, delta: isize) -> bool {
        self.revealed = None;
        self.pending_reveal = None;
        match self.focus {
            Pane::Envs => {
                let last = self.envs().len().saturating_sub(1);
                let before = self.env_selected;
                self.env_selected = self.env_selected.saturating_add_signed(delta).min(last);
                before != self.env_selected
            }
            Pane::Names => {
                let last = self.visible_names().len().saturating_sub(1);
                self.name_selected = self.name_selected.saturating_add_signed(delta).min(last);
                false
            }
        }
    }

    /// Projects arrived; keeps the selected environment if it is still there.
    pub fn on_projects(&mut self, projects: Vec<ProjectInfo>) {
        let keep = self.selected_env();
        self.projects = Loadable::Ready(projects);
        self.env_selected = keep
            .and_then(|k| self.envs().iter().position(|e| *e == k))
            .unwrap_or(0);
    }

    pub fn on_names(&mut self, at: EnvRef, names: Vec<String>) {
        if self.names_of.as_ref() != Some(&at) {
            self.name_selected = 0;
            self.revealed = None;
            self.pending_reveal = None;
        }
        self.names_of = Some(at);
        self.names = Loadable::Ready(names);
        let last = self.visible_names().len().saturating_sub(1);
        self.name_selected = self.name_selected.min(last);
    }
}
