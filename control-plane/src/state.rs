//! The server's configuration and the state every handler shares.

use std::sync::Arc;
use std::time::Duration;

use envv_api::Role;
use uuid::Uuid;

use crate::authz::{self, Action};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::password::KeyHasher;
use crate::ratelimit::IpLimiter;
use crate::store::{AuthorisedOn, Store, TeamRecord, ThrottlePolicy};
use crate::tokens::{SigningKey, TokenKeys};

/// What the client KDF of an unknown email looks like at prelogin: the
/// defaults a new client signs up with, so a fake can't be told from a real one.
#[derive(Debug, Clone, Copy)]
pub struct ClientKdfDefaults {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub signing_key: SigningKey,
    /// Keys that still verify tokens after a signing-key rotation.
    pub previous_signing_keys: Vec<SigningKey>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// argon2id cost of hashing auth keys on the server.
    pub server_argon2: argon2::Params,
    /// How many argon2 hashes may run at once.
    pub hash_parallelism: usize,
    pub client_kdf: ClientKdfDefaults,
    pub login_throttle: ThrottlePolicy,
    pub ip_max_failures: u32,
    pub ip_window: Duration,
    /// Behind a reverse proxy, take the client address from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
}

impl Config {
    pub fn new(signing_key: SigningKey) -> Self {
        Config {
            signing_key,
            previous_signing_keys: Vec::new(),
            access_token_ttl: Duration::from_secs(600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            server_argon2: KeyHasher::default_params(),
            hash_parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            client_kdf: ClientKdfDefaults {
                memory_kib: envv_api::KDF_DEFAULT_MEMORY_KIB,
                iterations: envv_api::KDF_DEFAULT_ITERATIONS,
                parallelism: envv_api::KDF_DEFAULT_PARALLELISM,
            },
            login_throttle: ThrottlePolicy {
                max_failures: 5,
                window: chrono::Duration::minutes(15),
                lockout: chrono::Duration::minutes(5),
            },
            ip_max_failures: 50,
            ip_window: Duration::from_secs(60),
            trust_forwarded_for: false,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: Arc<TokenKeys>,
    pub hasher: KeyHasher,
    pub ip_limiter: Arc<IpLimiter>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let mut keys = TokenKeys::new(
            config.signing_key.clone(),
            config.previous_signing_keys.clone(),
        );
        keys.access_ttl = config.access_token_ttl;
        keys.refresh_ttl = config.refresh_token_ttl;
        AppState {
            store,
            keys: Arc::new(keys),
            hasher: KeyHasher::new(config.server_argon2.clone(), config.hash_parallelism),
            ip_limiter: Arc::new(IpLimiter::new(config.ip_max_failures, config.ip_window)),
            metrics: Metrics::new(),
            config: Arc::new(config),
        }
    }

    /// The caller's role in `team`, checked in the database on every call.
    /// A non-member gets the same 404 as a team that doesn't exist.
    pub async fn team_role(&self, team: Uuid, user: Uuid) -> ApiResult<(TeamRecord, Role)> {
        self.store
            .membership(team, user)
            .await?
            .ok_or(ApiError::NotFound("team"))
    }

    /// Every team route's preamble: the team and the caller's role, if the
    /// caller is a member (else 404, as for a team that doesn't exist) whose
    /// role may do `action` (else 403).
    pub async fn authorize(
        &self,
        team: Uuid,
        caller: Uuid,
        action: Action,
    ) -> ApiResult<(TeamRecord, Role)> {
        let (record, role) = self.team_role(team, caller).await?;
        authz::authorize(role, action)?;
        Ok((record, role))
    }

    /// The preamble of a change to another member, whose action depends on
    /// the target's role: the caller must be a member (404 "team"), the
    /// target too (404 "member"), and the caller's role must allow
    /// `action(target's role)` (403). Returns both roles, for the store to
    /// check again inside its transaction.
    pub async fn authorize_on_member(
        &self,
        team: Uuid,
        caller: Uuid,
        target: Uuid,
        action: impl FnOnce(Role) -> Action,
    ) -> ApiResult<AuthorisedOn> {
        let (_, role) = self.team_role(team, caller).await?;
        let (_, current) = self
            .store
            .membership(team, target)
            .await?
            .ok_or(ApiError::NotFound("member"))?;
        authz::authorize(role, action(current))?;
        Ok(AuthorisedOn {
            actor: role,
            target: current,
        })
    }
}
