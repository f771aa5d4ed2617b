use std::path::PathBuf;

/// Errors from key derivation, identities, grants and invites.
///
/// No variant carries key material or a password; the fields name what was
/// being checked so a user-facing message can say what to do next.
// Field names say what they hold; each variant's doc says when it happens.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The server (or a config file) proposed KDF parameters outside the
    /// bounds this client accepts; refusing protects against a server that
    /// tries to make the client do no work (weak) or endless work (DoS).
    #[error("key derivation parameters rejected: {reason}")]
    KdfParamsRejected { reason: &'static str },

    /// argon2 itself failed (parameters already validated, so unexpected).
    #[error("key derivation failed")]
    Kdf,

    /// The wrapped identity did not open: the password is wrong, or the blob
    /// was corrupted (an AEAD cannot tell the two apart).
    #[error("wrong password (or the stored identity is corrupted)")]
    WrongPassword,

    /// A stored or received blob did not have the expected shape.
    #[error("malformed {what}: {reason}")]
    Malformed {
        what: &'static str,
        reason: &'static str,
    },

    /// A grant or sealed invite was not encrypted to the identity trying to
    /// open it.
    #[error("{what} is not encrypted to this key")]
    NotARecipient { what: &'static str },

    /// A grant opened but names a different team or epoch than requested: a
    /// server replaying one epoch's grant as another's.
    #[error(
        "grant is for team {found_team} epoch {found_epoch}, expected team {expected_team} epoch {expected_epoch}"
    )]
    GrantMismatch {
        expected_team: uuid::Uuid,
        expected_epoch: u64,
        found_team: uuid::Uuid,
        found_epoch: u64,
    },

    /// An invite code string could not be parsed.
    #[error("invalid invite code: {reason}")]
    InvalidInviteCode { reason: &'static str },

    /// A signing key string is not 64 lowercase hex digits of a usable
    /// Ed25519 public key.
    #[error("invalid signing key: expected 64 hex digits of an Ed25519 public key")]
    InvalidSigningKey,

    /// An Ed25519 signature does not verify.
    #[error("signature does not verify")]
    BadSignature,

    /// A public key string is not an age X25519 recipient.
    #[error("invalid public key: expected an age X25519 recipient (age1...)")]
    InvalidPublicKey,

    /// An epoch key was inserted into the keyring of another team.
    #[error("key for team {found} does not belong in the keyring of team {expected}")]
    WrongTeam {
        expected: uuid::Uuid,
        found: uuid::Uuid,
    },

    /// age refused to encrypt (it only does so on I/O failures in memory).
    #[error("encryption failed")]
    Encrypt,

    /// Reading or writing a key file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
