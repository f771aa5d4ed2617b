//! Binding an invitee's public key to an out-of-band invite code.
//!
//! The admin's client makes a 32-byte invite secret and prints it inside the
//! invite code; the server only ever sees (a) the SHA-256 of the accept
//! token, to authenticate acceptance, and (b) the secret sealed to the team's
//! epoch key, so any admin can later recover it. The invitee proves its
//! public key with an HMAC keyed from the secret; an admin's agent verifies
//! that proof against the key the server hands it before granting. A server
//! that swaps in its own key cannot produce a matching proof.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::identity::PublicKey;
use super::team::EpochIdentity;
use super::{AgeOpenError, CryptoError, age_decrypt, age_encrypt, b64url, b64url_decode, hkdf32};
use crate::secret::Key32;

const CODE_PREFIX: &str = "envv-inv1";
/// `envv-inv1.` + 32 hex + `.` + 43 base64url characters.
const CODE_LEN: usize = CODE_PREFIX.len() + 1 + 32 + 1 + 43;
const INFO_ACCEPT: &[u8] = b"envv/invite/v1 accept-token";
const INFO_PROOF: &[u8] = b"envv/invite/v1 proof-key";
const SEALED_PREFIX: &str = "envv-invs1.";
const SEALED_MAGIC: &[u8] = b"envv-invite-secret/v1\n";
const MAX_SEALED_LEN: usize = 1024;

type HmacSha256 = Hmac<Sha256>;

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
}

impl fmt::Debug for InviteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the admin hands the invitee out of band:
/// `envv-inv1.<invite id, uuid simple>.<secret, base64url no padding>`.
#[derive(Clone)]
pub struct InviteCode {
    /// The server's id for the invite (not secret).
    pub invite_id: Uuid,
    /// The secret (never sent to the server in clear).
    pub secret: InviteSecret,
}

impl InviteCode {
    /// A new code for a new invite.
    pub fn generate() -> Self {
        Self {
            invite_id: Uuid::new_v4(),
            secret: InviteSecret::generate(),
        }
    }

    /// The string to print. Holds the secret: show it once, never log it.
    pub fn to_code_string(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(format!(
            "{CODE_PREFIX}.{}.{}",
            self.invite_id.simple(),
            b64url(&self.secret.0)
        ))
    }

    /// Strict parse: exact prefix, lowercase hex id, 32-byte canonical secret.
    /// Surrounding whitespace (from copy and paste) is ignored.
    pub fn parse(code: &str) -> Result<Self, CryptoError> {
        let bad = |reason| CryptoError::InvalidInviteCode { reason };
        let code = code.trim();
        if code.len() != CODE_LEN {
            return Err(bad("wrong length"));
        }
        let mut parts = code.split('.');
        let (Some(CODE_PREFIX), Some(id), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected envv-inv1.<id>.<secret>"));
        };
        if id.len() != 32 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("invite id is not 32 lowercase hex digits"));
        }
        let invite_id = Uuid::try_parse(id).map_err(|_| bad("invite id is not a UUID"))?;
        let mut bytes = b64url_decode(secret).ok_or(bad("secret is not base64url"))?;
        let Ok(arr) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            bytes.zeroize();
            return Err(bad("secret is not 32 bytes"));
        };
        bytes.zeroize();
        Ok(Self {
            invite_id,
            secret: InviteSecret(arr),
        })
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteCode")
            .field("invite_id", &self.invite_id)
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
}

