//! Project files: reading and editing a project's environments through
//! the team's keys, with decrypted values cached while the file on disk is
//! unchanged (binding a directory is `ops_project.rs`; the epoch a write
//! seals to, and resealing a refused file, `ops_seal.rs`).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use proto_ipc::{
    EnvRef, ErrorCode, ImportChange, ImportOptions, ImportStatus, ReadPurpose, Response, Secret,
};
use uuid::Uuid;

use super::known::environments;
use super::state::{Agent, Failure, Outcome};
use envv_core::crypto::TeamKeyring;
use envv_core::envfile::{EnvFile, EnvFileError, EnvName, ReadOptions, SecretName, dotenv, edit};
use envv_core::loader;
use envv_core::project::{self, Binding};
use envv_core::secret::SecretValue;

pub(super) struct Cached {
    stamp: FileStamp,
    secrets: Arc<Vec<(String, Secret)>>,
}

/// What changes when a file is rewritten (our writes rename a new file in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        Ok(FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Where an environment's file is and which key opens it.
pub(super) struct Located {
    root: PathBuf,
    pub(super) path: PathBuf,
    pub(super) env: EnvName,
    pub(super) team: Uuid,
}

impl Located {
    /// A named environment with no file is a typo more often than an empty
    /// environment: reading it is an error that lists the ones there are
    /// (writing creates it). The default environment of a new project
    /// just has no secrets yet.
    fn must_exist(&self) -> Result<(), Failure> {
        if self.env == EnvName::default_env() || self.path.exists() {
            return Ok(());
        }
        let default_exists = self.root.join(project::env_file_name(None)).exists();
        let there: Vec<String> = environments(&self.root)
            .into_iter()
            .filter_map(|env| match env {
                Some(name) => Some(format!("{name} ({})", project::env_file_name(Some(&name)))),
                None => default_exists
                    .then(|| format!("the default ({})", project::env_file_name(None))),
            })
            .collect();
        let there = if there.is_empty() {
            "this project has no environment files yet".to_owned()
        } else {
            format!("the environments here: {}", there.join(", "))
        };
        let name = self.env.as_str();
        Err(Failure(
            ErrorCode::NotFound,
            format!(
                "no environment {name} in {} (no {}); {there}. \
                 `envv -e {name} set KEY` creates it",
                self.root.display(),
                self.env.file_name()
            ),
        ))
    }
}

impl Agent {
    pub(super) fn locate(&self, at: &EnvRef) -> Result<Located, Failure> {
        let env = match &at.env {
            Some(name) => EnvName::new(name)?,
            None => EnvName::default_env(),
        };
        let Some((root, file)) = project::find_root(&at.dir) else {
            return Err(Failure(
                ErrorCode::NotFound,
                format!(
                    "{} is not in an envv project; run `envv init` in your project's directory",
                    at.dir.display()
                ),
            ));
        };
        // An account's agent opens team files only: the personal key is
        // local mode's.
        if file.binding == Binding::Local && self.inner().account.is_some() {
            return Err(Failure(
                ErrorCode::Conflict,
                format!(
                    "{} is a local-mode project: its files are encrypted to a personal key, \
                     not to a team. Now that you have an account, move it to a team: \
                     `envv init --team NAME --move`",
                    root.display()
                ),
            ));
        }
        Ok(Located {
            path: edit::env_path(&root, &env),
            root,
            env,
            team: file.team,
        })
    }

