//! Locating the lines of a `.env.enc` file, with every size bound and shape
//! rule, before any cryptography. Linear in the input and never panics.

use uuid::Uuid;

use super::format::{MAGIC, MAX_LINE_BYTES};
use super::{EnvFileError, MAX_FILE_BYTES, MAX_SECRETS, SecretName};

/// Longest accepted header line (the `key` line is about 330 bytes).
const MAX_HEADER_LINE: usize = 1024;

/// A file's lines located but not yet verified.
pub(crate) struct Raw<'a> {
    pub(crate) team: Uuid,
    pub(crate) epoch: u64,
    pub(crate) env: &'a str,
    pub(crate) generation: u64,
    pub(crate) count: usize,
    pub(crate) recipient: &'a str,
    pub(crate) key: &'a [u8],
    /// Offset just past the `key` line: the header MAC covers `[0, header_end)`.
    pub(crate) header_end: usize,
    pub(crate) header_mac: &'a [u8],
    /// (1-based line number, name, base64 value)
    pub(crate) lines: Vec<(usize, &'a str, &'a [u8])>,
    /// Offset of the `file-mac` line: the file MAC covers `[0, body_end)`.
    pub(crate) body_end: usize,
    pub(crate) file_mac: &'a [u8],
}

/// Splits `text` into lines, each with its start offset. Linear.
struct Lines<'a> {
    text: &'a [u8],
    pos: usize,
    number: usize,
}

impl<'a> Lines<'a> {
    /// The next line (without `\n`), its number and start offset; `Truncated`
    /// at end of input, since a complete file always has more to come.
    fn next(&mut self, max: usize) -> Result<(usize, usize, &'a [u8]), EnvFileError> {
        let rest = &self.text[self.pos..];
        if rest.is_empty() {
            return Err(EnvFileError::Truncated);
        }
        self.number += 1;
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(EnvFileError::Truncated)?;
        if len > max {
            return Err(EnvFileError::TooLarge {
                what: "line",
                limit: max,
            });
        }
        let start = self.pos;
        self.pos += len + 1;
        Ok((self.number, start, &rest[..len]))
    }

    fn field(&mut self, key: &'static str) -> Result<(usize, &'a [u8]), EnvFileError> {
        let (number, _, line) = self.next(MAX_HEADER_LINE)?;
        let value = line
            .strip_prefix(key.as_bytes())
            .and_then(|r| r.strip_prefix(b" "))
            .ok_or(EnvFileError::Malformed {
                line: number,
                reason: header_reason(key),
            })?;
        Ok((number, value))
    }
}

