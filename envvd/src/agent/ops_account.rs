//! Account-mode requests: signup, login, unlock with a password, the
//! session's tokens, teams and their grants. Password derivation runs with
//! `block_in_place` (CPU work); calls to the control plane are awaited with
//! the state unlocked.

use chrono::Utc;
use envv_api::{CreateTeamRequest, LoginRequest, SignupRequest, Team, TeamKeys};
use proto_ipc::{ErrorCode, Response, Secret, TeamInfo};
use uuid::Uuid;

use super::account::{AccountFile, Session};
use super::cache::{CachedGrant, CachedTeam};
use super::control_plane::Authed;
use super::state::{Agent, Failure, Outcome, Unlocked};
use envv_core::chain::{Body, TeamChain};
use envv_core::crypto::{
    ClientKeys, EpochIdentity, Grant, KdfParams, KdfParamsExt, TeamKeyring, UserIdentity,
    WrappedIdentity, derive_keys,
};
use envv_core::project::Binding;
use envv_core::secret::Password;

pub(super) fn crypto(e: envv_core::crypto::CryptoError) -> Failure {
    match e {
        envv_core::crypto::CryptoError::WrongPassword => Failure(
            ErrorCode::NotLoggedIn,
            "wrong password: it does not open this account's key; try again".into(),
        ),
        other => Failure(ErrorCode::Crypto, other.to_string()),
    }
}

/// One password derivation at a time: each may take up to 1 GiB.
static DERIVING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// argon2id: CPU and memory for a good fraction of a second, so off the
/// runtime's worker (other connections keep being served), and one at a
/// time.
pub(super) async fn derive(password: &Secret, kdf: &KdfParams) -> Result<ClientKeys, Failure> {
    let _turn = DERIVING
        .acquire()
        .await
        .map_err(|_| Failure(ErrorCode::Internal, "key derivation is shut".into()))?;
    tokio::task::block_in_place(|| derive_keys(&Password::from(password.expose()), kdf))
        .map_err(crypto)
}

/// KDF parameters from the control plane, checked before use: a server must
/// not talk the client into weak (or endless) derivation.
fn checked_kdf(kdf: KdfParams) -> Result<KdfParams, Failure> {
    kdf.validate().map_err(crypto)?;
    Ok(kdf)
}

/// The least zxcvbn score (0 to 4) a new password needs: 3 is "safely
/// unguessable: moderate protection from offline slow-hash attacks", which
/// is what a leaked wrapped identity faces.
const MIN_PASSWORD_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Refuses a password a guesser would find soon, saying why and what helps.
pub(super) fn strong_enough(password: &Secret, email: &str, name: &str) -> Result<(), Failure> {
    let user_inputs = [email, name, "envv"];
    let estimate = zxcvbn::zxcvbn(password.expose(), &user_inputs);
    if estimate.score() >= MIN_PASSWORD_SCORE {
        return Ok(());
    }
    let mut why = String::from("this password is too easy to guess");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            why.push_str(&format!(" ({warning})"));
        }
        for tip in feedback.suggestions() {
            why.push_str(&format!("; {tip}"));
        }
    }
    why.push_str(
        ". A few unrelated words make a strong one; `--allow-weak-password` skips this check",
    );
    Err(Failure(ErrorCode::Invalid, why))
}

impl Agent {
    /// Refuses KDF parameters weaker than this client's own at signup (a
    /// server that lowers them for a new device makes the password cheaper
    /// to guess from what it stores).
    pub(super) fn at_least_signup_strength(&self, kdf: &KdfParams) -> Result<(), Failure> {
        let salt_len = kdf.validate().map_err(crypto)?.len();
        let weaker = kdf.memory_kib < self.config.kdf_memory_kib
            || kdf.iterations < self.config.kdf_iterations
            || salt_len < envv_api::KDF_SALT_LEN;
        if weaker {
            return Err(Failure(
                ErrorCode::Crypto,
                format!(
                    "the control plane asks for a weaker password derivation ({} MiB, {} passes, \
                     {salt_len}-byte salt) than this client uses at signup ({} MiB, {} passes, \
                     {}-byte salt): refused, nothing was sent. A server that lowers it makes \
                     your password cheaper to guess",
                    kdf.memory_kib / 1024,
                    kdf.iterations,
                    self.config.kdf_memory_kib / 1024,
                    self.config.kdf_iterations,
                    envv_api::KDF_SALT_LEN
                ),
            ));
        }
        Ok(())
    }
}

