//! A user's age X25519 identity and its password-wrapped storage form.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;
use std::str::FromStr;

use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::kdf::WrapKey;
use super::signing::{SigningKey, VerifyingKey};
use super::{CryptoError, b64url, b64url_decode, open, seal};

/// Prefix of the text form of a wrapped identity; the digit is the version.
const WRAPPED_PREFIX: &str = "envv-idw1.";
/// Associated data of the identity AEAD: pins the blob's purpose and version.
const WRAP_AAD: &[u8] = b"envv/identity-wrap/v1";
/// Bech32 secret keys are 74 characters; anything much longer is not one.
const MAX_WRAPPED_LEN: usize = 512;

/// An age X25519 public key (`age1...`): a user's, or a team epoch's.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey(String);

impl PublicKey {
    /// Canonical `age1...` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn to_recipient(&self) -> age::x25519::Recipient {
        // The string was validated on construction.
        match age::x25519::Recipient::from_str(&self.0) {
            Ok(r) => r,
            Err(_) => unreachable!("PublicKey holds a validated recipient"),
        }
    }

    pub(crate) fn from_recipient(r: &age::x25519::Recipient) -> Self {
        Self(r.to_string())
    }
}

impl FromStr for PublicKey {
    type Err = CryptoError;

    /// Accepts only a canonical (lowercase) age X25519 recipient, so one key
    /// has exactly one string form (proofs and comparisons use that string).
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        if s.len() > 128 {
            return Err(CryptoError::InvalidPublicKey);
        }
        let r = age::x25519::Recipient::from_str(s).map_err(|_| CryptoError::InvalidPublicKey)?;
        let canonical = r.to_string();
        if canonical != s {
            return Err(CryptoError::InvalidPublicKey);
        }
        Ok(Self(canonical))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.0)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A user's private identity. Made on the user's machine at signup; its
/// secret half exists in clear only in this process's memory.
///
/// It holds two keys: the age X25519 key that grants are encrypted to, and
/// an Ed25519 key derived from it that signs the team chain's statements.
#[derive(Clone)]
pub struct UserIdentity {
    age: age::x25519::Identity,
    signing: SigningKey,
}

impl UserIdentity {
    /// A fresh identity from the OS CSPRNG.
    pub fn generate() -> Self {
        Self::from_age(age::x25519::Identity::generate())
    }

    /// The public half, sent to the server at signup.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_recipient(&self.age.to_public())
    }

    /// The public half of the signing key, published beside [`Self::public_key`].
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Signs team chain statements and invite acceptances.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Parses an `AGE-SECRET-KEY-1...` string (test vectors, local mode).
    pub fn from_secret_str(s: &str) -> Result<Self, CryptoError> {
        age::x25519::Identity::from_str(s.trim())
            .map(Self::from_age)
            .map_err(|_| CryptoError::Malformed {
                what: "identity",
                reason: "not an age X25519 secret key",
            })
    }

    /// The `AGE-SECRET-KEY-1...` string, in a zeroising buffer.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        Zeroizing::new(self.age.to_string().expose_secret().to_owned())
    }

    pub(crate) fn age(&self) -> &age::x25519::Identity {
        &self.age
    }

    pub(crate) fn from_age(age: age::x25519::Identity) -> Self {
        let signing = SigningKey::for_identity(age.to_string().expose_secret());
        Self { age, signing }
    }

    /// Encrypts this identity under the password-derived wrap key.
    pub fn wrap(&self, wrap_key: &WrapKey) -> WrappedIdentity {
        let secret = self.to_secret_string();
        let sealed = seal(&wrap_key.0, WRAP_AAD, secret.as_bytes());
        WrappedIdentity(format!("{WRAPPED_PREFIX}{}", b64url(&sealed)))
    }
}

impl fmt::Debug for UserIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The identity encrypted under the wrap key: `envv-idw1.` followed by
/// base64url(nonce(24) || XChaCha20-Poly1305 ciphertext || tag). The same
/// string is kept locally and on the server (for new devices); neither place
/// can open it without the password.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WrappedIdentity(String);

