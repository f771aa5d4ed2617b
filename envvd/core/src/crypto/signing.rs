//! Ed25519 signing keys: every identity signs the team chain's statements
//! with one, and the invite code carries the seed of another.
//!
//! A user's signing key is derived from their age identity (HKDF-SHA256 over
//! its secret string), so it lives inside the same password-wrapped blob and
//! needs no storage of its own; only its public half is published.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::identity::PublicKey;
use super::{CryptoError, b64url, b64url_decode, hkdf32};

/// Domain of the HKDF that turns an age identity into its signing key.
const DERIVE_SALT: &[u8] = b"envv-sign/v1";
const DERIVE_INFO: &[u8] = b"envv-sign/v1 identity ed25519";

/// A signing key's public half: 32 bytes, lowercase hex on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Lowercase hex, the one text form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    pub(crate) fn dalek(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }

    /// Checks `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &SignatureBytes) -> Result<(), CryptoError> {
        self.0
            .verify(message, &signature.dalek())
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl FromStr for VerifyingKey {
    type Err = CryptoError;

    /// Exactly 64 lowercase hex digits of a point that is not of small
    /// order (a weak key would let one signature pass for many messages).
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(CryptoError::InvalidSigningKey);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| CryptoError::InvalidSigningKey)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| CryptoError::InvalidSigningKey)?;
        if key.is_weak() {
            return Err(CryptoError::InvalidSigningKey);
        }
        Ok(Self(key))
    }
}

impl fmt::Display for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.to_hex())
    }
}

impl Serialize for VerifyingKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for VerifyingKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A 64-byte Ed25519 signature; base64url without padding on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureBytes([u8; 64]);

impl SignatureBytes {
    /// The 86-character base64url form.
    pub fn to_base64(&self) -> String {
        b64url(&self.0)
    }

    /// Strict inverse of [`SignatureBytes::to_base64`].
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bad = || CryptoError::Malformed {
            what: "signature",
            reason: "not 64 bytes of base64url",
        };
        if text.len() != 86 {
            return Err(bad());
        }
        let bytes = b64url_decode(text).ok_or_else(bad)?;
        Ok(Self(
            <[u8; 64]>::try_from(bytes.as_slice()).map_err(|_| bad())?,
        ))
    }

    pub(crate) fn dalek(&self) -> Signature {
        Signature::from_bytes(&self.0)
    }
}

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_base64())
    }
}

/// An Ed25519 signing key, held in clear only in memory (zeroised on drop
/// by ed25519-dalek).
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The signing key of an identity or invite: HKDF-SHA256 of `ikm` under
    /// the given salt and info, used as the Ed25519 seed.
    pub(crate) fn derive(salt: &[u8], ikm: &[u8], info: &[u8]) -> Self {
        let seed = hkdf32(Some(salt), ikm, info);
        Self(ed25519_dalek::SigningKey::from_bytes(seed.expose()))
    }

    /// A user's signing key, from their age identity's secret string.
    pub(crate) fn for_identity(age_secret: &str) -> Self {
        Self::derive(DERIVE_SALT, age_secret.as_bytes(), DERIVE_INFO)
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> SignatureBytes {
        SignatureBytes(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Verifies many signatures at once (about twice as fast as one by one);
/// an error says only that at least one failed.
pub fn verify_batch(
    messages: &[&[u8]],
    signatures: &[SignatureBytes],
    keys: &[VerifyingKey],
) -> Result<(), CryptoError> {
    let signatures: Vec<Signature> = signatures.iter().map(SignatureBytes::dalek).collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> = keys.iter().map(|k| *k.dalek()).collect();
    ed25519_dalek::verify_batch(messages, &signatures, &keys).map_err(|_| CryptoError::BadSignature)
}

/// A short fingerprint of a user's two public keys that two people can
/// compare out of band (as Signal's safety numbers): the first 16 bytes of
/// SHA-256("envv/fingerprint/v1\n" || age key || "\n" || signing key hex),
/// as eight groups of four hex digits.
pub fn fingerprint(age: &PublicKey, signing: &VerifyingKey) -> String {
    let mut h = Sha256::new();
    h.update(b"envv/fingerprint/v1\n");
    h.update(age.as_str().as_bytes());
    h.update(b"\n");
    h.update(signing.to_hex().as_bytes());
    group_hex(&h.finalize()[..16])
}

/// Lowercase hex in groups of four digits separated by spaces.
pub fn group_hex(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    let mut out = String::with_capacity(hex.len() + hex.len() / 4);
    for (i, chunk) in hex.as_bytes().chunks(4).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::UserIdentity;

    #[test]
    fn an_identity_always_derives_the_same_signing_key() {
        let id = UserIdentity::generate();
        let again = UserIdentity::from_secret_str(&id.to_secret_string()).expect("parse");
        assert_eq!(id.verifying_key(), again.verifying_key());
        assert_ne!(id.verifying_key(), UserIdentity::generate().verifying_key());
    }

    #[test]
    fn signatures_verify_and_text_forms_are_strict() {
        let id = UserIdentity::generate();
        let sig = id.signing_key().sign(b"hello");
        let vk = id.verifying_key();
        vk.verify(b"hello", &sig).expect("verifies");
        assert!(vk.verify(b"hellp", &sig).is_err());
        let back = SignatureBytes::from_base64(&sig.to_base64()).expect("decode");
        assert_eq!(back, sig);
        assert_eq!(vk.to_hex().parse::<VerifyingKey>().expect("parse"), vk);
        assert!(vk.to_hex().to_uppercase().parse::<VerifyingKey>().is_err());
        // The identity point is of small order: refused.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert!(hex::encode(weak).parse::<VerifyingKey>().is_err());
    }

    #[test]
    fn fingerprints_are_grouped_and_bind_both_keys() {
        let a = UserIdentity::generate();
        let b = UserIdentity::generate();
        let fp = fingerprint(&a.public_key(), &a.verifying_key());
        assert_eq!(fp.len(), 39);
        assert_eq!(fp.split(' ').count(), 8);
        assert_ne!(fp, fingerprint(&a.public_key(), &b.verifying_key()));
        assert_ne!(fp, fingerprint(&b.public_key(), &a.verifying_key()));
    }
}
