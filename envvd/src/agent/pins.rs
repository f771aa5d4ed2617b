//! Members' identity keys as this machine first saw them, or verified them
//! when its agent admitted them (the invite proof binds the key to the
//! code handed over out of band). A rotation encrypts the new team key to
//! every member's identity key, which the server hands out; with pins, a
//! server that swaps one for a key of its own is caught instead of trusted.
//!
//! Stored in `pins.json` (0600): public keys only, but a tampered file
//! would let a tampered server through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::cache::{read_json, write_private};
use envv_core::crypto::PublicKey;

/// A generous bound: tens of thousands of members over all teams.
const MAX_FILE: u64 = 16 * 1024 * 1024;

type TeamPins = BTreeMap<Uuid, String>;

pub(super) struct Pins {
    file: PathBuf,
    teams: BTreeMap<Uuid, TeamPins>,
    /// The file is there but unreadable or too large: checks fail rather
    /// than quietly start over (which would trust every key again).
    damaged: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum PinError {
    /// The key the server presents is not the one pinned.
    Mismatch,
    /// `pins.json` can't be read.
    Damaged,
}

impl Pins {
    pub fn load(data_dir: &Path) -> Pins {
        let file = data_dir.join("pins.json");
        let teams = read_json(&file, MAX_FILE);
        Pins {
            damaged: teams.is_none() && file.exists(),
            teams: teams.unwrap_or_default(),
            file,
        }
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    fn save(&self) {
        let saved = serde_json::to_vec(&self.teams)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_private(&self.file, &bytes));
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not save the pinned member keys");
        }
    }

    /// Pins `key` for `user` on first sight; a different key than the
    /// pinned one is a [`PinError::Mismatch`] (and changes nothing), and so
    /// is a key that isn't one.
    pub fn check(&mut self, team: Uuid, user: Uuid, key: &str) -> Result<(), PinError> {
        if self.damaged {
            return Err(PinError::Damaged);
        }
        if key.parse::<PublicKey>().is_err() {
            return Err(PinError::Mismatch);
        }
        let pins = self.teams.entry(team).or_default();
        match pins.get(&user) {
            Some(pinned) if pinned == key => Ok(()),
            Some(_) => Err(PinError::Mismatch),
            None => {
                pins.insert(user, key.to_owned());
                self.save();
                Ok(())
            }
        }
    }

    /// `key` verified by an invite proof: it replaces any earlier pin (a
    /// member removed and invited again with a new identity).
    pub fn verified(&mut self, team: Uuid, user: Uuid, key: &str) {
        if self.damaged {
            return;
        }
        let pins = self.teams.entry(team).or_default();
        if pins.get(&user).map(String::as_str) != Some(key) {
            pins.insert(user, key.to_owned());
            self.save();
        }
    }

    /// A member left: a later invite pins their key afresh.
    pub fn forget(&mut self, team: Uuid, user: Uuid) {
        if let Some(pins) = self.teams.get_mut(&team)
            && pins.remove(&user).is_some()
        {
            self.save();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        envv_core::crypto::EpochIdentity::generate(Uuid::nil(), 1)
            .public_key()
            .as_str()
            .to_owned()
    }

    #[test]
    fn first_sight_pins_a_change_is_caught_and_a_proof_repins() {
        let dir = tempfile::tempdir().unwrap();
        let (team, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let (first, swapped, renewed) = (key(), key(), key());
        let mut pins = Pins::load(dir.path());
        pins.check(team, bob, &first).unwrap();
        pins.check(team, bob, &first).unwrap();
        // Remembered across restarts.
        let mut pins = Pins::load(dir.path());
        assert_eq!(pins.check(team, bob, &swapped), Err(PinError::Mismatch));
        assert_eq!(pins.check(team, bob, "not a key"), Err(PinError::Mismatch));
        pins.verified(team, bob, &renewed);
        pins.check(team, bob, &renewed).unwrap();
        pins.forget(team, bob);
        pins.check(team, bob, &first).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("pins.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        // A damaged file fails every check instead of trusting afresh.
        std::fs::write(dir.path().join("pins.json"), b"{ not json").unwrap();
        let mut pins = Pins::load(dir.path());
        assert_eq!(pins.check(team, bob, &first), Err(PinError::Damaged));
    }
}
