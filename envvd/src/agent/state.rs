//! The one owner of the agent's keys and caches. Every request goes through
//! [`Agent::handle`]; the lock timer calls [`Agent::expire`].
//!
//! `inner` is a plain mutex, held only for work in memory: never across a
//! call to the control plane, a password derivation or a file's
//! decryption. A request copies out what a call needs, releases the lock,
//! awaits the call, then commits the answer only if
//! [`Inner::generation`] shows that no lock, unlock or logout came in
//! between (else the answer is dropped). So a warm read never waits on the
//! network, and `envv lock` and the lock timer always get in at once, even
//! while a call to a hung server is in flight.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use proto_ipc::{AgentStatus, ErrorCode, Event, Mode, PROTOCOL_VERSION, Request, Response, Secret};
use uuid::Uuid;

use super::AgentConfig;
use super::account::{AccountFile, Session};
use super::chain::Known;
use super::control_plane::ControlPlane;
pub(super) use super::failure::{Failure, Outcome};
use super::known::KnownProjects;
use super::ops_files::Cached;
use super::spool::Spool;
use super::watch::Watch;
use envv_core::crypto::fingerprint;
use envv_core::crypto::{TeamKeyring, UserIdentity};

pub(super) struct Agent {
    pub(super) config: AgentConfig,
    inner: Mutex<Inner>,
    stop: tokio::sync::Notify,
    pub(super) api: ControlPlane,
    pub(super) spool: Arc<Spool>,
    /// For dashboards subscribed to what happens.
    events: tokio::sync::broadcast::Sender<Event>,
    /// Whether the last call to the control plane got through.
    pub(super) online: std::sync::atomic::AtomicBool,
    /// When one last did.
    last_sync: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// Project roots seen, for the dashboard.
    projects: Mutex<KnownProjects>,
    /// Each team's chain as this machine verified it (see `chain.rs`).
    chains: Mutex<HashMap<Uuid, Known>>,
    /// Directories of cached files, watched for changes.
    watch: Mutex<Watch>,
    /// One refresh of the session at a time: a refresh token is single use,
    /// and the server revokes the whole session when one is spent twice.
    pub(super) refreshing: tokio::sync::Mutex<()>,
    /// One admission round at a time (a person's `envv team grant` and the
    /// admitter's), so a newcomer is granted once, not twice in a race.
    pub(super) admitting: tokio::sync::Mutex<()>,
    /// When this agent last tried to checkpoint each team's audit trail on
    /// its own (unix seconds), so a trail that fails is not re-fetched
    /// every tick.
    pub(super) checkpoint_tried: Mutex<HashMap<Uuid, i64>>,
}

#[derive(Default)]
pub(super) struct Inner {
    /// The account on disk, if this user has one (else local mode).
    pub(super) account: Option<AccountFile>,
    pub(super) session: Option<Session>,
    pub(super) keys: Option<Unlocked>,
    /// Decrypted environments, valid while the file on disk is unchanged.
    pub(super) cache: HashMap<PathBuf, Cached>,
    /// Moves on every lock, unlock, login and logout. Work that awaited the
    /// network commits only if it still reads what it read before.
    pub(super) generation: u64,
}

pub(super) struct Unlocked {
    /// Account mode: the user's identity, which opens team grants.
    pub(super) identity: Option<UserIdentity>,
    /// Local mode: the personal key.
    pub(super) personal: Option<Arc<TeamKeyring>>,
    /// Account mode: team keyrings opened so far. Shared with requests in
    /// flight, which drop theirs when done; locking drops these.
    pub(super) teams: HashMap<Uuid, Arc<TeamKeyring>>,
    /// Account mode, unlocked without a new session (the control plane
    /// was unreachable or refused the login): the login the password gave,
    /// so the agent logs in by itself once the server answers. Its auth key
    /// zeroises on drop, with the rest of the keys.
    pub(super) login: Option<envv_api::LoginRequest>,
    /// The values of each file as last accepted, as keyed digests (the key
    /// is random and lives as long as the unlock), so `envv reseal` can say
    /// which values of a refused file differ from them.
    pub(super) accepted: Accepted,
    /// On the agent's clock (see `clock.rs`).
    pub(super) since: Duration,
    pub(super) last_used: Duration,
}

/// Keyed digests of accepted values, by file and name.
pub(super) struct Accepted {
    key: envv_core::secret::Key32,
    files: HashMap<PathBuf, std::collections::BTreeMap<String, [u8; 32]>>,
}

impl Accepted {
    fn new() -> Accepted {
        Accepted {
            key: envv_core::secret::Key32::random(),
            files: HashMap::new(),
        }
    }

    /// SHA-256(key || value): equal values give equal digests within one
    /// unlock, and nothing outside this process can compute one.
    pub(super) fn digest(&self, value: &str) -> [u8; 32] {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(self.key.expose());
        h.update(value.as_bytes());
        h.finalize().into()
    }

    pub(super) fn remember(&mut self, path: &std::path::Path, values: &[(String, Secret)]) {
        let digests = values
            .iter()
            .map(|(name, value)| (name.clone(), self.digest(value.expose())))
            .collect();
        self.files.insert(path.to_path_buf(), digests);
    }