impl WrappedIdentity {
    /// Validates the shape (prefix, length, base64) without decrypting.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let malformed = |reason| CryptoError::Malformed {
            what: "wrapped identity",
            reason,
        };
        let text = text.trim();
        if text.len() > MAX_WRAPPED_LEN {
            return Err(malformed("too long"));
        }
        let body = text
            .strip_prefix(WRAPPED_PREFIX)
            .ok_or(malformed("unknown version prefix"))?;
        let bytes = b64url_decode(body).ok_or(malformed("not base64url"))?;
        if bytes.len() < super::XNONCE_LEN + super::TAG_LEN {
            return Err(malformed("too short"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Decrypts with the wrap key. A wrong password gives
    /// [`CryptoError::WrongPassword`], never a panic or a garbage identity.
    pub fn unwrap(&self, wrap_key: &WrapKey) -> Result<UserIdentity, CryptoError> {
        let body = self.0.strip_prefix(WRAPPED_PREFIX).unwrap_or_default();
        let sealed = b64url_decode(body).ok_or(CryptoError::WrongPassword)?;
        let plain = open(&wrap_key.0, WRAP_AAD, &sealed).ok_or(CryptoError::WrongPassword)?;
        let text = std::str::from_utf8(&plain).map_err(|_| CryptoError::WrongPassword)?;
        UserIdentity::from_secret_str(text)
    }

    /// Writes the blob to `path` with mode 0600, creating its directory with
    /// mode 0700. Atomic: a crash leaves the old file or the new one.
    pub fn save(&self, path: &Path) -> Result<(), CryptoError> {
        let io = |action, source| CryptoError::Io {
            action,
            path: path.to_owned(),
            source,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io("creating the directory of", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("restricting the directory of", e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".envv-identity")
            .tempfile_in(dir)
            .map_err(|e| io("creating a temporary file for", e))?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("restricting", e))?;
        tmp.write_all(self.0.as_bytes())
            .map_err(|e| io("writing", e))?;
        tmp.write_all(b"\n").map_err(|e| io("writing", e))?;
        tmp.as_file().sync_all().map_err(|e| io("syncing", e))?;
        tmp.persist(path).map_err(|e| io("replacing", e.error))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("syncing the directory of", e))?;
        Ok(())
    }

    /// Reads a blob written by [`WrappedIdentity::save`].
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        use std::io::Read as _;
        let file = std::fs::File::open(path).map_err(|source| CryptoError::Io {
            action: "opening",
            path: path.to_owned(),
            source,
        })?;
        let mut text = String::new();
        file.take(MAX_WRAPPED_LEN as u64 + 2)
            .read_to_string(&mut text)
            .map_err(|source| CryptoError::Io {
                action: "reading",
                path: path.to_owned(),
                source,
            })?;
        Self::parse(&text)
    }
}

impl TryFrom<String> for WrappedIdentity {
    type Error = CryptoError;
    fn try_from(s: String) -> Result<Self, CryptoError> {
        Self::parse(&s)
    }
}

impl From<WrappedIdentity> for String {
    fn from(w: WrappedIdentity) -> String {
        w.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kdf::{KdfParams, KdfParamsExt, derive_keys};
    use crate::secret::Password;

    #[test]
    fn wrong_password_is_a_typed_error() {
        let params = KdfParams::generate_with(8 * 1024, 1, 1);
        let right = derive_keys(&Password::from("right"), &params).expect("derive");
        let wrong = derive_keys(&Password::from("wrong"), &params).expect("derive");
        let id = UserIdentity::generate();
        let blob = id.wrap(&right.wrap_key);
        assert!(matches!(
            blob.unwrap(&wrong.wrap_key),
            Err(CryptoError::WrongPassword)
        ));
        let back = blob.unwrap(&right.wrap_key).expect("unwrap");
        assert_eq!(back.public_key(), id.public_key());
    }

    #[test]
    fn saved_identity_is_private_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys").join("identity");
        let key = WrapKey(crate::secret::Key32::random());
        let id = UserIdentity::generate();
        id.wrap(&key).save(&path).expect("save");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        let dir_mode = std::fs::metadata(path.parent().expect("parent"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!((mode, dir_mode), (0o600, 0o700));
        let loaded = WrappedIdentity::load(&path).expect("load");
        assert_eq!(
            loaded.unwrap(&key).expect("unwrap").public_key(),
            id.public_key()
        );
    }

    #[test]
    fn public_keys_have_one_canonical_form() {
        let pk = UserIdentity::generate().public_key();
        assert_eq!(pk.as_str().parse::<PublicKey>().expect("parse"), pk);
        assert!(pk.as_str().to_uppercase().parse::<PublicKey>().is_err());
        assert!("age1nope".parse::<PublicKey>().is_err());
    }
}
