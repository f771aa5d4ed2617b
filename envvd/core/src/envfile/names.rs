//! Validated secret and environment names.

use std::fmt;

use super::EnvFileError;

/// Longest accepted secret name.
pub const MAX_NAME_LEN: usize = 256;
/// Longest accepted environment name.
pub const MAX_ENV_LEN: usize = 32;

/// A secret's name: `[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 256 bytes.
/// Names are stored in clear.
///
/// Wider than a shell identifier on purpose: dotenv files carry names such
/// as `spring.datasource.url` or `MY-KEY` that every dotenv loader reads and
/// that a process environment can hold; only the shell export refuses them.
/// A name never starts with `.` or `-`, so it cannot pass for a command-line
/// option or a relative path.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, EnvFileError> {
        let bad = |reason| Err(EnvFileError::InvalidName { reason });
        if name.is_empty() {
            return bad("empty");
        }
        if name.len() > MAX_NAME_LEN {
            return bad("longer than 256 bytes");
        }
        let mut bytes = name.bytes();
        if !bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return bad("must start with a letter, a digit or `_`");
        }
        if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return bad("may contain only letters, digits, `_`, `.` and `-`");
        }
        Ok(Self(name.to_owned()))
    }

    /// For names the parser has already validated.
    pub(crate) fn from_validated(name: &str) -> Self {
        debug_assert!(Self::new(name).is_ok());
        Self(name.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a POSIX shell can assign it (`[A-Za-z_][A-Za-z0-9_]*`).
    pub fn is_shell_name(&self) -> bool {
        !self.0.starts_with(|c: char| c.is_ascii_digit())
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::borrow::Borrow<str> for SecretName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// An environment: `default` (file `.env.enc`) or a name matching
/// `[a-z0-9_-]{1,32}` (file `.env.NAME.enc`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);

impl EnvName {
    /// The name of the environment stored in `.env.enc`.
    pub const DEFAULT: &'static str = "default";

    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, EnvFileError> {
        let bad = |reason| Err(EnvFileError::InvalidEnvName { reason });
        if name.is_empty() || name.len() > MAX_ENV_LEN {
            return bad("must be 1 to 32 characters");
        }
        if !name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
        {
            return bad("may contain only a-z, 0-9, `_` and `-`");
        }
        Ok(Self(name.to_owned()))
    }

    /// The default environment.
    pub fn default_env() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `.env.enc` for the default environment, else `.env.NAME.enc`.
    pub fn file_name(&self) -> String {
        let named = (self.0 != Self::DEFAULT).then_some(self.0.as_str());
        crate::project::env_file_name(named)
    }

    /// The environment a file name stands for, if it is an envv file name.
    pub fn from_file_name(file_name: &str) -> Option<Self> {
        if file_name == ".env.enc" {
            return Some(Self::default_env());
        }
        let inner = file_name.strip_prefix(".env.")?.strip_suffix(".enc")?;
        // `.env.default.enc` would alias `.env.enc`; only one spelling is valid.
        if inner == Self::DEFAULT {
            return None;
        }
        Self::new(inner).ok()
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_what_dotenv_files_and_environments_hold() {
        for ok in [
            "A",
            "_",
            "a_b9",
            "DATABASE_URL",
            "9A",
            "A-B",
            "spring.datasource.url",
            &"X".repeat(256),
        ] {
            assert!(SecretName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".A", "-A", "A B", "é", "A=B", "A$", &"X".repeat(257)] {
            assert!(SecretName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_identifiers_are_shell_names() {
        for (name, shell) in [
            ("A_1", true),
            ("_", true),
            ("9A", false),
            ("A-B", false),
            ("a.b", false),
        ] {
            assert_eq!(
                SecretName::new(name).expect("valid").is_shell_name(),
                shell,
                "{name}"
            );
        }
    }

    #[test]
    fn environment_names_map_to_file_names() {
        assert_eq!(EnvName::default_env().file_name(), ".env.enc");
        let staging = EnvName::new("staging").expect("valid");
        assert_eq!(staging.file_name(), ".env.staging.enc");
        assert_eq!(EnvName::from_file_name(".env.staging.enc"), Some(staging));
        assert_eq!(EnvName::from_file_name(".env.default.enc"), None);
        for bad in ["", "Prod", "a.b", "a/b", &"a".repeat(33)] {
            assert!(EnvName::new(bad).is_err(), "{bad}");
        }
    }
}