pub(super) fn team_info(team: &Team) -> TeamInfo {
    TeamInfo {
        id: team.id,
        name: team.name.clone(),
        role: team.role,
        current_epoch: team.current_epoch,
        rekey_required: team.rekey_required,
        max_staleness_secs: team.max_staleness_secs,
    }
}

/// Opens `team`'s keyring from its grants (or says the key is still to
/// come), accepting only epoch keys the verified chain names: a grant of a
/// key no rotation statement made is the server's, and is refused. The
/// current epoch is the chain's, whatever the server says.
pub(super) fn open_grants(
    identity: &UserIdentity,
    chain: &TeamChain,
    cached: &CachedTeam,
) -> Result<TeamKeyring, Failure> {
    let team = chain.team();
    if cached.current_epoch > chain.current_epoch() {
        return Err(Failure(
            ErrorCode::Crypto,
            format!(
                "the control plane says team {team} is at epoch {}, but its chain's newest \
                 rotation is epoch {}: no admin rotated to that key, so it is refused",
                cached.current_epoch,
                chain.current_epoch()
            ),
        ));
    }
    let mut ring: Option<TeamKeyring> = None;
    for g in &cached.grants {
        let grant = Grant::parse(&g.grant).map_err(crypto)?;
        let key = grant.open(identity, team, g.epoch).map_err(crypto)?;
        let named = chain.epoch(g.epoch).map(|e| &e.key);
        if named != Some(&key.public_key()) {
            return Err(Failure(
                ErrorCode::Crypto,
                format!(
                    "the control plane offers a key for epoch {} of team {team} that no rotation \
                     in the team chain made; refused, and nothing will be encrypted to it",
                    g.epoch
                ),
            ));
        }
        match ring.as_mut() {
            Some(r) => r.insert(key).map_err(crypto)?,
            None => ring = Some(TeamKeyring::new(key)),
        }
    }
    let mut ring = ring.ok_or_else(|| {
        Failure(
            ErrorCode::AwaitingKey,
            "waiting for an admin to grant you this team's key; an admin's unlocked agent grants it by itself".into(),
        )
    })?;
    ring.note_team_epoch(chain.current_epoch());
    Ok(ring)
}

