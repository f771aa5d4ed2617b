//! Shared test harness: a real control plane on a real database (a SQLite
//! file or a fresh PostgreSQL database), served on 127.0.0.1:0.
#![allow(dead_code)]

pub mod audit;
pub mod chain;
pub mod client;
pub mod console;
mod db;
pub mod process;
pub mod webdriver;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use control_plane::tokens::SigningKey;
use control_plane::{AppState, Config};
use envv_api::{KdfParams, Role, Session, SignupRequest};
use envv_core::chain::Body;
use envv_core::crypto::{EpochIdentity, UserIdentity};
use rand::{Rng, RngCore};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

pub use db::{TestDb, postgres_admin_url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )+};
}

/// Cheap hashing and generous limits, so tests are quick and independent.
pub fn test_config() -> Config {
    let mut config = Config::new(SigningKey::generate());
    config.server_argon2 = argon2::Params::new(1024, 1, 1, None).expect("params");
    config.ip_max_failures = 10_000;
    config
}

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, test_config()).await
    }

    pub async fn start_with(backend: Backend, config: Config) -> TestServer {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let state = AppState::new(store, config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(control_plane::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        TestServer {
            base,
            http: {
                // The workspace builds reqwest with rustls and no default
                // provider (the agent picks ring); tests pick the same.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder()
            }
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
            state,
            db,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }

    /// Sends a request; returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call("POST", path, token, Some(body)).await
    }

    /// Signs up a fresh user with random keys.
    pub async fn signup(&self, email: &str) -> TestUser {
        let creds = Credentials::random(email);
        let (status, body) = self.post("/auth/signup", None, creds.signup_body()).await;
        assert_eq!(status, 201, "signup failed: {body}");
        let session: Session = serde_json::from_value(body).expect("session");
        TestUser {
            id: session.user.id,
            email: email.to_owned(),
            access: session.tokens.access_token.expose().to_owned(),
            refresh: session.tokens.refresh_token.expose().to_owned(),
            creds,
        }
    }

    pub async fn create_team(&self, owner: &TestUser, name: &str) -> Uuid {
        let (status, body) = self
            .post("/teams", Some(&owner.access), team_body(owner, name))
            .await;
        assert_eq!(status, 201, "create team failed: {body}");
        body["id"].as_str().expect("team id").parse().expect("uuid")
    }

    /// Invites `user` with `role`, has them accept, and admits them: a
    /// member of the team's chain, holding the current epoch's (stand-in) grant.
    pub async fn add_member(&self, team: Uuid, admin: &TestUser, user: &TestUser, role: Role) {
        self.add_pending(team, admin, user, role).await;
        self.admit(team, admin, user).await;
    }

    /// Invites `user` with `role` and has them accept: they wait to be admitted.
    pub async fn add_pending(&self, team: Uuid, admin: &TestUser, user: &TestUser, role: Role) {
        let invite = self.invite(team, admin, &user.email, role).await;
        let (status, body) = self.accept(&invite, user).await;
        assert_eq!(status, 200, "accept failed: {body}");
    }

    /// Accepts `invite` as `user`, with both signatures of the acceptance.
    pub async fn accept(&self, invite: &TestInvite, user: &TestUser) -> (u16, Value) {
        self.post(
            &format!("/invites/{}/accept", invite.id),
            Some(&user.access),
            invite.accept_body(user),
        )
        .await
    }

    /// Admits a newcomer who accepted: the `admit` statement and a
    /// stand-in grant for the team's current epoch.
    pub async fn admit(&self, team: Uuid, admin: &TestUser, user: &TestUser) {
        let (status, body) = self.try_admit(team, admin, user).await;
        assert_eq!(status, 204, "admit failed: {body}");
    }

    pub async fn try_admit(&self, team: Uuid, admin: &TestUser, user: &TestUser) -> (u16, Value) {
        let pending = self.pending_entry(team, admin, user.id).await;
        let statement = self.admit_statement(team, admin, &pending).await;
        let epoch = self.chain(team, &admin.access).await.current_epoch();
        self.post(
            &format!("/teams/{team}/grants"),
            Some(&admin.access),
            json!({
                "user_id": user.id,
                "epoch": epoch,
                "grant": random_b64(200),
                "statement": statement.as_str(),
            }),
        )
        .await
    }

    pub async fn invite(
        &self,
        team: Uuid,
        admin: &TestUser,
        email: &str,
        role: Role,
    ) -> TestInvite {
        let (body, invite) = self.invite_body(team, admin, email, role).await;
        let (status, answer) = self
            .post(&format!("/teams/{team}/invite"), Some(&admin.access), body)
            .await;
        assert_eq!(status, 201, "invite failed: {answer}");
        assert_eq!(answer["id"], invite.id.to_string());
        invite
    }

    /// An invite request with its statement signed at the current head, not
    /// sent yet.
    pub async fn invite_body(
        &self,
        team: Uuid,
        admin: &impl chain::Signer,
        email: &str,
        role: Role,
    ) -> (Value, TestInvite) {
        let (statement, issued) = self.invite_statement(team, admin, email, role).await;
        let body = self.invite_request(&statement, &issued);
        (
            body,
            TestInvite {
                id: issued.id,
                accept_token: issued.accept_token(),
                issued,
            },
        )
    }

    /// A `remove` statement and its request: `target` leaves or is removed.
    pub async fn remove(
        &self,
        team: Uuid,
        actor: &impl chain::Signer,
        target: Uuid,
    ) -> (u16, Value) {
        let statement = self.sign(team, actor, Body::Remove { user: target }).await;
        self.call(
            "DELETE",
            &format!("/teams/{team}/members/{target}"),
            Some(actor.token()),
            Some(json!({ "statement": statement.as_str() })),
        )
        .await
    }

    /// A `role` statement and its request.
    pub async fn set_role(
        &self,
        team: Uuid,
        actor: &impl chain::Signer,
        target: Uuid,
        role: Role,
    ) -> (u16, Value) {
        let statement = self
            .sign(team, actor, Body::Role { user: target, role })
            .await;
        self.call(
            "PUT",
            &format!("/teams/{team}/members/{target}/role"),
            Some(actor.token()),
            Some(json!({ "role": role, "statement": statement.as_str() })),
        )
        .await
    }

    /// A `revoke-invite` statement and its request.
    pub async fn revoke(
        &self,
        team: Uuid,
        actor: &impl chain::Signer,
        invite: Uuid,
    ) -> (u16, Value) {
        let statement = self.sign(team, actor, Body::RevokeInvite { invite }).await;
        self.call(
            "DELETE",
            &format!("/teams/{team}/invites/{invite}"),
            Some(actor.token()),
            Some(json!({ "statement": statement.as_str() })),
        )
        .await
    }

    /// A `settings` statement and its request.
    pub async fn set_settings(
        &self,
        team: Uuid,
        actor: &impl chain::Signer,
        secs: u32,
    ) -> (u16, Value) {
        let statement = self
            .sign(
                team,
                actor,
                Body::Settings {
                    max_staleness_secs: secs,
                },
            )
            .await;
        self.call(
            "PUT",
            &format!("/teams/{team}/settings"),
            Some(actor.token()),
            Some(json!({ "max_staleness_secs": secs, "statement": statement.as_str() })),
        )
        .await
    }

    /// A rotation request with stand-in grants for every member of the
    /// team's chain and its `rotate` statement, from epoch `expected`.
    pub async fn rotation_body(
        &self,
        team: Uuid,
        viewer: &str,
        admin: &impl chain::Signer,
        expected: u64,
    ) -> Value {
        let chain = self.chain(team, viewer).await;
        let key = EpochIdentity::generate(team, expected + 1).public_key();
        let statement = chain
            .draft(
                admin.user_id(),
                chain::unix_now(),
                Body::Rotate {
                    epoch: expected + 1,
                    epoch_key: key.clone(),
                    members: chain.member_set_hash(),
                },
            )
            .sign(admin.identity().signing_key());
        let grants: Vec<Value> = chain
            .members()
            .keys()
            .map(|id| json!({ "user_id": id, "grant": random_b64(200) }))
            .collect();
        json!({
            "expected_epoch": expected,
            "public_key": key.as_str(),
            "grants": grants,
            "statement": statement.as_str(),
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct TestInvite {
    pub id: Uuid,
    pub accept_token: String,
    pub issued: chain::IssuedInvite,
}

impl TestInvite {
    /// The accept request `user` sends: the token and both signatures.
    pub fn accept_body(&self, user: &impl chain::Signer) -> Value {
        let (proof, consent) = self.issued.acceptance(user);
        json!({ "accept_token": self.accept_token, "proof": proof, "consent": consent })
    }
}

/// What a client derives and holds; random stand-ins for the real KDF output.
#[derive(Clone)]
pub struct Credentials {
    pub email: String,
    pub auth_key: String,
    /// A real identity: its keys sign the user's chain statements.
    pub identity: UserIdentity,
    pub identity_public_key: String,
    pub signing_public_key: String,
    pub wrapped_identity: String,
    pub kdf: KdfParams,
}

impl Credentials {
    pub fn random(email: &str) -> Credentials {
        let identity = UserIdentity::generate();
        Credentials {
            email: email.to_owned(),
            auth_key: random_b64(32),
            identity_public_key: identity.public_key().as_str().to_owned(),
            signing_public_key: identity.verifying_key().to_hex(),
            identity,
            wrapped_identity: random_b64(120),
            kdf: KdfParams {
                algorithm: "argon2id".into(),
                memory_kib: envv_api::KDF_DEFAULT_MEMORY_KIB,
                iterations: envv_api::KDF_DEFAULT_ITERATIONS,
                parallelism: envv_api::KDF_DEFAULT_PARALLELISM,
                salt: random_b64(envv_api::KDF_SALT_LEN),
            },
        }
    }

    pub fn signup_body(&self) -> Value {
        serde_json::to_value(SignupRequest {
            email: self.email.clone(),
            name: "Test User".into(),
            auth_key: self.auth_key.clone().into(),
            identity_public_key: self.identity_public_key.clone(),
            signing_public_key: self.signing_public_key.clone(),
            wrapped_identity: self.wrapped_identity.clone(),
            kdf: self.kdf.clone(),
        })
        .expect("json")
    }

    pub fn login_body(&self) -> Value {
        json!({ "email": self.email, "auth_key": self.auth_key })
    }
}

pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub access: String,
    pub refresh: String,
    pub creds: Credentials,
}

/// A random accept token as the invitee sends it (base64url of 32 bytes)
/// and the hash the inviting client gives the server.
pub fn accept_token() -> (String, String) {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw));
    (URL_SAFE_NO_PAD.encode(raw), hash)
}

/// The hex SHA-256 of a base64url accept token, as the inviter sends it.
pub fn accept_token_hash(token: &str) -> String {
    let raw = URL_SAFE_NO_PAD.decode(token).expect("base64url token");
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw))
}

