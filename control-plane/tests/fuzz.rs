//! Random bytes and random JSON at every POST and PUT route, with random
//! content types and random path segments: never a 5xx, every 4xx in the
//! error format, no error echoing a planted input, and the server still up.

mod common;

use std::sync::Arc;

use common::{Backend, Credentials, TestServer, TestUser, random_b64, unique_email};
use envv_api::Role;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use uuid::Uuid;

/// Cases per route; eleven routes, so about 1,800 requests per backend.
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

/// The POST and PUT routes of the router: every route that takes a body.
const ROUTES: [(&str, &str); 11] = [
    ("POST", "/auth/prelogin"),
    ("POST", "/auth/signup"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("POST", "/teams"),
    ("POST", "/teams/{team}/invite"),
    ("POST", "/invites/{invite}/accept"),
    ("PUT", "/teams/{team}/members/{user}/role"),
    ("POST", "/teams/{team}/audit"),
    ("POST", "/teams/{team}/billing"),
];

/// What one route needs: a well-formed body to start mutating from, the
/// real ids for its path, and whether it takes a bearer token.
struct Target {
    method: &'static str,
    pattern: &'static str,
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

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

async fn targets(server: &TestServer, account: &TestUser) -> Vec<Target> {
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
    ROUTES
        .iter()
        .map(|&(method, pattern)| {
            let template = match pattern {
                "/auth/prelogin" => json!({ "email": account.email }),
                "/auth/signup" => creds.signup_body(),
                "/auth/login" => account.creds.login_body(),
                "/auth/refresh" => json!({ "refresh_token": refresh }),
                "/auth/logout" => json!({ "refresh_token": logout }),
                "/teams" => common::team_body("Fuzzed"),
                "/teams/{team}/invite" => json!({
                    "email": unique_email("fuzz-invitee"),
                    "role": Role::Member,
                    "accept_token_hash": sha256_hex("token"),
                    "id": Uuid::new_v4(),
                    "sealed_secret": random_b64(48),
                }),
                "/invites/{invite}/accept" => {
                    json!({ "accept_token": "token", "proof": random_b64(24) })
                }
                "/teams/{team}/members/{user}/role" => json!({ "role": Role::Admin }),
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
                other => panic!("no template for {other}"),
            };
            Target {
                method,
                pattern,
                template,
                needs_token: !pattern.starts_with("/auth/"),
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Segment {
    Real,
    /// The real id spelled another way Uuid parsing accepts.
    RealSpelledAs(u8),
    RandomUuid,
    /// Already percent-encoded where needed.
    Text(String),
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove(Index),
    /// Any value, usually of the wrong type.
    Replace(Index, Value),
    /// A string of random content: reaches the validators.
    ReplaceString(Index, String),
    /// A number out of any sane range, as raw JSON.
    ReplaceNumber(Index, usize),
    Extra(String, Value),
    /// Wrap a field's value in this many arrays.
    Nest(Index, usize),
}

#[derive(Debug, Clone)]
enum Body {
    /// The route's template, with mutations applied to a random object in it.
    Mutated(Index, Vec<Mutation>),
    Json(Value),
    /// Random bytes, the canary spliced in the middle when the flag is set.
    Bytes(Vec<u8>, bool),
    /// Deeply nested JSON, well past serde_json's recursion limit.
    Deep {
        depth: usize,
        style: u8,
    },
    /// Larger than `MAX_BODY_BYTES`; generated from a seed to keep cases small.
    Oversized {
        extra: usize,
        style: u8,
        seed: u64,
    },
}

#[derive(Debug, Clone)]
struct Case {
    segments: Vec<Segment>,
    content_type: Option<Vec<u8>>,
    body: Body,
    canary: String,
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        8 => Just(Segment::Real),
        1 => (0u8..4).prop_map(Segment::RealSpelledAs),
        1 => Just(Segment::RandomUuid),
        1 => "[a-zA-Z0-9._~-]{0,40}".prop_map(Segment::Text),
        1 => prop::collection::vec(any::<char>(), 0..24)
            .prop_map(|c| Segment::Text(percent_encode(&String::from_iter(c)))),
        1 => prop::sample::select(vec![
            "", ".", "..", "%00", "%FF", "%C0%AF", "%2F", "%2e%2e", "%ZZ", "null",
            "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "00000000-0000-0000-0000-00000000000", "{}", "%7B%7D", "-1", "1e999",
        ])
        .prop_map(|s| Segment::Text(s.to_owned())),
        1 => (1000usize..8000).prop_map(|n| Segment::Text("a".repeat(n))),
    ]
}

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        12 => Just(Some(b"application/json".to_vec())),
        1 => Just(None),
        2 => prop::sample::select(vec![
            "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.envv+json",
            "application/json; charset=latin1", "application/jsonx", "text/json", "text/plain",
            "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "*/*", ";",
            "", "application/", "/json", "application/json;;;", "application/json, text/plain",
        ])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        1 => "[ -~]{0,60}".prop_map(|s| Some(s.into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..60).prop_map(|bytes| {
            // Bytes a header value can't hold at all become `x`: the
            // client would refuse to send them, so they test nothing.
            Some(bytes.into_iter().map(|b| if (b < 32 && b != b'\t') || b == 127 { b'x' } else { b }).collect())
        }),
    ]
}

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..32).prop_map(String::from_iter),
        1 => "\\PC{0,24}",
        2 => Just(PLANT.to_owned()),
        1 => "[ -~]{0,12}".prop_map(|s| format!("{s}{PLANT}@example.com")),
        1 => prop::collection::vec(any::<char>(), 0..8)
            .prop_map(|c| format!("{}{PLANT}{}", String::from_iter(c.iter()), String::from_iter(c.iter().rev()))),
        1 => (1usize..20_000).prop_map(|n| "a".repeat(n)),
        1 => prop::sample::select(vec![
            "", " ", "\u{0}", "\u{7f}", "\u{202e}", "\u{feff}", "\u{fffd}", "\n\r\t", "age1",
            "argon2id", "owner", "admin", "member", "OWNER", "a@b", "a@b\u{0}", "null", "true",
            "0", "envv_rt_", "Bearer ",
        ])
        .prop_map(str::to_owned),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "email", "name", "auth_key", "identity_public_key", "wrapped_identity", "kdf",
            "algorithm", "memory_kib", "iterations", "parallelism", "salt", "refresh_token",
            "role", "accept_token_hash", "sealed_secret", "accept_token", "proof", "",
        ])
        .prop_map(str::to_owned),
        1 => json_string(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0..NUMBERS.len()).prop_map(|i| Value::String(number_placeholder(i))),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::Remove),
        2 => (any::<Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        4 => (any::<Index>(), json_string()).prop_map(|(i, v)| Mutation::ReplaceString(i, v)),
        1 => (any::<Index>(), 0..NUMBERS.len()).prop_map(|(i, n)| Mutation::ReplaceNumber(i, n)),
        2 => (json_key(), json_value()).prop_map(|(k, v)| Mutation::Extra(k, v)),
        1 => (any::<Index>(), 1usize..300).prop_map(|(i, n)| Mutation::Nest(i, n)),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        6 => (any::<Index>(), prop::collection::vec(mutation(), 0..4)).prop_map(|(i, m)| Body::Mutated(i, m)),
        // Well-typed but with random strings: gets past the parser to the
        // validators and the database.
        5 => (any::<Index>(), prop::collection::vec((any::<Index>(), json_string()), 1..4)).prop_map(|(i, f)| {
            Body::Mutated(i, f.into_iter().map(|(k, v)| Mutation::ReplaceString(k, v)).collect())
        }),
        3 => json_value().prop_map(Body::Json),
        2 => (prop::collection::vec(any::<u8>(), 0..1024), any::<bool>()).prop_map(|(b, p)| Body::Bytes(b, p)),
        1 => (100usize..5000, 0u8..4).prop_map(|(depth, style)| Body::Deep { depth, style }),
        1 => (1usize..128 * 1024, 0u8..3, any::<u64>())
            .prop_map(|(extra, style, seed)| Body::Oversized { extra, style, seed }),
    ]
}

fn case(params: usize) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(segment(), params..=params),
        content_type(),
        body(),
        "[a-zA-Z0-9]{16,24}",
    )
        .prop_map(|(segments, content_type, body, canary)| Case {
            segments,
            content_type,
            body,
            canary,
        })
}

fn path_params(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn render_path(ctx: &Ctx, pattern: &str, segments: &[Segment]) -> String {
    let mut path = pattern.to_owned();
    for (param, segment) in path_params(pattern).into_iter().zip(segments) {
        let id = ctx.real_id(param);
        let text = match segment {
            Segment::Real => id.to_string(),
            Segment::RealSpelledAs(0) => id.simple().to_string(),
            Segment::RealSpelledAs(1) => id.to_string().to_uppercase(),
            Segment::RealSpelledAs(2) => percent_encode(&id.braced().to_string()),
            Segment::RealSpelledAs(_) => percent_encode(&id.urn().to_string()),
            Segment::RandomUuid => Uuid::new_v4().to_string(),
            Segment::Text(text) => text.clone(),
        };
        path = path.replace(&format!("{{{param}}}"), &text);
    }
    path
}

/// The objects inside `value` (itself included), as JSON pointers.
fn object_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    if let Value::Object(map) = value {
        out.push(at.clone());
        for (k, v) in map {
            object_pointers(v, format!("{at}/{k}"), out);
        }
    }
}

fn mutate(template: &Value, which: &Index, mutations: &[Mutation]) -> Value {
    let mut body = template.clone();
    let mut pointers = Vec::new();
    object_pointers(&body, String::new(), &mut pointers);
    let pointer = which.get(&pointers).clone();
    let Some(Value::Object(object)) = body.pointer_mut(&pointer) else {
        return body;
    };
    for mutation in mutations {
        let keys: Vec<String> = object.keys().cloned().collect();
        let key = |i: &Index| (!keys.is_empty()).then(|| i.get(&keys).clone());
        match mutation {
            Mutation::Remove(i) => {
                if let Some(k) = key(i) {
                    object.remove(&k);
                }
            }
            Mutation::Replace(i, v) => {
                if let Some(k) = key(i) {
                    object.insert(k, v.clone());
                }
            }
            Mutation::ReplaceString(i, v) => {
                if let Some(k) = key(i) {
                    object.insert(k, Value::String(v.clone()));
                }
            }
            Mutation::ReplaceNumber(i, n) => {
                if let Some(k) = key(i) {
                    object.insert(k, Value::String(number_placeholder(*n)));
                }
            }
            Mutation::Extra(k, v) => {
                object.insert(k.clone(), v.clone());
            }
            Mutation::Nest(i, depth) => {
                if let Some(k) = key(i) {
                    let mut v = object.remove(&k).unwrap_or(Value::Null);
                    for _ in 0..*depth {
                        v = Value::Array(vec![v]);
                    }
                    object.insert(k, v);
                }
            }
        }
    }
    body
}

/// Serialises with the placeholders swapped for the canary and raw numbers.
fn serialise(value: &Value, canary: &str) -> Vec<u8> {
    let mut text = serde_json::to_string(value).expect("a Value serialises");
    for (i, literal) in NUMBERS.iter().enumerate() {
        text = text.replace(&format!("\"{}\"", number_placeholder(i)), literal);
    }
    text.replace(PLANT, canary).into_bytes()
}

/// A cheap deterministic filler (xorshift), so oversized cases stay small.
fn filler(len: usize, mut seed: u64) -> Vec<u8> {
    seed |= 1;
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn render_body(template: &Value, case: &Case) -> Vec<u8> {
    match &case.body {
        Body::Mutated(which, mutations) => {
            serialise(&mutate(template, which, mutations), &case.canary)
        }
        Body::Json(value) => serialise(value, &case.canary),
        Body::Bytes(bytes, plant) => {
            let mut out = bytes.clone();
            if *plant {
                let mid = out.len() / 2;
                out.splice(mid..mid, case.canary.bytes());
            }
            out
        }
        Body::Deep { depth, style } => {
            let (open, leaf, close) = match style {
                0 => ("[", "", "]"),
                1 => ("{\"a\":", "1", "}"),
                2 => ("{\"email\":[", "\"x\"", "]}"),
                _ => ("[{\"name\":", "", ""),
            };
            format!("{}{leaf}{}", open.repeat(*depth), close.repeat(*depth)).into_bytes()
        }
        Body::Oversized { extra, style, seed } => {
            let len = envv_api::MAX_BODY_BYTES + extra;
            match style {
                0 => {
                    let pad = len.saturating_sub(case.canary.len() + 12);
                    format!("{{\"email\":\"{}{}\"}}", case.canary, "a".repeat(pad)).into_bytes()
                }
                1 => {
                    let mut out = vec![b' '; len];
                    out.extend_from_slice(b"{}");
                    out
                }
                _ => filler(len, *seed),
            }
        }
    }
}

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
    let body = render_body(&target.template, case);
    let oversized = body.len() > envv_api::MAX_BODY_BYTES;
    let answer = handle
        .block_on(send(ctx, target, case, body))
        .map_err(|e| {
            TestCaseError::fail(format!(
                "{} {}: no answer: {e}",
                target.method, target.pattern
            ))
        })?;
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
    let targets = targets(&server, &account).await;
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

on_both_backends!(
    post_and_put_routes_survive_random_input,
    refusing_an_unread_body_says_connection_close,
);
