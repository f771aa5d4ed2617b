use std::path::PathBuf;

use uuid::Uuid;

use crate::crypto::CryptoError;

/// Errors reading, verifying, editing or converting `.env.enc` files.
///
/// Each way a file can be tampered with has its own variant so the message
/// names the problem. Variants carry names, numbers and ids (never values or
/// keys): secret names are public by design.
// Field names say what they hold; each variant's doc says when it happens.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    /// The file ends before its final `file-mac` line (or mid-line).
    #[error("file is truncated (no complete file-mac line); restore it from version control")]
    Truncated,

    /// The first line is not `envv-env v2` (or the older `v1`).
    #[error("not an envv encrypted file of a supported version (first line must be `envv-env v2`)")]
    UnsupportedFormat,

    /// The file carries no writer's signature: an `envv-env v1` file, or a
    /// v2 file whose signature lines were cut.
    #[error("the file is not signed by its writer: written by an older envv, or forged")]
    Unsigned,

    /// The writer's signature does not verify: the signature belongs to
    /// another file, or the file was changed after it was signed.
    #[error(
        "the writer's signature does not verify: the file was changed after {signer} signed it"
    )]
    BadSignature { signer: Uuid },

    /// A keyring with no signer was asked to write.
    #[error("this keyring cannot sign, so it cannot write")]
    NoSigner,

    /// A line does not have the documented shape.
    #[error("malformed file at line {line}: {reason}")]
    Malformed { line: usize, reason: &'static str },

    /// The file, a line or a value is larger than envv accepts.
    #[error("{what} is too large (limit {limit} bytes or items)")]
    TooLarge { what: &'static str, limit: usize },

    /// The file belongs to another team.
    #[error("file belongs to team {file}, but the keys given are team {expected}'s")]
    WrongTeam { file: Uuid, expected: Uuid },

    /// The file says it is another environment's (for example a staging file
    /// copied over the production one).
    #[error("file is environment `{file}` but was opened as `{expected}`")]
    WrongEnvironment { file: String, expected: String },

    /// The file is from an older team epoch than the caller demanded: a
    /// rollback, or a file not yet re-encrypted after rotation.
    #[error(
        "file is at key epoch {file} but epoch {expected} is current; re-encrypt it (`envv rotate`) or check for a rollback"
    )]
    StaleEpoch { file: u64, expected: u64 },

    /// The file is from a newer epoch than any key this member holds.
    #[error(
        "file is at key epoch {file}, newer than this member's newest key ({known}); sync keys and retry"
    )]
    NewerEpoch { file: u64, known: u64 },

    /// This member holds no key for the file's epoch.
    #[error("no team key for epoch {epoch}; this member was not granted it")]
    NoKeyForEpoch { epoch: u64 },

    /// The team has rotated to an epoch whose key this member does not hold
    /// yet; writing at an older epoch could expose the value to a removed
    /// member, so writes wait for the grant.
    #[error(
        "the team is at key epoch {team_epoch} but this member holds keys only up to {held}; wait for an admin to grant the new key, then retry"
    )]
    CurrentKeyMissing { team_epoch: u64, held: u64 },

    /// The file names a recipient other than this member's key for its epoch.
    #[error("file is encrypted to a different key than this member's key for epoch {epoch}")]
    WrongKey { epoch: u64 },

    /// The header (team, epoch, environment, generation, count, recipient or
    /// wrapped key) was changed after writing, or forged without the team's
    /// secret key.
    #[error("file header was tampered with or forged")]
    HeaderTampered,

    /// The file's generation is lower than one already seen: an older copy of
    /// the file was put back.
    #[error("file generation {file} is older than generation {expected} already seen: rolled back")]
    RolledBack { file: u64, expected: u64 },

    /// The number of secret lines differs from the authenticated count.
    #[error("file should have {expected} secrets but has {found}: a line was deleted or inserted")]
    LineMissingOrInserted { expected: usize, found: usize },

    /// Lines are not in strictly increasing name order.
    #[error("secret lines are out of order at `{name}`: lines were reordered")]
    LinesReordered { name: String },

    /// A name appears twice.
    #[error("secret `{name}` appears more than once")]
    DuplicateName { name: String },

    /// A value does not authenticate under its own line's name, environment,
    /// team and epoch: it was moved from another line or file, or forged.
    #[error("value of `{name}` was moved from another secret or file, or forged")]
    ValueMovedOrForged { name: String },

    /// Every line verifies alone but the file as a whole does not: for
    /// example one line was replaced by its own older version.
    #[error("file MAC does not verify: lines were mixed from different versions of the file")]
    BadMac,

    /// A secret name is not a valid environment variable name.
    #[error("invalid secret name: {reason}")]
    InvalidName { reason: &'static str },

    /// An environment name does not match `[a-z0-9_-]{{1,32}}`.
    #[error("invalid environment name: {reason}")]
    InvalidEnvName { reason: &'static str },

    /// A secret value cannot be stored (size or content).
    #[error("invalid value for `{name}`: {reason}")]
    InvalidValue { name: String, reason: &'static str },

    /// No secret of that name.
    #[error("no secret named `{name}`")]
    NotFound { name: String },

    /// A rename target already exists.
    #[error("a secret named `{name}` already exists")]
    AlreadyExists { name: String },

    /// A dotenv (or JSON) input envv will not import; the message names the
    /// line and column and masks every value character.
    #[error("cannot import this dotenv input: {0}")]
    Dotenv(#[from] super::dotenv::DotenvError),

    /// Shell export of a name no POSIX shell can assign.
    #[error(
        "`{name}` cannot be a shell variable (only letters, digits and `_`, not first a digit); export as dotenv or json instead"
    )]
    NotAShellName { name: String },

    /// A key operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),

    /// Reading, writing or locking a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
