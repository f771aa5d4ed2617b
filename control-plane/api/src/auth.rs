use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::SecretString;

/// Salt length, in bytes, that clients generate at signup and the server
/// requires. Prelogin's fake answer for an unknown email has the same length,
/// so the length can't tell an account from a fake.
pub const KDF_SALT_LEN: usize = 32;
/// Default argon2id memory cost of the client derivation, in KiB (64 MiB,
/// RFC 9106's second recommended setting).
pub const KDF_DEFAULT_MEMORY_KIB: u32 = 64 * 1024;
/// Default argon2id passes of the client derivation.
pub const KDF_DEFAULT_ITERATIONS: u32 = 3;
/// Default argon2id lanes of the client derivation.
pub const KDF_DEFAULT_PARALLELISM: u32 = 1;

/// Parameters of the client-side password derivation (argon2id, then HKDF).
///
/// The server stores them per account and hands them out at prelogin; it never
/// runs this derivation itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KdfParams {
    /// Always `argon2id` for now.
    pub algorithm: String,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Base64 (standard, padded) salt.
    pub salt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreloginRequest {
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreloginResponse {
    pub kdf: KdfParams,
}

/// No `Debug`: with the salt, the wrapped identity is what an offline
/// guess at the password needs.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignupRequest {
    pub email: String,
    pub name: String,
    /// Base64 of the 32-byte auth key derived on the client.
    pub auth_key: SecretString,
    /// The user's age X25519 recipient (`age1…`).
    pub identity_public_key: String,
    /// The user's Ed25519 public key (64 lowercase hex digits), which signs
    /// their team chain statements.
    pub signing_public_key: String,
    /// The user's identity, wrapped by the client's wrap key (opaque to the server).
    pub wrapped_identity: String,
    pub kdf: KdfParams,
}

/// `POST /auth/password`: the password changes on the client; the server
/// checks the current auth key and swaps in the new one, the identity
/// wrapped under the new password, and its KDF parameters. No `Debug`, as
/// [`SignupRequest`].
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    /// Base64 of the auth key the current password derives.
    pub current_auth_key: SecretString,
    /// Base64 of the auth key the new password derives.
    pub new_auth_key: SecretString,
    /// The same identity, wrapped by the new password's wrap key.
    pub wrapped_identity: String,
    /// The new password's KDF parameters (a fresh salt).
    pub kdf: KdfParams,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub email: String,
    /// Base64 of the 32-byte auth key derived on the client.
    pub auth_key: SecretString,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: SecretString,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogoutRequest {
    pub refresh_token: SecretString,
}

/// A fresh access token and its rotating refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPair {
    pub access_token: SecretString,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque, single use: every refresh returns a new one.
    pub refresh_token: SecretString,
}

/// What signup and login answer. No `Debug`: with the salt, the wrapped
/// identity is what an offline guess at the password needs.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub tokens: TokenPair,
    pub user: User,
    /// The identity blob as the client wrapped it at signup.
    pub wrapped_identity: String,
    pub kdf: KdfParams,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub identity_public_key: String,
    pub signing_public_key: String,
    pub created_at: DateTime<Utc>,
}
