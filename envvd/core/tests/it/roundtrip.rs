//! Property tests: what goes in comes back out, for every layer; and the
//! dotenv reader against the reference loaders (`dotenv/`).

use std::collections::BTreeMap;

use crate::common::{any_epoch, env, keyring, name};
use envv_core::crypto::{EpochIdentity, KdfParams, KdfParamsExt, UserIdentity, derive_keys};
use envv_core::envfile::dotenv::{ExportFormat, ImportOptions, export, parse_dotenv, read};
use envv_core::envfile::format::decrypt;
use envv_core::envfile::{EnvFile, SecretName};
use envv_core::secret::{Password, SecretValue};
use proptest::prelude::*;
use uuid::Uuid;

fn secret_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}"
}

/// Names a POSIX shell can assign, for the shell format.
fn shell_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,40}"
}

/// Empty, unicode, newlines, `=`, quotes, backslashes, `$`, and large values.
fn secret_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[^\u{0}]{0,64}",
        2 => "[ -~\n\r\t'\"\\\\$=#`{}]{0,64}",
        1 => prop::collection::vec(
            prop::sample::select(vec!["\r", "\n", "\r\n", "'", "\\", "$", "${A}", "\\$", "\"", "#", " ", "é"]),
            0..12,
        ).prop_map(|parts| parts.concat()),
        1 => Just(String::new()),
        1 => ("[^\u{0}]{1,4}", 1usize..=16384).prop_map(|(s, n)| s.repeat(n)
            .chars().take(64 * 1024).collect()),
    ]
}

fn secrets() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(secret_name(), secret_value(), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn envfile_round_trips_arbitrary_names_and_values(map in secrets()) {
        let ring = keyring(1);
        let mut file = EnvFile::new(&ring, env("default")).expect("new");
        for (k, v) in &map {
            file.set(name(k), SecretValue::from(v.as_str())).expect("set");
        }
        let text = file.seal_for_write(&ring).expect("seal");
        let back = decrypt(text.as_bytes(), &ring, &any_epoch("default")).expect("decrypt");
        let got: BTreeMap<String, String> =
            back.iter().map(|(k, v)| (k.to_string(), v.expose().to_owned())).collect();
        prop_assert_eq!(got, map);
        prop_assert_eq!(back.generation(), 1);
    }

    #[test]
    fn export_then_import_is_the_identity_in_every_format(
        map in secrets(),
        shell in prop::collection::btree_map(shell_name(), secret_value(), 0..12),
    ) {
        for (format, map) in [
            (ExportFormat::Dotenv, &map),
            (ExportFormat::Json, &map),
            (ExportFormat::Shell, &shell),
        ] {
            let named: BTreeMap<SecretName, SecretValue> =
                map.iter().map(|(k, v)| (name(k), SecretValue::from(v.as_str()))).collect();
            let text = export(named.iter(), format).expect("export");
            // Expanding or not, nothing in an export is a reference.
            for expand in [true, false] {
                let options = ImportOptions { expand, strict: true };
                let back = read(text.as_bytes(), options, &BTreeMap::new()).expect("re-import");
                prop_assert_eq!(&back.secrets, &named, "{:?} expand={}", format, expand);
                prop_assert!(back.warnings.is_empty());
            }
        }
    }

    #[test]
    fn the_reader_never_panics_and_stays_within_its_bounds(
        // Mostly dotenv's own bytes, so the input reaches past the first
        // line; any byte at all in between.
        bytes in prop::collection::vec(prop_oneof![
            4 => prop::sample::select(b"AB_x1 =\n\r\t#'\"\\$`{}:-.export\xc3\xa9\xff".to_vec()),
            1 => any::<u8>(),
        ], 0..400),
    ) {
        for options in [
            ImportOptions::default(),
            ImportOptions { expand: false, strict: true },
        ] {
            if let Ok(imported) = read(&bytes, options, &BTreeMap::new()) {
                let total: usize = imported.secrets.values().map(SecretValue::len).sum();
                // Expansion of earlier values can grow the text, but each
                // value is bounded and so is the sum.
                prop_assert!(total <= envv_core::envfile::dotenv::MAX_EXPANDED_BYTES);
                prop_assert!(imported.secrets.len() <= bytes.len());
            }
        }
    }

    #[test]
    fn dotenv_import_export_import_is_stable(
        lines in prop::collection::vec(
            (prop::bool::ANY, secret_name(), "[ -~]{0,30}", 0u8..4), 0..10)
    ) {
        // Arbitrary dotenv-looking input, some of it invalid.
        let input: String = lines.iter().map(|(export, k, v, quote)| {
            let prefix = if *export { "export " } else { "" };
            match quote {
                0 => format!("{prefix}{k}={v}\n"),
                1 => format!("{prefix}{k}='{v}'\n"),
                2 => format!("{prefix}{k}=\"{v}\"\n"),
                _ => format!("# {k}={v}\n"),
            }
        }).collect();
        if let Ok(first) = parse_dotenv(input.as_bytes()) {
            let exported = export(first.iter(), ExportFormat::Dotenv).expect("export");
            let second = parse_dotenv(exported.as_bytes()).expect("exported text re-imports");
            prop_assert_eq!(&second, &first);
            let again = export(second.iter(), ExportFormat::Dotenv).expect("export");
            prop_assert_eq!(again.as_str(), exported.as_str());
        }
    }

    #[test]
    fn json_export_round_trips(map in secrets()) {
        let named: BTreeMap<SecretName, SecretValue> =
            map.iter().map(|(k, v)| (name(k), SecretValue::from(v.as_str()))).collect();
        let json = export(named.iter(), ExportFormat::Json).expect("export");
        let back: BTreeMap<String, String> = serde_json::from_str(&json).expect("json");
        prop_assert_eq!(back, map);
    }

    #[test]
    fn grants_round_trip(epoch in 1u64..1_000_000) {
        let team = Uuid::new_v4();
        let member = UserIdentity::generate();
        let key = EpochIdentity::generate(team, epoch);
        let grant = key.grant_to(&member.public_key()).expect("grant");
        let text = grant.as_str().to_owned();
        let parsed = envv_core::crypto::Grant::parse(&text).expect("parse");
        let opened = parsed.open(&member, team, epoch).expect("open");
        prop_assert_eq!(opened.public_key(), key.public_key());
        prop_assert!(parsed.open(&member, team, epoch + 1).is_err());
    }
}

