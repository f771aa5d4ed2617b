//! Bytes ↔ [`EnvFile`]: parsing, verification and encoding of `.env.enc` v1.
//!
//! Verification runs in a fixed order so that each kind of tampering is
//! reported by name (see `docs/format.md`, "Verification order").

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use super::parse::{MAX_EPOCH_PREFIX, unverified_epoch, unverified_names};
use super::parse::{parse, utf8};
use super::{Entry, EnvFile, EnvFileError, EnvName, MAX_VALUE_BYTES, ReadOptions, SecretName};
use crate::crypto::{self, AgeOpenError, EpochIdentity, PublicKey, TeamKeyring};
use crate::secret::{Key32, SecretValue};

/// First line of every v1 file.
pub const MAGIC: &str = "envv-env v1";
const INFO_VALUE: &[u8] = b"envv-env/v1 value-key";
const INFO_HEADER_MAC: &[u8] = b"envv-env/v1 header-mac";
const INFO_FILE_MAC: &[u8] = b"envv-env/v1 file-mac";
/// Longest accepted secret line: a 256-byte name, `=`, and base64 of
/// nonce + 1 MiB + tag.
pub const MAX_LINE_BYTES: usize = 256 + 1 + (24 + MAX_VALUE_BYTES + 16).div_ceil(3) * 4;

type HmacSha256 = Hmac<Sha256>;

/// The subkeys of one file, all derived from its data key and the epoch's
/// secret-key-derived file-auth key.
struct FileKeys {
    value: Key32,
    header_mac: Key32,
    file_mac: Key32,
}

impl FileKeys {
    fn derive(file_auth: &Key32, data_key: &Key32) -> Self {
        let salt = Some(file_auth.expose().as_slice());
        Self {
            value: crypto::hkdf32(salt, data_key.expose(), INFO_VALUE),
            header_mac: crypto::hkdf32(salt, data_key.expose(), INFO_HEADER_MAC),
            file_mac: crypto::hkdf32(salt, data_key.expose(), INFO_FILE_MAC),
        }
    }
}

