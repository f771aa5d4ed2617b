//! Team key epochs and grants.
//!
//! Each team has one age X25519 key pair per epoch. A grant is an epoch's
//! secret key encrypted to one member's identity; the server stores grants
//! but can open none. Rotation makes a new epoch and grants it only to the
//! members who remain.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::identity::{PublicKey, UserIdentity};
use super::{AgeOpenError, CryptoError, age_decrypt, age_encrypt, b64url, b64url_decode, hkdf32};
use crate::secret::Key32;

const GRANT_PREFIX: &str = "envv-grant1.";
const GRANT_MAGIC: &str = "envv-grant/v1";
const MAX_GRANT_LEN: usize = 2048;
const FILE_AUTH_SALT: &[u8] = b"envv-env/v1";
const FILE_AUTH_INFO: &[u8] = b"envv-env/v1 team-file-auth";

/// An age identity's `AGE-SECRET-KEY-1...` string, in a zeroising buffer.
fn secret_string(identity: &age::x25519::Identity) -> zeroize::Zeroizing<String> {
    use secrecy::ExposeSecret as _;
    zeroize::Zeroizing::new(identity.to_string().expose_secret().to_owned())
}

/// One epoch's key pair for one team, held in clear only in memory.
#[derive(Clone)]
pub struct EpochIdentity {
    team: Uuid,
    epoch: u64,
    identity: age::x25519::Identity,
    /// Authenticates `.env.enc` files: derived from the secret key, so holding
    /// the public key alone is not enough to forge a file.
    file_auth: Key32,
}

impl EpochIdentity {
    /// A fresh key pair for `team` at `epoch` (team creation or rotation).
    pub fn generate(team: Uuid, epoch: u64) -> Self {
        Self::from_age(team, epoch, age::x25519::Identity::generate())
    }

    /// Rebuilds an epoch key from its `AGE-SECRET-KEY-1...` string (test
    /// vectors, the local no-account mode).
    pub fn from_secret_str(team: Uuid, epoch: u64, secret: &str) -> Result<Self, CryptoError> {
        let identity =
            age::x25519::Identity::from_str(secret.trim()).map_err(|_| CryptoError::Malformed {
                what: "epoch key",
                reason: "not an age X25519 secret key",
            })?;
        Ok(Self::from_age(team, epoch, identity))
    }

    fn from_age(team: Uuid, epoch: u64, identity: age::x25519::Identity) -> Self {
        let secret = secret_string(&identity);
        let file_auth = hkdf32(Some(FILE_AUTH_SALT), secret.as_bytes(), FILE_AUTH_INFO);
        Self {
            team,
            epoch,
            identity,
            file_auth,
        }
    }

    /// The team this key belongs to.
    pub fn team(&self) -> Uuid {
        self.team
    }

    /// The epoch number (1 for a new team, +1 per rotation).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The recipient that files and sealed invites are encrypted to; the
    /// server publishes it at `/teams/{id}/keys/public`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_recipient(&self.identity.to_public())
    }

    pub(crate) fn age(&self) -> &age::x25519::Identity {
        &self.identity
    }

    pub(crate) fn file_auth(&self) -> &Key32 {
        &self.file_auth
    }

    /// Encrypts this epoch key to one member. Only clients call this: an
    /// admin's agent after verifying an invite proof, or the rotating client.
    pub fn grant_to(&self, member: &PublicKey) -> Result<Grant, CryptoError> {
        let secret = secret_string(&self.identity);
        let payload = zeroize::Zeroizing::new(format!(
            "{GRANT_MAGIC}\nteam {}\nepoch {}\n{}",
            self.team.hyphenated(),
            self.epoch,
            secret.as_str()
        ));
        let ct = age_encrypt(&member.to_recipient(), payload.as_bytes())?;
        Ok(Grant(format!("{GRANT_PREFIX}{}", b64url(&ct))))
    }
}

