//! Account-mode requests: signup, login, unlock with a password, teams.
//! Each runs inside `block_in_place`, so it may block on the control plane.

use std::future::Future;

use chrono::Utc;
use envv_api::{LoginRequest, PreloginRequest, PreloginResponse, SignupRequest, TeamKeys};
use proto_ipc::{ErrorCode, Response, Secret, TeamInfo};
use serde_json::json;
use uuid::Uuid;

use super::account::{AccountFile, Session};
use super::cache::{CachedGrant, CachedTeam};
use super::project::Binding;
use super::state::{Agent, Failure, Outcome, Unlocked};
use crate::crypto::{
    ClientKeys, EpochIdentity, Grant, KdfParams, TeamKeyring, UserIdentity, WrappedIdentity,
    derive_keys,
};
use crate::secret::Password;

pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(future)
}

pub(super) fn crypto(e: crate::crypto::CryptoError) -> Failure {
    match e {
        crate::crypto::CryptoError::WrongPassword => {
            Failure(ErrorCode::Invalid, "wrong password".into())
        }
        other => Failure(ErrorCode::Crypto, other.to_string()),
    }
}

fn derive(password: &Secret, kdf: &KdfParams) -> Result<ClientKeys, Failure> {
    derive_keys(&Password::from(password.expose()), kdf).map_err(crypto)
}

fn to_api_kdf(kdf: &KdfParams) -> Result<envv_api::KdfParams, Failure> {
    serde_json::to_value(kdf)
        .and_then(serde_json::from_value)
        .map_err(|_| {
            Failure(
                ErrorCode::Internal,
                "KDF parameters do not serialise".into(),
            )
        })
}

fn from_api_kdf(kdf: &envv_api::KdfParams) -> Result<KdfParams, Failure> {
    let params: KdfParams = serde_json::to_value(kdf)
        .and_then(serde_json::from_value)
        .map_err(|_| {
            Failure(
                ErrorCode::Server,
                "the control plane sent unusable KDF parameters".into(),
            )
        })?;
    // A server must not talk the client into weak (or endless) derivation.
    params.validate().map_err(crypto)?;
    Ok(params)
}

pub(super) fn team_info(team: &envv_api::Team) -> TeamInfo {
    TeamInfo {
        id: team.id,
        name: team.name.clone(),
        role: team.role.as_str().to_owned(),
        current_epoch: team.current_epoch,
        rekey_required: team.rekey_required,
        max_staleness_secs: team.max_staleness_secs,
    }
}

impl Agent {
    fn no_account_yet(&self) -> Result<(), Failure> {
        match &self.inner().account {
            Some(account) => Err(Failure(
                ErrorCode::Conflict,
                format!(
                    "this machine is logged in as {}; run `envv auth logout` first",
                    account.email
                ),
            )),
            None => Ok(()),
        }
    }

    pub(super) fn signup(
        &self,
        server: String,
        email: String,
        name: String,
        password: &Secret,
    ) -> Outcome {
        self.no_account_yet()?;
        let kdf =
            KdfParams::generate_with(self.config.kdf_memory_kib, self.config.kdf_iterations, 1);
        let keys = derive(password, &kdf)?;
        let identity = UserIdentity::generate();
        let wrapped = identity.wrap(&keys.wrap_key);
        let body = SignupRequest {
            email,
            name,
            auth_key: keys.auth_key.to_base64().into(),
            identity_public_key: identity.public_key().as_str().to_owned(),
            wrapped_identity: wrapped.as_str().to_owned(),
            kdf: to_api_kdf(&kdf)?,
        };
        let session: envv_api::Session =
            block_on(self.api.post(&server, "/auth/signup", None, &body))?;
        self.start(server, session, kdf, identity)
    }

    pub(super) fn login(&self, server: String, email: String, password: &Secret) -> Outcome {
        self.no_account_yet()?;
        let pre: PreloginResponse = block_on(self.api.post(
            &server,
            "/auth/prelogin",
            None,
            &PreloginRequest {
                email: email.clone(),
            },
        ))?;
        let kdf = from_api_kdf(&pre.kdf)?;
        let keys = derive(password, &kdf)?;
        let body = LoginRequest {
            email,
            auth_key: keys.auth_key.to_base64().into(),
        };
        let session: envv_api::Session =
            block_on(self.api.post(&server, "/auth/login", None, &body))?;
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
        account.save(&self.config.data_dir)?;
        let described = account.describe();
        let mut inner = self.inner();
        inner.account = Some(account);
        inner.session = Some(Session::from_pair(session.tokens));
        inner.keys = Some(Unlocked::new(Some(identity), None));
        drop(inner);
        self.emit(proto_ipc::Event::Unlocked);
        Ok(Response::Account(described))
    }