fn hmac(key: &Key32, data: &[u8]) -> [u8; 32] {
    let mut mac = match HmacSha256::new_from_slice(key.expose()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Associated data of one value: binds it to its name, environment, team and
/// epoch, so it cannot be moved to another line, file or epoch. Built as a
/// per-file prefix plus the name, so a read allocates it once.
struct Aad {
    buf: Vec<u8>,
    prefix_len: usize,
}

impl Aad {
    fn new(team: Uuid, epoch: u64, env: &str) -> Self {
        let prefix = format!(
            "envv-env/v1 value\nteam {}\nepoch {epoch}\nenv {env}\nname ",
            team.hyphenated()
        );
        let prefix_len = prefix.len();
        Self {
            buf: prefix.into_bytes(),
            prefix_len,
        }
    }

    fn for_name(&mut self, name: &str) -> &[u8] {
        self.buf.truncate(self.prefix_len);
        self.buf.extend_from_slice(name.as_bytes());
        &self.buf
    }
}

/// A fresh 32-byte data key and its `key` header value (base64 of a binary
/// age file, one X25519 stanza, to the epoch's recipient).
pub(crate) fn new_data_key(key: &EpochIdentity) -> Result<(Key32, String), EnvFileError> {
    let data_key = Key32::random();
    let age_file = crypto::age_encrypt(&key.public_key().to_recipient(), data_key.expose())?;
    Ok((data_key, crypto::b64std(&age_file)))
}

/// Parses and fully verifies a file, returning its decrypted contents.
pub fn decrypt(
    text: &[u8],
    keyring: &TeamKeyring,
    opts: &ReadOptions,
) -> Result<EnvFile, EnvFileError> {
    let raw = parse(text)?;
    if raw.team != keyring.team() {
        return Err(EnvFileError::WrongTeam {
            file: raw.team,
            expected: keyring.team(),
        });
    }
    if raw.env != opts.env.as_str() {
        return Err(EnvFileError::WrongEnvironment {
            file: raw.env.to_owned(),
            expected: opts.env.to_string(),
        });
    }
    if let Some(expected) = opts.expected_epoch {
        if raw.epoch < expected {
            return Err(EnvFileError::StaleEpoch {
                file: raw.epoch,
                expected,
            });
        }
        if raw.epoch > expected {
            return Err(EnvFileError::NewerEpoch {
                file: raw.epoch,
                known: expected,
            });
        }
    }
    if raw.epoch > keyring.current_epoch() {
        return Err(EnvFileError::NewerEpoch {
            file: raw.epoch,
            known: keyring.current_epoch(),
        });
    }
    let epoch_key = keyring
        .get(raw.epoch)
        .ok_or(EnvFileError::NoKeyForEpoch { epoch: raw.epoch })?;
    let recipient_matches = epoch_key.public_key().as_str() == raw.recipient;

    // One asymmetric operation per file.
    let age_file = crypto::b64std_decode(raw.key).ok_or(EnvFileError::HeaderTampered)?;
    let data_key = match crypto::age_decrypt(epoch_key.age(), &age_file, 32) {
        Ok(k) => <[u8; 32]>::try_from(k.as_slice())
            .map(Key32::from_bytes)
            .map_err(|_| EnvFileError::HeaderTampered)?,
        Err(AgeOpenError::NotForThisKey) if !recipient_matches => {
            return Err(EnvFileError::WrongKey { epoch: raw.epoch });
        }
        Err(_) => return Err(EnvFileError::HeaderTampered),
    };
    let keys = FileKeys::derive(epoch_key.file_auth(), &data_key);
    let header_mac = crypto::b64std_decode(raw.header_mac).ok_or(EnvFileError::HeaderTampered)?;
    if !bool::from(hmac(&keys.header_mac, &text[..raw.header_end]).ct_eq(header_mac.as_slice())) {
        return Err(EnvFileError::HeaderTampered);
    }
    // The header is authentic from here on.
    if let Some(expected) = opts.min_generation
        && raw.generation < expected
    {
        return Err(EnvFileError::RolledBack {
            file: raw.generation,
            expected,
        });
    }
    if raw.lines.len() != raw.count {
        return Err(EnvFileError::LineMissingOrInserted {
            expected: raw.count,
            found: raw.lines.len(),
        });
    }
    for pair in raw.lines.windows(2) {
        let (a, b) = (pair[0].1, pair[1].1);
        if a == b {
            return Err(EnvFileError::DuplicateName { name: b.to_owned() });
        }
        if a > b {
            return Err(EnvFileError::LinesReordered { name: b.to_owned() });
        }
    }

    let mut entries = BTreeMap::new();
    let opener = crypto::Opener::new(&keys.value);
    let mut aad = Aad::new(raw.team, raw.epoch, raw.env);
    let mut sealed = Vec::new();
    for &(number, name, sealed_b64) in &raw.lines {
        crypto::b64std_decode_into(sealed_b64, &mut sealed).ok_or(EnvFileError::Malformed {
            line: number,
            reason: "value is not base64",
        })?;
        let mut plain = opener.open(aad.for_name(name), &sealed).ok_or_else(|| {
            EnvFileError::ValueMovedOrForged {
                name: name.to_owned(),
            }
        })?;
        let value = String::from_utf8(std::mem::take(&mut *plain)).map_err(|e| {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            EnvFileError::Malformed {
                line: number,
                reason: "value is not UTF-8",
            }
        })?;
        let name = SecretName::from_validated(name);
        let value = SecretValue::new(value);
        super::validate_value(&name, &value)?;
        let sealed = Some(utf8(number, sealed_b64)?.to_owned());
        entries.insert(name, Entry { value, sealed });
    }

    let file_mac = crypto::b64std_decode(raw.file_mac).ok_or(EnvFileError::BadMac)?;
    if !bool::from(hmac(&keys.file_mac, &text[..raw.body_end]).ct_eq(file_mac.as_slice())) {
        return Err(EnvFileError::BadMac);
    }

    Ok(EnvFile {
        team: raw.team,
        env: EnvName::new(raw.env)?,
        epoch: raw.epoch,
        generation: raw.generation,
        recipient: epoch_key.public_key(),
        data_key,
        wrapped_key: utf8(0, raw.key)?.to_owned(),
        entries,
    })
}

/// The key schedule of a file, hex-encoded, for the test vectors in
/// `envvd/core/tests/vectors/` (so another implementation can check each step).
/// Exposes key material: tests and vector generation only.
#[doc(hidden)]
pub fn debug_key_schedule(text: &[u8], key: &EpochIdentity) -> Option<Vec<(&'static str, String)>> {
    let raw = parse(text).ok()?;
    let age_file = crypto::b64std_decode(raw.key)?;
    let data_key = crypto::age_decrypt(key.age(), &age_file, 32).ok()?;
    let data_key = Key32::from_bytes(<[u8; 32]>::try_from(data_key.as_slice()).ok()?);
    let keys = FileKeys::derive(key.file_auth(), &data_key);
    let hex = |k: &Key32| {
        k.expose()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    Some(vec![
        ("data_key", hex(&data_key)),
        ("file_auth_key", hex(key.file_auth())),
        ("value_key", hex(&keys.value)),
        ("header_mac_key", hex(&keys.header_mac)),
        ("file_mac_key", hex(&keys.file_mac)),
    ])
}

/// Encodes `file` with `key` (which must be the key of the file's epoch).
pub(crate) fn encode(file: &mut EnvFile, key: &EpochIdentity) -> Result<String, EnvFileError> {
    encode_with_auth(file, key.file_auth(), &key.public_key())
}

fn encode_with_auth(
    file: &mut EnvFile,
    file_auth: &Key32,
    recipient: &PublicKey,
) -> Result<String, EnvFileError> {
    let keys = FileKeys::derive(file_auth, &file.data_key);
    let mut aad = Aad::new(file.team, file.epoch, file.env.as_str());
    let mut out = String::with_capacity(512 + file.entries.len() * 96);
    out.push_str(MAGIC);
    out.push('\n');
    out.push_str(&format!(
        "team {}\nepoch {}\nenv {}\ngeneration {}\ncount {}\nrecipient {}\nkey {}\n",
        file.team.hyphenated(),
        file.epoch,
        file.env,
        file.generation,
        file.entries.len(),
        recipient,
        file.wrapped_key
    ));
    let header_mac = hmac(&keys.header_mac, out.as_bytes());
    out.push_str("header-mac ");
    out.push_str(&crypto::b64std(&header_mac));
    out.push('\n');
    for (name, entry) in &mut file.entries {
        let sealed = entry.sealed.get_or_insert_with(|| {
            let aad = aad.for_name(name.as_str());
            crypto::b64std(&crypto::seal(
                &keys.value,
                aad,
                entry.value.expose().as_bytes(),
            ))
        });
        out.push_str(name.as_str());
        out.push('=');
        out.push_str(sealed);
        out.push('\n');
    }
    let file_mac = hmac(&keys.file_mac, out.as_bytes());
    out.push_str("file-mac ");
    out.push_str(&crypto::b64std(&file_mac));
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::EpochIdentity;

    #[test]
    fn a_whole_file_forged_with_only_the_public_key_is_rejected() {
        let team = Uuid::new_v4();
        let ring = TeamKeyring::new(EpochIdentity::generate(team, 1));
        let mut file = EnvFile::new(&ring, EnvName::default_env()).expect("new");
        file.set(SecretName::new("A").expect("name"), "evil".into())
            .expect("set");
        // The forger wraps a data key to the real recipient (public) but must
        // guess the file-auth key, which needs the epoch's secret key.
        let guessed = Key32::random();
        file.generation = 1;
        let forged =
            encode_with_auth(&mut file, &guessed, &ring.current().public_key()).expect("encode");
        let opts = ReadOptions::any_epoch(EnvName::default_env());
        assert!(matches!(
            decrypt(forged.as_bytes(), &ring, &opts),
            Err(EnvFileError::HeaderTampered)
        ));
    }
}
