//! Checks on untrusted input. Messages name the field, never echo its value.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use envv_api::{KDF_SALT_LEN, KdfParams};
use zeroize::Zeroizing;

use crate::error::ApiError;

/// Largest grant (a team key encrypted to one member) a client may store.
pub const MAX_GRANT: usize = 8 * 1024;
/// Largest wrapped identity blob a client may store.
pub const MAX_WRAPPED_IDENTITY: usize = 8 * 1024;
/// Longest email address, in characters as sent (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest display name, in characters once trimmed.
pub const MAX_DISPLAY_NAME: usize = 100;

// Each check below has its rule as a JSON Schema pattern beside it, which
// `/openapi.json` states (`crate::openapi::rules`) and the tests hold to the
// check (`tests::patterns_agree_with_the_checks`). Patterns use only syntax
// JSON Schema (ECMA-262), Python's `re` and the `regex` crate read alike.

/// What `str::trim` removes and `char::is_whitespace` is (Unicode
/// White_Space), as the inside of a regex class.
const WHITESPACE: &str =
    r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// What `char::is_control` is (Unicode Cc), as the inside of a regex class.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Lowercased and trimmed: the form limits and uniqueness are keyed on.
/// At most [`MAX_EMAIL_LEN`] characters as sent; around one `@`, a local
/// part and a domain free of whitespace and control characters.
pub fn normalise_email(email: &str) -> Result<String, ApiError> {
    let short = email.chars().count() <= MAX_EMAIL_LEN;
    let email = email.trim().to_lowercase();
    let valid = short
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(bad("`email` is not a valid email address"))
    }
}

/// [`normalise_email`]'s rule (before trimming and lowercasing).
pub fn email_pattern() -> String {
    let part = format!("[^{WHITESPACE}@{CONTROL}]+");
    format!("^[{WHITESPACE}]*{part}@{part}[{WHITESPACE}]*$")
}

/// Trimmed: 1 to [`MAX_DISPLAY_NAME`] characters, none a control character.
pub fn display_name(field: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_DISPLAY_NAME
        || name.chars().any(char::is_control)
    {
        return Err(bad(format!(
            "`{field}` must be 1 to {MAX_DISPLAY_NAME} printable characters"
        )));
    }
    Ok(name.to_owned())
}

/// [`display_name`]'s rule: what trimming leaves starts and ends with a
/// character that is neither whitespace nor control.
pub fn display_name_pattern() -> String {
    let inner = MAX_DISPLAY_NAME - 2;
    format!(
        "^[{WHITESPACE}]*[^{WHITESPACE}{CONTROL}](?:[^{CONTROL}]{{0,{inner}}}[^{WHITESPACE}{CONTROL}])?[{WHITESPACE}]*$"
    )
}

/// Exactly `bytes` bytes of canonical base64 as the `base64` crate decodes
/// it (padding as the alphabet requires, unused trailing bits zero), in
/// the standard alphabet with padding or the URL-safe one without.
pub fn base64_pattern(bytes: usize, standard: bool) -> String {
    let (alphabet, pad) = if standard {
        ("A-Za-z0-9+/", true)
    } else {
        ("A-Za-z0-9_-", false)
    };
    let full = 4 * (bytes / 3);
    let pad = |n: usize| if pad { "=".repeat(n) } else { String::new() };
    match bytes % 3 {
        0 => format!("[{alphabet}]{{{full}}}"),
        // The last character carries 2 bits of data, then 4 zero bits.
        1 => format!("[{alphabet}]{{{}}}[AQgw]{}", full + 1, pad(2)),
        // 4 bits of data, then 2 zero bits.
        _ => format!("[{alphabet}]{{{}}}[AEIMQUYcgkosw048]{}", full + 2, pad(1)),
    }
}

/// The 32-byte auth key, in standard or URL-safe base64.
pub fn auth_key(encoded: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(encoded))
        .map(Zeroizing::new)
        .map_err(|_| bad("`auth_key` must be base64"))?;
    if decoded.len() != 32 {
        return Err(bad("`auth_key` must be 32 bytes"));
    }
    Ok(decoded)
}

/// [`auth_key`]'s rule.
pub fn auth_key_pattern() -> String {
    format!(
        "^(?:{}|{})$",
        base64_pattern(32, true),
        base64_pattern(32, false)
    )
}

/// [`age_recipient`]'s rule.
pub const AGE_RECIPIENT_PATTERN: &str = "^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$";
/// [`signing_key`]'s rule, but for the point's validity.
pub const SIGNING_KEY_PATTERN: &str = "^[0-9a-f]{64}$";
/// A SHA-256 in hex, either case (`path_hash`, `accept_token_hash`).
pub const SHA256_HEX_PATTERN: &str = "^[0-9a-fA-F]{64}$";
/// [`opaque_blob`]'s alphabet; the length is the caller's.
pub const OPAQUE_BLOB_PATTERN: &str = r"^[\x20-\x7e\n]+$";