    pub(super) fn logout(&self) -> Outcome {
        let (account, session) = {
            let mut inner = self.inner();
            (inner.account.take(), inner.session.take())
        };
        self.lock();
        let Some(account) = account else {
            return Ok(Response::NoAccount);
        };
        if let Some(session) = session {
            let body = json!({ "refresh_token": session.refresh.expose() });
            // Best effort: offline, the session simply expires on the server.
            if let Err(Failure(_, why)) =
                block_on(
                    self.api
                        .post_empty(&account.server, "/auth/logout", None, &body),
                )
            {
                tracing::info!(reason = why, "could not end the session on the server");
            }
        }
        AccountFile::remove(&self.config.data_dir)?;
        Ok(Response::Done)
    }

    /// The password unwraps the identity on this machine; a login then
    /// renews the session, unless the control plane is unreachable.
    pub(super) fn unlock_account(&self, password: &Secret) -> Result<(), Failure> {
        let account = self.inner().account.clone().ok_or_else(|| {
            Failure(
                ErrorCode::NotLoggedIn,
                "no account; run `envv auth login`".into(),
            )
        })?;
        let keys = derive(password, &account.kdf)?;
        let wrapped = WrappedIdentity::parse(&account.wrapped_identity).map_err(crypto)?;
        let identity = wrapped.unwrap(&keys.wrap_key).map_err(crypto)?;
        let body = LoginRequest {
            email: account.email.clone(),
            auth_key: keys.auth_key.to_base64().into(),
        };
        let session = match block_on(self.api.post::<_, envv_api::Session>(
            &account.server,
            "/auth/login",
            None,
            &body,
        )) {
            Ok(session) => Some(Session::from_pair(session.tokens)),
            Err(Failure(ErrorCode::Offline, why)) => {
                tracing::info!(reason = why, "unlocked offline");
                None
            }
            Err(other) => return Err(other),
        };
        let mut inner = self.inner();
        inner.session = session;
        inner.keys = Some(Unlocked::new(Some(identity), None));
        Ok(())
    }

    /// A valid access token, refreshed first if it is about to expire.
    fn access_token(
        session: &mut Option<Session>,
        account: &AccountFile,
        api: &super::account::Api,
    ) -> Result<String, Failure> {
        let needs_login = || {
            Failure(
                ErrorCode::Locked,
                "the session with the control plane has ended; run `envv unlock`".into(),
            )
        };
        // Unlocked while the control plane was unreachable: no session yet.
        let current = session.as_ref().ok_or_else(|| {
            Failure(
                ErrorCode::Offline,
                "the control plane was unreachable when the agent was unlocked; run `envv unlock` once it answers".into(),
            )
        })?;
        if current.fresh() {
            return Ok(current.access.expose().to_owned());
        }
        let body = json!({ "refresh_token": current.refresh.expose() });
        let pair: envv_api::TokenPair =
            block_on(api.post(&account.server, "/auth/refresh", None, &body)).map_err(|e| {
                if e.0 == ErrorCode::NotLoggedIn {
                    needs_login()
                } else {
                    e
                }
            })?;
        let renewed = Session::from_pair(pair);
        let token = renewed.access.expose().to_owned();
        *session = Some(renewed);
        Ok(token)
    }

    /// Runs `call` with the account, its server and a fresh access token.
    pub(super) fn with_session<R>(
        &self,
        call: impl FnOnce(&AccountFile, &str, &Unlocked) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        let mut guard = self.inner();
        let inner = &mut *guard;
        let account = inner.account.as_ref().ok_or_else(|| {
            Failure(
                ErrorCode::NotLoggedIn,
                "no account; run `envv auth signup` or `envv auth login`".into(),
            )
        })?;
        let keys = inner.keys.as_ref().ok_or_else(|| {
            Failure(
                ErrorCode::Locked,
                "the agent is locked; run `envv unlock`".into(),
            )
        })?;
        let result = Agent::access_token(&mut inner.session, account, &self.api)
            .and_then(|token| call(account, &token, keys));
        drop(guard);
        self.note_reachability(&result);
        result
    }

