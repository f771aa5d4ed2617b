//! The one owner of the agent's keys and caches. Every request goes through
//! [`Agent::handle`]; the lock timer calls [`Agent::expire`].

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use proto_ipc::{
    AgentStatus, EnvRef, ErrorCode, Mode, PROTOCOL_VERSION, Request, Response, Secret,
};
use uuid::Uuid;

use super::project::{self, Binding, ProjectFile};
use super::{AgentConfig, local};
use crate::crypto::TeamKeyring;
use crate::envfile::{EnvFileError, EnvName, ReadOptions, SecretName, dotenv, edit};
use crate::secret::SecretValue;

pub(super) struct Agent {
    config: AgentConfig,
    inner: Mutex<Inner>,
    stop: tokio::sync::Notify,
}

#[derive(Default)]
struct Inner {
    keys: Option<Unlocked>,
    /// Decrypted environments, valid while the file on disk is unchanged.
    cache: HashMap<PathBuf, Cached>,
}

struct Unlocked {
    keyring: TeamKeyring,
    since: Instant,
    last_used: Instant,
}

struct Cached {
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

/// A failed request: the code a client acts on and a sentence for the user.
struct Failure(ErrorCode, String);

impl From<EnvFileError> for Failure {
    fn from(e: EnvFileError) -> Self {
        let code = match &e {
            EnvFileError::NotFound { .. } => ErrorCode::NotFound,
            EnvFileError::InvalidName { .. }
            | EnvFileError::InvalidEnvName { .. }
            | EnvFileError::InvalidValue { .. }
            | EnvFileError::DotenvSyntax { .. }
            | EnvFileError::TooLarge { .. }
            | EnvFileError::AlreadyExists { .. } => ErrorCode::Invalid,
            EnvFileError::Io { .. } => ErrorCode::Io,
            _ => ErrorCode::Crypto,
        };
        Failure(code, e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(ErrorCode::Io, e.to_string())
    }
}

type Outcome = Result<Response, Failure>;

/// Where an environment's file is and which key opens it.
struct Located {
    path: PathBuf,
    env: EnvName,
    team: Uuid,
}

impl Agent {
    pub(super) fn new(config: AgentConfig) -> Agent {
        Agent {
            config,
            inner: Mutex::new(Inner::default()),
            stop: tokio::sync::Notify::new(),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not wedge the agent: the state stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves when a client asked the agent to stop.
    pub(super) async fn stopped(&self) {
        self.stop.notified().await;
    }

    /// Makes [`Agent::stopped`] resolve.
    pub(super) fn request_stop(&self) {
        self.stop.notify_one();
    }

    /// Forgets every key and decrypted value (they zeroise on drop).
    pub(super) fn lock(&self) {
        let mut inner = self.inner();
        inner.keys = None;
        inner.cache.clear();
    }

    /// Locks if the idle or the absolute time is up.
    pub(super) fn expire(&self, now: Instant) {
        let mut inner = self.inner();
        let due = inner.keys.as_ref().is_some_and(|k| {
            now.duration_since(k.last_used) >= self.config.idle_lock
                || now.duration_since(k.since) >= self.config.max_unlock
        });
        if due {
            tracing::info!("locking: the idle or absolute time is up");
            inner.keys = None;
            inner.cache.clear();
        }
    }

    pub(super) fn handle(&self, request: Request) -> Response {
        let outcome = match request {
            Request::Status => Ok(Response::Status(self.status())),
            Request::Lock => {
                self.lock();
                Ok(Response::Done)
            }
            Request::Unlock { .. } => self.unlock().map(|()| Response::Done),
            Request::Init { dir } => self.init(&dir),
            Request::Read { at, only, .. } => self.read(&at, &only),
            Request::Names { at } => self.names(&at),
            Request::Set { at, name, value } => self.set(&at, &name, value),
            Request::Unset { at, name } => {
                self.edit(&at, |path, env, ring| edit::unset(path, env, ring, &name))
            }
            Request::Import { at, dotenv } => self.import(&at, &dotenv),
            // The connection stops the agent once this answer is sent.
            Request::Shutdown => {
                self.lock();
                Ok(Response::Done)
            }
        };
        outcome.unwrap_or_else(|Failure(code, message)| Response::Error { code, message })
    }

    fn status(&self) -> AgentStatus {
        let inner = self.inner();
        let now = Instant::now();
        let left = |limit: Duration, from: Instant| {
            limit.saturating_sub(now.duration_since(from)).as_secs()
        };
        AgentStatus {
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: PROTOCOL_VERSION,
            pid: std::process::id(),
            mode: Mode::Local,
            locked: inner.keys.is_none(),
            idle_lock_in: inner
                .keys
                .as_ref()
                .map(|k| left(self.config.idle_lock, k.last_used)),
            absolute_lock_in: inner
                .keys
                .as_ref()
                .map(|k| left(self.config.max_unlock, k.since)),
            cached_files: inner.cache.len(),
        }
    }

    fn unlock(&self) -> Result<(), Failure> {
        self.with_keys(|_| ())
    }

    /// Runs `f` with the keyring, loading it if locked.
    fn with_keys<R>(&self, f: impl FnOnce(&TeamKeyring) -> R) -> Result<R, Failure> {
        let mut inner = self.inner();
        Ok(f(self.ensure_keys(&mut inner.keys)?))
    }

    /// The keyring, loaded if locked (local mode needs no password); counts
    /// as use for the idle timer.
    fn ensure_keys<'a>(&self, keys: &'a mut Option<Unlocked>) -> Result<&'a TeamKeyring, Failure> {
        let now = Instant::now();
        let unlocked = match keys {
            Some(unlocked) => unlocked,
            None => keys.insert(Unlocked {
                keyring: local::load_or_create(&self.config.data_dir)?,
                since: now,
                last_used: now,
            }),
        };
        unlocked.last_used = now;
        Ok(&unlocked.keyring)
    }

