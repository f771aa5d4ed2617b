//! Splits dotenv text into entries: names, values with their quoting
//! undone, and the lines that hold no assignment. Expansion is not done
//! here (see `expand.rs`); this only marks which `$` signs were escaped and
//! which values may be expanded at all.
//!
//! The rules, and why each was chosen where python-dotenv, dotenv and
//! dotenvx disagree, are in `docs/dotenv.md`.

use zeroize::Zeroizing;

use super::error::{DotenvError, Problem};

/// One `NAME=value` assignment.
pub(super) struct RawEntry {
    pub(super) name: String,
    pub(super) line: usize,
    /// Byte offsets of the line start and of the name, the `=` and the
    /// value's first byte (its opening quote, if quoted) in the text.
    pub(super) line_start: usize,
    pub(super) name_at: usize,
    pub(super) value_at: usize,
    pub(super) value: Zeroizing<String>,
    /// Offsets in `value` of `$` signs written `\$`: never a reference.
    pub(super) literal_dollars: Vec<usize>,
    /// Unquoted and double-quoted values are expanded; single-quoted and
    /// backtick-quoted ones never are.
    pub(super) expandable: bool,
}

pub(super) enum Item {
    Entry(RawEntry),
    /// A line that is neither blank, a comment nor `NAME=…`. Every reference
    /// loader skips these; envv reports them.
    Skipped {
        line: usize,
        line_start: usize,
    },
}

