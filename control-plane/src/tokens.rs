//! Access tokens (short-lived JWTs) and refresh tokens (opaque, stored hashed).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

/// The one algorithm we sign and accept. Only this server verifies its
/// tokens, so a shared secret is enough, and verifying costs microseconds.
const ALGORITHM: Algorithm = Algorithm::HS256;
const ISSUER: &str = "envv-control-plane";
const AUDIENCE: &str = "envv";
const ACCESS_TYP: &str = "access";
const REFRESH_PREFIX: &str = "envv_rt_";

/// The server's signing secret and the key id naming it.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// At least 32 bytes of secret; the key id is derived from it, so every
    /// replica given the same secret names it the same.
    pub fn new(secret: Vec<u8>) -> Option<Self> {
        if secret.len() < 32 {
            return None;
        }
        let kid = hex::encode(&Sha256::digest(&secret)[..8]);
        Some(SigningKey {
            kid,
            secret: Zeroizing::new(secret),
        })
    }

    pub fn generate() -> Self {
        let mut secret = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        SigningKey::new(secret).expect("32 bytes is long enough")
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// A keyed hash for values that must be stable per server but
    /// unpredictable (the fake prelogin salt of unknown emails).
    pub fn keyed_hash(&self, label: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub typ: String,
    /// The session (refresh token family) this token was issued in.
    pub sid: Uuid,
}

/// Signs with the current key; verifies with it and any previous keys, so a
/// signing key can be rotated without logging everyone out.
#[derive(Clone, Debug)]
pub struct TokenKeys {
    current: SigningKey,
    previous: Vec<SigningKey>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(current: SigningKey, previous: Vec<SigningKey>) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        TokenKeys {
            current,
            previous,
            access_ttl: Duration::from_secs(600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            validation,
        }
    }

    pub fn current(&self) -> &SigningKey {
        &self.current
    }

    pub fn issue_access(
        &self,
        user: Uuid,
        session: Uuid,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user,
            iat: now,
            exp: now + self.access_ttl.as_secs() as i64,
            typ: ACCESS_TYP.into(),
            sid: session,
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.current.kid.clone());
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(self.current.secret()),
        )
    }

    /// The claims of a valid access token, or `None` for anything else:
    /// expired, tampered, another algorithm, unknown key, wrong type.
    pub fn verify_access(&self, token: &str) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != ALGORITHM {
            return None;
        }
        let key = match header.kid.as_deref() {
            Some(kid) if kid == self.current.kid => &self.current,
            Some(kid) => self.previous.iter().find(|k| k.kid == kid)?,
            None => return None,
        };
        let data = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(key.secret()),
            &self.validation,
        )
        .ok()?;
        (data.claims.typ == ACCESS_TYP).then_some(data.claims)
    }
}

/// A new opaque refresh token and the hash we store for it.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw));
    let hash = hash_refresh_token(&token);
    (token, hash)
}

pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(SigningKey::generate(), vec![])
    }

    #[test]
    fn access_token_round_trips() {
        let keys = keys();
        let (user, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let token = keys.issue_access(user, sid).unwrap();
        let claims = keys.verify_access(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, sid));
    }

    #[test]
    fn token_from_another_key_is_refused() {
        let token = keys().issue_access(Uuid::new_v4(), Uuid::new_v4()).unwrap();
        assert!(keys().verify_access(&token).is_none());
    }

    #[test]
    fn previous_key_still_verifies() {
        let old = SigningKey::generate();
        let token = TokenKeys::new(old.clone(), vec![])
            .issue_access(Uuid::new_v4(), Uuid::new_v4())
            .unwrap();
        let rotated = TokenKeys::new(SigningKey::generate(), vec![old]);
        assert!(rotated.verify_access(&token).is_some());
    }

    #[test]
    fn refresh_tokens_are_stored_only_as_hashes() {
        let (token, hash) = new_refresh_token();
        assert!(token.starts_with(REFRESH_PREFIX));
        assert_eq!(hash, hash_refresh_token(&token));
        assert!(
            !hash
                .windows(8)
                .any(|w| token.as_bytes().windows(8).any(|t| t == w))
        );
    }
}