    pub(super) fn of(
        &self,
        path: &std::path::Path,
    ) -> Option<&std::collections::BTreeMap<String, [u8; 32]>> {
        self.files.get(path)
    }
}

impl Unlocked {
    pub(super) fn new(
        identity: Option<UserIdentity>,
        personal: Option<TeamKeyring>,
        now: Duration,
    ) -> Unlocked {
        Unlocked {
            identity,
            personal: personal.map(Arc::new),
            teams: HashMap::new(),
            login: None,
            accepted: Accepted::new(),
            since: now,
            last_used: now,
        }
    }

    /// The keyring that opens `team`'s files, if it is open.
    pub(super) fn ring(&self, team: Uuid) -> Option<&Arc<TeamKeyring>> {
        match &self.personal {
            Some(personal) if personal.team() == team => Some(personal),
            _ => self.teams.get(&team),
        }
    }
}

/// Whether a request is a person using the agent's keys, which pushes the
/// idle lock back: reading or writing secrets, and the admin actions that
/// need the team key or change the team. Not metadata a dashboard polls on
/// its own (status, teams, members, the audit trail, usage), not
/// subscribing or locking, and nothing the agent does by itself
/// (admitting newcomers, shipping audit events, refreshing tokens), which
/// never comes through here.
fn counts_as_use(request: &Request) -> bool {
    matches!(
        request,
        Request::Read { .. }
            | Request::Export { .. }
            | Request::Set { .. }
            | Request::Unset { .. }
            | Request::Import { .. }
            | Request::Reseal { .. }
            | Request::Init { .. }
            | Request::MoveProject { .. }
            | Request::CreateTeam { .. }
            | Request::Invite { .. }
            | Request::RevokeInvite { .. }
            | Request::RenameTeam { .. }
            | Request::DeleteTeam { .. }
            | Request::Join { .. }
            | Request::AdmitPending { .. }
            | Request::SetRole { .. }
            | Request::SetTeamSettings { .. }
            | Request::RemoveMember { .. }
            | Request::Rotate { .. }
            | Request::SetBilling { .. }
    )
}

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
        let spool = Arc::new(Spool::new(&config.data_dir));
        let projects = Mutex::new(KnownProjects::load(&config.data_dir));
        Agent {
            config,
            inner: Mutex::new(Inner {
                account,
                ..Inner::default()
            }),
            stop: tokio::sync::Notify::new(),
            api: ControlPlane::new(),
            spool,
            events: tokio::sync::broadcast::channel(256).0,
            online: std::sync::atomic::AtomicBool::new(true),
            last_sync: Mutex::new(None),
            projects,
            chains: Mutex::new(HashMap::new()),
            watch: Mutex::new(Watch::new(changed)),
            refreshing: tokio::sync::Mutex::new(()),
            admitting: tokio::sync::Mutex::new(()),
            checkpoint_tried: Mutex::new(HashMap::new()),
        }
    }

    /// The state, for work in memory only: the guard is not `Send`, so the
    /// compiler refuses to hold it across an `.await`.
    pub(super) fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not wedge the agent: the state stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state's generation now, to compare with after awaiting.
    pub(super) fn generation(&self) -> u64 {
        self.inner().generation
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
    /// subscribers when that changes, and passes its result on.
    pub(super) fn reached<T>(&self, result: Result<T, Failure>) -> Result<T, Failure> {
        use std::sync::atomic::Ordering;
        match &result {
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
        result
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

    pub(super) fn chains(&self) -> MutexGuard<'_, HashMap<Uuid, Known>> {
        self.chains.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers a project root for the dashboard.
    pub(super) fn note_project(&self, root: &std::path::Path) {
        self.known_projects().note(root);
    }

    /// Makes [`Agent::stopped`] resolve.
    pub(super) fn request_stop(&self) {
        self.stop.notify_one();
    }

    /// Forgets every key and decrypted value (they zeroise on drop); any
    /// request still waiting on the control plane finds the generation
    /// moved and drops what it fetched.
    pub(super) fn lock(&self) {
        let mut inner = self.inner();
        let was_unlocked = inner.keys.take().is_some();
        inner.cache.clear();
        inner.generation += 1;
        drop(inner);
        self.unwatch_all();
        if was_unlocked {
            self.emit(Event::Locked);
        }
    }

    /// Locks if the idle or the absolute time is up at `now` (on the
    /// agent's clock); else, if a person is `using` the keys, starts the
    /// idle time again from `now`. One look at the state for both: every
    /// request makes it. The state is never held across I/O, so this never
    /// waits long for it.
    pub(super) fn expire(&self, now: Duration, using: bool) {
        let mut inner = self.inner();
        let Some(keys) = inner.keys.as_mut() else {
            return;
        };
        let due = now.saturating_sub(keys.last_used) >= self.config.idle_lock
            || now.saturating_sub(keys.since) >= self.config.max_unlock;
        if !due {
            if using {
                keys.last_used = now;
            }
            return;
        }
        // Decided and done under one lock: an unlock landing in between
        // must not be wiped by a decision taken before it.
        inner.keys = None;
        inner.cache.clear();
        inner.generation += 1;
        drop(inner);
        tracing::info!("locking: the idle or absolute time is up");
        self.unwatch_all();
        self.emit(Event::Locked);
    }

    pub(super) async fn handle(&self, request: Request) -> Response {
        // Deadlines first: after a suspend the timer may not have run yet.
        let now = self.config.clock.now();
        self.expire(now, counts_as_use(&request));
        let outcome = match request {
            Request::Status => Ok(Response::Status(self.status())),
            Request::Signup {
                server,
                email,
                name,
                password,
                allow_weak_password,
            } => {
                self.signup(server, email, name, &password, allow_weak_password)
                    .await
            }
            Request::Login {
                server,
                email,
                password,
            } => self.login(server, email, &password).await,
            Request::Logout => self.logout().await,
            Request::CheckServer { server } => self.check_server(&server).await,
            Request::ChangePassword { current, new } => self.change_password(&current, &new).await,
            Request::Whoami => {
                let inner = self.inner();
                let fingerprint = inner
                    .keys
                    .as_ref()
                    .and_then(|k| k.identity.as_ref())
                    .map(|id| fingerprint(&id.public_key(), &id.verifying_key()));
                Ok(inner.account.as_ref().map_or(Response::NoAccount, |a| {
                    Response::Account(proto_ipc::Account {
                        fingerprint,
                        ..a.describe()
                    })
                }))
            }
            Request::CreateTeam { name } => self.create_team(name).await,
            Request::ListTeams => self.list_teams().await,
            Request::Probe { server } => self.api.probe(&server).await.map(|()| Response::Done),
            Request::Members { team } => self.members(team).await,
            Request::Invite { team, email, role } => self.invite(team, email, role).await,
            Request::Invites { team } => self.invites(team).await,
            Request::RenameTeam { team, name } => self.rename_team(team, name).await,
            Request::DeleteTeam { team } => self.delete_team(team).await,
            Request::RevokeInvite { team, invite } => self.revoke_invite(team, invite).await,
            Request::Join { code } => self.join(&code).await,
            Request::AdmitPending { team } => self.admit_pending(team).await,
            Request::SetRole { team, user, role } => self.set_role(team, user, role).await,
            Request::SetTeamSettings {
                team,
                max_staleness_secs,
            } => self.set_team_settings(team, max_staleness_secs).await,
            Request::RemoveMember { team, user } => self.remove_member(team, user).await,
            Request::Rotate { team, dirs } => self.rotate(team, &dirs).await,
            Request::Audit { team, filter } => self.audit(team, &filter).await,
            Request::AuditVerify { team } => self.audit_verify(team).await,
            Request::Exposure { team, user, dirs } => self.exposure(team, user, &dirs).await,
            Request::SyncAudit => Ok(self.sync_audit().await),
            Request::Usage { team } => self.usage(team).await,
            Request::SetBilling {
                team,
                plan,
                billing_email,
            } => self.set_billing(team, plan, billing_email).await,
            Request::Lock => {
                self.lock();
                Ok(Response::Done)
            }
            Request::Unlock { password } => self.unlock(password.as_ref()).await.map(|()| {
                self.emit(Event::Unlocked);
                Response::Done
            }),
            // The connection turns into an event stream after this answer.
            Request::Subscribe => Ok(Response::Done),
            Request::Projects { here } => self.projects(here.as_deref()),
            Request::Init { dir, team } => self.init(&dir, team).await,
            Request::MoveProject { dir, team } => self.move_project(&dir, team).await,
            Request::Read { at, only, purpose } => self.read(&at, &only, purpose).await,
            Request::Names { at } => self.names(&at).await,
            Request::Export { at, format } => self.export(&at, format).await,
            Request::Set { at, name, value } => self.set(&at, &name, value).await,
            Request::Unset { at, name } => self.unset(&at, &name).await,
            Request::Import {
                at,
                dotenv,
                env,
                options,
            } => self.import(&at, &dotenv, env, options).await,
            Request::ResealPreview { at } => self.reseal_preview(&at).await,
            Request::Reseal { at } => self.reseal(&at).await,
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
        let now = self.config.clock.now();
        let left = |limit: Duration, from: Duration| {
            limit.saturating_sub(now.saturating_sub(from)).as_secs()
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
    async fn unlock(&self, password: Option<&Secret>) -> Result<(), Failure> {
        let has_account = self.inner().account.is_some();
        if !has_account {
            return self.ensure_keys(&mut self.inner()).map(drop);
        }
        let password = password.ok_or_else(|| {
            Failure(
                ErrorCode::Invalid,
                "unlocking an account needs its password".into(),
            )
        })?;
        self.unlock_account(password).await
    }
}

/// Checks the lock deadlines once a second, on the agent's clock (which
/// counts suspend); every request checks them too.
pub(super) async fn lock_timer(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        agent.expire(agent.config.clock.now(), false);
    }
}
