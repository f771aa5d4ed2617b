//! A full scenario with canary passwords, secret values and keys; then the
//! whole database and the server's trace-level log are searched for every
//! canary, in clear, base64 and hex. None may appear.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Backend, TestServer, contains, dump};
use envv_api::Role;
use envv_core::crypto::{InviteCode, KdfParams, derive_keys};
use envv_core::envfile::{EnvName, SecretName, edit};
use envv_core::secret::Password;
use serde_json::json;
use uuid::Uuid;

/// The server's log, at trace level, for every server in this process.
fn log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .init();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The forms a secret could leak in.
fn encodings(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    vec![
        ("clear".into(), raw.to_vec()),
        (
            "base64".into(),
            STANDARD
                .encode(raw)
                .trim_end_matches('=')
                .as_bytes()
                .to_vec(),
        ),
        ("base64url".into(), URL_SAFE_NO_PAD.encode(raw).into_bytes()),
        ("hex".into(), hex::encode(raw).into_bytes()),
        ("HEX".into(), hex::encode_upper(raw).into_bytes()),
    ]
}

async fn no_canary_reaches_the_database_or_the_log(backend: Backend) {
    let log = log();
    let server = TestServer::start(backend).await;
    let owner_pw = format!("canary-owner-password-{}", Uuid::new_v4());
    let bob_pw = format!("canary-bob-password-{}", Uuid::new_v4());
    let owner = server
        .person_with(&common::unique_email("zk-owner"), &owner_pw)
        .await;
    let bob = server
        .person_with(&common::unique_email("zk-bob"), &bob_pw)
        .await;
    let (team, mut ring) = server.found_team(&owner, "Zero Knowledge").await;

    let code: InviteCode = server
        .invite_with_code(team, &owner, &ring, &bob.user.email, Role::Member)
        .await;
    server.join(&bob, &code).await;
    server.admit_pending(team, &owner, &ring).await;

    let value = format!("canary-secret-value-{}", Uuid::new_v4());
    let dir = tempfile::tempdir().unwrap();
    let env = EnvName::default_env();
    let path = edit::env_path(dir.path(), &env);
    edit::set(
        &path,
        &env,
        &ring,
        SecretName::new("CANARY").unwrap(),
        value.as_str().into(),
    )
    .unwrap();
    let bob_ring = server.keyring(&bob, team).await.unwrap();
    let (status, _) = server.rotate(team, &owner, &mut ring).await;
    assert_eq!(status, 200);
    assert_eq!(server.remove(team, &owner, bob.user.id).await.0, 204);
    let again = server.log_in(&owner.user.email, &owner_pw).await;
    server
        .post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": again.user.refresh }),
        )
        .await;
    drop(bob_ring);

    // The auth keys the server did receive, re-derived here.
    let mut auth_keys = Vec::new();
    for (person, password) in [(&owner, &owner_pw), (&bob, &bob_pw)] {
        let (_, pre) = server
            .post(
                "/auth/prelogin",
                None,
                json!({ "email": person.user.email }),
            )
            .await;
        let params: KdfParams = serde_json::from_value(pre["kdf"].clone()).unwrap();
        let keys = derive_keys(&Password::from(password.as_str()), &params).unwrap();
        auth_keys.push(keys.auth_key.expose().to_vec());
    }
    let code_text = code.to_code_string();
    let invite_secret = code_text.rsplit('.').next().unwrap().to_owned();
    let accept_token = envv_core::crypto::accept_token(&code.secret).to_base64();

    let mut canaries: Vec<(String, Vec<u8>)> = vec![
        ("owner password".into(), owner_pw.clone().into_bytes()),
        ("bob password".into(), bob_pw.clone().into_bytes()),
        ("secret value".into(), value.clone().into_bytes()),
        (
            "owner identity".into(),
            owner.identity.to_secret_string().as_bytes().to_vec(),
        ),
        (
            "bob identity".into(),
            bob.identity.to_secret_string().as_bytes().to_vec(),
        ),
        ("invite code".into(), code_text.as_bytes().to_vec()),
        ("invite secret".into(), invite_secret.into_bytes()),
        ("accept token".into(), accept_token.into_bytes()),
        (
            "owner access token".into(),
            again.user.access.clone().into_bytes(),
        ),
        (
            "owner refresh token".into(),
            again.user.refresh.clone().into_bytes(),
        ),
    ];
    for (i, key) in auth_keys.into_iter().enumerate() {
        canaries.push((format!("auth key {i}"), key));
    }

    let database = dump(&server).await;
    server.stop().await;
    let log = log.lock().unwrap().clone();
    assert!(
        contains(&database, owner.user.email.as_bytes()),
        "the dump holds the data"
    );
    assert!(
        contains(&log, b"TRACE"),
        "the log was captured at trace level"
    );
    let mut leaks = Vec::new();
    for (what, raw) in &canaries {
        for (form, bytes) in encodings(raw) {
            for (place, haystack) in [("database", &database), ("log", &log)] {
                if contains(haystack, &bytes) {
                    leaks.push(format!("{what} ({form}) in the {place}"));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "leaked: {leaks:#?}");
}

on_both_backends!(no_canary_reaches_the_database_or_the_log);