/// An age X25519 recipient: `age1` and 58 bech32 characters.
pub fn age_recipient(field: &str, key: &str) -> Result<(), ApiError> {
    const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let valid =
        key.len() == 62 && key.starts_with("age1") && key[4..].chars().all(|c| BECH32.contains(c));
    if valid {
        Ok(())
    } else {
        Err(bad(format!(
            "`{field}` must be an age X25519 recipient (age1…)"
        )))
    }
}

/// An Ed25519 public key: 64 lowercase hex digits of a valid point.
pub fn signing_key(field: &str, key: &str) -> Result<(), ApiError> {
    if key.len() == 64 && key.parse::<envv_core::crypto::VerifyingKey>().is_ok() {
        Ok(())
    } else {
        Err(bad(format!(
            "`{field}` must be an Ed25519 public key (64 lowercase hex digits)"
        )))
    }
}

/// An opaque client blob: printable ASCII (base64 or armour), bounded.
pub fn opaque_blob(field: &str, blob: &str, max: usize) -> Result<(), ApiError> {
    if blob.is_empty()
        || blob.len() > max
        || !blob
            .bytes()
            .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\n')
    {
        return Err(bad(format!(
            "`{field}` must be 1 to {max} printable ASCII characters"
        )));
    }
    Ok(())
}

/// A secret or environment name: 1 to [`envv_api::MAX_NAME_LEN`] of
/// `A-Z a-z 0-9 _ . -`. Names only: a value never reaches the server.
pub fn secret_name(field: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= envv_api::MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "`{field}` must be 1 to {} of A-Z, a-z, 0-9, `_`, `.`, `-`",
            envv_api::MAX_NAME_LEN
        )))
    }
}

/// [`secret_name`]'s rule.
pub fn secret_name_pattern() -> String {
    format!("^[A-Za-z0-9_.-]{{1,{}}}$", envv_api::MAX_NAME_LEN)
}

/// A time both databases can store: years 1970 to 9999.
pub fn plausible_time(field: &str, t: chrono::DateTime<chrono::Utc>) -> Result<(), ApiError> {
    use chrono::Datelike;
    if (1970..=9999).contains(&t.year()) {
        Ok(())
    } else {
        Err(bad(format!(
            "`{field}` must be between the years 1970 and 9999"
        )))
    }
}

/// A date both databases can store: years 1970 to 9999.
pub fn plausible_date(field: &str, d: chrono::NaiveDate) -> Result<(), ApiError> {
    use chrono::Datelike;
    if (1970..=9999).contains(&d.year()) {
        Ok(())
    } else {
        Err(bad(format!(
            "`{field}` must be between the years 1970 and 9999"
        )))
    }
}

/// The KDF's bounds: strong, but feasible for a client.
pub const KDF_MEMORY_KIB: std::ops::RangeInclusive<u32> = 8 * 1024..=1024 * 1024;
pub const KDF_ITERATIONS: std::ops::RangeInclusive<u32> = 1..=10;
pub const KDF_PARALLELISM: std::ops::RangeInclusive<u32> = 1..=4;

