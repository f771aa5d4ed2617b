//! `envv export`'s formats. Same output as the agent's own converter: dotenv
//! that re-imports to exactly the same values, JSON, POSIX shell.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use proto_ipc::Secret;
use zeroize::Zeroizing;

use crate::cli::ExportFormat;

pub fn render(secrets: &[(String, Secret)], format: ExportFormat) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    match format {
        ExportFormat::Dotenv => {
            for (name, value) in secrets {
                let _ = writeln!(out, "{name}=\"{}\"", *dotenv_escape(value.expose()));
            }
        }
        ExportFormat::Shell => {
            for (name, value) in secrets {
                let quoted = Zeroizing::new(value.expose().replace('\'', r"'\''"));
                let _ = writeln!(out, "export {name}='{}'", *quoted);
            }
        }
        ExportFormat::Json => {
            let map: BTreeMap<&str, &str> = secrets
                .iter()
                .map(|(k, v)| (k.as_str(), v.expose()))
                .collect();
            let json = Zeroizing::new(serde_json::to_string_pretty(&map).unwrap_or_default());
            out.push_str(&json);
            out.push('\n');
        }
    }
    out
}

/// Double-quoted dotenv: `\`, `"` and `$` escaped (dotenv expands `$VAR` in
/// double quotes), newlines as `\n`.
fn dotenv_escape(value: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() + 8));
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str, format: ExportFormat) -> String {
        render(&[("K".to_owned(), Secret::new(value))], format).to_string()
    }

    #[test]
    fn dotenv_escapes_quotes_dollars_backslashes_and_newlines() {
        assert_eq!(
            one("a\"b$c\\d\ne", ExportFormat::Dotenv),
            "K=\"a\\\"b\\$c\\\\d\\ne\"\n"
        );
    }

    #[test]
    fn shell_quotes_single_quotes() {
        assert_eq!(
            one("it's $HOME", ExportFormat::Shell),
            "export K='it'\\''s $HOME'\n"
        );
    }

    #[test]
    fn json_is_an_object() {
        let parsed: BTreeMap<String, String> =
            serde_json::from_str(&one("x\ny", ExportFormat::Json)).expect("json");
        assert_eq!(parsed["K"], "x\ny");
    }
}