    /// The decrypted environment, from the cache when the file is unchanged.
    ///
    /// A warm read takes the state's lock once, for a map look-up; only a
    /// cold one may wait on the control plane (for the team's grants), and
    /// it decrypts with the lock released.
    pub(super) async fn decrypted(
        &self,
        at: &EnvRef,
    ) -> Result<Arc<Vec<(String, Secret)>>, Failure> {
        let located = self.locate(at)?;
        let stamp = match FileStamp::of(&located.path) {
            Ok(stamp) => stamp,
            // No file yet: an environment with no secrets, if the keys open
            // this team's files at all.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.keyring(located.team).await?;
                located.must_exist()?;
                return Ok(Arc::new(Vec::new()));
            }
            Err(e) => return Err(e.into()),
        };
        {
            let inner = self.inner();
            // Locked, or not a member: no answer, not even from the cache.
            let unlocked = inner
                .keys
                .as_ref()
                .is_some_and(|k| k.ring(located.team).is_some());
            if unlocked
                && let Some(hit) = inner.cache.get(&located.path).filter(|c| c.stamp == stamp)
            {
                return Ok(hit.secrets.clone());
            }
        }
        let generation = self.generation();
        // Any epoch the keyring holds, any generation: an older copy of the
        // file is what `git checkout` of an older branch legitimately gives.
        let opts = ReadOptions::any_epoch(located.env.clone());
        let file = self
            .with_current_keys(located.team, None, |ring| {
                edit::read(&located.path, ring, &opts)
            })
            .await
            // Which file: a project has several environments.
            .map_err(|Failure(code, why)| match code {
                ErrorCode::Crypto => Failure(code, format!("{}: {why}", located.path.display())),
                _ => Failure(code, why),
            })?;
        // Once per change of the file: warm reads come from the cache.
        self.check_author(located.team, &located.path, &file)
            .await?;
        let secrets: Arc<Vec<(String, Secret)>> = Arc::new(
            file.iter()
                .map(|(name, value)| (name.as_str().to_owned(), Secret::new(value.expose())))
                .collect(),
        );
        {
            let mut inner = self.inner();
            // Locked while this was decrypted: answer nothing.
            if inner.generation != generation || inner.keys.is_none() {
                return Err(Failure::locked_meanwhile());
            }
            inner.cache.insert(
                located.path.clone(),
                Cached {
                    stamp,
                    secrets: secrets.clone(),
                },
            );
            if let Some(keys) = inner.keys.as_mut() {
                keys.accepted.remember(&located.path, &secrets);
            }
        }
        // First read of this file here (a warm read never gets this far).
        self.watch_file(&located.path);
        self.note_project(&located.root);
        Ok(secrets)
    }

    pub(super) async fn read(&self, at: &EnvRef, only: &[String], purpose: ReadPurpose) -> Outcome {
        let all = self.decrypted(at).await?;
        let secrets = if only.is_empty() {
            all.as_ref().clone()
        } else {
            let mut picked = Vec::with_capacity(only.len());
            for name in only {
                match all.iter().find(|(n, _)| n == name) {
                    Some(pair) => picked.push(pair.clone()),
                    None => {
                        return Err(Failure(
                            ErrorCode::NotFound,
                            format!("no secret named {name} here"),
                        ));
                    }
                }
            }
            picked
        };
        // On the record before anything is disclosed.
        let action = match purpose {
            ReadPurpose::Exec => "exec",
            ReadPurpose::Get | ReadPurpose::Export => "decrypt",
        };
        self.record(
            at,
            action,
            secrets.iter().map(|(n, _)| n.clone()).collect(),
            None,
        )
        .await?;
        self.still_unlocked()?;
        Ok(Response::Secrets { secrets })
    }

    /// Rendered by the converter the import side also uses, so an export
    /// re-imports to the same values.
    pub(super) async fn export(&self, at: &EnvRef, format: proto_ipc::ExportFormat) -> Outcome {
        let all = self.decrypted(at).await?;
        let entries = all
            .iter()
            .map(|(name, value)| Ok((SecretName::new(name)?, SecretValue::from(value.expose()))))
            .collect::<Result<Vec<_>, EnvFileError>>()?;
        let format = match format {
            proto_ipc::ExportFormat::Dotenv => dotenv::ExportFormat::Dotenv,
            proto_ipc::ExportFormat::Json => dotenv::ExportFormat::Json,
            proto_ipc::ExportFormat::Shell => dotenv::ExportFormat::Shell,
        };
        let text = dotenv::export(entries.iter().map(|(n, v)| (n, v)), format)?;
        // On the record before anything is disclosed.
        self.record(
            at,
            "decrypt",
            all.iter().map(|(n, _)| n.clone()).collect(),
            None,
        )
        .await?;
        self.still_unlocked()?;
        Ok(Response::Text {
            text: Secret::new(text.as_str()),
        })
    }

    pub(super) async fn names(&self, at: &EnvRef) -> Outcome {
        let all = self.decrypted(at).await?;
        Ok(Response::Names {
            names: all.iter().map(|(n, _)| n.clone()).collect(),
        })
    }

    /// A locked write through `change` (which answers the file's new
    /// number of secrets), then the cache entry goes.
    pub(super) async fn edit(
        &self,
        at: &EnvRef,
        change: impl Fn(&mut EnvFile) -> Result<(), EnvFileError>,
    ) -> Result<u32, Failure> {
        let located = self.locate(at)?;
        self.note_project(&located.root);
        let epoch = self.sealing_epoch(located.team).await?;
        let count = self
            .with_current_keys(located.team, epoch, |ring| {
                edit::update(&located.path, &located.env, ring, |file| {
                    change(file)?;
                    Ok(file.len())
                })
            })
            .await?;
        self.inner().cache.remove(&located.path);
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    pub(super) async fn set(&self, at: &EnvRef, name: &str, value: Secret) -> Outcome {
        let name = SecretName::new(name)?;
        let value = SecretValue::from(value.expose());
        let names = vec![name.as_str().to_owned()];
        let count = self
            .edit(at, |file| file.set(name.clone(), value.clone()))
            .await?;
        self.record(at, "set", names, Some(count)).await?;
        Ok(Response::Done)
    }

    pub(super) async fn unset(&self, at: &EnvRef, name: &str) -> Outcome {
        self.locate(at)?.must_exist()?;
        let count = self.edit(at, |file| file.unset(name).map(drop)).await?;
        self.record(at, "unset", vec![name.to_owned()], Some(count))
            .await?;
        Ok(Response::Done)
    }

    /// Reads the text with the client's environment (never this process's),
    /// then writes every name in one locked edit, or with `dry_run` only
    /// compares. Nothing is written if anything fails to read.
    pub(super) async fn import(
        &self,
        at: &EnvRef,
        text: &Secret,
        env: Vec<(String, Secret)>,
        options: ImportOptions,
    ) -> Outcome {
        let env: BTreeMap<String, SecretValue> = env
            .into_iter()
            .map(|(name, value)| (name, SecretValue::from(value.expose())))
            .collect();
        let read_options = dotenv::ImportOptions {
            expand: options.expand,
            strict: options.strict,
        };
        // Up to 16 MiB to read: CPU work, off the runtime's worker.
        let parsed = tokio::task::block_in_place(|| {
            dotenv::read(text.expose().as_bytes(), read_options, &env)
        })?;
        let names: Vec<String> = parsed
            .secrets
            .keys()
            .map(|n| n.as_str().to_owned())
            .collect();
        let mut warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
        let loaders = loader::loader_names(names.iter().map(String::as_str));
        if !loaders.is_empty() && !options.allow_loader_vars {
            let refused = loader_refusal(&loaders);
            if !options.dry_run {
                return Err(Failure(ErrorCode::Invalid, refused));
            }
            warnings.push(refused);
        }
        let compare = |current: Option<&SecretValue>, value: &SecretValue| match current {
            None => ImportStatus::New,
            Some(old) if old == value => ImportStatus::Same,
            Some(_) => ImportStatus::Changed,
        };
        let changes = if options.dry_run {
            // A dry run into an environment the import would create:
            // everything is new.
            let located = self.locate(at)?;
            let current = if located.must_exist().is_err() {
                self.keyring(located.team).await?;
                Arc::new(Vec::new())
            } else {
                self.decrypted(at).await?
            };
            let changes = parsed
                .secrets
                .iter()
                .map(|(name, value)| {
                    // Sorted by name, as the file keeps them.
                    let old = current
                        .binary_search_by(|(n, _)| n.as_str().cmp(name.as_str()))
                        .ok()
                        .map(|i| SecretValue::from(current[i].1.expose()));
                    change(name, compare(old.as_ref(), value))
                })
                .collect();
            // Same or changed says something about the stored values.
            self.record(at, "decrypt", names.clone(), None).await?;
            changes
        } else {
            // Filled on the attempt that writes (the edit may run twice).
            let changes = std::sync::Mutex::new(Vec::new());
            let count = self
                .edit(at, |file| {
                    let mut seen = changes.lock().unwrap_or_else(|e| e.into_inner());
                    seen.clear();
                    for (name, value) in &parsed.secrets {
                        seen.push(change(name, compare(file.get(name.as_str()), value)));
                        file.set(name.clone(), value.clone())?;
                    }
                    Ok(())
                })
                .await?;
            self.record(at, "import", names.clone(), Some(count))
                .await?;
            changes.into_inner().unwrap_or_else(|e| e.into_inner())
        };
        Ok(Response::Imported {
            count: names.len(),
            changes,
            warnings,
        })
    }
}