impl Agent {
    /// What a member still waiting for `team`'s key is told: who can grant
    /// it (the admins, if the control plane lists them).
    pub(super) async fn awaiting_key(&self, team: Uuid) -> Failure {
        let members = match self.session().await {
            Ok(at) => self.reached(self.api.members(&at, team).await).ok(),
            Err(_) => None,
        };
        let names: std::collections::HashMap<Uuid, String> = members
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.user_id, m.name))
            .collect();
        // Who is an admin is the verified chain's word, not the server's.
        let admins: Vec<String> = self
            .known_chain(team)
            .map(|known| {
                known
                    .chain
                    .members()
                    .values()
                    .filter(|m| m.role >= envv_api::Role::Admin)
                    .map(|m| match names.get(&m.user) {
                        Some(name) => format!("{name} <{}>", m.email),
                        None => m.email.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let who = if admins.is_empty() {
            "an admin".to_owned()
        } else {
            format!("an admin ({})", admins.join(", "))
        };
        Failure(
            ErrorCode::AwaitingKey,
            format!(
                "waiting for an admin to grant you this team's key: ask {who} to unlock \
                 their agent, which grants it by itself, or to run `envv team grant`"
            ),
        )
    }

    fn no_account_yet(&self) -> Result<(), Failure> {
        match &self.inner().account {
            Some(account) => Err(logged_in_as(account)),
            None => Ok(()),
        }
    }

    pub(super) async fn signup(
        &self,
        server: String,
        email: String,
        name: String,
        password: &Secret,
        allow_weak_password: bool,
    ) -> Outcome {
        self.no_account_yet()?;
        if !allow_weak_password {
            strong_enough(password, &email, &name)?;
        }
        let kdf =
            KdfParams::generate_with(self.config.kdf_memory_kib, self.config.kdf_iterations, 1);
        let keys = derive(password, &kdf).await?;
        let identity = UserIdentity::generate();
        let wrapped = identity.wrap(&keys.wrap_key);
        let body = SignupRequest {
            email,
            name,
            auth_key: keys.auth_key.to_base64().into(),
            identity_public_key: identity.public_key().as_str().to_owned(),
            signing_public_key: identity.verifying_key().to_hex(),
            wrapped_identity: wrapped.as_str().to_owned(),
            kdf: kdf.clone(),
        };
        let session = self.reached(self.api.signup(&server, &body).await)?;
        self.start(server, session, kdf, identity)
    }

    pub(super) async fn login(&self, server: String, email: String, password: &Secret) -> Outcome {
        self.no_account_yet()?;
        let pre = self.reached(self.api.prelogin(&server, &email).await)?;
        let kdf = checked_kdf(pre.kdf)?;
        self.at_least_signup_strength(&kdf)?;
        let keys = derive(password, &kdf).await?;
        let body = LoginRequest {
            email,
            auth_key: keys.auth_key.to_base64().into(),
        };
        let session = self.reached(self.api.login(&server, &body).await)?;
        let wrapped = WrappedIdentity::parse(&session.wrapped_identity).map_err(crypto)?;
        let identity = wrapped.unwrap(&keys.wrap_key).map_err(crypto)?;
        self.start(server, session, kdf, identity)
    }

    /// Saves the account and holds the unlocked identity and tokens.
    fn start(
        &self,
        server: String,
        session: envv_api::Session,
        kdf: KdfParams,
        identity: UserIdentity,
    ) -> Outcome {
        let account = AccountFile {
            version: 1,
            server,
            user_id: session.user.id,
            email: session.user.email.clone(),
            name: session.user.name.clone(),
            kdf,
            wrapped_identity: session.wrapped_identity.clone(),
        };
        let described = account.describe();
        let mut inner = self.inner();
        // Two logins at once: the first one in keeps the machine.
        if let Some(first) = &inner.account {
            return Err(logged_in_as(first));
        }
        account.save(&self.config.data_dir)?;
        inner.account = Some(account);
        inner.session = Some(Session::from_pair(session.tokens));
        inner.keys = Some(Unlocked::new(Some(identity), None, self.config.clock.now()));
        // Local mode's decrypted files are no longer this agent's to serve.
        inner.cache.clear();
        inner.generation += 1;
        drop(inner);
        self.emit(proto_ipc::Event::Unlocked);
        Ok(Response::Account(described))
    }

    pub(super) async fn logout(&self) -> Outcome {
        let (account, session) = {
            let mut inner = self.inner();
            (inner.account.take(), inner.session.take())
        };
        self.lock();
        let Some(account) = account else {
            return Ok(Response::NoAccount);
        };
        if let Some(session) = session {
            // Best effort: offline, the session simply expires on the server.
            let ended = self.api.logout(&account.server, &session.refresh).await;
            if let Err(Failure(_, why)) = self.reached(ended) {
                tracing::info!(reason = why, "could not end the session on the server");
            }
        }
        AccountFile::remove(&self.config.data_dir)?;
        Ok(Response::Done)
    }

    /// The password unwraps the identity on this machine, which is all an
    /// unlock needs: the control plane's answer to the login that follows
    /// only decides whether the session is renewed. Unreachable, or
    /// refusing for a while (too many wrong passwords from elsewhere), the
    /// agent keeps the session it had and logs in by itself later.
    pub(super) async fn unlock_account(&self, password: &Secret) -> Result<(), Failure> {
        let (account, generation) = {
            let inner = self.inner();
            let account = inner.account.clone().ok_or_else(|| {
                Failure(
                    ErrorCode::NotLoggedIn,
                    "no account; run `envv auth login`".into(),
                )
            })?;
            (account, inner.generation)
        };
        let keys = derive(password, &account.kdf).await?;
        let wrapped = WrappedIdentity::parse(&account.wrapped_identity).map_err(crypto)?;
        let identity = match wrapped.unwrap(&keys.wrap_key) {
            Ok(identity) => identity,
            // Perhaps the password changed on another machine.
            Err(envv_core::crypto::CryptoError::WrongPassword) => {
                return self.unlock_changed(&account, password, generation).await;
            }
            Err(e) => return Err(crypto(e)),
        };
        let body = LoginRequest {
            email: account.email.clone(),
            auth_key: keys.auth_key.to_base64().into(),
        };
        let (session, retry) = match self.reached(self.api.login(&account.server, &body).await) {
            Ok(session) => (Some(Session::from_pair(session.tokens)), None),
            // The password no longer logs in (changed on another machine):
            // trying again would only count as a failure.
            Err(Failure(ErrorCode::NotLoggedIn, why)) => {
                tracing::warn!(
                    reason = why,
                    "unlocked; the control plane refused the login"
                );
                (None, None)
            }
            Err(Failure(code, why)) => {
                tracing::info!(?code, reason = why, "unlocked; the session was not renewed");
                (None, Some(body))
            }
        };
        let mut inner = self.inner();
        // A lock or logout that came in while the login was under way wins.
        if inner.generation != generation {
            return Err(Failure::locked_meanwhile());
        }
        let renewed = session.is_some();
        if renewed {
            inner.session = session;
        }
        let mut unlocked = Unlocked::new(Some(identity), None, self.config.clock.now());
        // Owed, in case the session kept (if any) can't be refreshed.
        if !renewed {
            unlocked.login = retry;
        }
        inner.keys = Some(unlocked);
        inner.generation += 1;
        Ok(())
    }

    /// The control plane's address and a valid access token: refreshed
    /// first if it is about to expire, or logged in first if the agent was
    /// unlocked without a session.
    pub(super) async fn session(&self) -> Result<Authed, Failure> {
        let needs_login = || {
            Failure(
                ErrorCode::Locked,
                "the session with the control plane has ended; run `envv unlock` (with the new \
                 password, if it was changed on another machine)"
                    .into(),
            )
        };
        enum Renew {
            Refresh(envv_api::SecretString),
            Login(LoginRequest),
        }
        // One refresh at a time; a request that waited here finds the
        // session already renewed.
        let mut gate = None;
        loop {
            let (server, renew, generation) = {
                let inner = self.inner();
                let account = inner.account.as_ref().ok_or_else(Failure::no_account)?;
                let Some(keys) = inner.keys.as_ref() else {
                    return Err(Failure::locked());
                };
                let renew = match (&inner.session, &keys.login) {
                    (Some(current), _) if current.fresh() => {
                        return Ok(Authed {
                            server: account.server.clone(),
                            token: current.access.clone(),
                        });
                    }
                    (Some(current), _) => Renew::Refresh(current.refresh.clone()),
                    (None, Some(login)) => Renew::Login(login.clone()),
                    (None, None) => return Err(needs_login()),
                };
                (account.server.clone(), renew, inner.generation)
            };
            if gate.is_none() {
                gate = Some(self.refreshing.lock().await);
                continue;
            }
            let refresh = match renew {
                Renew::Refresh(refresh) => refresh,
                Renew::Login(body) => return self.log_in_again(server, &body, generation).await,
            };
            let pair = match self.reached(self.api.refresh(&server, &refresh).await) {
                Ok(pair) => pair,
                Err(Failure(ErrorCode::NotLoggedIn, _)) => {
                    let mut inner = self.inner();
                    let can_log_in = inner.keys.as_ref().is_some_and(|k| k.login.is_some());
                    if !can_log_in {
                        return Err(needs_login());
                    }
                    // Spent or expired: the login owed since the unlock
                    // replaces it.
                    if inner
                        .session
                        .as_ref()
                        .is_some_and(|s| s.refresh.expose() == refresh.expose())
                    {
                        inner.session = None;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let renewed = Session::from_pair(pair);
            let token = renewed.access.clone();
            let mut inner = self.inner();
            // The spent refresh token is worthless: keep the new one unless
            // a logout or another login replaced the session meanwhile.
            if inner
                .session
                .as_ref()
                .is_some_and(|s| s.refresh.expose() == refresh.expose())
            {
                inner.session = Some(renewed);
                // Renewed: no login is owed any more.
                if let Some(keys) = inner.keys.as_mut() {
                    keys.login = None;
                }
            }
            return Ok(Authed { server, token });
        }
    }

    /// The login owed since an unlock without a session (called with the
    /// refresh gate held). Kept only if nothing locked the agent meanwhile.
    async fn log_in_again(
        &self,
        server: String,
        body: &LoginRequest,
        generation: u64,
    ) -> Result<Authed, Failure> {
        match self.reached(self.api.login(&server, body).await) {
            Ok(session) => {
                let renewed = Session::from_pair(session.tokens);
                let token = renewed.access.clone();
                let mut inner = self.inner();
                if inner.generation != generation {
                    return Err(Failure::locked_meanwhile());
                }
                inner.session = Some(renewed);
                if let Some(keys) = inner.keys.as_mut() {
                    keys.login = None;
                }
                drop(inner);
                tracing::info!("reconnected: logged in to the control plane again");
                Ok(Authed { server, token })
            }
            Err(Failure(ErrorCode::NotLoggedIn, _)) => {
                let mut inner = self.inner();
                if inner.generation == generation
                    && let Some(keys) = inner.keys.as_mut()
                {
                    keys.login = None;
                }
                Err(Failure(
                    ErrorCode::NotLoggedIn,
                    "the control plane no longer takes this password (was it changed on \
                     another machine?); run `envv auth logout`, then `envv auth login`"
                        .into(),
                ))
            }
            Err(Failure(ErrorCode::Offline, why)) => Err(Failure(
                ErrorCode::Offline,
                format!("{why}; the agent logs in by itself once it answers"),
            )),
            // Refusing logins for a while (429: wrong passwords typed
            // somewhere else): for this machine, as good as unreachable, so
            // reads fall back on the cached keys within their bound.
            Err(Failure(ErrorCode::RateLimited, why)) => Err(Failure(
                ErrorCode::Offline,
                format!(
                    "the control plane refuses logins to this account for now ({why}); \
                         the agent logs in by itself later"
                ),
            )),
            Err(other) => Err(other),
        }
    }

    pub(super) async fn create_team(&self, name: String) -> Outcome {
        self.name_is_free(&name).await?;
        let id = Uuid::new_v4();
        let epoch = EpochIdentity::generate(id, 1);
        let generation = self.generation();
        let at = self.session().await?;
        let (grant, genesis) = {
            let inner = self.inner();
            let (me, email) = inner
                .account
                .as_ref()
                .map(|a| (a.user_id, a.email.clone()))
                .ok_or_else(Failure::no_account)?;
            let identity = inner
                .keys
                .as_ref()
                .and_then(|k| k.identity.as_ref())
                .ok_or_else(Failure::locked)?;
            let grant = epoch.grant_to(&identity.public_key()).map_err(crypto)?;
            let genesis = envv_core::chain::Draft {
                team: id,
                seq: 1,
                prev: envv_core::chain::Hash::ZERO,
                by: me,
                at: Utc::now().timestamp(),
                body: Body::Create {
                    email,
                    age: identity.public_key(),
                    signing: identity.verifying_key(),
                    epoch_key: epoch.public_key(),
                },
            }
            .sign(identity.signing_key());
            (grant, genesis)
        };
        let body = CreateTeamRequest {
            id,
            name,
            epoch_public_key: epoch.public_key().as_str().to_owned(),
            creator_grant: grant.as_str().to_owned(),
            statement: genesis.as_str().to_owned(),
        };
        let team = self.reached(self.api.create_team(&at, &body).await)?;
        let chain = TeamChain::verify(std::slice::from_ref(&genesis))
            .map_err(|e| super::chain::refused(id, &e))?;
        self.keep_chain(
            id,
            &super::chain::Known {
                chain,
                texts: vec![genesis.as_str().to_owned()],
            },
        );
        let cached = CachedTeam {
            fetched_at: Utc::now(),
            current_epoch: 1,
            max_staleness_secs: Some(u64::from(team.max_staleness_secs)),
            grants: vec![CachedGrant {
                epoch: 1,
                grant: grant.as_str().to_owned(),
            }],
        };
        if let Err(e) = cached.save(&self.config.data_dir, id) {
            tracing::warn!(error = %e, "could not cache the team's grant for offline use");
        }
        self.replace_team_keyring(id, TeamKeyring::new(epoch), generation);
        Ok(Response::Team(team_info(&team)))
    }

    /// Two of one's teams with one name make `--team NAME` ambiguous.
    async fn name_is_free(&self, name: &str) -> Result<(), Failure> {
        let at = self.session().await?;
        let teams = self.reached(self.api.teams(&at).await)?;
        match teams
            .iter()
            .find(|t| t.name.trim().eq_ignore_ascii_case(name.trim()))
        {
            Some(taken) => Err(Failure(
                ErrorCode::Conflict,
                format!(
                    "you are already in a team named {:?} ({}); pick another name, or \
                     `envv team switch {}` to use that one",
                    taken.name, taken.id, taken.id
                ),
            )),
            None => Ok(()),
        }
    }

    pub(super) async fn rename_team(&self, team: Uuid, name: String) -> Outcome {
        self.name_is_free(&name).await?;
        let at = self.session().await?;
        let body = envv_api::RenameTeamRequest { name };
        let renamed = self.reached(self.api.rename_team(&at, team, &body).await)?;
        Ok(Response::Team(team_info(&renamed)))
    }

    /// Deletes the team on the control plane, then what this machine kept
    /// of it (its verified chain, its cached grants, its keyring).
    pub(super) async fn delete_team(&self, team: Uuid) -> Outcome {
        let at = self.session().await?;
        self.reached(self.api.delete_team(&at, team).await)?;
        self.forget_team(team);
        Ok(Response::Done)
    }

    pub(super) async fn list_teams(&self) -> Outcome {
        let at = self.session().await?;
        let teams = self.reached(self.api.teams(&at).await)?;
        Ok(Response::Teams {
            teams: teams.iter().map(team_info).collect(),
        })
    }

    /// What `init` binds a directory to: the named team (account mode), the
    /// only team if there is one, or the personal key with no account.
    pub(super) async fn binding_for(&self, team: Option<Uuid>) -> Result<(Uuid, Binding), Failure> {
        let server = self.inner().account.as_ref().map(|a| a.server.clone());
        let Some(server) = server else {
            if team.is_some() {
                return Err(Failure(
                    ErrorCode::NotLoggedIn,
                    "binding to a team needs an account; run `envv auth login`".into(),
                ));
            }
            let team = self.personal_team()?;
            return Ok((team, Binding::Local));
        };
        let Response::Teams { teams } = self.list_teams().await? else {
            return Err(Failure(ErrorCode::Internal, "listing teams failed".into()));
        };
        let chosen = match team {
            Some(id) => teams.iter().find(|t| t.id == id).ok_or_else(|| {
                Failure(
                    ErrorCode::Forbidden,
                    format!("you are not in team {id}; `envv team list` shows yours"),
                )
            })?,
            None => match teams.as_slice() {
                [only] => only,
                [] => {
                    return Err(Failure(
                        ErrorCode::NotFound,
                        "you are in no team yet; run `envv team create NAME`".into(),
                    ));
                }
                _ => {
                    return Err(Failure(
                        ErrorCode::Invalid,
                        "you are in several teams; name one with `envv init --team ID`".into(),
                    ));
                }
            },
        };
        Ok((chosen.id, Binding::Team { server }))
    }

    /// The caller's grants for `team`: fetched (and cached for offline
    /// use), or from the cache while the control plane is unreachable.
    pub(super) async fn team_grants(&self, team: Uuid) -> Result<CachedTeam, Failure> {
        let fetched = match self.session().await {
            Ok(at) => self.reached(self.api.keys(&at, team).await),
            Err(e) => Err(e),
        };
        match fetched {
            Ok(fetched) => {
                let cached = cached_from(&fetched);
                if let Err(e) = cached.save(&self.config.data_dir, team) {
                    tracing::warn!(error = %e, "could not cache the team's grants for offline use");
                }
                Ok(cached)
            }
            Err(Failure(ErrorCode::Offline, why)) => self.cached_team(team, &why),
            Err(Failure(ErrorCode::NotFound, _)) => Err(Failure(
                ErrorCode::Forbidden,
                format!(
                    "you are not a member of team {team}: removed from it, or never added; \
                     `envv team list` shows your teams"
                ),
            )),
            Err(other) => Err(other),
        }
    }

    /// The cached grants while the control plane is unreachable, if they
    /// are not older than the staleness limit; else a fail-closed error.
    fn cached_team(&self, team: Uuid, why: &str) -> Result<CachedTeam, Failure> {
        let cached = CachedTeam::load(&self.config.data_dir, team).ok_or_else(|| {
            Failure(
                ErrorCode::Offline,
                format!("{why}, and this machine has no cached key for team {team}"),
            )
        })?;
        let age = Utc::now().signed_duration_since(cached.fetched_at);
        // The team's setting, or this agent's if stricter.
        let bound = cached
            .max_staleness_secs
            .map(std::time::Duration::from_secs)
            .map_or(self.config.max_staleness, |team| {
                team.min(self.config.max_staleness)
            });
        let limit = chrono::Duration::from_std(bound).unwrap_or(chrono::Duration::MAX);
        if age > limit {
            return Err(Failure(
                ErrorCode::Offline,
                format!(
                    "{why} since at least {}; cached keys older than {} are not used; reconnect and run `envv unlock`",
                    cached.fetched_at.to_rfc3339(),
                    human(bound)
                ),
            ));
        }
        Ok(cached)
    }
}

fn logged_in_as(account: &AccountFile) -> Failure {
    Failure(
        ErrorCode::Conflict,
        format!(
            "this machine is logged in as {}; run `envv auth logout` first",
            account.email
        ),
    )
}

fn cached_from(fetched: &TeamKeys) -> CachedTeam {
    CachedTeam {
        fetched_at: Utc::now(),
        current_epoch: u64::from(fetched.current_epoch),
        max_staleness_secs: Some(u64::from(fetched.max_staleness_secs)),
        grants: fetched
            .grants
            .iter()
            .map(|g| CachedGrant {
                epoch: u64::from(g.epoch),
                grant: g.grant.clone(),
            })
            .collect(),
    }
}

/// `72 hours`, `90 minutes`, `5 seconds`: a bound in a sentence.
fn human(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {unit}{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strength_check_refuses_guessable_passwords_and_says_why() {
        for weak in ["password123", "ada@example.com1", "qwertyuiop", "envv2026"] {
            let Err(Failure(code, why)) =
                strong_enough(&Secret::new(weak), "ada@example.com", "Ada")
            else {
                panic!("{weak} was accepted");
            };
            assert_eq!(code, ErrorCode::Invalid);
            assert!(why.contains("too easy to guess"), "{why}");
            assert!(why.contains("--allow-weak-password"), "{why}");
            assert!(!why.contains(weak), "the message repeats the password");
        }
        strong_enough(
            &Secret::new("correct horse battery staple"),
            "ada@example.com",
            "Ada",
        )
        .expect("four random words are strong enough");
    }
}