impl fmt::Debug for AcceptToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Lowercase hex SHA-256 of raw accept-token bytes (the control plane calls
/// this on the decoded token it receives and compares with what it stored).
pub fn hash_accept_token(token: &[u8]) -> String {
    let digest = Sha256::digest(token);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Derives the accept token: HKDF-SHA256(ikm = secret, info = "envv/invite/v1 accept-token").
pub fn accept_token(secret: &InviteSecret) -> AcceptToken {
    AcceptToken(hkdf32(None, &secret.0, INFO_ACCEPT))
}

/// The invite secret encrypted to a team epoch key:
/// `envv-invs1.` + base64url(binary age file). Stored by the server.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SealedInviteSecret(pub String);

/// Seals `secret` so any holder of the team's epoch key can recover it; the
/// plaintext names the team and invite so a blob cannot be moved between
/// invites.
pub fn seal_invite_secret(
    secret: &InviteSecret,
    team_id: Uuid,
    invite_id: Uuid,
    team_epoch_recipient: &PublicKey,
) -> Result<SealedInviteSecret, CryptoError> {
    let mut payload = zeroize::Zeroizing::new(Vec::with_capacity(96));
    payload.extend_from_slice(SEALED_MAGIC);
    payload.extend_from_slice(team_id.as_bytes());
    payload.extend_from_slice(invite_id.as_bytes());
    payload.extend_from_slice(&secret.0);
    let ct = age_encrypt(&team_epoch_recipient.to_recipient(), &payload)?;
    Ok(SealedInviteSecret(format!(
        "{SEALED_PREFIX}{}",
        b64url(&ct)
    )))
}

/// Recovers an invite secret sealed by [`seal_invite_secret`].
pub fn open_invite_secret(
    sealed: &SealedInviteSecret,
    team_id: Uuid,
    invite_id: Uuid,
    team_epoch_identity: &EpochIdentity,
) -> Result<InviteSecret, CryptoError> {
    let malformed = |reason| CryptoError::Malformed {
        what: "sealed invite secret",
        reason,
    };
    if sealed.0.len() > MAX_SEALED_LEN {
        return Err(malformed("too long"));
    }
    let body = sealed
        .0
        .strip_prefix(SEALED_PREFIX)
        .ok_or(malformed("unknown version prefix"))?;
    let ct = b64url_decode(body).ok_or(malformed("not base64url"))?;
    let plain = age_decrypt(team_epoch_identity.age(), &ct, 256).map_err(|e| match e {
        AgeOpenError::NotForThisKey => CryptoError::NotARecipient {
            what: "sealed invite secret",
        },
        AgeOpenError::Corrupt => malformed("does not decrypt"),
    })?;
    let rest = plain
        .strip_prefix(SEALED_MAGIC)
        .ok_or(malformed("wrong payload"))?;
    if rest.len() != 16 + 16 + 32 {
        return Err(malformed("wrong payload length"));
    }
    if rest[..16] != *team_id.as_bytes() || rest[16..32] != *invite_id.as_bytes() {
        return Err(CryptoError::InviteMismatch);
    }
    let mut s = [0u8; 32];
    s.copy_from_slice(&rest[32..]);
    Ok(InviteSecret(s))
}

/// The invitee's proof of its public key (32 bytes; base64url on the wire).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InviteProof(pub [u8; 32]);

impl InviteProof {
    /// base64url, no padding.
    pub fn to_base64(&self) -> String {
        b64url(&self.0)
    }

    /// Strict inverse of [`InviteProof::to_base64`].
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes =
            b64url_decode(text)
                .filter(|_| text.len() == 43)
                .ok_or(CryptoError::Malformed {
                    what: "invite proof",
                    reason: "not 32 bytes of base64url",
                })?;
        let arr = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::Malformed {
            what: "invite proof",
            reason: "not 32 bytes",
        })?;
        Ok(Self(arr))
    }
}

