//! Size bounds on everything parsed or stored.

use crate::common::{any_epoch, env, keyring, name};
use envv_core::envfile::dotenv::{MAX_DOTENV_BYTES, parse_dotenv};
use envv_core::envfile::format::{MAX_EPOCH_PREFIX, decrypt, unverified_epoch, unverified_names};
use envv_core::envfile::{EnvFile, EnvFileError, MAX_SECRETS, MAX_VALUE_BYTES};
use envv_core::secret::SecretValue;

#[test]
fn values_over_one_mebibyte_or_with_nul_are_refused() {
    let ring = keyring(1);
    let mut file = EnvFile::new(&ring, env("default")).expect("new");
    let max = SecretValue::new("x".repeat(MAX_VALUE_BYTES));
    file.set(name("MAX"), max).expect("exactly 1 MiB is fine");
    let over = SecretValue::new("x".repeat(MAX_VALUE_BYTES + 1));
    assert!(matches!(
        file.set(name("BIG"), over),
        Err(EnvFileError::InvalidValue { .. })
    ));
    assert!(matches!(
        file.set(name("NUL"), "a\0b".into()),
        Err(EnvFileError::InvalidValue { .. })
    ));
    let text = file.seal_for_write(&ring).expect("seal");
    let back = decrypt(text.as_bytes(), &ring, &any_epoch("default")).expect("1 MiB value reads");
    assert_eq!(back.get("MAX").map(SecretValue::len), Some(MAX_VALUE_BYTES));
}

#[test]
fn oversized_inputs_are_refused_before_work() {
    let ring = keyring(1);
    let mut file = EnvFile::new(&ring, env("default")).expect("new");
    file.set(name("A"), "1".into()).expect("set");
    let text = file.seal_for_write(&ring).expect("seal");

    let too_many = text.replace("count 1\n", &format!("count {}\n", MAX_SECRETS + 1));
    assert!(matches!(
        decrypt(too_many.as_bytes(), &ring, &any_epoch("default")),
        Err(EnvFileError::TooLarge { .. })
    ));
    let long_line = text.replace("A=", &format!("A={}", "A".repeat(2 * 1024 * 1024)));
    assert!(matches!(
        decrypt(long_line.as_bytes(), &ring, &any_epoch("default")),
        Err(EnvFileError::TooLarge { what: "line", .. })
    ));
    let huge_dotenv = vec![b'#'; MAX_DOTENV_BYTES + 1];
    assert!(matches!(
        parse_dotenv(&huge_dotenv),
        Err(EnvFileError::TooLarge { .. })
    ));
    assert!(matches!(
        decrypt(b"not an envv file\n", &ring, &any_epoch("default")),
        Err(EnvFileError::UnsupportedFormat)
    ));
}

#[test]
fn names_can_be_listed_without_keys() {
    let ring = keyring(1);
    let mut file = EnvFile::new(&ring, env("default")).expect("new");
    for k in ["Z", "A", "M"] {
        file.set(name(k), "v".into()).expect("set");
    }
    let text = file.seal_for_write(&ring).expect("seal");
    assert_eq!(
        unverified_names(text.as_bytes()).expect("names"),
        ["A", "M", "Z"]
    );
}

#[test]
fn the_epoch_is_read_from_the_first_lines_without_keys() {
    let ring = keyring(3);
    let mut file = EnvFile::new(&ring, env("default")).expect("new");
    file.set(name("A"), "v".into()).expect("set");
    let text = file.seal_for_write(&ring).expect("seal");
    let prefix = &text.as_bytes()[..text.len().min(MAX_EPOCH_PREFIX)];
    assert_eq!(unverified_epoch(prefix).expect("epoch"), 3);
    assert!(unverified_epoch(b"not an envv file\n").is_err());
    let long_team = format!("envv-env v1\nteam {}\nepoch 1\n", "x".repeat(4096));
    assert!(matches!(
        unverified_epoch(long_team.as_bytes()),
        Err(EnvFileError::TooLarge { .. })
    ));
}
