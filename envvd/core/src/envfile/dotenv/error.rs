//! What goes wrong reading dotenv text, and what is worth a warning.
//!
//! Neither ever holds a value: a message shows the offending line with
//! every value character replaced by `•`, so the name, the `=` and the
//! quotes stay visible and no secret byte does.

use std::fmt;

/// A dotenv input envv refuses, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("line {line}, column {column}: {problem}\n{masked}")]
pub struct DotenvError {
    /// 1-based; `\n`, `\r\n` and a lone `\r` each end a line.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// What was expected.
    pub problem: Problem,
    /// The line with its value masked, and a caret under the column.
    pub masked: MaskedLine,
}

/// The reasons an input is refused.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("this {} value is never closed (expected a closing {quote} before the end of the file)", quote_name(*quote))]
    Unterminated { quote: char },

    #[error(
        "text after the closing {quote} (expected the end of the line or a comment starting with `#`)"
    )]
    TextAfterQuote { quote: char },

    #[error("not UTF-8 text (save the file as UTF-8)")]
    InvalidUtf8,

    #[error("`{name}` is not a valid name: {reason}")]
    InvalidName { name: String, reason: &'static str },

    #[error(
        "a `$` reference to a name defined neither earlier in the file nor in the environment of `envv import` (expected a defined name; write `\\$` for a literal `$`, give a default with `${{NAME:-default}}`, or import with `--no-expand`)"
    )]
    Undefined,

    #[error("not an assignment (expected NAME=value, a comment or a blank line)")]
    NoAssignment,

    #[error("not a JSON object whose values are all strings ({what})")]
    Json { what: &'static str },
}

fn quote_name(quote: char) -> &'static str {
    match quote {
        '"' => "double-quoted",
        '\'' => "single-quoted",
        _ => "backtick-quoted",
    }
}

/// Something the import did that the user should know about. Names and
/// line numbers only.
// Field names say what they hold; each variant's doc says when it happens.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DotenvWarning {
    /// With `--strict` this is an error.
    ///
    /// The names referred to are not given: in `pa$$w0rd` the "name"
    /// `w0rd` is part of a password.
    #[error(
        "line {line}: the value of `{key}` has {count} `$` reference(s) to names defined neither earlier in the file nor in your environment; kept as written (`\\$` writes a literal `$`)"
    )]
    Undefined {
        line: usize,
        key: String,
        count: usize,
    },
    /// With `--strict` this is an error.
    #[error("line {line}: not an assignment (expected NAME=value); the line was skipped")]
    Skipped { line: usize },
    /// A PEM key or certificate written without quotes: every loader reads
    /// only its first line, and the lines after it are skipped or, worse,
    /// read as names (which are stored in clear).
    #[error(
        "line {line}: the value of `{name}` looks like the first line of a multi-line block (`-----BEGIN …`) and only that line was read; put the whole value in double quotes"
    )]
    UnquotedBlock { line: usize, name: String },
    /// Every dotenv loader keeps the last value; envv too, but says so.
    #[error("line {line}: `{name}` was already given on line {first}; the later value is used")]
    Duplicate {
        line: usize,
        first: usize,
        name: String,
    },
    /// A reference resolved from the importer's environment: a file from
    /// elsewhere could copy a secret of this shell into the team's file.
    #[error(
        "line {line}: the value of `{key}` takes a variable from your environment; check that is meant to be shared with the team"
    )]
    FromEnvironment { line: usize, key: String },
    /// Past [`super::MAX_WARNINGS`], the rest are only counted.
    #[error("and {count} more warning(s) like these")]
    More { count: usize },
}

/// A line of the input with value characters masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedLine {
    line: usize,
    text: String,
    caret: usize,
}

impl MaskedLine {
    /// The masked text (no line number, no caret).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for MaskedLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        writeln!(f, "  {number} | {}", self.text)?;
        write!(
            f,
            "  {} | {}^",
            " ".repeat(number.len()),
            " ".repeat(self.caret.saturating_sub(1))
        )
    }
}

impl DotenvError {
    /// An error at byte `at` of `text`, on the line starting at
    /// `line_start`. Bytes before `shown` (the name, `=` and an opening
    /// quote) and at the offsets in `keep` (a closing quote) are shown;
    /// every other character of the line is masked.
    pub(super) fn at(
        text: &str,
        line: usize,
        line_start: usize,
        at: usize,
        problem: Problem,
        shown: usize,
        keep: &[usize],
    ) -> Self {
        let end = text[line_start..]
            .find(['\n', '\r'])
            .map_or(text.len(), |i| line_start + i);
        let mut masked = String::new();
        let mut column = 1;
        for (i, c) in text[line_start..end].char_indices() {
            let offset = line_start + i;
            if offset < at {
                column += 1;
            }
            if offset < shown || keep.contains(&offset) {
                masked.push(c);
            } else {
                masked.push('•');
            }
        }
        Self {
            line,
            column,
            problem,
            masked: MaskedLine {
                line,
                text: masked,
                caret: column,
            },
        }
    }

    /// An error where no part of the line can be shown (invalid UTF-8: the
    /// line may be inside a multi-line value, so nothing on it is known to
    /// be a name).
    pub(super) fn fully_masked(line: usize, column: usize, chars: usize, problem: Problem) -> Self {
        Self {
            line,
            column,
            problem,
            masked: MaskedLine {
                line,
                text: "•".repeat(chars),
                caret: column,
            },
        }
    }
}
