//! The body of the `request_body` fuzz target in `control-plane/fuzz/`,
//! kept in the library so an ordinary test runs it on random input without
//! a nightly toolchain (`tests/it/fuzz_bodies.rs`). Built only with the
//! `fuzzing` feature.
//!
//! One input is one request: its first byte picks a documented operation
//! that takes a body, its second the content type, and the rest is the
//! body. The request goes through the whole router in process (every
//! middleware, the extractors, validation, the store) as a team owner. The
//! server must answer it, and never with a 5xx: a panic or a 5xx panics
//! here, which the fuzzer reports.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use envv_api::Role;
use envv_core::chain::{Body as ChainBody, Draft, Hash, TeamChain};
use envv_core::crypto::{InviteSecret, PublicKey, UserIdentity};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use uuid::Uuid;

use crate::store::{self, Store};
use crate::tokens::SigningKey;
use crate::{AppState, Config};

/// A well-formed age recipient: the team's first epoch key.
const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/// The server and what the requests refer to, made once per process.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    token: String,
    /// Documented operations that take a body: method and path, with the
    /// path's parameters filled in with real ids.
    targets: Vec<(axum::http::Method, String)>,
    /// Bodies that reach the store's checks, for mutations to start from.
    seeds: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// The process's harness.
    pub fn get() -> &'static Harness {
        static HARNESS: OnceLock<Harness> = OnceLock::new();
        HARNESS.get_or_init(Harness::new)
    }

    fn new() -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("fuzz.db").display());
        let (router, token, ids, seeds) = runtime.block_on(async {
            let store: Arc<dyn Store> = store::connect(&url).await.expect("store");
            let mut config = Config::new(SigningKey::generate());
            // Cheap hashing: the fuzzer wants many requests a second.
            config.server_argon2 = argon2::Params::new(1024, 1, 1, None).expect("params");
            config.ip_max_failures = u32::MAX;
            // One token for the whole run: a fuzzer runs for hours.
            config.access_token_ttl = std::time::Duration::from_secs(365 * 24 * 3600);
            let router = crate::routes::router(AppState::new(store, config));
            let owner_identity = UserIdentity::generate();
            let (owner, token) = signup(&router, "owner@fuzz.example", &owner_identity).await;
            let team = Uuid::new_v4();
            let now = chrono::Utc::now().timestamp();
            let recipient: PublicKey = RECIPIENT.parse().expect("recipient");
            let genesis = Draft {
                team,
                seq: 1,
                prev: Hash::ZERO,
                by: owner,
                at: now,
                body: ChainBody::Create {
                    email: "owner@fuzz.example".into(),
                    age: owner_identity.public_key(),
                    signing: owner_identity.verifying_key(),
                    epoch_key: recipient,
                },
            }
            .sign(owner_identity.signing_key());
            let mut chain = TeamChain::genesis(&genesis).expect("genesis");
            // Made at the head after the creation and never sent: the
            // invites below move the head on, so it is stale (409).
            let stale = chain
                .draft(
                    owner,
                    now,
                    ChainBody::Settings {
                        max_staleness_secs: 7200,
                    },
                )
                .sign(owner_identity.signing_key());
            let seeds = vec![
                json!({ "max_staleness_secs": 7200, "statement": stale.as_str() }).to_string(),
            ];
            let body = json!({
                "id": team, "name": "Fuzz", "epoch_public_key": RECIPIENT,
                "creator_grant": "Z3JhbnQ=", "statement": genesis.as_str(),
            });
            call(&router, "POST", "/teams", Some(&token), body).await;
            let member_identity = UserIdentity::generate();
            let (member, member_token) =
                signup(&router, "member@fuzz.example", &member_identity).await;
            let raw = [7u8; 32];
            let mut invite = |email: &str| {
                let id = Uuid::new_v4();
                let statement = chain
                    .draft(
                        owner,
                        now,
                        ChainBody::Invite {
                            invite: id,
                            email: email.into(),
                            role: Role::Member,
                            accept: Hash(Sha256::digest(raw).into()),
                            proof_key: InviteSecret::generate().proof_key().verifying_key(),
                            expires: now + 7 * 24 * 3600,
                        },
                    )
                    .sign(owner_identity.signing_key());
                chain.apply(&statement).expect("invite statement");
                json!({
                    "id": id, "email": email, "role": "member",
                    "accept_token_hash": hex::encode(Sha256::digest(raw)),
                    "statement": statement.as_str(),
                })
            };
            let joined = invite("member@fuzz.example");
            let pending = invite("pending@fuzz.example");
            let path = format!("/teams/{team}/invite");
            call(&router, "POST", &path, Some(&token), joined.clone()).await;
            call(&router, "POST", &path, Some(&token), pending.clone()).await;
            let accept =
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
            let path = format!("/invites/{}/accept", joined["id"].as_str().expect("id"));
            // The server checks only the signatures' shape; an admin's client
            // checks what they sign.
            let signature = member_identity.signing_key().sign(b"fuzz").to_base64();
            let body = json!({
                "accept_token": accept, "proof": signature, "consent": signature,
            });
            call(&router, "POST", &path, Some(&member_token), body).await;
            let pending: Uuid = pending["id"].as_str().expect("id").parse().expect("uuid");
            (
                router,
                token,
                [("team", team), ("user", member), ("invite", pending)],
                seeds,
            )
        });
        Harness {
            runtime,
            router,
            token,
            targets: targets(&ids),
            seeds,
            _dir: dir,
        }
    }

    /// Request bodies made with the harness's keys (a chain statement no
    /// fixed seed can hold), for mutations to start from.
    pub fn seeds(&self) -> &[String] {
        &self.seeds
    }

    /// The operations requests go to, in the order the first byte picks.
    pub fn targets(&self) -> &[(axum::http::Method, String)] {
        &self.targets
    }

    /// Sends one request made from `data` and answers its status, or
    /// `None` for an input too short to make one; panics on a 5xx.
    pub fn run(&self, data: &[u8]) -> Option<StatusCode> {
        let [route, content_type, body @ ..] = data else {
            return None;
        };
        let (method, path) = &self.targets[usize::from(*route) % self.targets.len()];
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        // Mostly JSON, so most inputs reach the parser.
        match content_type % 8 {
            6 => request = request.header(header::CONTENT_TYPE, "text/plain"),
            7 => {}
            _ => request = request.header(header::CONTENT_TYPE, "application/json"),
        }
        let request = request.body(Body::from(body.to_vec())).expect("request");
        let status = self.runtime.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("infallible");
            let status = response.status();
            // Read the whole answer, as a client would.
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("answer body");
            status
        });
        assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}"
        );
        Some(status)
    }
}

