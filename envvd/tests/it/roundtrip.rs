//! Property tests: what goes in comes back out, for every layer.

use std::collections::BTreeMap;

use crate::common::{any_epoch, env, keyring, name};
use envvd::crypto::{EpochIdentity, KdfParams, KdfParamsExt, UserIdentity, derive_keys};
use envvd::envfile::dotenv::{ExportFormat, export, parse_dotenv};
use envvd::envfile::format::decrypt;
use envvd::envfile::{EnvFile, SecretName};
use envvd::secret::{Password, SecretValue};
use proptest::prelude::*;
use uuid::Uuid;

fn secret_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,40}"
}

/// Empty, unicode, newlines, `=`, quotes, backslashes, `$`, and large values.
fn secret_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[^\u{0}]{0,64}",
        2 => "[ -~\n\r\t'\"\\\\$=#]{0,64}",
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
    fn dotenv_export_then_import_gives_back_the_same_values(map in secrets()) {
        let named: BTreeMap<SecretName, SecretValue> =
            map.iter().map(|(k, v)| (name(k), SecretValue::from(v.as_str()))).collect();
        let text = export(named.iter(), ExportFormat::Dotenv);
        let back = parse_dotenv(text.as_bytes()).expect("re-import");
        prop_assert_eq!(back, named);
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
            let exported = export(first.iter(), ExportFormat::Dotenv);
            let second = parse_dotenv(exported.as_bytes()).expect("exported text re-imports");
            prop_assert_eq!(&second, &first);
            let again = export(second.iter(), ExportFormat::Dotenv);
            prop_assert_eq!(again.as_str(), exported.as_str());
        }
    }

    #[test]
    fn json_export_round_trips(map in secrets()) {
        let named: BTreeMap<SecretName, SecretValue> =
            map.iter().map(|(k, v)| (name(k), SecretValue::from(v.as_str()))).collect();
        let json = export(named.iter(), ExportFormat::Json);
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
        let parsed = envvd::crypto::Grant::parse(&text).expect("parse");
        let opened = parsed.open(&member, team, epoch).expect("open");
        prop_assert_eq!(opened.public_key(), key.public_key());
        prop_assert!(parsed.open(&member, team, epoch + 1).is_err());
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
        let reparsed = envvd::crypto::WrappedIdentity::parse(blob.as_str()).expect("parse");
        let back = reparsed.unwrap(&keys.wrap_key).expect("unwrap");
        prop_assert_eq!(back.public_key(), id.public_key());
        if other != password {
            let wrong = derive_keys(&Password::new(other), &params).expect("derive");
            prop_assert!(matches!(
                reparsed.unwrap(&wrong.wrap_key),
                Err(envvd::crypto::CryptoError::WrongPassword)
            ));
        }
    }
}
