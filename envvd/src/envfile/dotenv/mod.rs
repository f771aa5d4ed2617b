//! Plain dotenv (and JSON) in, dotenv, JSON and shell out.
//!
//! The reader is envv's own: it reads a file the way python-dotenv, dotenv
//! and dotenvx do wherever those three agree, and where they disagree it
//! takes the reading that cannot change a value (`docs/dotenv.md` has every
//! rule and why; `tests/roundtrip/dotenv_cases.rs` checks it against what
//! the three give). What it cannot read it refuses, naming the line and
//! column and showing the line with the value masked; the import is all or
//! nothing. What it reads but a person should know about (an undefined
//! `$NAME`, a skipped line, a name given twice) comes back as warnings.
//!
//! Pure and synchronous: bytes and an environment in, names and values
//! out. The environment is the one of the `envv import` process, sent with
//! the request; the agent's own never takes part.

mod error;
mod expand;
mod export;
mod lex;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use zeroize::Zeroizing;

pub use error::{DotenvError, DotenvWarning, MaskedLine, Problem};
pub use export::{ExportFormat, export};

use super::{EnvFile, EnvFileError, EnvName, MAX_SECRETS, MAX_VALUE_BYTES, SecretName};
use crate::crypto::TeamKeyring;
use crate::secret::SecretValue;

/// Largest dotenv input accepted.
pub const MAX_DOTENV_BYTES: usize = 16 * 1024 * 1024;
/// Most bytes all values may add up to after expansion: what one
/// `.env.enc` file can hold, so `$A$A$A…` cannot exhaust memory.
pub const MAX_EXPANDED_BYTES: usize = super::MAX_FILE_BYTES;

/// How to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Replace `$NAME` and `${NAME…}` references (`--no-expand` clears it).
    pub expand: bool,
    /// Undefined references and skipped lines are errors, not warnings.
    pub strict: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            expand: true,
            strict: false,
        }
    }
}

/// What an input holds.
#[derive(Debug, Default)]
pub struct Imported {
    /// Names and values, each name once (the last value given).
    pub secrets: BTreeMap<SecretName, SecretValue>,
    /// In the order met.
    pub warnings: Vec<DotenvWarning>,
}