pub fn random_b64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

/// A team creation body with a real epoch key and a stand-in grant (the
/// server stores the grant without being able to check more than its
/// shape), and the chain's first statement signed by `owner`.
pub fn team_body(owner: &impl chain::Signer, name: &str) -> Value {
    let team = Uuid::new_v4();
    let epoch_key = EpochIdentity::generate(team, 1).public_key();
    let genesis = chain::genesis(team, owner, epoch_key.clone());
    json!({
        "id": team,
        "name": name,
        "epoch_public_key": epoch_key.as_str(),
        "creator_grant": random_b64(200),
        "statement": genesis.as_str(),
    })
}

pub fn random_recipient() -> String {
    const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let mut rng = rand::thread_rng();
    let tail: String = (0..58)
        .map(|_| BECH32[rng.gen_range(0..BECH32.len())] as char)
        .collect();
    format!("age1{tail}")
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", Uuid::new_v4().simple())
}

/// Everything the test database holds, as bytes: the SQLite files, or a
/// `pg_dump` of the PostgreSQL database.
pub async fn dump(server: &TestServer) -> Vec<u8> {
    match server.db.backend {
        Backend::Sqlite => {
            let path = server.db.sqlite_path().expect("sqlite path");
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                let file = format!("{}{suffix}", path.display());
                bytes.extend(std::fs::read(&file).unwrap_or_default());
            }
            bytes
        }
        Backend::Postgres => {
            let out = tokio::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(&server.db.url)
                .output()
                .await
                .expect("run pg_dump");
            assert!(
                out.status.success(),
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
