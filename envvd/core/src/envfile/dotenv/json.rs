//! `envv export --format json` read back: an object of strings, taken as
//! written (JSON has its own escapes and no references).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{DotenvError, Imported, Problem};
use crate::envfile::{EnvFileError, MAX_SECRETS, SecretName};
use crate::secret::SecretValue;

/// A JSON string value, held as a secret from the moment it is read.
struct JsonValue(SecretValue);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| JsonValue(SecretValue::new(s)))
    }
}

/// Reads the object; a name's error points at the line where it is written.
pub(super) fn read(text: &str) -> Result<Imported, EnvFileError> {
    let map: BTreeMap<String, JsonValue> = serde_json::from_str(text).map_err(|e| {
        // serde_json's own message can quote the input: only its position
        // and category are used.
        let what = match e.classify() {
            serde_json::error::Category::Data => "a value is not a string",
            serde_json::error::Category::Eof => "the text ends inside the object",
            _ => "not valid JSON",
        };
        let line_text = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
        DotenvError::fully_masked(
            e.line(),
            e.column(),
            line_text.chars().count(),
            Problem::Json { what },
        )
    })?;
    let mut out = Imported::default();
    for (key, JsonValue(value)) in map {
        let name = SecretName::new(&key).map_err(|e| {
            let reason = super::name_reason(e);
            let at = text.find(&format!("\"{key}\"")).unwrap_or(0);
            let line = text[..at].matches('\n').count() + 1;
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let problem = Problem::InvalidName {
                name: key.clone(),
                reason,
            };
            DotenvError::at(text, line, line_start, at, problem, 0, &[])
        })?;
        crate::envfile::validate_value(&name, &value)?;
        out.secrets.insert(name, value);
        if out.secrets.len() > MAX_SECRETS {
            return Err(EnvFileError::TooLarge {
                what: "number of secrets",
                limit: MAX_SECRETS,
            });
        }
    }
    Ok(out)
}
