//! The committed test vectors in `tests/vectors/` decrypt to their expected
//! plaintext, and every intermediate value documented in `docs/format.md`
//! matches. Set `ENVV_REGENERATE_VECTORS=1` to write fresh vectors (only
//! when the format version changes).

use std::collections::BTreeMap;
use std::path::PathBuf;

use envv_core::crypto::{
    EpochIdentity, Grant, KdfParams, KdfParamsExt, TeamKeyring, UserIdentity, WrappedIdentity,
    derive_keys,
};
use envv_core::envfile::format::{debug_key_schedule, decrypt};
use envv_core::envfile::{EnvFile, EnvName, ReadOptions, SecretName};
use envv_core::secret::Password;
use serde_json::{Value, json};
use uuid::Uuid;

fn dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests")
    .join("vectors")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vectors.json: missing {key}"))
}

fn plaintext() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("API_TOKEN", "tok_3f9a\u{2603} ünïcødé"),
        (
            "DATABASE_URL",
            "postgres://app:p=ss@db:5432/app?sslmode=require",
        ),
        ("EMPTY", ""),
        (
            "MULTI_LINE",
            "line one\nline two\n\"quoted\" and 'single' $HOME \\",
        ),
        ("_UNDERSCORE", "x"),
    ])
}

#[test]
fn regenerate_vectors_when_asked() {
    if std::env::var_os("ENVV_REGENERATE_VECTORS").is_none() {
        return;
    }
    // The same team, keys and writer as before (the fuzz targets start
    // from this file), fresh ones when there are none yet.
    let old: Option<Value> = std::fs::read_to_string(dir().join("vectors.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let old_str = |path: &[&str]| {
        let mut v = old.as_ref()?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str().map(str::to_owned)
    };
    let team = old_str(&["team"])
        .and_then(|t| Uuid::parse_str(&t).ok())
        .unwrap_or_else(Uuid::new_v4);
    let epoch_secret = old_str(&["epoch_secret_key"])
        .map(zeroize::Zeroizing::new)
        .unwrap_or_else(|| UserIdentity::generate().to_secret_string());
    let key = EpochIdentity::from_secret_str(team, 1, &epoch_secret).expect("key");
    let user = old_str(&["user_identity", "secret_key"])
        .and_then(|k| UserIdentity::from_secret_str(&k).ok())
        .unwrap_or_else(UserIdentity::generate);
    let writer = old_str(&["writer"])
        .and_then(|w| Uuid::parse_str(&w).ok())
        .unwrap_or_else(Uuid::new_v4);
    let mut ring = TeamKeyring::new(key.clone());
    ring.set_signer(envv_core::crypto::FileSigner {
        user: writer,
        key: user.signing_key().clone(),
    });
    let mut file = EnvFile::new(&ring, EnvName::default_env()).expect("new");
    for (k, v) in plaintext() {
        file.set(SecretName::new(k).expect("name"), v.into())
            .expect("set");
    }
    let text = file.seal_for_write(&ring).expect("seal");
    std::fs::write(dir().join("default.env.enc"), &text).expect("write file");

    let params = KdfParams::generate_with(8 * 1024, 1, 1);
    let password = "correct horse battery staple";
    let keys = derive_keys(&Password::from(password), &params).expect("derive");
    let wrapped = user.wrap(&keys.wrap_key);
    let grant = key.grant_to(&user.public_key()).expect("grant");
    let schedule: BTreeMap<_, _> = debug_key_schedule(text.as_bytes(), &key)
        .expect("schedule")
        .into_iter()
        .collect();
    let vectors = json!({
        "comment": "Test vectors for docs/format.md. These keys are public: never use them for real data.",
        "team": team.hyphenated().to_string(),
        "epoch": 1,
        "environment": "default",
        "epoch_secret_key": epoch_secret.as_str(),
        "epoch_public_key": key.public_key().as_str(),
        "file": "default.env.enc",
        "writer": writer.hyphenated().to_string(),
        "writer_signing_key": user.verifying_key().to_hex(),
        "expected_plaintext": plaintext(),
        "key_schedule": schedule,
        "kdf": {
            "password": password,
            "params": params,
            "auth_key_base64": keys.auth_key.to_base64(),
        },
        "user_identity": {
            "secret_key": user.to_secret_string().as_str(),
            "public_key": user.public_key().as_str(),
            "wrapped_with_kdf_wrap_key": wrapped.as_str(),
            "grant_of_epoch_1": grant.as_str(),
        },
    });
    let pretty = serde_json::to_string_pretty(&vectors).expect("json");
    std::fs::write(dir().join("vectors.json"), pretty + "\n").expect("write vectors");
}

#[test]
fn committed_file_decrypts_to_expected_plaintext() {
    let v: Value = serde_json::from_str(&read("vectors.json")).expect("vectors.json");
    let team = Uuid::parse_str(str_of(&v, "team")).expect("team");
    let key = EpochIdentity::from_secret_str(team, 1, str_of(&v, "epoch_secret_key")).expect("key");
    assert_eq!(key.public_key().as_str(), str_of(&v, "epoch_public_key"));
    let text = read(str_of(&v, "file"));
    let ring = TeamKeyring::new(key.clone());
    let file = decrypt(
        text.as_bytes(),
        &ring,
        &ReadOptions::current(EnvName::default_env(), &ring),
    )
    .expect("vector decrypts");
    let got: BTreeMap<String, String> = file
        .iter()
        .map(|(k, v)| (k.to_string(), v.expose().to_owned()))
        .collect();
    let expected: BTreeMap<String, String> =
        serde_json::from_value(v["expected_plaintext"].clone()).expect("plaintext");
    assert_eq!(got, expected);
    let want: BTreeMap<String, String> = plaintext()
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    assert_eq!(expected, want, "vectors.json drifted from the generator");
    let author = file.signer().expect("signed");
    assert_eq!(author.user.hyphenated().to_string(), str_of(&v, "writer"));
    assert_eq!(author.key.to_hex(), str_of(&v, "writer_signing_key"));
    let user =
        UserIdentity::from_secret_str(str_of(&v["user_identity"], "secret_key")).expect("user key");
    assert_eq!(
        author.key,
        user.verifying_key(),
        "signed by the vectors' user"
    );

    let schedule = debug_key_schedule(text.as_bytes(), &key).expect("schedule");
    for (name, hex) in schedule {
        assert_eq!(hex, str_of(&v["key_schedule"], name), "{name}");
    }
}

#[test]
fn committed_kdf_identity_and_grant_vectors_open() {
    let v: Value = serde_json::from_str(&read("vectors.json")).expect("vectors.json");
    let kdf = &v["kdf"];
    let params: KdfParams = serde_json::from_value(kdf["params"].clone()).expect("params");
    let keys = derive_keys(&Password::from(str_of(kdf, "password")), &params).expect("derive");
    assert_eq!(keys.auth_key.to_base64(), str_of(kdf, "auth_key_base64"));
    let user = &v["user_identity"];
    let wrapped = WrappedIdentity::parse(str_of(user, "wrapped_with_kdf_wrap_key")).expect("parse");
    let identity = wrapped.unwrap(&keys.wrap_key).expect("unwrap");
    assert_eq!(identity.public_key().as_str(), str_of(user, "public_key"));
    assert_eq!(
        identity.to_secret_string().as_str(),
        str_of(user, "secret_key")
    );
    let team = Uuid::parse_str(str_of(&v, "team")).expect("team");
    let grant = Grant::parse(str_of(user, "grant_of_epoch_1")).expect("grant");
    let epoch = grant.open(&identity, team, 1).expect("open grant");
    assert_eq!(epoch.public_key().as_str(), str_of(&v, "epoch_public_key"));
}