impl fmt::Debug for EpochIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochIdentity")
            .field("team", &self.team)
            .field("epoch", &self.epoch)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An epoch key encrypted to one member: `envv-grant1.` followed by
/// base64url of a binary age file (one X25519 stanza) whose plaintext names
/// the team and epoch, so a grant cannot be replayed as another epoch's.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Grant(String);

impl Grant {
    /// Validates the shape without decrypting.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let malformed = |reason| CryptoError::Malformed {
            what: "grant",
            reason,
        };
        if text.len() > MAX_GRANT_LEN {
            return Err(malformed("too long"));
        }
        let body = text
            .strip_prefix(GRANT_PREFIX)
            .ok_or(malformed("unknown version prefix"))?;
        b64url_decode(body).ok_or(malformed("not base64url"))?;
        Ok(Self(text.to_owned()))
    }

    /// The text form stored by the server.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Opens the grant with the member's identity and checks it really is
    /// the key of `team` at `epoch`.
    pub fn open(
        &self,
        member: &UserIdentity,
        team: Uuid,
        epoch: u64,
    ) -> Result<EpochIdentity, CryptoError> {
        let malformed = |reason| CryptoError::Malformed {
            what: "grant",
            reason,
        };
        let body = self
            .0
            .strip_prefix(GRANT_PREFIX)
            .ok_or(malformed("unknown version prefix"))?;
        let ct = b64url_decode(body).ok_or(malformed("not base64url"))?;
        let plain = age_decrypt(member.age(), &ct, 512).map_err(|e| match e {
            AgeOpenError::NotForThisKey => CryptoError::NotARecipient { what: "grant" },
            AgeOpenError::Corrupt => malformed("does not decrypt"),
        })?;
        let text = std::str::from_utf8(&plain).map_err(|_| malformed("payload is not text"))?;
        let mut lines = text.split('\n');
        let (Some(GRANT_MAGIC), Some(team_line), Some(epoch_line), Some(secret), None) = (
            lines.next(),
            lines.next(),
            lines.next(),
            lines.next(),
            lines.next(),
        ) else {
            return Err(malformed("payload has the wrong shape"));
        };
        let found_team = team_line
            .strip_prefix("team ")
            .and_then(|t| Uuid::try_parse(t).ok())
            .ok_or(malformed("bad team line"))?;
        let found_epoch = epoch_line
            .strip_prefix("epoch ")
            .and_then(|e| e.parse::<u64>().ok())
            .ok_or(malformed("bad epoch line"))?;
        if found_team != team || found_epoch != epoch {
            return Err(CryptoError::GrantMismatch {
                expected_team: team,
                expected_epoch: epoch,
                found_team,
                found_epoch,
            });
        }
        EpochIdentity::from_secret_str(team, epoch, secret)
    }
}

impl TryFrom<String> for Grant {
    type Error = CryptoError;
    fn try_from(s: String) -> Result<Self, CryptoError> {
        Self::parse(&s)
    }
}

impl From<Grant> for String {
    fn from(g: Grant) -> String {
        g.0
    }
}

/// The epoch keys one member holds for one team. Old epochs stay so that
/// files not yet re-encrypted remain readable; writes always use `current`.
#[derive(Clone, Debug)]
pub struct TeamKeyring {
    team: Uuid,
    current: u64,
    /// The team's current epoch as last reported by the control plane; may
    /// be ahead of `current` while this member's newest grant is pending.
    team_current: u64,
    epochs: BTreeMap<u64, EpochIdentity>,
}

impl TeamKeyring {
    /// A keyring whose current epoch is `current`'s.
    pub fn new(current: EpochIdentity) -> Self {
        let mut epochs = BTreeMap::new();
        let team = current.team;
        let epoch = current.epoch;
        epochs.insert(epoch, current);
        Self {
            team,
            current: epoch,
            team_current: epoch,
            epochs,
        }
    }

