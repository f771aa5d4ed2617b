//! Types that hold secret material.
//!
//! Every type here zeroises its bytes on drop and prints `<redacted>` in
//! `Debug`, so a stray `{:?}` in a log line or a panic message cannot leak a
//! value, a password or a key. None of them implement `Display`. Passwords
//! are `secrecy` strings underneath; values and keys say why not.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A secret's plaintext value (what ends up in a process environment).
///
/// A zeroising `String` rather than a `secrecy` box: a decrypted value
/// arrives in a buffer with spare capacity (the AEAD tag's), and boxing it
/// exactly would cost a copy per value on every file opened; `Zeroizing`
/// wipes the whole capacity on drop instead.
#[derive(Clone, Default)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Takes ownership of `value`; the string is wiped when this is dropped.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The plaintext. Callers should not copy it into long-lived strings.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes, for size checks that must not look at content.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is the empty string (a legal secret value).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// A secrecy string of `value`, leaving no unwiped copy of it behind
/// (see [`envv_api::boxed_secret`]).
fn exact(value: String) -> SecretString {
    SecretString::from(envv_api::boxed_secret(value))
}

impl PartialEq for SecretValue {
    // Constant time so that comparing a guess against a value leaks nothing
    // through timing (lengths are not hidden).
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretValue {}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A user's password, as typed. Never leaves the client.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Takes ownership of `password`; the string is wiped when this is dropped.
    pub fn new(password: String) -> Self {
        Self(exact(password))
    }

    /// The password bytes, for the key derivation function only.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl From<&str> for Password {
    fn from(value: &str) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A 32-byte symmetric key (auth key, wrap key, data key, derived subkeys).
/// Hand-rolled rather than a `secrecy` box: a fixed-size key is cloned and
/// compared in constant time, neither of which `secrecy` offers for arrays.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key32([u8; 32]);

impl Key32 {
    /// Wraps raw key bytes; the caller's copy should itself be zeroised.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh key from the operating system's CSPRNG.
    pub fn random() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        crate::crypto::fill_random(bytes.as_mut());
        Self(*bytes)
    }

    /// The raw key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for Key32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Key32 {}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secret_material() {
        let value = SecretValue::from("hunter2");
        let password = Password::from("correct horse");
        let key = Key32::from_bytes([7u8; 32]);
        let all = format!("{value:?} {password:?} {key:?}");
        assert_eq!(all, "<redacted> <redacted> <redacted>");
    }

    #[test]
    fn secret_values_compare_by_content() {
        assert_eq!(SecretValue::from("a"), SecretValue::from("a"));
        assert_ne!(SecretValue::from("a"), SecretValue::from("b"));
        assert_ne!(SecretValue::from("a"), SecretValue::from("ab"));
    }
}
