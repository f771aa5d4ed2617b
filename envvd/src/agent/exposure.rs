//! What a removed member could read (issue #17): not only what their
//! client reported decrypting. Whoever held an epoch key can decrypt every
//! value sealed at that epoch offline, so every secret name in the team's
//! files sealed at an epoch they held (the chain says which: their
//! `last_epoch`) is exposed; the audit trail only marks the ones they are
//! known to have read.
//!
//! Files are what this machine can see: the projects around the client's
//! directories and the projects it has opened before (`known.rs`), those
//! bound to the team. Names are read from the files' plain headers, no key
//! needed, no value touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use envv_api::{AuditOrder, AuditQuery};
use envv_core::envfile::{EnvName, edit, format};
use envv_core::project;
use proto_ipc::{ErrorCode, ExposedName, ExposureReport, Response};
use uuid::Uuid;

use super::state::{Agent, Failure, Outcome};

/// Pages of the trail read for one member's decryptions (1,000 events
/// each): a bound, far beyond any real history.
const MAX_TRAIL_PAGES: usize = 200;

impl Agent {
    pub(super) async fn exposure(&self, team: Uuid, user: Uuid, dirs: &[PathBuf]) -> Outcome {
        let chain = self.team_chain(team).await?;
        let gone = chain.former(user).ok_or_else(|| {
            Failure(
                ErrorCode::NotFound,
                format!(
                    "{user} is not a former member of team {team} in its chain: the exposure \
                     report is for someone removed"
                ),
            )
        })?;
        let known: Vec<PathBuf> = self.known_projects().roots();
        let mut roots = BTreeSet::new();
        for dir in dirs.iter().chain(&known) {
            if let Some((root, file)) = project::find_root(dir)
                && file.team == team
            {
                roots.insert(root);
            }
        }
        let mut names: BTreeMap<String, BTreeSet<Option<String>>> = BTreeMap::new();
        let mut later = Vec::new();
        for root in &roots {
            let Ok(entries) = std::fs::read_dir(root) else {
                continue;
            };
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let Some(env) = file_name.to_str().and_then(EnvName::from_file_name) else {
                    continue;
                };
                let path = root.join(&file_name);
                let Ok(text) = edit::read_bytes(&path) else {
                    continue;
                };
                let (Ok(epoch), Ok(in_file)) = (
                    format::unverified_epoch(&text),
                    format::unverified_names(&text),
                ) else {
                    continue;
                };
                if epoch > gone.last_epoch {
                    later.push(path);
                    continue;
                }
                let env = (env != EnvName::default_env()).then(|| env.as_str().to_owned());
                for name in in_file {
                    names.entry(name).or_default().insert(env.clone());
                }
            }
        }
        let (decrypted, trail_error) = match self.decrypted_by(team, user).await {
            Ok(decrypted) => (decrypted, None),
            Err(Failure(_, why)) => (BTreeSet::new(), Some(why)),
        };
        let decrypted_elsewhere = decrypted
            .iter()
            .filter(|n| !names.contains_key(*n))
            .cloned()
            .collect();
        let secrets = names
            .into_iter()
            .map(|(name, envs)| ExposedName {
                decrypted: decrypted.contains(&name),
                name,
                envs: envs.into_iter().collect(),
            })
            .collect();
        Ok(Response::Exposure(ExposureReport {
            email: gone.email.clone(),
            last_epoch: gone.last_epoch,
            removed_seq: gone.removed_seq,
            secrets,
            projects: roots.into_iter().collect(),
            later,
            decrypted_elsewhere,
            trail_error,
        }))
    }

    /// The names the trail shows `user` decrypted or ran a command with.
    async fn decrypted_by(&self, team: Uuid, user: Uuid) -> Result<BTreeSet<String>, Failure> {
        let at = self.session().await?;
        let mut names = BTreeSet::new();
        for action in ["decrypt", "exec"] {
            let mut cursor = None;
            for _ in 0..MAX_TRAIL_PAGES {
                let query = AuditQuery {
                    actor: Some(user),
                    action: Some(action.to_owned()),
                    cursor: cursor.take(),
                    limit: Some(envv_api::MAX_PAGE),
                    order: Some(AuditOrder::Oldest),
                    ..AuditQuery::default()
                };
                let page = self.reached(self.api.audit(&at, team, &query).await)?;
                for event in &page.events {
                    if let Some(list) = event.details["secret_names"].as_array() {
                        names.extend(list.iter().filter_map(|n| n.as_str().map(str::to_owned)));
                    }
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(names)
    }
}
