//! Invite codes: what an admin hands a newcomer out of band.
//!
//! The code holds a 32-byte invite secret and names the team and the invite
//! statement in the team chain (a 16-byte prefix of its hash). From the
//! secret come (a) the accept token, whose SHA-256 the server stores to
//! authenticate acceptance, and (b) an Ed25519 *proof key*, whose public
//! half is in the signed invite statement. The newcomer signs their keys
//! with the proof key; any admin checks that signature against the chain
//! before admitting them. The server sees neither the secret nor the proof
//! key's private half, so it can't make an acceptance that verifies, and it
//! can't change the invite statement, which an admin signed.

use std::fmt;

use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::signing::SigningKey;
use super::{CryptoError, b64url, b64url_decode, hkdf32};
use crate::secret::Key32;

const CODE_PREFIX: &str = "envv-inv2.";
/// Invite id (16), team id (16), invite statement prefix (16), secret (32).
const CODE_BYTES: usize = 16 + 16 + 16 + 32;
/// `envv-inv2.` + 107 base64url characters.
const CODE_LEN: usize = CODE_PREFIX.len() + (CODE_BYTES * 4).div_ceil(3);
const INFO_ACCEPT: &[u8] = b"envv/invite/v2 accept-token";
const PROOF_SALT: &[u8] = b"envv/invite/v2";
const INFO_PROOF: &[u8] = b"envv/invite/v2 proof-key";

/// The 32 random bytes at the heart of an invite.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct InviteSecret([u8; 32]);

impl InviteSecret {
    /// A fresh secret from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut s = [0u8; 32];
        super::fill_random(&mut s);
        Self(s)
    }

    /// The key whose public half the invite statement carries; the
    /// newcomer signs their acceptance with it.
    pub fn proof_key(&self) -> SigningKey {
        SigningKey::derive(PROOF_SALT, &self.0, INFO_PROOF)
    }
}

impl fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the admin hands the invitee out of band:
/// `envv-inv2.` + base64url(invite id || team id || first 16 bytes of the
/// invite statement's hash || secret), 117 characters in all.
#[derive(Clone)]
pub struct InviteCode {
    /// The invite's id (not secret).
    pub invite_id: Uuid,
    /// The team it admits to (not secret).
    pub team_id: Uuid,
    /// The first 16 bytes of the invite statement's hash: it fixes the
    /// team's history up to the invite, so a joiner refuses any other.
    pub statement: [u8; 16],
    /// The secret (never sent to the server).
    pub secret: InviteSecret,
}

impl InviteCode {
    /// The string to print. Holds the secret: show it once, never log it.
    pub fn to_code_string(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(CODE_BYTES));
        bytes.extend_from_slice(self.invite_id.as_bytes());
        bytes.extend_from_slice(self.team_id.as_bytes());
        bytes.extend_from_slice(&self.statement);
        bytes.extend_from_slice(&self.secret.0);
        Zeroizing::new(format!("{CODE_PREFIX}{}", b64url(&bytes)))
    }

    /// Strict parse. Surrounding whitespace (from copy and paste) is ignored.
    pub fn parse(code: &str) -> Result<Self, CryptoError> {
        let bad = |reason| CryptoError::InvalidInviteCode { reason };
        let code = code.trim();
        if code.starts_with("envv-inv1.") {
            return Err(bad("it is from an older envv; ask for a new invite"));
        }
        let body = code
            .strip_prefix(CODE_PREFIX)
            .ok_or(bad("it does not start with envv-inv2."))?;
        if code.len() != CODE_LEN {
            return Err(bad("wrong length (was it cut when copied?)"));
        }
        let bytes = Zeroizing::new(b64url_decode(body).ok_or(bad("it is not base64url"))?);
        if bytes.len() != CODE_BYTES {
            return Err(bad("wrong length (was it cut when copied?)"));
        }
        let uuid = |range: std::ops::Range<usize>| {
            Uuid::from_slice(&bytes[range]).map_err(|_| bad("bad id"))
        };
        let invite_id = uuid(0..16)?;
        let team_id = uuid(16..32)?;
        let mut statement = [0u8; 16];
        statement.copy_from_slice(&bytes[32..48]);
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&bytes[48..80]);
        let secret = InviteSecret(secret);
        Ok(Self {
            invite_id,
            team_id,
            statement,
            secret,
        })
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteCode")
            .field("invite_id", &self.invite_id)
            .field("team_id", &self.team_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Presented by the invitee to accept; the server stores only its SHA-256
/// ([`AcceptToken::server_hash`]), so a database leak cannot accept invites.
#[derive(Clone, PartialEq, Eq)]
pub struct AcceptToken(Key32);

impl AcceptToken {
    /// base64url (no padding), the form sent to the server.
    pub fn to_base64(&self) -> String {
        b64url(self.0.expose())
    }

    /// Lowercase hex SHA-256 of the raw token bytes: what the server stores.
    pub fn server_hash(&self) -> String {
        hash_accept_token(self.0.expose())
    }

    /// The raw SHA-256, as the invite statement carries it.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.expose()).into()
    }
}

impl fmt::Debug for AcceptToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Lowercase hex SHA-256 of raw accept-token bytes (the control plane calls
/// this on the decoded token it receives and compares with what it stored).
pub fn hash_accept_token(token: &[u8]) -> String {
    hex::encode(Sha256::digest(token))
}

/// Derives the accept token: HKDF-SHA256(ikm = secret, info = "envv/invite/v2 accept-token").
pub fn accept_token(secret: &InviteSecret) -> AcceptToken {
    AcceptToken(hkdf32(None, &secret.0, INFO_ACCEPT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> InviteCode {
        InviteCode {
            invite_id: Uuid::new_v4(),
            team_id: Uuid::new_v4(),
            statement: [7; 16],
            secret: InviteSecret::generate(),
        }
    }

    #[test]
    fn invite_code_round_trips_and_parsing_is_strict() {
        let code = code();
        let text = code.to_code_string();
        assert_eq!(text.len(), CODE_LEN);
        let back = InviteCode::parse(&format!(" {}\n", text.as_str())).expect("parse");
        assert_eq!(
            (back.invite_id, back.team_id, back.statement),
            (code.invite_id, code.team_id, code.statement)
        );
        assert_eq!(accept_token(&back.secret), accept_token(&code.secret));
        let bad = [
            "",
            "envv-inv2.",
            &text.replace("envv-inv2", "envv-inv3"),
            &text[..text.len() - 1],
            &format!("{}A", text.as_str()),
            &text.replacen('.', ":", 1),
        ];
        for b in bad {
            assert!(InviteCode::parse(b).is_err(), "accepted {b:?}");
        }
    }

    #[test]
    fn the_proof_key_and_token_come_from_the_secret_alone() {
        let a = code();
        let b = code();
        assert_eq!(
            a.secret.proof_key().verifying_key(),
            a.secret.clone().proof_key().verifying_key()
        );
        assert_ne!(
            a.secret.proof_key().verifying_key(),
            b.secret.proof_key().verifying_key()
        );
        assert_ne!(accept_token(&a.secret), accept_token(&b.secret));
        assert_eq!(accept_token(&a.secret).server_hash().len(), 64);
        assert_eq!(
            hex::encode(accept_token(&a.secret).digest()),
            accept_token(&a.secret).server_hash()
        );
    }
}
