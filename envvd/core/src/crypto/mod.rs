//! envv's key hierarchy: password → client keys → user identity → team
//! epoch keys (through grants) → per-file data keys (in `envfile`).
//!
//! Everything asymmetric is age X25519, so keys interoperate with the `age`
//! and `rage` tools; everything symmetric is XChaCha20-Poly1305, HKDF-SHA256
//! and HMAC-SHA256. The exact byte layouts are in `docs/format.md`.

mod error;
pub mod identity;
pub mod invite;
pub mod kdf;
pub mod signing;
pub mod team;

pub use error::CryptoError;
pub use identity::{PublicKey, UserIdentity, WrappedIdentity};
pub use invite::{AcceptToken, InviteCode, InviteSecret, accept_token, hash_accept_token};
pub use kdf::{AuthKey, ClientKeys, KdfParams, KdfParamsExt, WrapKey, derive_keys};
pub use signing::{SignatureBytes, SigningKey, VerifyingKey, fingerprint};
pub use team::{EpochIdentity, Grant, TeamKeyring};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::Key32;

/// Length of an XChaCha20-Poly1305 nonce; random nonces of this size never
/// collide in practice, so no counter state has to be kept per key.
pub(crate) const XNONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) {
    rand::rngs::OsRng.fill_bytes(buf);
}

/// HKDF-SHA256 expand to a 32-byte key.
pub(crate) fn hkdf32(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> Key32 {
    let hk = Hkdf::<Sha256>::new(salt, ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so this cannot fail.
    if hk.expand(info, out.as_mut()).is_err() {
        unreachable!("HKDF-SHA256 output of 32 bytes is always valid");
    }
    Key32::from_bytes(*out)
}

/// Seals `plaintext` with a random nonce; output is `nonce || ciphertext || tag`.
pub(crate) fn seal(key: &Key32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let mut nonce = [0u8; XNONCE_LEN];
    fill_random(&mut nonce);
    let sealed = match cipher.encrypt(
        &XNonce::from(nonce),
        Payload {
            msg: plaintext,
            aad,
        },
    ) {
        Ok(ct) => ct,
        // Only fails for plaintexts beyond 256 GiB, which every caller bounds.
        Err(_) => unreachable!("XChaCha20-Poly1305 encryption of a bounded plaintext"),
    };
    let mut out = Vec::with_capacity(XNONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens `nonce || ciphertext || tag`; `None` on any failure (the callers know
/// which typed error that means in their context).
pub(crate) fn open(key: &Key32, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < XNONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(XNONCE_LEN);
    let nonce = XNonce::from(<[u8; XNONCE_LEN]>::try_from(nonce).ok()?);
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    cipher
        .decrypt(&nonce, Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

/// Opens many values under one key without re-creating the cipher or
/// re-allocating scratch space per value (file reads open thousands).
pub(crate) struct Opener {
    cipher: XChaCha20Poly1305,
}

impl Opener {
    pub(crate) fn new(key: &Key32) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.expose().into()),
        }
    }

    /// Like [`open`].
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < XNONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ct) = sealed.split_at(XNONCE_LEN);
        let nonce = XNonce::from(<[u8; XNONCE_LEN]>::try_from(nonce).ok()?);
        self.cipher
            .decrypt(&nonce, Payload { msg: ct, aad })
            .ok()
            .map(Zeroizing::new)
    }
}

/// base64url without padding: the form used inside single-token strings
/// (invite codes, wrapped blobs) so they survive shells, URLs and JSON.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict inverse of [`b64url`]: rejects padding and non-canonical trailing bits.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// Standard padded base64 (RFC 4648 §4), used in `.env.enc` lines.
pub(crate) fn b64std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Strict inverse of [`b64std`]: canonical padding and trailing bits required.
pub(crate) fn b64std_decode(text: &[u8]) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// [`b64std_decode`] into a reused buffer (cleared first).
pub(crate) fn b64std_decode_into(text: &[u8], buf: &mut Vec<u8>) -> Option<()> {
    buf.clear();
    base64::engine::general_purpose::STANDARD
        .decode_vec(text, buf)
        .ok()
}

/// Encrypts `plaintext` to one age X25519 recipient (one stanza, binary age v1).
pub(crate) fn age_encrypt(
    recipient: &age::x25519::Recipient,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    age::encrypt(recipient, plaintext).map_err(|_| CryptoError::Encrypt)
}

/// Outcome of an age decryption that callers map to their own errors.
pub(crate) enum AgeOpenError {
    /// The file was not encrypted to this identity (or its stanza was altered).
    NotForThisKey,
    /// Anything else: malformed header, bad MAC, bad payload.
    Corrupt,
}

/// Decrypts a binary age file that must hold exactly one X25519 stanza.
///
/// Restricting to one X25519 stanza bounds the work an attacker-supplied
/// file can cause to a single X25519 operation. age adds one random
/// "grease" stanza to every file, which identities skip without any
/// asymmetric work, so a few stanzas in total are accepted.
pub(crate) fn age_decrypt(
    identity: &age::x25519::Identity,
    ciphertext: &[u8],
    max_plaintext: usize,
) -> Result<Zeroizing<Vec<u8>>, AgeOpenError> {
    if !ciphertext.starts_with(b"age-encryption.org/v1\n-> ") {
        return Err(AgeOpenError::Corrupt);
    }
    // The header ends at "\n--- "; stanzas start with "\n-> ".
    let header_end = find(ciphertext, b"\n--- ").ok_or(AgeOpenError::Corrupt)?;
    let header = &ciphertext[..header_end];
    if count(header, b"\n-> X25519 ") != 1 || count(header, b"\n-> ") > MAX_STANZAS {
        return Err(AgeOpenError::Corrupt);
    }
    match age::decrypt(identity, ciphertext) {
        Ok(pt) => {
            let pt = Zeroizing::new(pt);
            if pt.len() > max_plaintext {
                return Err(AgeOpenError::Corrupt);
            }
            Ok(pt)
        }
        Err(age::DecryptError::NoMatchingKeys) => Err(AgeOpenError::NotForThisKey),
        Err(_) => Err(AgeOpenError::Corrupt),
    }
}

/// One X25519 stanza plus room for grease stanzas.
const MAX_STANZAS: usize = 4;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}