/// Every documented operation with a request body, its path parameters
/// replaced by `ids`.
fn targets(ids: &[(&str, Uuid)]) -> Vec<(axum::http::Method, String)> {
    crate::openapi::operations()
        .into_iter()
        .filter(|(_, _, op)| op.get("requestBody").is_some())
        .map(|(method, mut path, _)| {
            for (name, id) in ids {
                path = path.replace(&format!("{{{name}}}"), &id.to_string());
            }
            (method.parse().expect("method"), path)
        })
        .collect()
}

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Body::from(body.to_string())).expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("answer body");
    assert!(
        status.is_success(),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    if status == StatusCode::NO_CONTENT {
        return Value::Null;
    }
    serde_json::from_slice(&bytes).expect("JSON answer")
}

/// Signs up `email`; its id and access token.
async fn signup(router: &Router, email: &str, identity: &UserIdentity) -> (Uuid, String) {
    let body = json!({
        "email": email, "name": "Fuzz", "auth_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "identity_public_key": identity.public_key().as_str(),
        "signing_public_key": identity.verifying_key().to_hex(),
        "wrapped_identity": "d3JhcHBlZA==",
        "kdf": {
            "algorithm": "argon2id", "memory_kib": envv_api::KDF_DEFAULT_MEMORY_KIB,
            "iterations": envv_api::KDF_DEFAULT_ITERATIONS,
            "parallelism": envv_api::KDF_DEFAULT_PARALLELISM,
            "salt": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        },
    });
    let session = call(router, "POST", "/auth/signup", None, body).await;
    let id = session["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let token = session["tokens"]["access_token"].as_str().expect("token");
    (id, token.to_owned())
}
