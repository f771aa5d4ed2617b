//! Password → (auth key, wrap key).
//!
//! argon2id makes guessing expensive; HKDF then splits its output so that the
//! key the server sees (auth key) tells it nothing about the key that wraps
//! the user's identity (wrap key), which never leaves the client.

use std::fmt;

use zeroize::Zeroizing;

use super::{CryptoError, hkdf32};
use crate::secret::{Key32, Password};

/// The only algorithm this version understands.
pub const ALGORITHM: &str = "argon2id";
/// Default memory cost: 64 MiB (RFC 9106's second recommended setting).
pub const DEFAULT_MEMORY_KIB: u32 = envv_api::KDF_DEFAULT_MEMORY_KIB;
/// Default passes over memory.
pub const DEFAULT_ITERATIONS: u32 = envv_api::KDF_DEFAULT_ITERATIONS;
/// Default lanes; the argon2 crate computes lanes on one thread anyway.
pub const DEFAULT_PARALLELISM: u32 = envv_api::KDF_DEFAULT_PARALLELISM;
/// Salt length generated at signup; the control plane accepts no other.
pub const SALT_LEN: usize = envv_api::KDF_SALT_LEN;

/// Bounds on parameters received from the server. Below the minimum a
/// malicious server could make offline guessing cheap; above the maximum it
/// could make the client exhaust memory or time.
pub const MEMORY_KIB_RANGE: std::ops::RangeInclusive<u32> = 8 * 1024..=1024 * 1024;
/// Accepted iteration counts.
pub const ITERATIONS_RANGE: std::ops::RangeInclusive<u32> = 1..=10;
/// Accepted parallelism.
pub const PARALLELISM_RANGE: std::ops::RangeInclusive<u32> = 1..=4;
/// Accepted salt lengths in bytes (after base64 decoding).
pub const SALT_LEN_RANGE: std::ops::RangeInclusive<usize> = 16..=64;

const INFO_AUTH: &[u8] = b"envv/kdf/v1 auth-key";
const INFO_WRAP: &[u8] = b"envv/kdf/v1 wrap-key";

/// Per-account key derivation parameters: the API's own type, so what the
/// server stores and hands out at prelogin is exactly what the client
/// derives with. They are untrusted input: [`KdfParamsExt::validate`] runs
/// before every derivation.
pub use envv_api::KdfParams;

/// What the client does with [`KdfParams`]: make fresh ones at signup, and
/// check any it is handed before deriving with them.
pub trait KdfParamsExt: Sized {
    /// Fresh parameters for a signup: strong defaults and a random salt.
    fn generate() -> Self;
    /// Fresh salt with explicit costs: tests use the cheapest accepted
    /// setting (8 MiB, one pass); production uses [`KdfParamsExt::generate`].
    fn generate_with(memory_kib: u32, iterations: u32, parallelism: u32) -> Self;
    /// Default costs with a given salt: lets a server answer `/auth/prelogin`
    /// for an unknown email with a stable salt derived from the email, so
    /// the answer does not reveal whether the account exists.
    fn with_salt(salt: &[u8]) -> Self;
    /// Checks the parameters are within bounds and returns the decoded salt.
    fn validate(&self) -> Result<Vec<u8>, CryptoError>;
}

impl KdfParamsExt for KdfParams {
    fn generate() -> Self {
        Self::generate_with(DEFAULT_MEMORY_KIB, DEFAULT_ITERATIONS, DEFAULT_PARALLELISM)
    }

    fn generate_with(memory_kib: u32, iterations: u32, parallelism: u32) -> Self {
        let mut salt = [0u8; SALT_LEN];
        super::fill_random(&mut salt);
        Self {
            algorithm: ALGORITHM.to_owned(),
            memory_kib,
            iterations,
            parallelism,
            salt: super::b64std(&salt),
        }
    }

    fn with_salt(salt: &[u8]) -> Self {
        Self {
            algorithm: ALGORITHM.to_owned(),
            memory_kib: DEFAULT_MEMORY_KIB,
            iterations: DEFAULT_ITERATIONS,
            parallelism: DEFAULT_PARALLELISM,
            salt: super::b64std(salt),
        }
    }

    fn validate(&self) -> Result<Vec<u8>, CryptoError> {
        let reject = |reason| Err(CryptoError::KdfParamsRejected { reason });
        if self.algorithm != ALGORITHM {
            return reject("unsupported algorithm (only argon2id)");
        }
        if !MEMORY_KIB_RANGE.contains(&self.memory_kib) {
            return reject("memory must be between 8 MiB and 1 GiB");
        }
        if !ITERATIONS_RANGE.contains(&self.iterations) {
            return reject("iterations must be between 1 and 10");
        }
        if !PARALLELISM_RANGE.contains(&self.parallelism) {
            return reject("parallelism must be between 1 and 4");
        }
        if self.salt.len() > 128 {
            return reject("salt must be 16 to 64 bytes");
        }
        let Some(salt) = super::b64std_decode(self.salt.as_bytes()) else {
            return reject("salt is not valid base64");
        };
        if !SALT_LEN_RANGE.contains(&salt.len()) {
            return reject("salt must be 16 to 64 bytes");
        }
        Ok(salt)
    }
}

