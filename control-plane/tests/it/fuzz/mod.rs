//! Random bytes and random JSON at every route that takes a body, with random
//! content types and random path segments: never a 5xx, every 4xx in the
//! error format, no error echoing a planted input, and the server still up.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Backend, Credentials, TestServer, TestUser, random_b64, unique_email};
use control_plane::routes::{audit, keys};
use envv_api::{MAX_BODY_BYTES, Role};
use envv_core::chain::Body;
use envv_core::crypto::SignatureBytes;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use uuid::Uuid;

/// Cases per route; sixteen routes, so about 3,200 requests per backend.
/// `PROPTEST_CASES` raises it for a longer soak.
const CASES: u32 = 200;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES)
}

/// Stands in for the case's canary inside generated strings; swapped for
/// it in the serialised body.
const PLANT: &str = "__PLANTED__";

/// Number literals serde_json's `Value` can't hold, swapped in for the
/// quoted placeholder `"__NUMBER_<i>__"`.
const NUMBERS: [&str; 12] = [
    "1e999",
    "-1e999",
    "1e-999",
    "123456789012345678901234567890123456789",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "-1",
    "0.5",
    "-0",
    "1E+2",
    "00012",
];

fn number_placeholder(i: usize) -> String {
    format!("__NUMBER_{i}__")
}

/// Every route of the router that takes a body (POST, PUT, and the DELETEs
/// that carry a chain statement),
/// with its body limit. `fuzzed_routes_are_the_documented_bodies` checks the
/// list against `/openapi.json`.
const ROUTES: [(&str, &str, usize); 19] = [
    ("POST", "/auth/prelogin", MAX_BODY_BYTES),
    ("POST", "/auth/signup", MAX_BODY_BYTES),
    ("POST", "/auth/login", MAX_BODY_BYTES),
    ("POST", "/auth/refresh", MAX_BODY_BYTES),
    ("POST", "/auth/logout", MAX_BODY_BYTES),
    ("POST", "/auth/password", MAX_BODY_BYTES),
    ("POST", "/teams", MAX_BODY_BYTES),
    ("POST", "/teams/{team}/invite", MAX_BODY_BYTES),
    ("POST", "/invites/{invite}/accept", MAX_BODY_BYTES),
    ("PUT", "/teams/{team}/members/{user}/role", MAX_BODY_BYTES),
    ("DELETE", "/teams/{team}/members/{user}", MAX_BODY_BYTES),
    ("DELETE", "/teams/{team}/invites/{invite}", MAX_BODY_BYTES),
    ("POST", "/teams/{team}/keys/rotate", keys::MAX_ROTATE_BODY),
    ("POST", "/teams/{team}/grants", MAX_BODY_BYTES),
    ("POST", "/teams/{team}/audit", audit::MAX_INGEST_BODY),
    ("POST", "/teams/{team}/billing", MAX_BODY_BYTES),
    ("PUT", "/teams/{team}/settings", MAX_BODY_BYTES),
    ("PUT", "/teams/{team}/name", MAX_BODY_BYTES),
    ("POST", "/teams/{team}/chain", MAX_BODY_BYTES),
];

/// What one route needs: a well-formed body to start mutating from, the
/// real ids for its path, and whether it takes a bearer token.
struct Target {
    method: &'static str,
    pattern: &'static str,
    limit: usize,
    template: Value,
    needs_token: bool,
}

struct Ctx {
    http: reqwest::Client,
    base: String,
    token: String,
    team: Uuid,
    user: Uuid,
    invite: Uuid,
}

impl Ctx {
    fn real_id(&self, param: &str) -> Uuid {
        match param {
            "team" => self.team,
            "user" => self.user,
            "invite" => self.invite,
            other => panic!("no id for path parameter {other}"),
        }
    }
}