/// Why names that change which code programs load are not stored without
/// the flag. Names only: the values are never shown.
fn loader_refusal(names: &[&str]) -> String {
    format!(
        "{} would change which code programs run under `envv exec` (a way to run anyone's \
         code on every member's machine); nothing was imported. If you mean it, pass \
         --allow-loader-var",
        names.join(", ")
    )
}

fn change(name: &SecretName, status: ImportStatus) -> ImportChange {
    ImportChange {
        name: name.as_str().to_owned(),
        status,
    }
}

impl Agent {
    /// A lock that landed while a read was being recorded wins: no
    /// plaintext goes out after it.
    fn still_unlocked(&self) -> Result<(), Failure> {
        match self.inner().keys {
            Some(_) => Ok(()),
            None => Err(Failure::locked_meanwhile()),
        }
    }

    /// Runs `op` with `team`'s keyring, off the runtime's worker (it
    /// decrypts or writes a file). A file at an epoch the keyring lacks
    /// means a rotation since the team was opened: its grants are fetched
    /// again, once, and `op` runs again. So does a keyring older than the
    /// chain's epoch `at_least` (a write): it never seals to an old epoch.
    pub(super) async fn with_current_keys<T>(
        &self,
        team: Uuid,
        at_least: Option<u64>,
        op: impl Fn(&TeamKeyring) -> Result<T, EnvFileError>,
    ) -> Result<T, Failure> {
        let mut ring = self.keyring(team).await?;
        if at_least.is_some_and(|epoch| ring.team_epoch() < epoch) {
            self.forget_keyring(team, &ring);
            drop(ring);
            ring = self.keyring(team).await?;
        }
        match tokio::task::block_in_place(|| op(&ring)) {
            Err(e) if stale_keys(&e) && self.inner().account.is_some() => {
                self.forget_keyring(team, &ring);
                drop(ring);
                let ring = self.keyring(team).await?;
                Ok(tokio::task::block_in_place(|| op(&ring))?)
            }
            other => Ok(other?),
        }
    }
}

/// The file needs a key epoch this keyring doesn't hold yet.
fn stale_keys(e: &EnvFileError) -> bool {
    matches!(
        e,
        EnvFileError::NewerEpoch { .. }
            | EnvFileError::NoKeyForEpoch { .. }
            | EnvFileError::CurrentKeyMissing { .. }
    )
}