/// Cursor over the text. `text` is valid UTF-8 with any BOM removed.
pub(super) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    line_start: usize,
    /// Whether `\$` in an unquoted value means a literal `$` (only when
    /// expanding: with `--no-expand` every unquoted byte is kept).
    unquoted_dollar_escape: bool,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(text: &'a str, expand: bool) -> Self {
        Self {
            text,
            pos: 0,
            line: 1,
            line_start: 0,
            unquoted_dollar_escape: expand,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some('\n' | '\r'))
    }

    /// Consumes `\n`, `\r\n` or a lone `\r` (old Mac files): all three end
    /// a line, for numbering too.
    fn eat_line_end(&mut self) {
        match self.peek() {
            Some('\r') => {
                self.pos += 1;
                if self.peek() == Some('\n') {
                    self.pos += 1;
                }
            }
            Some('\n') => self.pos += 1,
            _ => return,
        }
        self.line += 1;
        self.line_start = self.pos;
    }

    fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn skip_rest_of_line(&mut self) {
        while !self.at_line_end() {
            self.bump();
        }
        self.eat_line_end();
    }

    fn error(&self, at: usize, problem: Problem, shown: usize, keep: &[usize]) -> DotenvError {
        DotenvError::at(
            self.text,
            self.line,
            self.line_start,
            at,
            problem,
            shown,
            keep,
        )
    }

    /// The next entry or skipped line; `None` at the end of the text.
    pub(super) fn next_item(&mut self) -> Result<Option<Item>, DotenvError> {
        loop {
            self.skip_blanks();
            match self.peek() {
                None => return Ok(None),
                Some('\n' | '\r') => self.eat_line_end(),
                Some('#') => self.skip_rest_of_line(),
                Some(_) => return self.assignment().map(Some),
            }
        }
    }

    fn assignment(&mut self) -> Result<Item, DotenvError> {
        let (line, line_start) = (self.line, self.line_start);
        // `export NAME=…` (shell syntax); `export=1` and `exportX=1` are names.
        let rest = &self.text[self.pos..];
        if rest.starts_with("export") && rest[6..].starts_with([' ', '\t']) {
            self.pos += 6;
            self.skip_blanks();
        }
        let name_at = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            self.pos += 1;
        }
        let name_end = self.pos;
        self.skip_blanks();
        if name_end == name_at || self.peek() != Some('=') {
            self.skip_rest_of_line();
            return Ok(Item::Skipped { line, line_start });
        }
        self.pos += 1;
        let blank_before_value = self.skip_blanks();
        let value_at = self.pos;
        let mut literal_dollars = Vec::new();
        let (value, expandable) = match self.peek() {
            Some(quote @ ('"' | '\'' | '`')) => {
                let value = self.quoted(quote, value_at, &mut literal_dollars)?;
                (value, quote == '"')
            }
            // `NAME= # note` is empty; `NAME=#x` is `#x` (see `unquoted`).
            Some('#') if blank_before_value => {
                self.skip_rest_of_line();
                (Zeroizing::new(String::new()), true)
            }
            _ => (self.unquoted(&mut literal_dollars), true),
        };
        Ok(Item::Entry(RawEntry {
            name: self.text[name_at..name_end].to_owned(),
            line,
            line_start,
            name_at,
            value_at,
            value,
            literal_dollars,
            expandable,
        }))
    }

    /// To the end of the line; a `#` after a space or tab starts a comment
    /// (a `#` inside a word, as in `a#b`, is kept: it cannot be told from
    /// data, and keeping it loses nothing). Blanks around are trimmed.
    fn unquoted(&mut self, literal_dollars: &mut Vec<usize>) -> Zeroizing<String> {
        let start = self.pos;
        let mut end = start;
        // Blanks before the value were skipped, so what precedes it is `=`.
        let mut prev = '=';
        while let Some(c) = self.peek().filter(|c| !matches!(c, '\n' | '\r')) {
            if c == '#' && matches!(prev, ' ' | '\t') {
                break;
            }
            self.pos += c.len_utf8();
            if !matches!(c, ' ' | '\t') {
                end = self.pos;
            }
            prev = c;
        }
        self.skip_rest_of_line();
        let raw = &self.text[start..end];
        let mut out = Zeroizing::new(String::with_capacity(raw.len()));
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && self.unquoted_dollar_escape && chars.peek() == Some(&'$') {
                chars.next();
                literal_dollars.push(out.len());
                out.push('$');
            } else {
                out.push(c);
            }
        }
        out
    }

    /// A quoted value, which may span lines. A CRLF inside becomes `\n`, so
    /// a CRLF file gives the same values as an LF one; a lone `\r` is kept
    /// (it is how a shell export carries a carriage return) but still counts
    /// as a line for positions.
    fn quoted(
        &mut self,
        quote: char,
        open_at: usize,
        literal_dollars: &mut Vec<usize>,
    ) -> Result<Zeroizing<String>, DotenvError> {
        let (open_line, open_line_start) = (self.line, self.line_start);
        self.pos += 1;
        let mut out = Zeroizing::new(String::new());
        loop {
            let Some(c) = self.bump() else {
                return Err(DotenvError::at(
                    self.text,
                    open_line,
                    open_line_start,
                    open_at,
                    Problem::Unterminated { quote },
                    open_at + 1,
                    &[],
                ));
            };
            match c {
                c if c == quote => {
                    // The shell's way to put `'` in a single-quoted word,
                    // `'\''`, and `''` joining two quoted parts: what
                    // `envv export --format shell` writes.
                    let rest = &self.text[self.pos..];
                    if quote == '\'' && rest.starts_with("\\''") {
                        self.pos += 3;
                        out.push('\'');
                    } else if quote == '\'' && rest.starts_with('\'') {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                '\r' if self.peek() == Some('\n') => {
                    self.pos -= 1;
                    self.eat_line_end();
                    out.push('\n');
                }
                '\r' => {
                    // Counted as a line for positions, kept as a byte.
                    self.line += 1;
                    self.line_start = self.pos;
                    out.push('\r');
                }
                '\n' => {
                    self.line += 1;
                    self.line_start = self.pos;
                    out.push('\n');
                }
                '\\' if quote == '"' => match self.peek() {
                    Some(e @ ('n' | 'r' | 't' | '\\' | '"' | '$')) => {
                        self.pos += 1;
                        if e == '$' {
                            literal_dollars.push(out.len());
                        }
                        out.push(match e {
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            other => other,
                        });
                    }
                    // Any other escape (`\U` in `"C:\Users"`) is kept as written.
                    _ => out.push('\\'),
                },
                c => out.push(c),
            }
        }
        let close_at = self.pos - 1;
        self.skip_blanks();
        match self.peek() {
            None | Some('\n' | '\r') => self.eat_line_end(),
            Some('#') => self.skip_rest_of_line(),
            Some(_) => {
                let shown = if self.line == open_line {
                    open_at + 1
                } else {
                    self.line_start
                };
                return Err(self.error(
                    self.pos,
                    Problem::TextAfterQuote { quote },
                    shown,
                    &[close_at],
                ));
            }
        }
        Ok(out)
    }
}
