//! The admin side of joining: before an admin's client wraps the team key
//! for someone waiting for it, it checks that the public key the server
//! presents is the one the invitee proved with the invite secret.

use std::str::FromStr;

use uuid::Uuid;

use super::CryptoError;
use super::identity::PublicKey;
use super::invite::{InviteProof, SealedInviteSecret, open_invite_secret, verify_invite_proof};
use super::team::{Grant, TeamKeyring};

/// A member waiting for a key, as the control plane describes them
/// (`GET /teams/{team}/grants/pending`). Every field comes from the server
/// and is checked, not trusted.
#[derive(Debug, Clone, Copy)]
pub struct Newcomer<'a> {
    /// The invite they joined with.
    pub invite_id: Uuid,
    /// The public key the server says is theirs.
    pub identity_public_key: &'a str,
    /// The invite secret, sealed to the team key when the invite was made.
    pub sealed_secret: &'a str,
    /// The newcomer's proof over their public key.
    pub proof: &'a str,
}

/// Recovers the invite secret, checks the newcomer's proof against the
/// public key the server presents, and only then wraps the current epoch
/// key for that public key. A server that substituted its own key gets
/// [`CryptoError::InviteProofMismatch`] and no grant.
pub fn admit(newcomer: &Newcomer<'_>, keyring: &TeamKeyring) -> Result<Grant, CryptoError> {
    let team = keyring.team();
    let public_key = PublicKey::from_str(newcomer.identity_public_key)?;
    let proof = InviteProof::from_base64(newcomer.proof)?;
    let sealed = SealedInviteSecret(newcomer.sealed_secret.to_owned());
    // The secret was sealed to the epoch current when the invite was made,
    // which may be older than today's: try the epochs held, newest first.
    let mut opened = Err(CryptoError::NotARecipient {
        what: "sealed invite secret",
    });
    for epoch in (1..=keyring.current_epoch()).rev() {
        let Some(key) = keyring.get(epoch) else {
            continue;
        };
        opened = open_invite_secret(&sealed, team, newcomer.invite_id, key);
        if !matches!(opened, Err(CryptoError::NotARecipient { .. })) {
            break;
        }
    }
    let secret = opened?;
    verify_invite_proof(&secret, team, newcomer.invite_id, &public_key, &proof)?;
    keyring.current().grant_to(&public_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{
        EpochIdentity, InviteCode, UserIdentity, invite_proof, seal_invite_secret,
    };

    struct Setup {
        ring: TeamKeyring,
        code: InviteCode,
        sealed: String,
        invitee: UserIdentity,
        proof: String,
    }

    fn setup() -> Setup {
        let team = Uuid::new_v4();
        let epoch = EpochIdentity::generate(team, 1);
        let code = InviteCode::generate();
        let sealed = seal_invite_secret(&code.secret, team, code.invite_id, &epoch.public_key())
            .unwrap()
            .0;
        let invitee = UserIdentity::generate();
        let proof =
            invite_proof(&code.secret, team, code.invite_id, &invitee.public_key()).to_base64();
        Setup {
            ring: TeamKeyring::new(epoch),
            code,
            sealed,
            invitee,
            proof,
        }
    }

    #[test]
    fn a_proven_newcomer_gets_a_grant_they_can_open() {
        let s = setup();
        let pk = s.invitee.public_key();
        let newcomer = Newcomer {
            invite_id: s.code.invite_id,
            identity_public_key: pk.as_str(),
            sealed_secret: &s.sealed,
            proof: &s.proof,
        };
        let grant = admit(&newcomer, &s.ring).unwrap();
        let key = grant.open(&s.invitee, s.ring.team(), 1).unwrap();
        assert_eq!(key.public_key(), s.ring.current().public_key());
    }

    #[test]
    fn a_substituted_public_key_gets_nothing() {
        let s = setup();
        let mallory = UserIdentity::generate().public_key();
        let newcomer = Newcomer {
            invite_id: s.code.invite_id,
            identity_public_key: mallory.as_str(),
            sealed_secret: &s.sealed,
            proof: &s.proof,
        };
        assert!(matches!(
            admit(&newcomer, &s.ring),
            Err(CryptoError::InviteProofMismatch)
        ));
    }

    #[test]
    fn a_secret_sealed_before_a_rotation_still_opens() {
        let mut s = setup();
        s.ring
            .insert(EpochIdentity::generate(s.ring.team(), 2))
            .unwrap();
        let pk = s.invitee.public_key();
        let newcomer = Newcomer {
            invite_id: s.code.invite_id,
            identity_public_key: pk.as_str(),
            sealed_secret: &s.sealed,
            proof: &s.proof,
        };
        let grant = admit(&newcomer, &s.ring).unwrap();
        assert!(grant.open(&s.invitee, s.ring.team(), 2).is_ok());
    }

    #[test]
    fn a_proof_for_another_invite_is_refused() {
        let s = setup();
        let pk = s.invitee.public_key();
        let newcomer = Newcomer {
            invite_id: Uuid::new_v4(),
            identity_public_key: pk.as_str(),
            sealed_secret: &s.sealed,
            proof: &s.proof,
        };
        assert!(admit(&newcomer, &s.ring).is_err());
    }
}
