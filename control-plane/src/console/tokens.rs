//! Operator tokens, made and revoked on the command line
//! (`envv-control-plane admin token create|list|revoke`): the console's
//! only way in. A token is 256 random bits, shown once at creation; the
//! database keeps its SHA-256 only.

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::layout::minute;
use crate::admin::{AdminError, operator_name};
use crate::store::{Store, StoreError};

/// What every operator token starts with, so a leaked one is recognisable
/// (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "envvop_";

/// A new token and the hash the database keeps of it.
pub fn generate() -> (Zeroizing<String>, [u8; 32]) {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(*bytes)));
    let hash = Sha256::digest(token.as_bytes()).into();
    (token, hash)
}

/// `admin token create --name NAME`: the token, printed once, and how to
/// use it. `name` follows the rules of an operator's name, since it is
/// the name the console's actions are audited under.
pub async fn create(
    store: &dyn Store,
    name: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<Zeroizing<String>, AdminError> {
    let name = operator_name(Some(name)).map_err(|_| {
        AdminError::Usage(
            "--name must be 1 to 64 characters, none of them control characters".into(),
        )
    })?;
    let (token, hash) = generate();
    match store
        .create_operator_token(&name, &hash, operator, now)
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict) => {
            return Err(AdminError::Usage(format!(
                "a token named {name:?} exists or existed (names are never reused); pick another"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Zeroizing::new(format!(
        "{}\n\nThe operator token {name:?}; it is shown only this once. Log in to the console \
         (`serve --admin-listen ADDR`) with it; revoke it with \
         `envv-control-plane admin token revoke {name}`.\n",
        token.as_str()
    )))
}

/// `admin token list`: every token, never the token itself.
pub async fn list(store: &dyn Store) -> Result<String, AdminError> {
    let tokens = store.operator_tokens().await?;
    let mut out = String::new();
    let _ = writeln!(out, "NAME  CREATED  BY  LAST USED  STATE");
    for t in &tokens {
        let _ = writeln!(
            out,
            "{}  {}  {}  {}  {}",
            t.name,
            minute(t.created_at),
            t.created_by,
            t.last_used_at.map_or_else(|| "-".into(), minute),
            t.revoked_at
                .map_or_else(|| "live".into(), |at| format!("revoked {}", minute(at)))
        );
    }
    let _ = writeln!(out, "{} tokens", tokens.len());
    Ok(out)
}

/// `admin token revoke NAME`: the token stops working and its console
/// sessions end at once.
pub async fn revoke(
    store: &dyn Store,
    name: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    if store.revoke_operator_token(name, operator, now).await? {
        Ok(format!(
            "revoked {name:?}; its console sessions are ended\n"
        ))
    } else {
        Err(AdminError::NotFound(format!(
            "no live token is named {name:?}; `admin token list` lists them"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, hash_a) = generate();
        let (b, _) = generate();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43);
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(hash_a, <[u8; 32]>::from(Sha256::digest(a.as_bytes())));
    }
}