fn header_reason(key: &'static str) -> &'static str {
    match key {
        "team" => "expected `team <uuid>`",
        "epoch" => "expected `epoch <number>`",
        "env" => "expected `env <name>`",
        "generation" => "expected `generation <number>`",
        "count" => "expected `count <number>`",
        "recipient" => "expected `recipient <age1...>`",
        "key" => "expected `key <base64>`",
        _ => "expected `header-mac <base64>`",
    }
}

/// Strict decimal: digits only, no sign, no leading zero.
fn number(line: usize, text: &[u8]) -> Result<u64, EnvFileError> {
    let bad = EnvFileError::Malformed {
        line,
        reason: "not a canonical decimal number",
    };
    if text.is_empty() || text.len() > 20 || (text.len() > 1 && text[0] == b'0') {
        return Err(bad);
    }
    if !text.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(bad)
}

pub(crate) fn utf8(line: usize, text: &[u8]) -> Result<&str, EnvFileError> {
    std::str::from_utf8(text).map_err(|_| EnvFileError::Malformed {
        line,
        reason: "not UTF-8",
    })
}

pub(crate) fn parse(text: &[u8]) -> Result<Raw<'_>, EnvFileError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(EnvFileError::TooLarge {
            what: "file",
            limit: MAX_FILE_BYTES,
        });
    }
    let mut lines = Lines {
        text,
        pos: 0,
        number: 0,
    };
    let (_, _, first) = lines.next(MAX_HEADER_LINE).map_err(|e| match e {
        EnvFileError::Truncated if !MAGIC.as_bytes().starts_with(text) => {
            EnvFileError::UnsupportedFormat
        }
        other => other,
    })?;
    if first != MAGIC.as_bytes() {
        return Err(EnvFileError::UnsupportedFormat);
    }
    let (n, team) = lines.field("team")?;
    let team_str = utf8(n, team)?;
    // Only the canonical lowercase hyphenated form: one file, one byte string.
    let team = Uuid::try_parse(team_str)
        .ok()
        .filter(|u| u.hyphenated().to_string() == team_str)
        .ok_or(EnvFileError::Malformed {
            line: n,
            reason: "team is not a lowercase UUID",
        })?;
    let (n, epoch) = lines.field("epoch")?;
    let epoch = number(n, epoch)?;
    let (n, env) = lines.field("env")?;
    let env = utf8(n, env)?;
    let (n, generation) = lines.field("generation")?;
    let generation = number(n, generation)?;
    let (n, count) = lines.field("count")?;
    let count = number(n, count)?;
    if count > MAX_SECRETS as u64 {
        return Err(EnvFileError::TooLarge {
            what: "number of secrets",
            limit: MAX_SECRETS,
        });
    }
    let (n, recipient) = lines.field("recipient")?;
    let recipient = utf8(n, recipient)?;
    let (_, key) = lines.field("key")?;
    let header_end = lines.pos;
    let (_, header_mac) = lines.field("header-mac")?;

    let mut body = Vec::new();
    loop {
        let (number, start, line) = lines.next(MAX_LINE_BYTES)?;
        if let Some(mac) = line.strip_prefix(b"file-mac ") {
            if lines.pos != text.len() {
                return Err(EnvFileError::Malformed {
                    line: number + 1,
                    reason: "data after the file-mac line",
                });
            }
            return Ok(Raw {
                team,
                epoch,
                env,
                generation,
                count: count as usize,
                recipient,
                key,
                header_end,
                header_mac,
                lines: body,
                body_end: start,
                file_mac: mac,
            });
        }
        if body.len() >= MAX_SECRETS {
            return Err(EnvFileError::TooLarge {
                what: "number of secrets",
                limit: MAX_SECRETS,
            });
        }
        let eq = line
            .iter()
            .position(|&b| b == b'=')
            .ok_or(EnvFileError::Malformed {
                line: number,
                reason: "expected NAME=<base64>",
            })?;
        let name = utf8(number, &line[..eq])?;
        SecretName::new(name).map_err(|_| EnvFileError::Malformed {
            line: number,
            reason: "invalid secret name",
        })?;
        body.push((number, name, &line[eq + 1..]));
    }
}

/// Reads the secret names of a file without keys or verification (names are
/// public). For listings that must be trusted, decrypt instead.
pub fn unverified_names(text: &[u8]) -> Result<Vec<String>, EnvFileError> {
    Ok(parse(text)?
        .lines
        .into_iter()
        .map(|(_, n, _)| n.to_owned())
        .collect())
}

/// Bytes enough for the lines [`unverified_epoch`] reads.
pub const MAX_EPOCH_PREFIX: usize = 3 * (MAX_HEADER_LINE + 1);

/// The key epoch a file's header names, from its first three lines only
/// (at most [`MAX_EPOCH_PREFIX`] bytes), without keys or verification: a
/// hint for listings (which files wait for `envv rotate`), never a check.
pub fn unverified_epoch(text: &[u8]) -> Result<u64, EnvFileError> {
    let mut lines = Lines {
        text,
        pos: 0,
        number: 0,
    };
    let (_, _, first) = lines.next(MAX_HEADER_LINE)?;
    if first != MAGIC.as_bytes() {
        return Err(EnvFileError::UnsupportedFormat);
    }
    lines.field("team")?;
    let (n, epoch) = lines.field("epoch")?;
    number(n, epoch)
}
