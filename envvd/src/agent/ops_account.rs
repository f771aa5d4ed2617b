//! Account-mode requests: signup, login, unlock with a password, the
//! session's tokens, teams and their grants. Password derivation runs with
//! `block_in_place` (CPU work); calls to the control plane are awaited with
//! the state unlocked.

use envv_api::{LoginRequest, SignupRequest};
use proto_ipc::{ErrorCode, Response, Secret};

use super::account::{AccountFile, Session};
use super::control_plane::Authed;
use super::state::{Agent, Failure, Outcome, Unlocked};
use envv_core::crypto::{
    ClientKeys, KdfParams, KdfParamsExt, UserIdentity, WrappedIdentity, derive_keys,
};
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

impl Agent {
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
