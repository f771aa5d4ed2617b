//! A team's keys on this machine: grants fetched, cached for reads while
//! the control plane is unreachable (within the team's bound), opened
//! against the verified chain and kept as the unlocked keyring; a project's
//! binding to them; and what a member still waiting for a key is told.

use std::sync::Arc;

use chrono::Utc;
use envv_api::TeamKeys;
use envv_core::chain::TeamChain;
use envv_core::crypto::{FileSigner, Grant, TeamKeyring, UserIdentity};
use envv_core::project::Binding;
use proto_ipc::{ErrorCode, Response};
use uuid::Uuid;

use super::cache::{CachedGrant, CachedTeam};
use super::local;
use super::ops_account::crypto;
use super::state::{Agent, Failure, Inner, Unlocked};

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

    /// The unlocked keys, loading the personal key if locked in local mode
    /// (it needs no password); in account mode locked is an error.
    pub(super) fn ensure_keys<'a>(
        &self,
        inner: &'a mut Inner,
    ) -> Result<&'a mut Unlocked, Failure> {
        let has_account = inner.account.is_some();
        match &mut inner.keys {
            Some(unlocked) => Ok(unlocked),
            None if has_account => Err(Failure::locked()),
            // Not a new generation: nothing in flight predates the keys.
            keys @ None => {
                let personal = local::load_or_create(&self.config.data_dir)?;
                Ok(keys.insert(Unlocked::new(None, Some(personal), self.config.clock.now())))
            }
        }
    }

    /// The keyring for `team`: the personal one in local mode; in account
    /// mode the team's, opened from its grants on first use. Fetching the
    /// grants is the one wait on the network here, made with the state
    /// unlocked.
    pub(super) async fn keyring(&self, team: Uuid) -> Result<Arc<TeamKeyring>, Failure> {
        let generation = {
            let mut inner = self.inner();
            let has_account = inner.account.is_some();
            let keys = self.ensure_keys(&mut inner)?;
            if let Some(ring) = keys.ring(team) {
                return Ok(ring.clone());
            }
            if !has_account {
                return Err(Failure(
                    ErrorCode::NotLoggedIn,
                    format!(
                        "this project is encrypted to team {team}, and this machine has no \
                         account; run `envv auth login` with an account that is in it"
                    ),
                ));
            }
            inner.generation
        };
        // The grants first: a rotation between the two fetches then shows
        // as a chain ahead of the grants (writes wait), never the reverse.
        let grants = self.team_grants(team).await?;
        let chain = self.team_chain(team).await?;
        match self.install_keyring(&chain, &grants, generation) {
            // No grant yet: say who can give one (a call, with the state unlocked).
            Err(Failure(ErrorCode::AwaitingKey, _)) => Err(self.awaiting_key(team).await),
            other => other,
        }
    }

    /// Opens the team's keyring from fetched `grants`, checked against its
    /// verified `chain`, and keeps it, unless the agent locked since
    /// `generation`.
    fn install_keyring(
        &self,
        chain: &TeamChain,
        grants: &CachedTeam,
        generation: u64,
    ) -> Result<Arc<TeamKeyring>, Failure> {
        let team = chain.team();
        let mut inner = self.inner();
        if inner.generation != generation {
            return Err(Failure::locked_meanwhile());
        }
        let me = inner
            .account
            .as_ref()
            .map(|a| a.user_id)
            .ok_or_else(Failure::no_account)?;
        let keys = inner.keys.as_mut().ok_or_else(Failure::locked)?;
        let identity = keys.identity.as_ref().ok_or_else(Failure::locked)?;
        let fetched = open_grants(me, identity, chain, grants)?;
        // A rotation may have installed a newer ring while these grants
        // were on their way: never go back to an older epoch.
        if let Some(held) = keys.teams.get(&team)
            && held.team_epoch() >= fetched.team_epoch()
        {
            return Ok(held.clone());
        }
        let ring = Arc::new(fetched);
        keys.teams.insert(team, ring.clone());
        Ok(ring)
    }

    /// Forgets `team`'s keyring if it is still `stale`, so the next use
    /// fetches the grants again.
    pub(super) fn forget_keyring(&self, team: Uuid, stale: &Arc<TeamKeyring>) {
        if let Some(keys) = self.inner().keys.as_mut()
            && keys.teams.get(&team).is_some_and(|r| Arc::ptr_eq(r, stale))
        {
            keys.teams.remove(&team);
        }
    }

    /// After a rotation: the new keyring, and no decrypted file of the old
    /// epoch; unless the agent locked since `generation`.
    pub(super) fn replace_team_keyring(&self, team: Uuid, ring: TeamKeyring, generation: u64) {
        let mut inner = self.inner();
        if inner.generation != generation {
            return;
        }
        if let Some(keys) = inner.keys.as_mut() {
            keys.teams.insert(team, Arc::new(ring));
        }
        inner.cache.clear();
    }

    /// The personal key's team (local mode), loading it if needed.
    pub(super) fn personal_team(&self) -> Result<Uuid, Failure> {
        let mut inner = self.inner();
        let keys = self.ensure_keys(&mut inner)?;
        keys.personal
            .as_ref()
            .map(|p| p.team())
            .ok_or_else(|| Failure(ErrorCode::Internal, "no personal key".into()))
    }
}

/// Opens `team`'s keyring from its grants (or says the key is still to
/// come), accepting only epoch keys the verified chain names: a grant of a
/// key no rotation statement made is the server's, and is refused. The
/// current epoch is the chain's, whatever the server says.
pub(super) fn open_grants(
    me: Uuid,
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
    ring.set_signer(FileSigner {
        user: me,
        key: identity.signing_key().clone(),
    });
    Ok(ring)
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