/// Bounds that keep a client's key derivation strong but feasible. The server
/// only stores these, but a client must never be told to use weak ones.
pub fn kdf(params: &KdfParams) -> Result<(), ApiError> {
    if params.algorithm != "argon2id" {
        return Err(bad("`kdf.algorithm` must be argon2id"));
    }
    let ranges = [
        ("memory_kib", params.memory_kib, KDF_MEMORY_KIB),
        ("iterations", params.iterations, KDF_ITERATIONS),
        ("parallelism", params.parallelism, KDF_PARALLELISM),
    ];
    for (field, value, range) in ranges {
        if !range.contains(&value) {
            return Err(bad(format!(
                "`kdf.{field}` must be between {} and {}",
                range.start(),
                range.end()
            )));
        }
    }
    let salt = STANDARD
        .decode(&params.salt)
        .map_err(|_| bad("`kdf.salt` must be base64"))?;
    // One length for every account, the one prelogin's fakes have too.
    if salt.len() != KDF_SALT_LEN {
        return Err(bad(format!("`kdf.salt` must be {KDF_SALT_LEN} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_case_and_space() {
        assert_eq!(
            normalise_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in ["", "alice", "@x", "a@", "a b@x", "a@b@c"] {
            assert!(normalise_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn auth_key_must_be_32_bytes() {
        assert!(auth_key(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(auth_key(&URL_SAFE_NO_PAD.encode([1u8; 32])).is_ok());
        assert!(auth_key(&STANDARD.encode([1u8; 31])).is_err());
        assert!(auth_key("not base64!").is_err());
    }

    #[test]
    fn kdf_salt_has_the_one_length_fakes_have() {
        let with_salt = |len: usize| KdfParams {
            algorithm: "argon2id".into(),
            memory_kib: envv_api::KDF_DEFAULT_MEMORY_KIB,
            iterations: envv_api::KDF_DEFAULT_ITERATIONS,
            parallelism: envv_api::KDF_DEFAULT_PARALLELISM,
            salt: STANDARD.encode(vec![7u8; len]),
        };
        assert!(kdf(&with_salt(KDF_SALT_LEN)).is_ok());
        for len in [0, 16, KDF_SALT_LEN - 1, KDF_SALT_LEN + 1, 64] {
            assert!(kdf(&with_salt(len)).is_err(), "{len} bytes");
        }
    }

    /// Each pattern `/openapi.json` states accepts exactly what its check
    /// accepts: tried on valid values, every one-character change of them
    /// (to characters each rule treats apart), and their cuts and growths.
    #[test]
    fn patterns_agree_with_the_checks() {
        type Check = Box<dyn Fn(&str) -> bool>;
        let ok = |r: Result<(), ApiError>| r.is_ok();
        let std32 = STANDARD.encode([0xa5u8; 32]);
        let url32 = URL_SAFE_NO_PAD.encode([0x5au8; 32]);
        let rules: Vec<(String, Check, Vec<String>)> = vec![
            (
                // With its `maxLength`, which the document states beside it.
                email_pattern(),
                Box::new(|s| normalise_email(s).is_ok()),
                vec![
                    "a@b".into(),
                    " Alice@Example.COM\u{2003}".into(),
                    format!("{}@b", "é".repeat(252)),
                ],
            ),
            (
                display_name_pattern(),
                Box::new(|s| display_name("n", s).is_ok()),
                vec![
                    "Ada".into(),
                    " A b ".into(),
                    "x".repeat(MAX_DISPLAY_NAME),
                    "\u{3000}é\u{3000}".into(),
                ],
            ),
            (
                auth_key_pattern(),
                Box::new(|s| auth_key(s).is_ok()),
                vec![std32.clone(), url32, STANDARD.encode([0u8; 32])],
            ),
            (
                AGE_RECIPIENT_PATTERN.into(),
                Box::new(move |s| ok(age_recipient("k", s))),
                vec![format!(
                    "age1{}",
                    "qpzry9x8gf2tvdw0s3jn54khce6mua7l".repeat(2)[..58].to_owned()
                )],
            ),
            (
                OPAQUE_BLOB_PATTERN.into(),
                Box::new(move |s| ok(opaque_blob("b", s, usize::MAX))),
                vec!["-----BEGIN AGE-----\nYWJj ~\n".into()],
            ),
            (
                secret_name_pattern(),
                Box::new(move |s| ok(secret_name("s", s))),
                vec![
                    "DATABASE_URL".into(),
                    "a.b-c".into(),
                    "x".repeat(envv_api::MAX_NAME_LEN),
                ],
            ),
            (
                format!("^{}$", base64_pattern(KDF_SALT_LEN, true)),
                Box::new(|s| STANDARD.decode(s).is_ok_and(|b| b.len() == KDF_SALT_LEN)),
                vec![std32],
            ),
            (
                format!("^{}$", base64_pattern(64, false)),
                Box::new(|s| envv_core::crypto::SignatureBytes::from_base64(s).is_ok()),
                vec![
                    URL_SAFE_NO_PAD.encode([0xffu8; 64]),
                    URL_SAFE_NO_PAD.encode([0u8; 64]),
                ],
            ),
        ];
        let alphabet = [
            'a', 'Z', '0', '9', '+', '/', '_', '-', '=', '.', '@', ' ', '\t', '\n', '\u{0}',
            '\u{7f}', '\u{85}', '\u{9f}', '\u{a0}', '\u{2003}', 'é', 'A', 'Q', 'B', 'q', 'b',
        ];
        for (pattern, check, valid) in rules {
            let regex = regex::Regex::new(&pattern).expect("the pattern compiles");
            let max = if pattern == email_pattern() {
                MAX_EMAIL_LEN
            } else {
                usize::MAX
            };
            let re = |v: &str| regex.is_match(v) && v.chars().count() <= max;
            for value in &valid {
                assert!(
                    check(value) && re(value),
                    "{pattern} and its check take {value:?}"
                );
                let chars: Vec<char> = value.chars().collect();
                let mut variants = vec![
                    String::new(),
                    format!("{value}x"),
                    format!("{value}{value}"),
                ];
                for i in 0..chars.len() {
                    variants.push(chars[..i].iter().collect());
                    for c in alphabet {
                        let mut changed = chars.clone();
                        changed[i] = c;
                        variants.push(changed.into_iter().collect());
                    }
                }
                for v in variants {
                    assert_eq!(re(&v), check(&v), "{pattern} on {v:?}");
                }
            }
        }
    }

    #[test]
    fn recipients_are_checked() {
        let good = format!("age1{}", "q".repeat(58));
        assert!(age_recipient("k", &good).is_ok());
        assert!(age_recipient("k", "age1short").is_err());
        assert!(age_recipient("k", &format!("age1{}", "b".repeat(58))).is_err());
    }
}