/// Reads dotenv text, or a JSON object of strings when the input starts
/// with `{`. References resolve from names earlier in the input, then from
/// `env`.
pub fn read(
    input: &[u8],
    options: ImportOptions,
    env: &BTreeMap<String, SecretValue>,
) -> Result<Imported, EnvFileError> {
    if input.len() > MAX_DOTENV_BYTES {
        return Err(EnvFileError::TooLarge {
            what: "dotenv input",
            limit: MAX_DOTENV_BYTES,
        });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| not_utf8(input, e.valid_up_to()))?;
    if text.trim_start().starts_with('{') {
        return read_json(text);
    }
    let mut lexer = lex::Lexer::new(text, options.expand);
    let mut out = Imported::default();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    let mut total = 0usize;
    while let Some(item) = lexer.next_item()? {
        let raw = match item {
            lex::Item::Entry(raw) => raw,
            lex::Item::Skipped { line, line_start } => {
                if options.strict {
                    // The line may be a stray piece of a value: show none of it.
                    let problem = Problem::NoAssignment;
                    return Err(DotenvError::at(
                        text,
                        line,
                        line_start,
                        line_start,
                        problem,
                        0,
                        &[],
                    )
                    .into());
                }
                out.warnings.push(DotenvWarning::Skipped { line });
                continue;
            }
        };
        let name = SecretName::new(&raw.name).map_err(|e| {
            let reason = match e {
                EnvFileError::InvalidName { reason } => reason,
                _ => "not a valid name",
            };
            let problem = Problem::InvalidName {
                name: raw.name.clone(),
                reason,
            };
            DotenvError::at(
                text,
                raw.line,
                raw.line_start,
                raw.name_at,
                problem,
                raw.value_at,
                &[],
            )
        })?;
        let value = if options.expand && raw.expandable {
            let secrets = &out.secrets;
            let lookup = |n: &str| {
                secrets
                    .get(n)
                    .or_else(|| env.get(n))
                    .map(SecretValue::expose)
            };
            let (value, undefined) =
                expand::expand(&raw.value, &raw.literal_dollars, MAX_VALUE_BYTES, lookup)
                    .map_err(|_| too_large_value(&name))?;
            if let Some(missing) = undefined.first().filter(|_| options.strict) {
                let quoted = text[raw.value_at..].starts_with('"');
                let shown = raw.value_at + usize::from(quoted);
                let problem = Problem::Undefined {
                    name: missing.clone(),
                };
                let at = raw.value_at;
                return Err(DotenvError::at(
                    text,
                    raw.line,
                    raw.line_start,
                    at,
                    problem,
                    shown,
                    &[],
                )
                .into());
            }
            for missing in undefined {
                out.warnings.push(DotenvWarning::Undefined {
                    line: raw.line,
                    key: raw.name.clone(),
                    name: missing,
                });
            }
            value
        } else {
            raw.value
        };
        let mut value = value;
        let value = SecretValue::new(std::mem::take(&mut *value));
        super::validate_value(&name, &value)?;
        total += value.len();
        if total > MAX_EXPANDED_BYTES {
            return Err(EnvFileError::TooLarge {
                what: "dotenv values after expansion",
                limit: MAX_EXPANDED_BYTES,
            });
        }
        if let Some(first) = first_line.get(&raw.name) {
            out.warnings.push(DotenvWarning::Duplicate {
                line: raw.line,
                first: *first,
                name: raw.name.clone(),
            });
        } else {
            first_line.insert(raw.name.clone(), raw.line);
        }
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

/// Reads with the default options and no environment: references resolve
/// from the input only.
pub fn parse_dotenv(input: &[u8]) -> Result<BTreeMap<SecretName, SecretValue>, EnvFileError> {
    read(input, ImportOptions::default(), &BTreeMap::new()).map(|i| i.secrets)
}

/// Imports dotenv text into the file at `path` in one locked write;
/// answers how many secrets the text gave.
pub fn import(
    path: &Path,
    env: &EnvName,
    keyring: &TeamKeyring,
    input: &[u8],
) -> Result<usize, EnvFileError> {
    let parsed = parse_dotenv(input)?;
    super::edit::update(path, env, keyring, |file| {
        let n = parsed.len();
        for (name, value) in &parsed {
            file.set(name.clone(), value.clone())?;
        }
        Ok(n)
    })
}

/// Exports a whole file.
pub fn export_file(
    file: &EnvFile,
    format: ExportFormat,
) -> Result<Zeroizing<String>, EnvFileError> {
    export(file.iter(), format)
}

fn too_large_value(name: &SecretName) -> EnvFileError {
    EnvFileError::InvalidValue {
        name: name.to_string(),
        reason: "larger than 1 MiB once expanded",
    }
}

/// Where the first invalid byte is, by the same line rules as the reader.
fn not_utf8(input: &[u8], valid_up_to: usize) -> EnvFileError {
    let (mut line, mut line_start) = (1, 0);
    let mut i = 0;
    while i < valid_up_to {
        match input[i] {
            b'\r' if input.get(i + 1) == Some(&b'\n') => i += 1,
            b'\r' | b'\n' => {}
            _ => {
                i += 1;
                continue;
            }
        }
        i += 1;
        line += 1;
        line_start = i;
    }
    let before = String::from_utf8_lossy(&input[line_start..valid_up_to]);
    let end = input[line_start..]
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r'))
        .map_or(input.len(), |p| line_start + p);
    let chars = String::from_utf8_lossy(&input[line_start..end])
        .chars()
        .count();
    let column = before.chars().count() + 1;
    DotenvError::fully_masked(line, column, chars, Problem::InvalidUtf8).into()
}

/// A JSON string value, held as a secret from the moment it is read.
struct JsonValue(SecretValue);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| JsonValue(SecretValue::new(s)))
    }
}

/// `envv export --format json` read back: an object of strings, taken as
/// written (JSON has its own escapes and no references).
fn read_json(text: &str) -> Result<Imported, EnvFileError> {
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
            let reason = match e {
                EnvFileError::InvalidName { reason } => reason,
                _ => "not a valid name",
            };
            let at = text.find(&format!("\"{key}\"")).unwrap_or(0);
            let line = text[..at].matches('\n').count() + 1;
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let problem = Problem::InvalidName {
                name: key.clone(),
                reason,
            };
            DotenvError::at(text, line, line_start, at, problem, 0, &[])
        })?;
        super::validate_value(&name, &value)?;
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

#[cfg(test)]
mod tests;