    /// Adds an epoch key; becomes current if it is the newest.
    pub fn insert(&mut self, key: EpochIdentity) -> Result<(), CryptoError> {
        if key.team != self.team {
            return Err(CryptoError::WrongTeam {
                expected: self.team,
                found: key.team,
            });
        }
        self.current = self.current.max(key.epoch);
        self.team_current = self.team_current.max(key.epoch);
        self.epochs.insert(key.epoch, key);
        Ok(())
    }

    /// The team.
    pub fn team(&self) -> Uuid {
        self.team
    }

    /// The epoch writes use.
    pub fn current_epoch(&self) -> u64 {
        self.current
    }

    /// Records the team's current epoch as reported by the control plane.
    /// If it is newer than any key held, writes are refused
    /// ([`TeamKeyring::writable`]) so no secret is sealed to an epoch a
    /// removed member may still hold.
    pub fn note_team_epoch(&mut self, epoch: u64) {
        self.team_current = self.team_current.max(epoch);
    }

    /// The team's current epoch as far as this keyring knows.
    pub fn team_epoch(&self) -> u64 {
        self.team_current
    }

    /// Whether this member holds the team's current epoch key, which every
    /// write requires.
    pub fn writable(&self) -> bool {
        self.current >= self.team_current
    }

    /// Opens a member's grants into a keyring. Each grant is checked
    /// against the team and epoch it is listed under.
    pub fn from_grants<'a>(
        member: &UserIdentity,
        team: Uuid,
        grants: impl IntoIterator<Item = (u64, &'a Grant)>,
    ) -> Result<Option<Self>, CryptoError> {
        let mut ring: Option<Self> = None;
        for (epoch, grant) in grants {
            let key = grant.open(member, team, epoch)?;
            match ring.as_mut() {
                Some(r) => r.insert(key)?,
                None => ring = Some(Self::new(key)),
            }
        }
        Ok(ring)
    }

    /// The current epoch's key.
    pub fn current(&self) -> &EpochIdentity {
        match self.epochs.get(&self.current) {
            Some(k) => k,
            None => unreachable!("the current epoch is always in the map"),
        }
    }

    /// The key of a given epoch, if this member holds it.
    pub fn get(&self, epoch: u64) -> Option<&EpochIdentity> {
        self.epochs.get(&epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_for_epoch_one_cannot_be_opened_as_epoch_two() {
        let team = Uuid::new_v4();
        let member = UserIdentity::generate();
        let e1 = EpochIdentity::generate(team, 1);
        let grant = e1.grant_to(&member.public_key()).expect("grant");
        let opened = grant.open(&member, team, 1).expect("open");
        assert_eq!(opened.public_key(), e1.public_key());
        assert!(matches!(
            grant.open(&member, team, 2),
            Err(CryptoError::GrantMismatch { .. })
        ));
        assert!(matches!(
            grant.open(&member, Uuid::new_v4(), 1),
            Err(CryptoError::GrantMismatch { .. })
        ));
    }

    #[test]
    fn only_the_member_can_open_their_grant() {
        let team = Uuid::new_v4();
        let e1 = EpochIdentity::generate(team, 1);
        let grant = e1
            .grant_to(&UserIdentity::generate().public_key())
            .expect("grant");
        let stranger = UserIdentity::generate();
        assert!(matches!(
            grant.open(&stranger, team, 1),
            Err(CryptoError::NotARecipient { .. })
        ));
    }

    #[test]
    fn keyring_tracks_newest_epoch_and_refuses_other_teams() {
        let team = Uuid::new_v4();
        let mut ring = TeamKeyring::new(EpochIdentity::generate(team, 1));
        ring.insert(EpochIdentity::generate(team, 2))
            .expect("insert");
        assert_eq!(ring.current_epoch(), 2);
        assert!(ring.get(1).is_some());
        assert!(
            ring.insert(EpochIdentity::generate(Uuid::new_v4(), 3))
                .is_err()
        );
    }
}
