//! The `.env.enc` format: one file per environment, names in clear, values
//! sealed under a per-file data key that is wrapped once to the team's
//! current epoch key. See `docs/format.md` for the byte-level description.
//!
//! [`EnvFile`] is a decrypted file in memory. [`format`](mod@format) turns bytes into an
//! `EnvFile` (verifying everything) and back; [`edit`] does the locked,
//! atomic read-modify-write on disk; [`dotenv`] converts to and from plain
//! dotenv, JSON and shell.

pub mod dotenv;
pub mod edit;
mod error;
pub mod format;
mod names;
mod parse;

use std::collections::BTreeMap;

use uuid::Uuid;

pub use error::EnvFileError;
pub use names::{EnvName, MAX_ENV_LEN, MAX_NAME_LEN, SecretName};

use crate::crypto::{EpochIdentity, PublicKey, TeamKeyring};
use crate::secret::{Key32, SecretValue};

/// Largest `.env.enc` file read.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// Largest secret value.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most secrets in one file.
pub const MAX_SECRETS: usize = 100_000;

/// How strictly to check a file's epoch and generation when reading.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The environment the caller means to read; the file must say the same.
    pub env: EnvName,
    /// `Some(e)`: fail with [`EnvFileError::StaleEpoch`] if the file is
    /// older than epoch `e` (use the team's current epoch when a rollback
    /// must be caught). `None`: any epoch the keyring holds is readable,
    /// which current members need until every file is re-encrypted.
    pub expected_epoch: Option<u64>,
    /// `Some(g)`: fail with [`EnvFileError::RolledBack`] if the file's
    /// generation is below `g` (the agent remembers the highest generation
    /// it has seen per file).
    pub min_generation: Option<u64>,
}

impl ReadOptions {
    /// Reads any epoch the keyring holds.
    pub fn any_epoch(env: EnvName) -> Self {
        Self {
            env,
            expected_epoch: None,
            min_generation: None,
        }
    }

    /// Demands the keyring's current epoch.
    pub fn current(env: EnvName, keyring: &TeamKeyring) -> Self {
        Self {
            env,
            expected_epoch: Some(keyring.current_epoch()),
            min_generation: None,
        }
    }
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) value: SecretValue,
    /// The line's base64 value as read or last written; reused on write so
    /// unchanged secrets keep byte-identical lines (readable diffs).
    pub(crate) sealed: Option<String>,
}

/// A decrypted `.env.enc` file.
#[derive(Clone)]
pub struct EnvFile {
    pub(crate) team: Uuid,
    pub(crate) env: EnvName,
    pub(crate) epoch: u64,
    pub(crate) generation: u64,
    pub(crate) recipient: PublicKey,
    pub(crate) data_key: Key32,
    /// The `key` header value; reused while the data key is unchanged.
    pub(crate) wrapped_key: String,
    pub(crate) entries: BTreeMap<SecretName, Entry>,
    /// Who signed it: as read, or as last written. `None` for a new file.
    pub(crate) signer: Option<format::FileAuthor>,
}

impl EnvFile {
    /// An empty file for `env`, at the keyring's current epoch.
    pub fn new(keyring: &TeamKeyring, env: EnvName) -> Result<Self, EnvFileError> {
        let key = keyring.current();
        let (data_key, wrapped_key) = format::new_data_key(key)?;
        Ok(Self {
            team: keyring.team(),
            env,
            epoch: key.epoch(),
            generation: 0,
            recipient: key.public_key(),
            data_key,
            wrapped_key,
            entries: BTreeMap::new(),
            signer: None,
        })
    }

    /// Who signed the file as read (or last written).
    pub fn signer(&self) -> Option<format::FileAuthor> {
        self.signer
    }

    /// The team whose keys open this file.
    pub fn team(&self) -> Uuid {
        self.team
    }

    /// The environment.
    pub fn env(&self) -> &EnvName {
        &self.env
    }

    /// The team key epoch the file is encrypted at.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Increases by one on every write; lets readers detect rollbacks.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of secrets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file holds no secrets.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One secret's value.
    pub fn get(&self, name: &str) -> Option<&SecretValue> {
        self.entries.get(name).map(|e| &e.value)
    }

