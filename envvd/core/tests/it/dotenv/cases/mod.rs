//! Generated once from python-dotenv 1.2.4 (`dotenv_values(stream=…,
//! interpolate=True)`), dotenv 18.0.10 (`dotenv.parse`, which never
//! expands) and @dotenvx/dotenvx 2.38.2 (`parse(src, { processEnv })`),
//! each given [`ENVIRONMENT`]; nothing here needs those tools or a network.
//! A name python-dotenv reads with no `=` (value `None`, never put in an
//! environment) is left out of its column.
//!
//! 140 cases; in 85 the three references give the same result.

use super::Case;

mod encoding;
mod expansion;
mod lines;
mod quotes;

/// The environment every reference, and envv, expanded with.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("SHELL_VAR", "from-shell"),
    ("SHELL_EMPTY", ""),
    ("SHELL_PATH", "/usr/bin:/bin"),
];

/// Every case, by what it is about.
pub fn all() -> impl Iterator<Item = &'static Case> {
    [
        lines::CASES,
        quotes::CASES,
        expansion::CASES,
        encoding::CASES,
    ]
    .into_iter()
    .flatten()
}
