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
mod json;
mod lex;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

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
        return json::read(text);
    }
    let mut reader = Reader {
        text,
        options,
        env,
        out: Imported::default(),
        first_line: HashMap::new(),
        total: 0,
        more_warnings: 0,
    };
    let mut lexer = lex::Lexer::new(text, options.expand);
    while let Some(item) = lexer.next_item()? {
        match item {
            lex::Item::Entry(raw) => reader.entry(raw)?,
            lex::Item::Skipped { line, line_start } => reader.skipped(line, line_start)?,
        }
    }
    if reader.more_warnings > 0 {
        let count = reader.more_warnings;
        reader.out.warnings.push(DotenvWarning::More { count });
    }
    Ok(reader.out)
}

/// Warnings kept in full; past this many only a count, so a file of
/// millions of odd lines can't make an answer of millions of sentences.
pub const MAX_WARNINGS: usize = 100;

/// The state of one read: what was read so far is what later references
/// resolve against.
struct Reader<'a> {
    text: &'a str,
    options: ImportOptions,
    env: &'a BTreeMap<String, SecretValue>,
    out: Imported,
    first_line: HashMap<String, usize>,
    /// Bytes of all values so far.
    total: usize,
    /// Warnings past [`MAX_WARNINGS`].
    more_warnings: usize,
}

impl Reader<'_> {
    fn warn(&mut self, warning: DotenvWarning) {
        if self.out.warnings.len() < MAX_WARNINGS {
            self.out.warnings.push(warning);
        } else {
            self.more_warnings += 1;
        }
    }

    fn skipped(&mut self, line: usize, line_start: usize) -> Result<(), EnvFileError> {
        if self.options.strict {
            // The line may be a stray piece of a value: show none of it.
            let problem = Problem::NoAssignment;
            let at = line_start;
            return Err(DotenvError::at(self.text, line, line_start, at, problem, 0, &[]).into());
        }
        self.warn(DotenvWarning::Skipped { line });
        Ok(())
    }

    fn entry(&mut self, raw: lex::RawEntry) -> Result<(), EnvFileError> {
        let name = SecretName::new(&raw.name).map_err(|e| {
            let problem = Problem::InvalidName {
                name: raw.name.clone(),
                reason: name_reason(e),
            };
            let (line, start, at) = (raw.line, raw.line_start, raw.name_at);
            DotenvError::at(self.text, line, start, at, problem, raw.value_at, &[])
        })?;
        let mut value = if self.options.expand && raw.expandable {
            self.expand(&raw, &name)?
        } else {
            raw.value
        };
        let value = SecretValue::new(std::mem::take(&mut *value));
        super::validate_value(&name, &value)?;
        let quoted = self.text[raw.value_at..].starts_with(['"', '\'', '`']);
        let block = value.expose().starts_with("-----BEGIN ");
        if !quoted && block && !value.expose().contains("-----END ") {
            self.warn(DotenvWarning::UnquotedBlock {
                line: raw.line,
                name: raw.name.clone(),
            });
        }
        self.total += value.len();
        if self.total > MAX_EXPANDED_BYTES {
            return Err(EnvFileError::TooLarge {
                what: "dotenv values after expansion",
                limit: MAX_EXPANDED_BYTES,
            });
        }
        match self.first_line.get(&raw.name) {
            Some(&first) => self.warn(DotenvWarning::Duplicate {
                line: raw.line,
                first,
                name: raw.name,
            }),
            None => {
                self.first_line.insert(raw.name, raw.line);
            }
        }
        self.out.secrets.insert(name, value);
        if self.out.secrets.len() > MAX_SECRETS {
            return Err(EnvFileError::TooLarge {
                what: "number of secrets",
                limit: MAX_SECRETS,
            });
        }
        Ok(())
    }

    /// References resolve from earlier names, then the given environment.
    fn expand(
        &mut self,
        raw: &lex::RawEntry,
        name: &SecretName,
    ) -> Result<Zeroizing<String>, EnvFileError> {
        let (secrets, env) = (&self.out.secrets, self.env);
        let from_env = std::cell::Cell::new(false);
        let lookup = |n: &str| match secrets.get(n) {
            Some(earlier) => Some(earlier.expose()),
            None => {
                let shell = env.get(n).map(SecretValue::expose);
                from_env.set(from_env.get() || shell.is_some());
                shell
            }
        };
        let (value, undefined) =
            expand::expand(&raw.value, &raw.literal_dollars, MAX_VALUE_BYTES, lookup).map_err(
                |_| EnvFileError::InvalidValue {
                    name: name.to_string(),
                    reason: "larger than 1 MiB once expanded",
                },
            )?;
        if undefined > 0 && self.options.strict {
            let quoted = self.text[raw.value_at..].starts_with('"');
            let shown = raw.value_at + usize::from(quoted);
            let problem = Problem::Undefined;
            let (line, start, at) = (raw.line, raw.line_start, raw.value_at);
            return Err(DotenvError::at(self.text, line, start, at, problem, shown, &[]).into());
        }
        if undefined > 0 {
            self.warn(DotenvWarning::Undefined {
                line: raw.line,
                key: raw.name.clone(),
                count: undefined,
            });
        }
        // A file from elsewhere could pull a secret of the importer's shell
        // into the team's file: say so, so a dry run shows it.
        if from_env.get() {
            self.warn(DotenvWarning::FromEnvironment {
                line: raw.line,
                key: raw.name.clone(),
            });
        }
        Ok(value)
    }
}

/// The reason [`SecretName::new`] gave.
fn name_reason(e: EnvFileError) -> &'static str {
    match e {
        EnvFileError::InvalidName { reason } => reason,
        _ => "not a valid name",
    }
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

#[cfg(test)]
mod tests;
