//! The operator's web console's hardening, in process on SQLite and
//! PostgreSQL: security headers, escaping, bounds, the login limit and
//! session expiry, idle or not; and its operator tokens from the real binary's
//! `admin token` commands.

use crate::common;

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::Backend;
use common::console::ConsoleServer;
use control_plane::console;
use reqwest::StatusCode;

/// Every answer carries the security headers, team names are escaped, a
/// search is bounded, failed logins are limited per address, and a
/// session lasts no longer than it should.
async fn console_pages_are_hardened(backend: Backend) {
    let c = ConsoleServer::start_with(backend, |console| {
        console.session_ttl = Duration::ZERO;
    })
    .await;
    let owner = c.api.signup(&common::unique_email("owner")).await;
    c.api.create_team(&owner, "<script>alert(1)</script>").await;
    let token = c.token("ops").await;
    for path in [
        "/console/login",
        "/console/teams",
        "/console/nowhere",
        "/console/style.css",
    ] {
        let resp = c.http.get(c.url(path)).send().await.unwrap();
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    // A session that expired at once lets nothing in.
    let (status, cookie) = c.login(&token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.unwrap();
    assert_eq!(
        c.get("/console/teams", Some(&cookie)).await.0,
        StatusCode::SEE_OTHER
    );

    let c = ConsoleServer::start(backend).await;
    let owner = c.api.signup(&common::unique_email("owner")).await;
    c.api.create_team(&owner, "<script>alert(1)</script>").await;
    let ops = c.session("ops").await;
    let (_, page) = c.get("/console/teams?q=%3Cscript", Some(&ops.cookie)).await;
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("1 of 1 teams"), "{page}");
    let long = format!("/console/teams?q={}", "a".repeat(201));
    assert_eq!(
        c.get(&long, Some(&ops.cookie)).await.0,
        StatusCode::BAD_REQUEST
    );
    let big = "x".repeat(console::MAX_FORM_BYTES + 1);
    let (status, _) = c
        .post("/console/login", None, &[("token", &big)], &[])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Ten wrong tokens from one address, then even the right one waits.
    for _ in 0..10 {
        assert_eq!(c.login("envvop_wrong").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(c.login(&ops.token).await.0, StatusCode::TOO_MANY_REQUESTS);
}

/// `admin token create|list|revoke` on the real binary: the token printed
/// once and never listed, names never reused, revocation ending sessions.
async fn operator_tokens_from_the_command_line(backend: Backend) {
    let c = ConsoleServer::start(backend).await;
    let admin = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
            .arg("admin")
            .args(args)
            .args(["--database-url", &c.api.db.url, "--operator", "root-ops"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, out, err) = admin(&["token", "create", "--name", "dave"]);
    assert!(ok, "{err}");
    let token = out.lines().next().unwrap().to_owned();
    assert!(token.starts_with("envvop_") && token.len() == 50, "{out}");
    let (ok, _, err) = admin(&["token", "create", "--name", "dave"]);
    assert!(!ok && err.contains("never reused"), "{err}");

    let (status, cookie) = c.login(&token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.unwrap();
    let (ok, list, _) = admin(&["token", "list"]);
    assert!(ok);
    assert!(
        list.contains("dave") && list.contains("root-ops") && list.contains("live"),
        "{list}"
    );
    assert!(!list.contains(&token[7..]), "the list shows no token");

    let (ok, out, err) = admin(&["token", "revoke", "dave"]);
    assert!(ok, "{err}");
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(
        c.get("/console/teams", Some(&cookie)).await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(c.login(&token).await.0, StatusCode::UNAUTHORIZED);
    let (ok, _, err) = admin(&["token", "revoke", "dave"]);
    assert!(!ok && err.contains("no live token"), "{err}");
    let events = c.api.state.store.operator_events(None, 10).await.unwrap();
    let revoke = events
        .iter()
        .find(|e| e.action == "admin.token.revoke")
        .unwrap();
    assert_eq!(revoke.details["operator"], "root-ops");
    assert_eq!(revoke.details["sessions_ended"], 1);

    // Neither the token nor the session cookie is in the database in
    // clear, hex or base64. Last: reading SQLite's files from this process
    // drops the process's SQLite locks on them.
    let dump = common::dump(&c.api).await;
    let cookie_value = cookie.split_once('=').unwrap().1.to_owned();
    for secret in [token.as_str(), cookie_value.as_str()] {
        for form in [
            secret.to_owned(),
            hex::encode(secret),
            base64::engine::general_purpose::STANDARD.encode(secret),
        ] {
            assert!(
                !dump.windows(form.len()).any(|w| w == form.as_bytes()),
                "a token or cookie is in the database"
            );
        }
    }
}

/// A session lasts while it is used: each request moves its idle deadline,
/// and one left unused for longer is over, even well before its end.
async fn console_sessions_end_when_left_idle(backend: Backend) {
    // Through the console: a session idle for no time at all is over by
    // its first page.
    let c = ConsoleServer::start_with(backend, |console| {
        console.session_idle = Duration::ZERO;
    })
    .await;
    let token = c.token("ops").await;
    let (status, cookie) = c.login(&token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = c.get("/console/teams", cookie.as_deref()).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "an idle session let a page in"
    );

    // Through the store, on a clock of its own: used every 25 minutes it
    // lives on; 31 minutes unused and it is over, and stays over.
    let store = &c.api.state.store;
    let login = control_plane::store::now();
    let token_hash = [7u8; 32];
    store
        .create_operator_token("idle", &token_hash, "test", login)
        .await
        .unwrap();
    let session = [9u8; 32];
    let end = login + chrono::Duration::hours(8);
    assert!(
        store
            .console_login(&token_hash, &session, end, login)
            .await
            .unwrap()
            .is_some()
    );
    let idle = chrono::Duration::from_std(console::session::SESSION_IDLE).unwrap();
    let live = async |minutes: i64| {
        let now = login + chrono::Duration::minutes(minutes);
        let session = store.console_session(&session, now, now - idle).await;
        session.unwrap().is_some()
    };
    for minutes in [25, 50, 75] {
        assert!(live(minutes).await, "used at {minutes} min and still over");
    }
    assert!(!live(75 + 31).await, "31 min unused and still live");
    assert!(!live(75 + 32).await, "a request revived an idle session");
}

on_both_backends!(
    console_pages_are_hardened,
    operator_tokens_from_the_command_line,
    console_sessions_end_when_left_idle,
);

/// A form post over TLS to the real binary's console: the whole answer.
async fn post_over_tls(
    addr: std::net::SocketAddr,
    cert: rustls::pki_types::CertificateDer<'static>,
    path: &str,
    body: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let port = addr.port();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: https://localhost:{port}\r\n\
         Sec-Fetch-Site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    response
}

/// The real binary: `--admin-listen` equal to `--listen` is refused; over
/// TLS the console is HTTPS too, its session cookie `Secure` with the
/// `__Host-` prefix, and its origin check expects `https://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binarys_console_listener_and_tls() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
        .args(["serve", "--listen", &addr, "--admin-listen", &addr])
        .arg("--database-url")
        .arg(format!("sqlite:{}", dir.path().join("db").display()))
        .arg("--signing-key-file")
        .arg(dir.path().join("key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--admin-listen must differ from --listen"),
        "{stderr}"
    );

    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let server = common::TestServer::start(Backend::Sqlite).await;
    let admin = format!("127.0.0.1:{port}");
    let _replica = common::process::Replica::start_with(
        &server,
        &[
            "--admin-listen",
            &admin,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&admin).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the console did not listen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
        .args([
            "admin",
            "token",
            "create",
            "--name",
            "tls-ops",
            "--operator",
            "t",
        ])
        .args(["--database-url", &server.db.url])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().next().unwrap();
    let answer = post_over_tls(
        admin.parse().unwrap(),
        issued.cert.der().clone(),
        "/console/login",
        &format!("token={token}"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    assert!(cookie.contains(": __Host-envv_console="), "{cookie}");
    for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Strict", "; Secure"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
}