/// What `sh` makes of the shell export is what envv reads back from it.
#[test]
fn shell_export_means_the_same_to_sh_and_to_import() {
    let values = [
        "plain",
        "it's",
        "'",
        "''",
        "a\r\nb",
        "ends with cr\r",
        "\r",
        "$HOME `id` $(id) \\n \"q\"",
        "multi\nline\n# not a comment\n",
        "trailing \\",
        "é ✓ 🔑",
        "",
    ];
    let named: BTreeMap<SecretName, SecretValue> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (name(&format!("K{i:02}")), SecretValue::from(*v)))
        .collect();
    let text = export(named.iter(), ExportFormat::Shell).expect("export");
    let back = parse_dotenv(text.as_bytes()).expect("re-import");
    assert_eq!(back, named);
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("env.sh");
    std::fs::write(&script, text.as_bytes()).expect("write");
    let names: Vec<String> = named.keys().map(|n| format!("\"${n}\"")).collect();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". {}; printf '%s\\0' {}",
            script.display(),
            names.join(" ")
        ))
        .output()
        .expect("run sh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_sh: Vec<&[u8]> = output.stdout.split(|b| *b == 0).collect();
    for (i, (_, value)) in named.iter().enumerate() {
        assert_eq!(from_sh[i], value.expose().as_bytes(), "value {i}");
    }
}

proptest! {
    // argon2 at the cheapest accepted cost still dominates; keep cases few.
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn identity_wrap_unwrap_round_trips(password in "[^\u{0}]{0,40}", other in "[^\u{0}]{0,40}") {
        let params = KdfParams::generate_with(8 * 1024, 1, 1);
        let keys = derive_keys(&Password::new(password.clone()), &params).expect("derive");
        let id = UserIdentity::generate();
        let blob = id.wrap(&keys.wrap_key);
        let reparsed = envv_core::crypto::WrappedIdentity::parse(blob.as_str()).expect("parse");
        let back = reparsed.unwrap(&keys.wrap_key).expect("unwrap");
        prop_assert_eq!(back.public_key(), id.public_key());
        if other != password {
            let wrong = derive_keys(&Password::new(other), &params).expect("derive");
            prop_assert!(matches!(
                reparsed.unwrap(&wrong.wrap_key),
                Err(envv_core::crypto::CryptoError::WrongPassword)
            ));
        }
    }
}
