//! `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}` in a value.
//!
//! Only a well-formed reference is replaced: a `$` before anything else
//! (`10$`, `$5`, `$(cmd)`, `${unclosed`) is text. A reference to a name
//! that is not defined is kept as written and reported, never made empty,
//! so no value loses characters on the way in.

use zeroize::Zeroizing;

/// A reference found in a value.
struct Reference<'a> {
    /// Byte offset just past it.
    end: usize,
    name: &'a str,
    default: Option<(Fallback, &'a str)>,
}

#[derive(Clone, Copy)]
enum Fallback {
    /// `${NAME:-default}`: when the name is undefined or empty.
    UnsetOrEmpty,
    /// `${NAME-default}`: when the name is undefined.
    Unset,
}

/// The expanded value would be larger than the limit.
pub(super) struct TooLarge;

/// `raw` with its references replaced through `lookup`; also answers how
/// many references to undefined names were kept as written (a count, not
/// the names: in `pa$$w0rd` the "name" `w0rd` is part of a password). `literal_dollars` are the
/// offsets of `$` signs written `\$`. Stops at `limit` bytes, so a line of
/// `$A$A$A…` cannot grow without bound.
pub(super) fn expand<'v>(
    raw: &str,
    literal_dollars: &[usize],
    limit: usize,
    lookup: impl Fn(&str) -> Option<&'v str>,
) -> Result<(Zeroizing<String>, usize), TooLarge> {
    let mut out = Zeroizing::new(String::with_capacity(raw.len()));
    let mut undefined = 0;
    let mut copied = 0;
    let mut i = 0;
    while let Some(found) = raw[i..].find('$') {
        let at = i + found;
        i = at + 1;
        if literal_dollars.binary_search(&at).is_ok() {
            continue;
        }
        let Some(reference) = reference_at(raw, at) else {
            continue;
        };
        push(&mut out, &raw[copied..at], limit)?;
        let value = lookup(reference.name);
        let replacement = match (reference.default, value) {
            (Some((Fallback::UnsetOrEmpty, default)), value) => {
                value.filter(|v| !v.is_empty()).unwrap_or(default)
            }
            (Some((Fallback::Unset, default)), value) => value.unwrap_or(default),
            (None, Some(value)) => value,
            (None, None) => {
                undefined += 1;
                &raw[at..reference.end]
            }
        };
        push(&mut out, replacement, limit)?;
        copied = reference.end;
        i = reference.end;
    }
    push(&mut out, &raw[copied..], limit)?;
    Ok((out, undefined))
}

fn push(out: &mut String, text: &str, limit: usize) -> Result<(), TooLarge> {
    if out.len() + text.len() > limit {
        return Err(TooLarge);
    }
    out.push_str(text);
    Ok(())
}

fn name_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    if !bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return 0;
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count()
}

/// The reference starting with the `$` at `at`, if it is well formed.
fn reference_at(raw: &str, at: usize) -> Option<Reference<'_>> {
    let after = &raw[at + 1..];
    if let Some(inner) = after.strip_prefix('{') {
        let len = name_len(inner);
        if len == 0 {
            return None;
        }
        let name = &inner[..len];
        let rest = &inner[len..];
        let (default, skip) = if rest.starts_with('}') {
            (None, 0)
        } else if let Some(d) = rest.strip_prefix(":-") {
            (Some((Fallback::UnsetOrEmpty, d)), 2)
        } else if let Some(d) = rest.strip_prefix('-') {
            (Some((Fallback::Unset, d)), 1)
        } else {
            // `${A:=x}`, `${A?}`, `${A B}`: not a form envv expands.
            return None;
        };
        let close = rest[skip..].find('}')?;
        let default = default.map(|(kind, d)| (kind, &d[..close]));
        // `$`, `{`, the name, the operator, the default, `}`.
        let end = at + 2 + len + skip + close + 1;
        return Some(Reference { end, name, default });
    }
    let len = name_len(after);
    (len > 0).then(|| Reference {
        end: at + 1 + len,
        name: &after[..len],
        default: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str, literal: &[usize]) -> (String, usize) {
        let lookup = |name: &str| match name {
            "A" => Some("one"),
            "EMPTY" => Some(""),
            _ => None,
        };
        let (value, undefined) = expand(raw, literal, 1 << 20, lookup).unwrap_or_else(|_| {
            panic!("limit");
        });
        (value.to_string(), undefined)
    }

    #[test]
    fn references_and_defaults_follow_the_shell() {
        for (raw, want) in [
            ("$A", "one"),
            ("${A}", "one"),
            ("x${A}y$A.z", "xoneyone.z"),
            ("${A:-d}", "one"),
            ("${MISSING:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${MISSING-d}", "d"),
            ("${MISSING:-}", ""),
        ] {
            assert_eq!(run(raw, &[]), (want.to_owned(), 0), "{raw}");
        }
    }

    #[test]
    fn a_dollar_that_is_not_a_reference_stays() {
        for raw in [
            "$", "10$", "$5", "$$", "$(cmd)", "${", "${A", "${1}", "${A:=x}", "a $ b",
        ] {
            assert_eq!(run(raw, &[]), (raw.to_owned(), 0), "{raw}");
        }
    }

    #[test]
    fn undefined_references_are_kept_and_counted() {
        let (value, undefined) = run("pa$$w0rd $X ${X}", &[]);
        assert_eq!(value, "pa$$w0rd $X ${X}");
        assert_eq!(undefined, 3);
    }

    #[test]
    fn escaped_dollars_are_literal() {
        assert_eq!(run("$A", &[0]), ("$A".to_owned(), 0));
    }

    #[test]
    fn expansion_stops_at_the_limit() {
        let lookup = |_: &str| Some("0123456789");
        assert!(expand(&"$A".repeat(100), &[], 500, lookup).is_err());
        assert!(expand(&"$A".repeat(50), &[], 500, lookup).is_ok());
    }
}