    /// Names in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &SecretName> {
        self.entries.keys()
    }

    /// Names and values in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&SecretName, &SecretValue)> {
        self.entries.iter().map(|(k, e)| (k, &e.value))
    }

    /// Sets a secret. Values must fit in 1 MiB and contain no NUL byte (an
    /// environment variable cannot hold one).
    pub fn set(&mut self, name: SecretName, value: SecretValue) -> Result<(), EnvFileError> {
        validate_value(&name, &value)?;
        if self.entries.len() >= MAX_SECRETS && !self.entries.contains_key(&name) {
            return Err(EnvFileError::TooLarge {
                what: "number of secrets",
                limit: MAX_SECRETS,
            });
        }
        if self.entries.get(&name).is_some_and(|e| e.value == value) {
            return Ok(());
        }
        self.entries.insert(
            name,
            Entry {
                value,
                sealed: None,
            },
        );
        Ok(())
    }

    /// Removes a secret.
    pub fn unset(&mut self, name: &str) -> Result<SecretValue, EnvFileError> {
        self.entries
            .remove(name)
            .map(|e| e.value)
            .ok_or_else(|| EnvFileError::NotFound {
                name: name.to_owned(),
            })
    }

    /// Renames a secret; the value is re-sealed because the name is bound
    /// into its associated data.
    pub fn rename(&mut self, from: &str, to: SecretName) -> Result<(), EnvFileError> {
        if self.entries.contains_key(&to) {
            return Err(EnvFileError::AlreadyExists {
                name: to.to_string(),
            });
        }
        let entry = self
            .entries
            .remove(from)
            .ok_or_else(|| EnvFileError::NotFound {
                name: from.to_owned(),
            })?;
        self.entries.insert(
            to,
            Entry {
                value: entry.value,
                sealed: None,
            },
        );
        Ok(())
    }

    /// Moves the file to `key`'s epoch with a fresh data key, so nobody who
    /// only knew the old data key (a removed member) can read new versions.
    pub fn rekey(&mut self, key: &EpochIdentity) -> Result<(), EnvFileError> {
        let (data_key, wrapped_key) = format::new_data_key(key)?;
        self.epoch = key.epoch();
        self.recipient = key.public_key();
        self.data_key = data_key;
        self.wrapped_key = wrapped_key;
        for entry in self.entries.values_mut() {
            entry.sealed = None;
        }
        Ok(())
    }

    /// Produces the bytes of the next version of this file: at the keyring's
    /// current epoch (re-keying if the file is older) and with the generation
    /// increased. Every write goes through here. Refused while the member
    /// lacks the team's current epoch key (see [`TeamKeyring::writable`]).
    pub fn seal_for_write(&mut self, keyring: &TeamKeyring) -> Result<String, EnvFileError> {
        if keyring.team() != self.team {
            return Err(EnvFileError::WrongTeam {
                file: self.team,
                expected: keyring.team(),
            });
        }
        if !keyring.writable() {
            return Err(EnvFileError::CurrentKeyMissing {
                team_epoch: keyring.team_epoch(),
                held: keyring.current_epoch(),
            });
        }
        let signer = keyring.signer().ok_or(EnvFileError::NoSigner)?;
        if self.epoch != keyring.current_epoch() {
            self.rekey(keyring.current())?;
        }
        self.generation += 1;
        format::encode(self, keyring.current(), signer)
    }
}

impl std::fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvFile")
            .field("team", &self.team)
            .field("env", &self.env)
            .field("epoch", &self.epoch)
            .field("generation", &self.generation)
            .field("names", &self.entries.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

pub(crate) fn validate_value(name: &SecretName, value: &SecretValue) -> Result<(), EnvFileError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(EnvFileError::InvalidValue {
            name: name.to_string(),
            reason: "larger than 1 MiB",
        });
    }
    if value.expose().as_bytes().contains(&0) {
        return Err(EnvFileError::InvalidValue {
            name: name.to_string(),
            reason: "contains a NUL byte, which environment variables cannot hold",
        });
    }
    Ok(())
}
