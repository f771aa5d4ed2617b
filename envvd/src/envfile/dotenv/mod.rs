//! Plain dotenv, JSON and shell conversions.
//!
//! Import uses `dotenvy`, so it accepts what dotenv users write: quotes,
//! escapes, multi-line quoted values, `export` prefixes and comments. Note
//! that dotenv expands `$VAR` and `${VAR}` in unquoted and double-quoted
//! values (from earlier keys, or the importing process's environment);
//! single-quoted values are literal.
//!
//! Export writes every value double-quoted, escaping `\`, `"`, `$` and
//! newlines, so the output re-imports to exactly the same values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use zeroize::Zeroizing;

use super::{EnvFile, EnvFileError, EnvName, SecretName, validate_value};
use crate::crypto::TeamKeyring;
use crate::secret::SecretValue;

/// Largest dotenv input accepted.
pub const MAX_DOTENV_BYTES: usize = 16 * 1024 * 1024;

/// Output formats of [`export`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// `KEY="value"` lines.
    Dotenv,
    /// One JSON object, keys sorted.
    Json,
    /// `export KEY='value'` lines for POSIX shells.
    Shell,
}

/// Parses dotenv text into validated names and values. A name given twice
/// keeps its last value, as dotenv loaders do.
pub fn parse_dotenv(input: &[u8]) -> Result<BTreeMap<SecretName, SecretValue>, EnvFileError> {
    if input.len() > MAX_DOTENV_BYTES {
        return Err(EnvFileError::TooLarge {
            what: "dotenv input",
            limit: MAX_DOTENV_BYTES,
        });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut out = BTreeMap::new();
    let mut last: Option<String> = None;
    for item in dotenvy::from_read_iter(input) {
        // dotenvy's error echoes the offending line, which may hold a secret:
        // report only the last good key.
        let Ok((key, value)) = item else {
            return Err(EnvFileError::DotenvSyntax { after: last });
        };
        let value = SecretValue::new(value);
        let name = SecretName::new(&key)?;
        validate_value(&name, &value)?;
        last = Some(key);
        out.insert(name, value);
        if out.len() > super::MAX_SECRETS {
            return Err(EnvFileError::TooLarge {
                what: "number of secrets",
                limit: super::MAX_SECRETS,
            });
        }
    }
    Ok(out)
}

/// Sets every secret of a dotenv text in `file`; returns how many were given.
pub fn import_into(file: &mut EnvFile, input: &[u8]) -> Result<usize, EnvFileError> {
    let parsed = parse_dotenv(input)?;
    let n = parsed.len();
    for (name, value) in parsed {
        file.set(name, value)?;
    }
    Ok(n)
}

/// Imports dotenv text into the file at `path` in one locked write.
pub fn import(
    path: &Path,
    env: &EnvName,
    keyring: &TeamKeyring,
    input: &[u8],
) -> Result<usize, EnvFileError> {
    let parsed = parse_dotenv(input)?;
    super::edit::update(path, env, keyring, |file| {
        let n = parsed.len();
        for (name, value) in parsed {
            file.set(name, value)?;
        }
        Ok(n)
    })
}

/// Renders names and values in `format`.
pub fn export<'a>(
    entries: impl IntoIterator<Item = (&'a SecretName, &'a SecretValue)>,
    format: ExportFormat,
) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    match format {
        ExportFormat::Dotenv => {
            for (name, value) in entries {
                let _ = writeln!(out, "{name}=\"{}\"", *dotenv_escape(value.expose()));
            }
        }
        ExportFormat::Shell => {
            for (name, value) in entries {
                let quoted = Zeroizing::new(value.expose().replace('\'', r"'\''"));
                let _ = writeln!(out, "export {name}='{}'", *quoted);
            }
        }
        ExportFormat::Json => {
            let map: BTreeMap<&str, &str> = entries
                .into_iter()
                .map(|(k, v)| (k.as_str(), v.expose()))
                .collect();
            let json = Zeroizing::new(serde_json::to_string_pretty(&map).unwrap_or_default());
            out.push_str(&json);
            out.push('\n');
        }
    }
    out
}

/// Exports a whole file.
pub fn export_file(file: &EnvFile, format: ExportFormat) -> Zeroizing<String> {
    export(file.iter(), format)
}

fn dotenv_escape(value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 8));
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            // A literal newline inside quotes would break dotenvy on a
            // continuation line starting with `#`; `\n` is unambiguous.
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(map: &BTreeMap<SecretName, SecretValue>, k: &str) -> String {
        map.get(k)
            .map(|v| v.expose().to_owned())
            .unwrap_or_else(|| panic!("missing {k}"))
    }

    #[test]
    fn real_dotenv_syntax_is_understood() {
        let input = b"# comment\n\
            export A=plain\n\
            B='single $NOT \"x\"'\n\
            C=\"dq \\\"esc\\\" \\n nl\"\n\
            D=\"multi\nline\"\n\
            E=  # empty with comment\n\
            F=v # trailing comment\n";
        let map = parse_dotenv(input).expect("parse");
        assert_eq!(get(&map, "A"), "plain");
        assert_eq!(get(&map, "B"), "single $NOT \"x\"");
        assert_eq!(get(&map, "C"), "dq \"esc\" \n nl");
        assert_eq!(get(&map, "D"), "multi\nline");
        assert_eq!(get(&map, "E"), "");
        assert_eq!(get(&map, "F"), "v");
    }

    #[test]
    fn syntax_errors_do_not_echo_the_input() {
        let err = parse_dotenv(b"GOOD=1\nBAD=\"s3cr3t-value\n").expect_err("unterminated quote");
        let msg = err.to_string();
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(matches!(err, EnvFileError::DotenvSyntax { after: Some(ref k) } if k == "GOOD"));
    }

    fn one(value: &str, format: ExportFormat) -> String {
        let name = SecretName::new("K").expect("name");
        let value = SecretValue::from(value);
        export([(&name, &value)], format).to_string()
    }

    #[test]
    fn dotenv_escapes_quotes_dollars_backslashes_and_newlines() {
        assert_eq!(
            one("a\"b$c\\d\ne", ExportFormat::Dotenv),
            "K=\"a\\\"b\\$c\\\\d\\ne\"\n"
        );
    }

    #[test]
    fn json_is_an_object() {
        let parsed: BTreeMap<String, String> =
            serde_json::from_str(&one("x\ny", ExportFormat::Json)).expect("json");
        assert_eq!(parsed["K"], "x\ny");
    }

    #[test]
    fn shell_export_escapes_single_quotes() {
        let name = SecretName::new("K").expect("name");
        let value = SecretValue::from("it's $HOME");
        let out = export([(&name, &value)], ExportFormat::Shell);
        assert_eq!(out.as_str(), "export K='it'\\''s $HOME'\n");
        let json = export([(&name, &value)], ExportFormat::Json);
        let parsed: BTreeMap<String, String> = serde_json::from_str(&json).expect("json");
        assert_eq!(parsed["K"], "it's $HOME");
    }
}
