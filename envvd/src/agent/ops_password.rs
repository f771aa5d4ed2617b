//! `envv auth passwd`: a new password for the account. The identity stays
//! the same key; it is unwrapped with the current password (which proves
//! it, on this machine) and wrapped again under the new one, with a fresh
//! salt. The control plane checks the current auth key, swaps in the new
//! one and ends every other session; this machine keeps a new session.

use envv_api::{ChangePasswordRequest, LoginRequest};
use proto_ipc::{ErrorCode, Response, Secret};

use super::account::{AccountFile, Session};
use super::ops_account::{crypto, derive};
use super::state::{Agent, Failure, Outcome, Unlocked};
use envv_core::crypto::{KdfParams, KdfParamsExt, WrappedIdentity};

impl Agent {
    pub(super) async fn change_password(&self, current: &Secret, new: &Secret) -> Outcome {
        let account = self
            .inner()
            .account
            .clone()
            .ok_or_else(Failure::no_account)?;
        if current.expose() == new.expose() {
            return Err(Failure(
                ErrorCode::Invalid,
                "the new password is the same as the current one; nothing was changed".into(),
            ));
        }
        super::ops_account::strong_enough(new, &account.email, &account.name)?;
        let old_keys = derive(current, &account.kdf).await?;
        let wrapped = WrappedIdentity::parse(&account.wrapped_identity).map_err(crypto)?;
        let identity = wrapped
            .unwrap(&old_keys.wrap_key)
            .map_err(|e| match crypto(e) {
                Failure(ErrorCode::NotLoggedIn, _) => Failure(
                    ErrorCode::NotLoggedIn,
                    "the current password is wrong; nothing was changed".into(),
                ),
                other => other,
            })?;
        let kdf =
            KdfParams::generate_with(self.config.kdf_memory_kib, self.config.kdf_iterations, 1);
        let new_keys = derive(new, &kdf).await?;
        let rewrapped = identity.wrap(&new_keys.wrap_key);
        let body = ChangePasswordRequest {
            current_auth_key: old_keys.auth_key.to_base64().into(),
            new_auth_key: new_keys.auth_key.to_base64().into(),
            wrapped_identity: rewrapped.as_str().to_owned(),
            kdf: kdf.clone(),
        };
        let generation = self.generation();
        let at = self.session().await?;
        let session = self
            .reached(self.api.change_password(&at, &body).await)
            .map_err(|e| match e {
                Failure(ErrorCode::NotLoggedIn, _) => Failure(
                    ErrorCode::NotLoggedIn,
                    "the control plane refused the current password (changed on another \
                     machine?); nothing was changed"
                        .into(),
                ),
                other => other,
            })?;
        // The server holds the new password now: this machine's copy of the
        // account follows whatever happened meanwhile, or the next unlock
        // would need the old password and the next login the new one.
        let mut inner = self.inner();
        let Some(stored) = inner
            .account
            .as_mut()
            .filter(|a| a.user_id == account.user_id)
        else {
            return Err(Failure(
                ErrorCode::Conflict,
                "this machine logged out while the password changed; log in with the new one"
                    .into(),
            ));
        };
        stored.kdf = kdf;
        stored.wrapped_identity = rewrapped.as_str().to_owned();
        stored.save(&self.config.data_dir)?;
        let described = stored.describe();
        if inner.generation == generation {
            inner.session = Some(Session::from_pair(session.tokens));
            if let Some(keys) = inner.keys.as_mut() {
                keys.login = None;
            }
        }
        Ok(Response::Account(described))
    }

    /// An unlock whose password does not open the identity kept here: if
    /// the password was changed on another machine, the control plane has
    /// other KDF parameters, and the password typed logs in with them; the
    /// identity it sends back (wrapped under that password) replaces this
    /// machine's copy. Else the password is simply wrong, and nothing is
    /// sent (a wrong password counts against the account's throttle).
    pub(super) async fn unlock_changed(
        &self,
        account: &AccountFile,
        password: &Secret,
        generation: u64,
    ) -> Result<(), Failure> {
        let wrong = || {
            Failure(
                ErrorCode::NotLoggedIn,
                "wrong password: it does not open this account's key; try again".into(),
            )
        };
        let Ok(pre) = self.reached(self.api.prelogin(&account.server, &account.email).await) else {
            return Err(wrong());
        };
        if pre.kdf == account.kdf {
            return Err(wrong());
        }
        pre.kdf.validate().map_err(crypto)?;
        self.at_least_signup_strength(&pre.kdf)?;
        let keys = derive(password, &pre.kdf).await?;
        let body = LoginRequest {
            email: account.email.clone(),
            auth_key: keys.auth_key.to_base64().into(),
        };
        let session = match self.reached(self.api.login(&account.server, &body).await) {
            Ok(session) => session,
            Err(Failure(ErrorCode::NotLoggedIn, _)) => return Err(wrong()),
            Err(other) => return Err(other),
        };
        let identity = WrappedIdentity::parse(&session.wrapped_identity)
            .and_then(|w| w.unwrap(&keys.wrap_key))
            .map_err(crypto)?;
        let mut inner = self.inner();
        if inner.generation != generation {
            return Err(Failure::locked_meanwhile());
        }
        let Some(stored) = inner
            .account
            .as_mut()
            .filter(|a| a.user_id == account.user_id)
        else {
            return Err(Failure::locked_meanwhile());
        };
        stored.kdf = pre.kdf;
        stored.wrapped_identity = session.wrapped_identity.clone();
        stored.save(&self.config.data_dir)?;
        inner.session = Some(Session::from_pair(session.tokens));
        inner.keys = Some(Unlocked::new(Some(identity), None, self.config.clock.now()));
        inner.generation += 1;
        drop(inner);
        tracing::info!("unlocked with the password changed on another machine");
        Ok(())
    }

    /// Whether `server` answers: for signup and login to check before they
    /// ask a person for anything.
    pub(super) async fn check_server(&self, server: &str) -> Outcome {
        self.api.healthz(server).await.map(|()| Response::Done)
    }
}
