//! Rendering secrets as dotenv, JSON or shell text that `envv import`
//! reads back to exactly the same values (property-tested in
//! `tests/roundtrip.rs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use zeroize::Zeroizing;

use crate::envfile::{EnvFileError, SecretName};
use crate::secret::SecretValue;

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

/// Renders names and values in `format`. The shell format refuses names a
/// shell cannot assign (`A.B`, `A-B`, `1A`) rather than drop them.
pub fn export<'a>(
    entries: impl IntoIterator<Item = (&'a SecretName, &'a SecretValue)>,
    format: ExportFormat,
) -> Result<Zeroizing<String>, EnvFileError> {
    let mut out = Zeroizing::new(String::new());
    match format {
        ExportFormat::Dotenv => {
            for (name, value) in entries {
                let _ = writeln!(out, "{name}=\"{}\"", *dotenv_escape(value.expose()));
            }
        }
        ExportFormat::Shell => {
            for (name, value) in entries {
                if !name.is_shell_name() {
                    return Err(EnvFileError::NotAShellName {
                        name: name.to_string(),
                    });
                }
                let _ = writeln!(out, "export {name}='{}'", *shell_escape(value.expose()));
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
    Ok(out)
}

/// Inside double quotes: `\`, `"` and `$` escaped so nothing is expanded,
/// and line breaks written `\n`/`\r` so the value stays on one line and no
/// editor or `git` line-ending conversion can change it.
fn dotenv_escape(value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 8));
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Inside single quotes, where a POSIX shell takes every byte literally:
/// `'` is written `'\''` (close, escaped quote, reopen), and a carriage
/// return is followed by `''` (close, reopen) so it never stands next to a
/// line feed, which the reader would take for a CRLF line break.
fn shell_escape(value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 8));
    for c in value.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '\r' => out.push_str("\r''"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str, format: ExportFormat) -> String {
        let name = SecretName::new("K").expect("name");
        let value = SecretValue::from(value);
        export([(&name, &value)], format)
            .expect("export")
            .to_string()
    }

    #[test]
    fn dotenv_escapes_quotes_dollars_backslashes_and_line_breaks() {
        assert_eq!(
            one("a\"b$c\\d\ne\rf", ExportFormat::Dotenv),
            "K=\"a\\\"b\\$c\\\\d\\ne\\rf\"\n"
        );
    }

    #[test]
    fn json_is_an_object() {
        let parsed: BTreeMap<String, String> =
            serde_json::from_str(&one("x\ny", ExportFormat::Json)).expect("json");
        assert_eq!(parsed["K"], "x\ny");
    }

    #[test]
    fn shell_export_escapes_single_quotes_and_carriage_returns() {
        assert_eq!(
            one("it's $HOME", ExportFormat::Shell),
            "export K='it'\\''s $HOME'\n"
        );
        assert_eq!(one("a\r\nb", ExportFormat::Shell), "export K='a\r''\nb'\n");
    }

    #[test]
    fn shell_export_refuses_names_a_shell_cannot_assign() {
        let name = SecretName::new("spring.url").expect("name");
        let value = SecretValue::from("v");
        let err = export([(&name, &value)], ExportFormat::Shell).expect_err("not a shell name");
        assert!(matches!(err, EnvFileError::NotAShellName { .. }));
        assert!(export([(&name, &value)], ExportFormat::Dotenv).is_ok());
    }
}