fn proof_mac(
    secret: &InviteSecret,
    team_id: Uuid,
    invite_id: Uuid,
    invitee_public_key: &PublicKey,
) -> HmacSha256 {
    let key = hkdf32(None, &secret.0, INFO_PROOF);
    let mut mac = match HmacSha256::new_from_slice(key.expose()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(
        format!(
            "envv/invite/v1 proof\nteam {}\ninvite {}\nkey {}",
            team_id.hyphenated(),
            invite_id.hyphenated(),
            invitee_public_key.as_str()
        )
        .as_bytes(),
    );
    mac
}

/// HMAC-SHA256 under HKDF(secret, "envv/invite/v1 proof-key") over the team,
/// the invite and the invitee's public key.
pub fn invite_proof(
    secret: &InviteSecret,
    team_id: Uuid,
    invite_id: Uuid,
    invitee_public_key: &PublicKey,
) -> InviteProof {
    InviteProof(
        proof_mac(secret, team_id, invite_id, invitee_public_key)
            .finalize()
            .into_bytes()
            .into(),
    )
}

/// Constant-time check of an invitee's proof against the public key the
/// server presents. Call before granting; a mismatch means the server (or
/// someone) substituted the key.
pub fn verify_invite_proof(
    secret: &InviteSecret,
    team_id: Uuid,
    invite_id: Uuid,
    invitee_public_key: &PublicKey,
    proof: &InviteProof,
) -> Result<(), CryptoError> {
    proof_mac(secret, team_id, invite_id, invitee_public_key)
        .verify_slice(&proof.0)
        .map_err(|_| CryptoError::InviteProofMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::UserIdentity;

    #[test]
    fn invite_code_round_trips_and_parsing_is_strict() {
        let code = InviteCode::generate();
        let text = code.to_code_string();
        let back = InviteCode::parse(&text).expect("parse");
        assert_eq!(back.invite_id, code.invite_id);
        assert_eq!(accept_token(&back.secret), accept_token(&code.secret));
        let bad = [
            "",
            "envv-inv1..",
            &text.replace("envv-inv1", "envv-inv2"),
            &text.to_uppercase(),
            &format!("{}x", text.as_str()),
            &text.replacen('.', ":", 1),
        ];
        for b in bad {
            assert!(InviteCode::parse(b).is_err(), "accepted {b:?}");
        }
    }

    #[test]
    fn substituted_public_key_is_rejected() {
        let team = Uuid::new_v4();
        let code = InviteCode::generate();
        let invitee = UserIdentity::generate().public_key();
        let proof = invite_proof(&code.secret, team, code.invite_id, &invitee);
        // The server swaps in a key it controls.
        let attacker = UserIdentity::generate().public_key();
        assert!(matches!(
            verify_invite_proof(&code.secret, team, code.invite_id, &attacker, &proof),
            Err(CryptoError::InviteProofMismatch)
        ));
        assert!(verify_invite_proof(&code.secret, team, code.invite_id, &invitee, &proof).is_ok());
        // And it cannot move the proof to another invite or team.
        assert!(verify_invite_proof(&code.secret, team, Uuid::new_v4(), &invitee, &proof).is_err());
        assert!(
            verify_invite_proof(
                &code.secret,
                Uuid::new_v4(),
                code.invite_id,
                &invitee,
                &proof
            )
            .is_err()
        );
        let wire = InviteProof::from_base64(&proof.to_base64()).expect("decode");
        assert_eq!(wire, proof);
    }

    #[test]
    fn any_team_key_holder_recovers_the_sealed_secret() {
        let team = Uuid::new_v4();
        let epoch = EpochIdentity::generate(team, 1);
        let code = InviteCode::generate();
        let sealed = seal_invite_secret(&code.secret, team, code.invite_id, &epoch.public_key())
            .expect("seal");
        let opened = open_invite_secret(&sealed, team, code.invite_id, &epoch).expect("open");
        assert_eq!(accept_token(&opened), accept_token(&code.secret));
        assert!(matches!(
            open_invite_secret(&sealed, team, Uuid::new_v4(), &epoch),
            Err(CryptoError::InviteMismatch)
        ));
        let other = EpochIdentity::generate(team, 2);
        assert!(matches!(
            open_invite_secret(&sealed, team, code.invite_id, &other),
            Err(CryptoError::NotARecipient { .. })
        ));
        assert_eq!(accept_token(&code.secret).server_hash().len(), 64);
    }
}