    fn init(&self, dir: &Path) -> Outcome {
        let team = self.with_keys(|ring| ring.team())?;
        if let Some((root, file)) = project::find_root(dir) {
            if file.team == team {
                return Ok(Response::Project { root, team });
            }
            return Err(Failure(
                ErrorCode::Conflict,
                format!(
                    "{} is already bound to team {} by its .envv.json",
                    root.display(),
                    file.team
                ),
            ));
        }
        let file = ProjectFile {
            version: 1,
            team,
            binding: Binding::Local,
        };
        project::write(dir, &file)?;
        Ok(Response::Project {
            root: dir.to_path_buf(),
            team,
        })
    }

    fn locate(&self, at: &EnvRef) -> Result<Located, Failure> {
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
        Ok(Located {
            path: edit::env_path(&root, &env),
            env,
            team: file.team,
        })
    }

    /// The keyring for `team`, which in local mode must be the personal one.
    fn check_team(&self, ring: &TeamKeyring, team: Uuid) -> Result<(), Failure> {
        if ring.team() == team {
            Ok(())
        } else {
            Err(Failure(
                ErrorCode::NotFound,
                format!(
                    "this project is encrypted to team {team}, and this agent holds no key for it"
                ),
            ))
        }
    }

    /// The decrypted environment, from the cache when the file is unchanged.
    fn decrypted(&self, at: &EnvRef) -> Result<Arc<Vec<(String, Secret)>>, Failure> {
        let located = self.locate(at)?;
        let mut guard = self.inner();
        let inner = &mut *guard;
        let ring = self.ensure_keys(&mut inner.keys)?;
        self.check_team(ring, located.team)?;
        let stamp = match FileStamp::of(&located.path) {
            Ok(stamp) => stamp,
            // No file yet: an environment with no secrets.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Arc::new(Vec::new())),
            Err(e) => return Err(e.into()),
        };
        if let Some(hit) = inner.cache.get(&located.path).filter(|c| c.stamp == stamp) {
            return Ok(hit.secrets.clone());
        }
        // Any epoch the keyring holds, any generation: an older copy of the
        // file is what `git checkout` of an older branch legitimately gives.
        let opts = ReadOptions::any_epoch(located.env.clone());
        let file = edit::read(&located.path, ring, &opts)?;
        let secrets: Arc<Vec<(String, Secret)>> = Arc::new(
            file.iter()
                .map(|(name, value)| (name.as_str().to_owned(), Secret::new(value.expose())))
                .collect(),
        );
        inner.cache.insert(
            located.path,
            Cached {
                stamp,
                secrets: secrets.clone(),
            },
        );
        Ok(secrets)
    }

    fn read(&self, at: &EnvRef, only: &[String]) -> Outcome {
        let all = self.decrypted(at)?;
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
        Ok(Response::Secrets { secrets })
    }

    fn names(&self, at: &EnvRef) -> Outcome {
        let all = self.decrypted(at)?;
        Ok(Response::Names {
            names: all.iter().map(|(n, _)| n.clone()).collect(),
        })
    }

    /// A locked write through `change`, then the cache entry goes.
    fn edit(
        &self,
        at: &EnvRef,
        change: impl FnOnce(&Path, &EnvName, &TeamKeyring) -> Result<(), EnvFileError>,
    ) -> Outcome {
        self.edit_counting(at, |path, env, ring| change(path, env, ring).map(|()| 0))
            .map(|_| Response::Done)
    }

    fn edit_counting(
        &self,
        at: &EnvRef,
        change: impl FnOnce(&Path, &EnvName, &TeamKeyring) -> Result<usize, EnvFileError>,
    ) -> Result<usize, Failure> {
        let located = self.locate(at)?;
        let mut guard = self.inner();
        let inner = &mut *guard;
        let ring = self.ensure_keys(&mut inner.keys)?;
        self.check_team(ring, located.team)?;
        let count = change(&located.path, &located.env, ring)?;
        inner.cache.remove(&located.path);
        Ok(count)
    }

    fn set(&self, at: &EnvRef, name: &str, value: Secret) -> Outcome {
        let name = SecretName::new(name)?;
        let value = SecretValue::from(value.expose());
        self.edit(at, |path, env, ring| {
            edit::set(path, env, ring, name, value)
        })
    }

    fn import(&self, at: &EnvRef, text: &Secret) -> Outcome {
        let count = self.edit_counting(at, |path, env, ring| {
            dotenv::import(path, env, ring, text.expose().as_bytes())
        })?;
        Ok(Response::Imported { count })
    }
}

/// Checks the lock deadlines once a second.
pub(super) async fn lock_timer(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        agent.expire(Instant::now());
    }
}