    pub(super) fn create_team(&self, name: String) -> Outcome {
        let id = Uuid::new_v4();
        let epoch = EpochIdentity::generate(id, 1);
        let team = self.with_session(|account, token, keys| {
            let identity = keys.identity.as_ref().ok_or_else(|| {
                Failure(
                    ErrorCode::Locked,
                    "the agent is locked; run `envv unlock`".into(),
                )
            })?;
            let grant = epoch.grant_to(&identity.public_key()).map_err(crypto)?;
            let body = json!({
                "id": id,
                "name": name,
                "epoch_public_key": epoch.public_key().as_str(),
                "creator_grant": grant.as_str(),
            });
            let team: envv_api::Team =
                block_on(self.api.post(&account.server, "/teams", Some(token), &body))?;
            Ok((team, grant))
        })?;
        let (team, grant) = team;
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
        if let Some(keys) = self.inner().keys.as_mut() {
            keys.teams.insert(id, TeamKeyring::new(epoch));
        }
        Ok(Response::Team(team_info(&team)))
    }

    pub(super) fn list_teams(&self) -> Outcome {
        let teams: Vec<envv_api::Team> = self.with_session(|account, token, _| {
            block_on(self.api.get(&account.server, "/teams", token))
        })?;
        Ok(Response::Teams {
            teams: teams.iter().map(team_info).collect(),
        })
    }

    /// What `init` binds a directory to: the named team (account mode), the
    /// only team if there is one, or the personal key with no account.
    pub(super) fn binding_for(&self, team: Option<Uuid>) -> Result<(Uuid, Binding), Failure> {
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
        let Response::Teams { teams } = self.list_teams()? else {
            return Err(Failure(ErrorCode::Internal, "listing teams failed".into()));
        };
        let chosen = match team {
            Some(id) => teams.iter().find(|t| t.id == id).ok_or_else(|| {
                Failure(
                    ErrorCode::NotFound,
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

    /// Opens a team's keyring from the caller's grants.
    pub(super) fn open_team(
        &self,
        session: &mut Option<Session>,
        account: Option<&AccountFile>,
        keys: &Unlocked,
        team: Uuid,
    ) -> Result<TeamKeyring, Failure> {
        let account = account.ok_or_else(|| {
            Failure(
                ErrorCode::NotLoggedIn,
                "no account; run `envv auth login`".into(),
            )
        })?;
        let identity = keys.identity.as_ref().ok_or_else(|| {
            Failure(
                ErrorCode::Locked,
                "the agent is locked; run `envv unlock`".into(),
            )
        })?;
        let online = Agent::access_token(session, account, &self.api).and_then(|token| {
            block_on(self.api.get::<TeamKeys>(
                &account.server,
                &format!("/teams/{team}/keys"),
                &token,
            ))
        });
        let cached = match online {
            Ok(fetched) => {
                let cached = CachedTeam {
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
                };
                if let Err(e) = cached.save(&self.config.data_dir, team) {
                    tracing::warn!(error = %e, "could not cache the team's grants for offline use");
                }
                cached
            }
            Err(Failure(ErrorCode::Offline, why)) => self.cached_team(team, &why)?,
            Err(Failure(ErrorCode::NotFound, _)) => {
                return Err(Failure(
                    ErrorCode::NotFound,
                    format!("you are not a member of team {team}: removed from it, or never added"),
                ));
            }
            Err(other) => return Err(other),
        };
        let grants = cached
            .grants
            .iter()
            .map(|g| Ok((g.epoch, Grant::parse(&g.grant).map_err(crypto)?)))
            .collect::<Result<Vec<_>, Failure>>()?;
        let mut ring = TeamKeyring::from_grants(identity, team, grants.iter().map(|(e, g)| (*e, g)))
            .map_err(crypto)?
            .ok_or_else(|| {
                Failure(
                    ErrorCode::Locked,
                    "an admin has not given you this team's key yet; an admin's unlocked agent grants it".into(),
                )
            })?;
        ring.note_team_epoch(cached.current_epoch);
        Ok(ring)
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