/// What the server sees in place of a password. The server stores only an
/// argon2id hash of it, so a database leak is not a login credential.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey(Key32);

impl AuthKey {
    /// The raw 32 bytes.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }

    /// Standard base64, the form sent in `/auth/signup` and `/auth/login`.
    pub fn to_base64(&self) -> String {
        super::b64std(self.0.expose())
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Wraps the user's identity; never leaves the client.
#[derive(Clone, PartialEq, Eq)]
pub struct WrapKey(pub(crate) Key32);

impl fmt::Debug for WrapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The pair derived from one password.
#[derive(Debug)]
pub struct ClientKeys {
    /// Sent to the server to authenticate.
    pub auth_key: AuthKey,
    /// Kept on the client to wrap and unwrap the identity.
    pub wrap_key: WrapKey,
}

/// Derives the auth and wrap keys. CPU- and memory-heavy by design: call it
/// from a blocking thread, never on an async runtime.
pub fn derive_keys(password: &Password, params: &KdfParams) -> Result<ClientKeys, CryptoError> {
    let salt = params.validate()?;
    let argon_params = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|_| CryptoError::Kdf)?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut master = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password.expose(), &salt, master.as_mut())
        .map_err(|_| CryptoError::Kdf)?;
    Ok(ClientKeys {
        auth_key: AuthKey(hkdf32(None, master.as_ref(), INFO_AUTH)),
        wrap_key: WrapKey(hkdf32(None, master.as_ref(), INFO_WRAP)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> KdfParams {
        KdfParams::generate_with(8 * 1024, 1, 1)
    }

    #[test]
    fn defaults_are_strong_and_valid() {
        let p = KdfParams::generate();
        assert_eq!(p.memory_kib, 65536);
        assert_eq!(p.iterations, 3);
        assert_eq!(p.validate().map(|s| s.len()).ok(), Some(SALT_LEN));
    }

    #[test]
    fn same_password_and_params_give_same_keys_and_auth_differs_from_wrap() {
        let p = cheap();
        let a = derive_keys(&Password::from("pw"), &p).expect("derive");
        let b = derive_keys(&Password::from("pw"), &p).expect("derive");
        assert_eq!(a.auth_key, b.auth_key);
        assert_eq!(a.wrap_key, b.wrap_key);
        assert_ne!(a.auth_key.expose(), a.wrap_key.0.expose());
        let c = derive_keys(&Password::from("pw2"), &p).expect("derive");
        assert_ne!(a.auth_key, c.auth_key);
    }

    #[test]
    fn absurd_params_from_a_server_are_refused() {
        let good = cheap();
        let cases: Vec<(&str, KdfParams)> = vec![
            (
                "algorithm",
                KdfParams {
                    algorithm: "argon2i".into(),
                    ..good.clone()
                },
            ),
            (
                "tiny memory",
                KdfParams {
                    memory_kib: 1024,
                    ..good.clone()
                },
            ),
            (
                "huge memory",
                KdfParams {
                    memory_kib: 4 * 1024 * 1024,
                    ..good.clone()
                },
            ),
            (
                "zero iterations",
                KdfParams {
                    iterations: 0,
                    ..good.clone()
                },
            ),
            (
                "many iterations",
                KdfParams {
                    iterations: 11,
                    ..good.clone()
                },
            ),
            (
                "zero lanes",
                KdfParams {
                    parallelism: 0,
                    ..good.clone()
                },
            ),
            (
                "many lanes",
                KdfParams {
                    parallelism: 5,
                    ..good.clone()
                },
            ),
            (
                "short salt",
                KdfParams {
                    salt: crate::crypto::b64std(&[1u8; 8]),
                    ..good.clone()
                },
            ),
            (
                "long salt",
                KdfParams {
                    salt: crate::crypto::b64std(&[1u8; 65]),
                    ..good.clone()
                },
            ),
            (
                "bad base64",
                KdfParams {
                    salt: "***".into(),
                    ..good.clone()
                },
            ),
        ];
        for (label, params) in cases {
            assert!(
                matches!(
                    derive_keys(&Password::from("pw"), &params),
                    Err(CryptoError::KdfParamsRejected { .. })
                ),
                "{label} was accepted"
            );
        }
    }

    #[test]
    fn params_serialise_with_documented_field_names() {
        let p = cheap();
        let json = serde_json::to_value(&p).expect("serialise");
        for field in [
            "algorithm",
            "memory_kib",
            "iterations",
            "parallelism",
            "salt",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        let back: KdfParams = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, p);
    }
}