/// 64 random bytes, base64url: shaped like a signature, signing nothing.
fn random_signature() -> String {
    let mut bytes = [0u8; 64];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// `account` logs in, refreshes and logs out (fuzzing may lock it); `owner`
/// owns `team`.
async fn targets(
    server: &TestServer,
    account: &TestUser,
    owner: &TestUser,
    team: Uuid,
    user: Uuid,
    invite: Uuid,
) -> Vec<Target> {
    let creds = Credentials::random(&unique_email("fuzz-signup"));
    let fresh = || async {
        let (_, session) = server
            .post("/auth/login", None, account.creds.login_body())
            .await;
        session["tokens"]["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned()
    };
    let refresh = fresh().await;
    let logout = fresh().await;
    // Each template carries a statement that would pass at the chain's
    // head now (a mutation of it mostly won't).
    let rotation = server.rotation_body(team, &owner.access, owner, 1).await;
    let (invite_body, _) = server
        .invite_body(team, owner, &unique_email("fuzz-invitee"), Role::Member)
        .await;
    let statement = |body: Body| async move {
        let statement = server.sign(team, owner, body).await;
        Value::String(statement.as_str().to_owned())
    };
    let role = statement(Body::Role {
        user,
        role: Role::Admin,
    })
    .await;
    let removal = statement(Body::Remove { user }).await;
    let revocation = statement(Body::RevokeInvite { invite }).await;
    let settings = statement(Body::Settings {
        max_staleness_secs: 7200,
    })
    .await;
    let head = common::audit::export(server, team, owner)
        .await
        .pop()
        .expect("the team's creation is in its trail");
    let checkpoint = statement(Body::Checkpoint {
        audit_seq: head.chain_seq as u64,
        audit_head: envv_core::chain::Hash::from_hex(&head.hash).expect("a hash"),
    })
    .await;
    let stranger = &account.creds.identity;
    let signature = SignatureBytes::from_base64(&random_signature()).expect("signature");
    let admission = statement(Body::Admit {
        invite: Uuid::new_v4(),
        user: account.id,
        age: stranger.public_key(),
        signing: stranger.verifying_key(),
        proof: signature,
        consent: signature,
    })
    .await;
    ROUTES
        .iter()
        .map(|&(method, pattern, limit)| {
            let template = match pattern {
                "/auth/prelogin" => json!({ "email": account.email }),
                "/auth/signup" => creds.signup_body(),
                "/auth/login" => account.creds.login_body(),
                "/auth/refresh" => json!({ "refresh_token": refresh }),
                "/auth/logout" => json!({ "refresh_token": logout }),
                // The owner's password "changed" to itself.
                "/auth/password" => json!({
                    "current_auth_key": owner.creds.auth_key,
                    "new_auth_key": owner.creds.auth_key,
                    "wrapped_identity": owner.creds.wrapped_identity,
                    "kdf": owner.creds.kdf,
                }),
                "/teams" => common::team_body(owner, "Fuzzed"),
                "/teams/{team}/invite" => invite_body.clone(),
                "/invites/{invite}/accept" => json!({
                    "accept_token": "token",
                    "proof": random_signature(),
                    "consent": random_signature(),
                }),
                "/teams/{team}/members/{user}/role" => {
                    json!({ "role": Role::Admin, "statement": role })
                }
                "/teams/{team}/members/{user}" => json!({ "statement": removal }),
                "/teams/{team}/invites/{invite}" => json!({ "statement": revocation }),
                "/teams/{team}/keys/rotate" => rotation.clone(),
                "/teams/{team}/grants" => json!({
                    "user_id": account.id,
                    "epoch": 1,
                    "grant": random_b64(200),
                    "statement": admission,
                }),
                "/teams/{team}/audit" => json!({
                    "events": [{
                        "id": Uuid::new_v4(),
                        "action": "set",
                        "occurred_at": "2026-11-28T05:00:00.123456Z",
                        "secret_names": ["API_KEY", "DATABASE_URL"],
                        "env": "staging",
                        "path_hash": sha256_hex(".env.enc"),
                        "secret_count": 2,
                    }],
                }),
                "/teams/{team}/billing" => {
                    json!({ "plan": "pro", "billing_email": "billing@example.com" })
                }
                "/teams/{team}/settings" => {
                    json!({ "max_staleness_secs": 7200, "statement": settings })
                }
                "/teams/{team}/name" => json!({ "name": "Fuzzed" }),
                "/teams/{team}/chain" => json!({ "statement": checkpoint }),
                other => panic!("no template for {other}"),
            };
            Target {
                method,
                pattern,
                limit,
                template,
                needs_token: !pattern.starts_with("/auth/") || pattern == "/auth/password",
            }
        })
        .collect()
}

mod strategies;
use strategies::*;

struct Answer {
    status: u16,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

async fn send(ctx: &Ctx, target: &Target, case: &Case, body: Vec<u8>) -> Result<Answer, String> {
    let path = render_path(ctx, target.pattern, &case.segments);
    let method =
        reqwest::Method::from_bytes(target.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = ctx
        .http
        .request(method, format!("{}{path}", ctx.base))
        .body(body);
    if let Some(ct) = &case.content_type {
        req = req.header(
            CONTENT_TYPE,
            HeaderValue::from_bytes(ct).map_err(|e| e.to_string())?,
        );
    }
    if target.needs_token {
        req = req.bearer_auth(&ctx.token);
    }
    let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = resp.bytes().await.map_err(|e| format!("{e:?}"))?.to_vec();
    Ok(Answer {
        status,
        content_type,
        bytes,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `{"error":{"code":"…","message":"…"}}` and nothing else.
fn is_error_body(bytes: &[u8]) -> bool {
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    let Some(Value::Object(error)) = top.get("error") else {
        return false;
    };
    let text = |k: &str| {
        error
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    top.len() == 1 && error.len() == 2 && text("code") && text("message")
}

fn check(handle: &Handle, ctx: &Ctx, target: &Target, case: &Case) -> Result<(), TestCaseError> {
    let body = render_body(&target.template, case, target.limit);
    let oversized = body.len() > target.limit;
    let answer = match handle.block_on(send(ctx, target, case, body)) {
        Ok(answer) => answer,
        // The server may answer an oversized body before reading it and
        // close; a body larger than the socket's buffers then fails to
        // send and its answer is lost. `healthy` checks the server after.
        Err(e) if oversized && e.contains("BodyWrite") => return Ok(()),
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "{} {}: no answer: {e}",
                target.method, target.pattern
            )));
        }
    };
    let shown = String::from_utf8_lossy(&answer.bytes[..answer.bytes.len().min(400)]).into_owned();
    let route = format!("{} {}", target.method, target.pattern);
    prop_assert!(
        answer.status < 500,
        "{route}: server error {}: {shown}",
        answer.status
    );
    prop_assert!(
        !(oversized && (200..300).contains(&answer.status)),
        "{route}: accepted a body over the limit: {}",
        answer.status
    );
    if (400..500).contains(&answer.status) {
        prop_assert!(
            answer.content_type.as_deref() == Some("application/json"),
            "{route}: {} answered as {:?}",
            answer.status,
            answer.content_type
        );
        prop_assert!(
            is_error_body(&answer.bytes),
            "{route}: {} with a malformed error body: {shown}",
            answer.status
        );
        prop_assert!(
            !contains(&answer.bytes, case.canary.as_bytes()),
            "{route}: the error echoes the planted value: {shown}"
        );
    }
    Ok(())
}

fn healthy(handle: &Handle, ctx: &Ctx) -> bool {
    handle.block_on(async {
        match ctx.http.get(format!("{}/healthz", ctx.base)).send().await {
            Ok(resp) => resp.status().as_u16() == 200,
            Err(_) => false,
        }
    })
}

async fn post_and_put_routes_survive_random_input(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let account = server.signup(&unique_email("account")).await;
    let team = server.create_team(&owner, "Fuzz").await;
    let target_user = server.signup(&unique_email("target")).await;
    server
        .add_member(team, &owner, &target_user, Role::Member)
        .await;
    let invite = server
        .invite(team, &owner, &unique_email("pending"), Role::Member)
        .await;
    let targets = targets(&server, &account, &owner, team, target_user.id, invite.id).await;
    let ctx = Arc::new(Ctx {
        http: server.http.clone(),
        base: server.base.clone(),
        token: owner.access.clone(),
        team,
        user: target_user.id,
        invite: invite.id,
    });

    let handle = Handle::current();
    let runs = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        for target in &targets {
            let config = Config {
                cases: cases(),
                failure_persistence: None,
                max_shrink_iters: 200,
                ..Config::default()
            };
            let mut runner = TestRunner::new(config);
            let strategy = case(path_params(target.pattern).len());
            if let Err(e) = runner.run(&strategy, |case| check(&handle, &ctx, target, &case)) {
                failures.push(format!("{} {}: {e}", target.method, target.pattern));
            }
            if !healthy(&handle, &ctx) {
                failures.push(format!(
                    "/healthz stopped answering after {} {}",
                    target.method, target.pattern
                ));
                break;
            }
        }
        failures
    })
    .await
    .expect("fuzz runner");
    assert!(runs.is_empty(), "{}", runs.join("\n\n"));
    let (status, _) = server.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200, "the server answers /healthz after the fuzzing");
    server.stop().await;
}

/// A body refused before it was read leaves the connection unusable; the
/// answer must say so, or a pooled client fails its next request. The body
/// goes out after a pause, so the server has answered before it arrives.
async fn refusing_an_unread_body_says_connection_close(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start(backend).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = br#"{"email":"someone@example.com"}"#;
    let cases = [
        ("/auth/prelogin", "text/plain", None),
        ("/teams", "application/json", None),
        (
            "/teams/not-a-uuid/invite",
            "application/json",
            Some("Bearer x"),
        ),
    ];
    for (path, content_type, auth) in cases {
        let mut conn = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(auth) = auth {
            head.push_str(&format!("Authorization: {auth}\r\n"));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes()).await.expect("send head");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // The server may already have closed; only its answer matters.
        let _ = conn.write_all(body).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            conn.read_to_end(&mut answer),
        )
        .await;
        let answer = String::from_utf8_lossy(&answer).to_lowercase();
        assert!(answer.starts_with("http/1.1 4"), "POST {path}: {answer}");
        assert!(
            answer.contains("\r\nconnection: close\r\n"),
            "POST {path} must say it closes: {answer}"
        );
    }
    server.stop().await;
}

/// Every documented operation that takes a body is fuzzed, and nothing else.
#[test]
fn fuzzed_routes_are_the_documented_bodies() {
    let documented: BTreeSet<_> = control_plane::openapi::operations()
        .into_iter()
        .filter(|(_, _, op)| op.get("requestBody").is_some())
        .map(|(method, path, _)| (method, path))
        .collect();
    let fuzzed: BTreeSet<_> = ROUTES
        .iter()
        .map(|&(method, pattern, _)| (method.to_owned(), pattern.to_owned()))
        .collect();
    assert_eq!(fuzzed, documented);
}

on_both_backends!(
    post_and_put_routes_survive_random_input,
    refusing_an_unread_body_says_connection_close,
);
