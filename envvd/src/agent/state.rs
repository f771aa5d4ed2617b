//! The one owner of the agent's keys and caches. Every request goes through
//! [`Agent::handle`]; the lock timer calls [`Agent::expire`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use proto_ipc::{AgentStatus, ErrorCode, Event, Mode, PROTOCOL_VERSION, Request, Response, Secret};
use uuid::Uuid;

use super::account::{AccountFile, Api, Session};
use super::known::KnownProjects;
use super::ops_files::Cached;
use super::pins::Pins;
use super::spool::Spool;
use super::watch::Watch;
use super::{AgentConfig, local};
use crate::crypto::{TeamKeyring, UserIdentity};
use crate::envfile::EnvFileError;

pub(super) struct Agent {
    pub(super) config: AgentConfig,
    inner: Mutex<Inner>,
    stop: tokio::sync::Notify,
    pub(super) api: Api,
    pub(super) spool: Spool,
    /// For dashboards subscribed to what happens.
    events: tokio::sync::broadcast::Sender<Event>,
    /// Whether the last call to the control plane got through.
    online: std::sync::atomic::AtomicBool,
    /// When one last did.
    last_sync: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// Project roots seen, for the dashboard.
    projects: Mutex<KnownProjects>,
    /// Members' identity keys as first seen or verified.
    pins: Mutex<Pins>,
    /// Directories of cached files, watched for changes.
    watch: Mutex<Watch>,
}

#[derive(Default)]
pub(super) struct Inner {
    /// The account on disk, if this user has one (else local mode).
    pub(super) account: Option<AccountFile>,
    pub(super) session: Option<Session>,
    pub(super) keys: Option<Unlocked>,
    /// Decrypted environments, valid while the file on disk is unchanged.
    pub(super) cache: HashMap<PathBuf, Cached>,
}

pub(super) struct Unlocked {
    /// Account mode: the user's identity, which opens team grants.
    pub(super) identity: Option<UserIdentity>,
    /// Local mode: the personal key.
    pub(super) personal: Option<TeamKeyring>,
    /// Account mode: team keyrings opened so far.
    pub(super) teams: HashMap<Uuid, TeamKeyring>,
    pub(super) since: Instant,
    pub(super) last_used: Instant,
}

impl Unlocked {
    pub(super) fn new(identity: Option<UserIdentity>, personal: Option<TeamKeyring>) -> Unlocked {
        let now = Instant::now();
        Unlocked {
            identity,
            personal,
            teams: HashMap::new(),
            since: now,
            last_used: now,
        }
    }
}

/// A failed request: the code a client acts on and a sentence for the user
/// (which never holds a secret, so it may be debug-printed).
#[derive(Debug)]
pub(super) struct Failure(pub(super) ErrorCode, pub(super) String);

