//! Access tokens (short-lived JWTs) and refresh tokens (opaque, stored hashed).

use std::collections::HashMap;
use std::sync::Mutex;
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

/// Who a valid access token speaks for, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub user: Uuid,
    /// The session (refresh token family) the token was issued in.
    pub session: Uuid,
    /// `exp`, in seconds since the epoch.
    pub expires: i64,
}

/// Signs with the current key; verifies with it and any previous keys, so a
/// signing key can be rotated without logging everyone out.
#[derive(Debug)]
pub struct TokenKeys {
    current: SigningKey,
    previous: Vec<SigningKey>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    validation: Validation,
    verified: Verified,
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
            verified: Verified::default(),
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

    /// Who a valid access token speaks for, or `None` for anything else:
    /// expired, tampered, another algorithm, unknown key, wrong type.
    pub fn verify_access(&self, token: &str) -> Option<Access> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Utc::now().timestamp();
        if let Some(access) = self.verified.get(&digest, now) {
            return Some(access);
        }
        let claims = self.verify_in_full(token)?;
        let access = Access {
            user: claims.sub,
            session: claims.sid,
            expires: claims.exp,
        };
        self.verified.insert(digest, access, now);
        Some(access)
    }

    fn verify_in_full(&self, token: &str) -> Option<Claims> {
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

/// Access tokens this server has verified, until they expire.
///
/// A client sends the same access token with each request of its ten
/// minutes, and checking one in full (base64, two JSON parses, an HMAC) was
/// a fifth of the server's work for a member list (`benches/request.rs`).
/// A token is remembered once it passed that check, by its SHA-256 digest
/// (a memory dump shows no usable token), and only while its `exp` is in
/// the future: the leeway's last seconds get the full check again. Access
/// tokens can't be revoked before they expire, so remembering one changes
/// no answer.
#[derive(Default)]
struct Verified {
    tokens: Mutex<HashMap<[u8; 32], Access>>,
}

/// Tokens remembered at most. Only verified tokens get in, so filling it
/// takes that many logins or refreshes within a token's lifetime; then the
/// expired go, and if most are still live, all go (and are verified in
/// full again on their next use).
const MAX_VERIFIED: usize = 10_000;

impl Verified {
    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Access>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, digest: &[u8; 32], now: i64) -> Option<Access> {
        self.tokens()
            .get(digest)
            .copied()
            .filter(|access| access.expires > now)
    }

    fn insert(&self, digest: [u8; 32], access: Access, now: i64) {
        if access.expires <= now {
            return;
        }
        let mut tokens = self.tokens();
        if tokens.len() >= MAX_VERIFIED {
            tokens.retain(|_, access| access.expires > now);
            // Not just under the bound, or every insert would scan it all.
            if tokens.len() >= MAX_VERIFIED * 3 / 4 {
                tokens.clear();
            }
        }
        tokens.insert(digest, access);
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("tokens", &self.tokens().len())
            .finish()
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
        let access = keys.verify_access(&token).unwrap();
        assert_eq!((access.user, access.session), (user, sid));
        // Again: the same answer from the verified tokens.
        assert_eq!(keys.verify_access(&token), Some(access));
    }

    #[test]
    fn a_verified_token_is_remembered_only_until_it_expires() {
        let verified = Verified::default();
        let access = Access {
            user: Uuid::new_v4(),
            session: Uuid::new_v4(),
            expires: 1_000,
        };
        let digest = [7; 32];
        verified.insert(digest, access, 900);
        assert_eq!(verified.get(&digest, 999), Some(access));
        assert_eq!(verified.get(&digest, 1_000), None);
        assert_eq!(verified.get(&[8; 32], 999), None);
        // An expired token is not remembered at all.
        verified.insert([9; 32], access, 1_000);
        assert_eq!(verified.tokens().len(), 1);
    }

    #[test]
    fn verified_tokens_are_bounded() {
        let verified = Verified::default();
        let access = |expires| Access {
            user: Uuid::nil(),
            session: Uuid::nil(),
            expires,
        };
        for i in 0..MAX_VERIFIED as u32 {
            let mut digest = [0; 32];
            digest[..4].copy_from_slice(&i.to_le_bytes());
            // Half of them expire at 100.
            verified.insert(digest, access(if i % 2 == 0 { 100 } else { 1_000 }), 50);
        }
        assert_eq!(verified.tokens().len(), MAX_VERIFIED);
        // Full: the expired half goes.
        verified.insert([0xff; 32], access(1_000), 200);
        assert_eq!(verified.tokens().len(), MAX_VERIFIED / 2 + 1);
        // Full of live tokens: all go, the new one stays.
        for i in 0..MAX_VERIFIED as u32 {
            let mut digest = [0xee; 32];
            digest[..4].copy_from_slice(&i.to_le_bytes());
            verified.insert(digest, access(1_000), 200);
        }
        assert!(verified.tokens().len() <= MAX_VERIFIED);
        assert_eq!(verified.get(&[0xff; 32], 200), None);
    }

    #[test]
    fn a_token_is_remembered_by_digest_only() {
        let keys = keys();
        let token = keys.issue_access(Uuid::new_v4(), Uuid::new_v4()).unwrap();
        keys.verify_access(&token).unwrap();
        let remembered = keys.verified.tokens();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        assert_eq!(remembered.keys().collect::<Vec<_>>(), vec![&digest]);
    }

    /// Signs `claims` with the current key, as our own tokens are signed
    /// unless `header` says otherwise.
    fn forge(keys: &TokenKeys, header: Header, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(keys.current.secret()),
        )
        .unwrap()
    }

    #[test]
    fn each_claim_and_header_field_is_checked() {
        let keys = keys();
        let now = Utc::now().timestamp();
        let valid = serde_json::json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": Uuid::new_v4(), "iat": now,
            "exp": now + 600, "typ": ACCESS_TYP, "sid": Uuid::new_v4(),
        });
        let ours = || {
            let mut header = Header::new(ALGORITHM);
            header.kid = Some(keys.current.kid.clone());
            header
        };
        // The control: built this way, the valid claims pass.
        assert!(keys.verify_access(&forge(&keys, ours(), &valid)).is_some());

        let changed = [
            ("iss", serde_json::json!("someone-else")),
            ("aud", serde_json::json!("another-service")),
            ("typ", serde_json::json!("refresh")),
            ("exp", serde_json::json!(now - 120)),
            ("sub", serde_json::json!("not-a-uuid")),
        ];
        for (claim, value) in changed {
            let mut claims = valid.clone();
            claims[claim] = value;
            let token = forge(&keys, ours(), &claims);
            assert!(keys.verify_access(&token).is_none(), "{claim} changed");
        }
        for claim in ["iss", "aud", "exp", "sub", "typ", "sid"] {
            let mut claims = valid.clone();
            claims.as_object_mut().unwrap().remove(claim);
            let token = forge(&keys, ours(), &claims);
            assert!(keys.verify_access(&token).is_none(), "{claim} missing");
        }

        let mut other_alg = ours();
        other_alg.alg = Algorithm::HS384;
        let mut no_kid = ours();
        no_kid.kid = None;
        let mut unknown_kid = ours();
        unknown_kid.kid = Some("0000000000000000".into());
        for (what, header) in [
            ("HS384", other_alg),
            ("no kid", no_kid),
            ("unknown kid", unknown_kid),
        ] {
            let token = forge(&keys, header, &valid);
            assert!(keys.verify_access(&token).is_none(), "{what}");
        }
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
