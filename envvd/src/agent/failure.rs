//! What a request that fails answers: the code a client acts on and a
//! sentence for the user, with the file format's errors told apart.

use envv_core::envfile::EnvFileError;
use proto_ipc::{ErrorCode, Response};

/// A failed request: the code a client acts on and a sentence for the user
/// (which never holds a secret, so it may be debug-printed).
#[derive(Debug)]
pub(super) struct Failure(pub(super) ErrorCode, pub(super) String);

impl Failure {
    pub(super) fn locked() -> Failure {
        Failure(
            ErrorCode::Locked,
            "the agent is locked; run `envv unlock`".into(),
        )
    }

    /// The agent locked (or logged out) while this request waited on the
    /// control plane: what it fetched is dropped.
    pub(super) fn locked_meanwhile() -> Failure {
        Failure(
            ErrorCode::Locked,
            "the agent was locked while this request waited on the control plane; run `envv unlock`"
                .into(),
        )
    }

    pub(super) fn no_account() -> Failure {
        Failure(
            ErrorCode::NotLoggedIn,
            "no account; run `envv auth signup` or `envv auth login`".into(),
        )
    }
}

impl From<EnvFileError> for Failure {
    fn from(e: EnvFileError) -> Self {
        let code = match &e {
            EnvFileError::NotFound { .. } => ErrorCode::NotFound,
            EnvFileError::InvalidName { .. }
            | EnvFileError::InvalidEnvName { .. }
            | EnvFileError::InvalidValue { .. }
            | EnvFileError::Dotenv(_)
            | EnvFileError::NotAShellName { .. }
            | EnvFileError::TooLarge { .. }
            | EnvFileError::AlreadyExists { .. } => ErrorCode::Invalid,
            EnvFileError::Io { .. } => ErrorCode::Io,
            _ => ErrorCode::Crypto,
        };
        let message = match &e {
            // Older than any key this member holds: not damage, a file the
            // team never re-encrypted after this member joined.
            EnvFileError::NoKeyForEpoch { epoch } => format!(
                "this file is still encrypted at key epoch {epoch}, which you were never \
                 granted (you joined later); an admin should run `envv rotate` in this \
                 project to re-encrypt it to the team's current key"
            ),
            // Their own messages name the next step.
            EnvFileError::StaleEpoch { .. }
            | EnvFileError::NewerEpoch { .. }
            | EnvFileError::CurrentKeyMissing { .. }
            | EnvFileError::WrongTeam { .. }
            | EnvFileError::Truncated => e.to_string(),
            _ if code == ErrorCode::Crypto => format!(
                "{e}; the file was changed outside envv or encrypted to another key \
                 (restore it from version control)"
            ),
            _ => e.to_string(),
        };
        Failure(code, message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(ErrorCode::Io, e.to_string())
    }
}

pub(super) type Outcome = Result<Response, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Only damage is called damage: an old epoch names the rotation it
    /// needs; a broken file says to restore it.
    #[test]
    fn file_errors_say_what_is_true() {
        let Failure(code, old) = Failure::from(EnvFileError::NoKeyForEpoch { epoch: 2 });
        assert_eq!(code, ErrorCode::Crypto);
        assert!(
            old.contains("epoch 2") && old.contains("envv rotate"),
            "{old}"
        );
        assert!(!old.contains("outside envv"), "{old}");
        let Failure(code, broken) = Failure::from(EnvFileError::BadMac);
        assert_eq!(code, ErrorCode::Crypto);
        assert!(
            broken.contains("restore it from version control"),
            "{broken}"
        );
        let Failure(code, missing) = Failure::from(EnvFileError::NotFound { name: "K".into() });
        assert_eq!(code, ErrorCode::NotFound);
        assert!(!missing.contains("outside envv"), "{missing}");
    }
}