impl From<EnvFileError> for Failure {
    fn from(e: EnvFileError) -> Self {
        let code = match &e {
            EnvFileError::NotFound { .. } => ErrorCode::NotFound,
            EnvFileError::InvalidName { .. }
            | EnvFileError::InvalidEnvName { .. }
            | EnvFileError::InvalidValue { .. }
            | EnvFileError::Dotenv(_)
            | EnvFileError::NotAShellName { .. }
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

pub(super) type Outcome = Result<Response, Failure>;

impl Agent {
    /// `changed` hears of every file that changes where a cached one lives
    /// (the caller hands those to [`Agent::forget_file`]).
    pub(super) fn new(config: AgentConfig, changed: std::sync::mpsc::Sender<PathBuf>) -> Agent {
        let account = match AccountFile::load(&config.data_dir) {
            Ok(account) => account,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the account file; starting without an account");
                None
            }
        };
        let spool = Spool::new(&config.data_dir);
        let projects = Mutex::new(KnownProjects::load(&config.data_dir));
        let pins = Mutex::new(Pins::load(&config.data_dir));
        Agent {
            config,
            inner: Mutex::new(Inner {
                account,
                ..Inner::default()
            }),
            stop: tokio::sync::Notify::new(),
            api: Api::new(),
            spool,
            events: tokio::sync::broadcast::channel(256).0,
            online: std::sync::atomic::AtomicBool::new(true),
            last_sync: Mutex::new(None),
            projects,
            pins,
            watch: Mutex::new(Watch::new(changed)),
        }
    }

    pub(super) fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not wedge the agent: the state stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves when a client asked the agent to stop.
    pub(super) async fn stopped(&self) {
        self.stop.notified().await;
    }

    /// A stream of what happens from now on.
    pub(super) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Tells subscribers; nobody listening is fine.
    pub(super) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Notes whether a call to the control plane got through, telling
    /// subscribers when that changes.
    pub(super) fn note_reachability<T>(&self, result: &Result<T, Failure>) {
        use std::sync::atomic::Ordering;
        match result {
            Err(Failure(ErrorCode::Offline, why)) => {
                if self.online.swap(false, Ordering::Relaxed) {
                    self.emit(Event::Offline { why: why.clone() });
                }
            }
            Ok(_) => {
                *self.last_sync.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(chrono::Utc::now());
                if !self.online.swap(true, Ordering::Relaxed) {
                    self.emit(Event::Online);
                }
            }
            Err(_) => {}
        }
    }

    pub(super) fn known_projects(&self) -> MutexGuard<'_, KnownProjects> {
        self.projects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the decrypted copy of a file that changed on disk.
    pub(super) fn forget_file(&self, path: &std::path::Path) {
        if self.inner().cache.remove(path).is_some() {
            tracing::debug!(path = %path.display(), "a cached file changed; dropped its values");
        }
    }

    /// Watches a cached file for changes.
    pub(super) fn watch_file(&self, path: &std::path::Path) {
        self.watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .file(path);
    }

    /// Nothing decrypted is held any more: no file needs watching.
    fn unwatch_all(&self) {
        self.watch.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub(super) fn pins(&self) -> MutexGuard<'_, Pins> {
        self.pins.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers a project root for the dashboard.
    pub(super) fn note_project(&self, root: &std::path::Path) {
        self.known_projects().note(root);
    }

    /// Makes [`Agent::stopped`] resolve.
    pub(super) fn request_stop(&self) {
        self.stop.notify_one();
    }

    /// Forgets every key and decrypted value (they zeroise on drop).
    pub(super) fn lock(&self) {
        let mut inner = self.inner();
        let was_unlocked = inner.keys.take().is_some();
        inner.cache.clear();
        drop(inner);
        self.unwatch_all();
        if was_unlocked {
            self.emit(Event::Locked);
        }
    }

    /// Locks if the idle or the absolute time is up.
    ///
    /// Runs on the runtime, so it never waits for the lock: a request may
    /// hold it across a call to the control plane whose I/O needs this very
    /// worker thread. A busy agent is in use anyway; the next tick checks.
    pub(super) fn expire(&self, now: Instant) {
        let mut inner = match self.inner.try_lock() {
            Ok(inner) => inner,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        let due = inner.keys.as_ref().is_some_and(|k| {
            now.duration_since(k.last_used) >= self.config.idle_lock
                || now.duration_since(k.since) >= self.config.max_unlock
        });
        if due {
            tracing::info!("locking: the idle or absolute time is up");
            inner.keys = None;
            inner.cache.clear();
            drop(inner);
            self.unwatch_all();
            self.emit(Event::Locked);
        }
    }

    pub(super) fn handle(&self, request: Request) -> Response {
        let outcome = match request {
            Request::Status => Ok(Response::Status(self.status())),
            Request::Signup {
                server,
                email,
                name,
                password,
            } => self.signup(server, email, name, &password),
            Request::Login {
                server,
                email,
                password,
            } => self.login(server, email, &password),
            Request::Logout => self.logout(),
            Request::Whoami => Ok(self
                .inner()
                .account
                .as_ref()
                .map_or(Response::NoAccount, |a| Response::Account(a.describe()))),
            Request::CreateTeam { name } => self.create_team(name),
            Request::ListTeams => self.list_teams(),
            Request::Members { team } => self.members(team),
            Request::Invite { team, email, role } => self.invite(team, email, &role),
            Request::Join { code } => self.join(&code),
            Request::AdmitPending { team } => self.admit_pending(team),
            Request::SetRole { team, user, role } => self.set_role(team, user, &role),
            Request::SetTeamSettings {
                team,
                max_staleness_secs,
            } => self.set_team_settings(team, max_staleness_secs),
            Request::RemoveMember { team, user } => self.remove_member(team, user),
            Request::Rotate { team, dirs } => self.rotate(team, &dirs),
            Request::Audit { team, filter } => self.audit(team, &filter),
            Request::AuditVerify { team } => self.audit_verify(team),
            Request::SyncAudit => self.sync_audit(),
            Request::Usage { team } => self.usage(team),
            Request::SetBilling {
                team,
                plan,
                billing_email,
            } => self.set_billing(team, plan, billing_email),
            Request::Lock => {
                self.lock();
                Ok(Response::Done)
            }
            Request::Unlock { password } => self.unlock(password.as_ref()).map(|()| {
                self.emit(Event::Unlocked);
                Response::Done
            }),
            // The connection turns into an event stream after this answer.
            Request::Subscribe => Ok(Response::Done),
            Request::Projects { here } => self.projects(here.as_deref()),
            Request::Init { dir, team } => self.init(&dir, team),
            Request::Read { at, only, purpose } => self.read(&at, &only, purpose),
            Request::Names { at } => self.names(&at),
            Request::Export { at, format } => self.export(&at, format),
            Request::Set { at, name, value } => self.set(&at, &name, value),
            Request::Unset { at, name } => self.unset(&at, &name),
            Request::Import {
                at,
                dotenv,
                env,
                options,
            } => self.import(&at, &dotenv, env, options),
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
            mode: if inner.account.is_some() {
                Mode::Account
            } else {
                Mode::Local
            },
            account: inner.account.as_ref().map(AccountFile::describe),
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
            online: inner.account.is_none()
                || self.online.load(std::sync::atomic::Ordering::Relaxed),
            last_sync: self
                .last_sync
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }

    /// Local mode: loads the personal key. Account mode: the password
    /// unwraps the identity (no server needed), then a login refreshes the
    /// session if the control plane answers.
    fn unlock(&self, password: Option<&Secret>) -> Result<(), Failure> {
        let has_account = self.inner().account.is_some();
        if !has_account {
            return self.with_keys(|_| ());
        }
        let password = password.ok_or_else(|| {
            Failure(
                ErrorCode::Invalid,
                "unlocking an account needs its password".into(),
            )
        })?;
        self.unlock_account(password)
    }

    /// Runs `f` with the keys, loading the personal key if locked in local
    /// mode (it needs no password); in account mode locked is an error.
    fn with_keys<R>(&self, f: impl FnOnce(&mut Unlocked) -> R) -> Result<R, Failure> {
        let mut guard = self.inner();
        let inner = &mut *guard;
        Ok(f(
            self.ensure_keys(inner.account.is_some(), &mut inner.keys)?
        ))
    }

    /// The unlocked keys; counts as use for the idle timer.
    fn ensure_keys<'a>(
        &self,
        has_account: bool,
        keys: &'a mut Option<Unlocked>,
    ) -> Result<&'a mut Unlocked, Failure> {
        let unlocked = match keys {
            Some(unlocked) => unlocked,
            None if has_account => {
                return Err(Failure(
                    ErrorCode::Locked,
                    "the agent is locked; run `envv unlock`".into(),
                ));
            }
            None => keys.insert(Unlocked::new(
                None,
                Some(local::load_or_create(&self.config.data_dir)?),
            )),
        };
        unlocked.last_used = Instant::now();
        Ok(unlocked)
    }

    /// The keyring for `team`: the personal one in local mode; in account
    /// mode the team's, opened from its grants on first use.
    pub(super) fn keyring<'a>(
        &self,
        inner: &'a mut Inner,
        team: Uuid,
    ) -> Result<&'a TeamKeyring, Failure> {
        let Inner {
            account,
            session,
            keys,
            ..
        } = inner;
        let account = account.as_ref();
        let keys = self.ensure_keys(account.is_some(), keys)?;
        let personal = keys.personal.as_ref().is_some_and(|p| p.team() == team);
        if !personal && !keys.teams.contains_key(&team) {
            if account.is_none() {
                return Err(Failure(
                    ErrorCode::NotFound,
                    format!(
                        "this project is encrypted to team {team}; log in to an account that is in it"
                    ),
                ));
            }
            let ring = self.open_team(session, account, keys, team)?;
            keys.teams.insert(team, ring);
        }
        let ring = if personal {
            keys.personal.as_ref()
        } else {
            keys.teams.get(&team)
        };
        ring.ok_or_else(|| Failure(ErrorCode::Internal, "the team's keys went missing".into()))
    }

    /// A copy of `team`'s keyring (opened from the server's grants if new).
    pub(super) fn team_keyring(&self, team: Uuid) -> Result<TeamKeyring, Failure> {
        self.keyring(&mut self.inner(), team).cloned()
    }

    /// After a rotation: the new keyring, and no decrypted file of the old epoch.
    pub(super) fn replace_team_keyring(&self, team: Uuid, ring: TeamKeyring) {
        let mut inner = self.inner();
        if let Some(keys) = inner.keys.as_mut() {
            keys.teams.insert(team, ring);
        }
        inner.cache.clear();
    }

    /// The personal key's team (local mode), loading it if needed.
    pub(super) fn personal_team(&self) -> Result<Uuid, Failure> {
        self.with_keys(|keys| keys.personal.as_ref().map(TeamKeyring::team))?
            .ok_or_else(|| Failure(ErrorCode::Internal, "no personal key".into()))
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
