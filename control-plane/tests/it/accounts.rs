//! Accounts and sessions over HTTP, on both backends.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Backend, Credentials, TestServer, unique_email};
use serde_json::json;

async fn signup_then_login_then_me(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = unique_email("alice");
    let user = server.signup(&email).await;

    let (status, me) = server.get("/me", &user.access).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], email);
    assert_eq!(me["identity_public_key"], user.creds.identity_public_key);
    assert_eq!(me["signing_public_key"], user.creds.signing_public_key);
    // A signing key must be a valid Ed25519 point in lowercase hex.
    for bad in [
        "",
        "zz",
        &"00".repeat(32),
        &user.creds.signing_public_key.to_uppercase(),
    ] {
        let mut creds = Credentials::random(&unique_email("badkey"));
        creds.signing_public_key = bad.to_owned();
        let (status, body) = server.post("/auth/signup", None, creds.signup_body()).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
    }

    let (status, session) = server
        .post("/auth/login", None, user.creds.login_body())
        .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["wrapped_identity"], user.creds.wrapped_identity);
    assert_eq!(session["kdf"]["salt"], user.creds.kdf.salt);
    assert_eq!(session["tokens"]["token_type"], "Bearer");
    let access = session["tokens"]["access_token"].as_str().unwrap();
    assert_eq!(server.get("/me", access).await.0, 200);
}

async fn signup_twice_with_one_email_conflicts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = unique_email("dup");
    server.signup(&email).await;
    let again = Credentials::random(&email.to_uppercase());
    let (status, body) = server.post("/auth/signup", None, again.signup_body()).await;
    assert_eq!(status, 409, "{body}");
}

async fn prelogin_is_stable_and_alike_for_unknown_emails(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("known")).await;
    let (status, known) = server
        .post("/auth/prelogin", None, json!({ "email": user.email }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(known["kdf"]["salt"], user.creds.kdf.salt);

    let ghost = unique_email("ghost");
    let (_, first) = server
        .post("/auth/prelogin", None, json!({ "email": ghost }))
        .await;
    let (_, second) = server
        .post(
            "/auth/prelogin",
            None,
            json!({ "email": ghost.to_uppercase() }),
        )
        .await;
    assert_eq!(
        first, second,
        "the fake must be stable across case variants"
    );
    // Alike in all but the salt's bytes: the parameters of an account made
    // with the client's defaults, and a salt of the same length.
    let shape = |v: &serde_json::Value| {
        let mut kdf = v["kdf"].clone();
        let salt = STANDARD.decode(kdf["salt"].as_str().unwrap()).unwrap();
        kdf["salt"] = json!(salt.len());
        kdf
    };
    assert_eq!(shape(&first), shape(&known));
    let (_, other) = server
        .post(
            "/auth/prelogin",
            None,
            json!({ "email": unique_email("ghost") }),
        )
        .await;
    assert_ne!(first["kdf"]["salt"], other["kdf"]["salt"]);
}

/// A login's whole answer: its status, whether it says `Retry-After`, and
/// its body.
async fn login_answer(server: &TestServer, email: &str, auth_key: &str) -> (u16, bool, String) {
    let resp = server
        .http
        .post(server.url("/auth/login"))
        .json(&json!({ "email": email, "auth_key": auth_key }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp.headers().contains_key("retry-after");
    (status, retry, resp.text().await.unwrap())
}

async fn unknown_email_and_wrong_key_answer_byte_identical(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("bob")).await;
    let wrong_key = login_answer(&server, &user.email, &common::random_b64(32)).await;
    let nobody = unique_email("nobody");
    let unknown = login_answer(&server, &nobody, &common::random_b64(32)).await;
    assert_eq!(wrong_key.0, 401);
    assert_eq!(wrong_key, unknown);
}

async fn repeated_failures_are_limited_across_case_variants(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("carol")).await;
    let variants = [
        user.email.clone(),
        user.email.to_uppercase(),
        format!("  {}  ", user.email),
        user.email.to_uppercase(),
        user.email.clone(),
    ];
    for email in &variants {
        let (status, _) = server
            .post(
                "/auth/login",
                None,
                json!({ "email": email, "auth_key": common::random_b64(32) }),
            )
            .await;
        assert_eq!(status, 401);
    }
    // Now locked, even with the right key.
    let retry = refused_with_retry_after(&server, &user).await;
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
}

/// Logs `user` in with the right key, expecting 429 `rate_limited`; the
/// seconds its `Retry-After` says.
async fn refused_with_retry_after(server: &TestServer, user: &common::TestUser) -> u64 {
    let resp = server
        .http
        .post(server.url("/auth/login"))
        .json(&user.creds.login_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    retry
}

/// A locked account answers exactly as a locked unknown email does, so the
/// lockout doesn't tell which emails have accounts either.
async fn locked_account_and_locked_unknown_email_answer_alike(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("locked")).await;
    let ghost = unique_email("ghost");
    let max = server.state.config.login_throttle.max_failures;
    for _ in 0..max {
        let wrong = common::random_b64(32);
        assert_eq!(login_answer(&server, &user.email, &wrong).await.0, 401);
        assert_eq!(login_answer(&server, &ghost, &wrong).await.0, 401);
    }
    let mut locked = login_answer(&server, &user.email, &user.creds.auth_key).await;
    let mut locked_ghost = login_answer(&server, &ghost, &common::random_b64(32)).await;
    // The seconds to wait may differ by one between the two locks.
    for (_, _, body) in [&mut locked, &mut locked_ghost] {
        *body = body.replace(char::is_numeric, "0");
    }
    assert_eq!((locked.0, locked.1), (429, true));
    assert_eq!(locked, locked_ghost);
}

/// An account an operator disabled can't log in (the answer an unknown
/// email gets), refresh, or read `/me`.
async fn a_disabled_account_can_neither_log_in_nor_refresh(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("disabled")).await;
    let sql = "UPDATE users SET disabled = $1 WHERE id = $2";
    server.db.update_row(sql, true, user.id).await;

    let disabled = login_answer(&server, &user.email, &user.creds.auth_key).await;
    let nobody = unique_email("nobody");
    let unknown = login_answer(&server, &nobody, &common::random_b64(32)).await;
    assert_eq!(disabled.0, 401);
    assert_eq!(disabled, unknown);

    let (status, body) = server
        .post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": user.refresh }),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "invalid_refresh_token");
    assert_eq!(server.get("/me", &user.access).await.0, 401);
}

/// Failures from one address, across many emails, are limited per address.
async fn repeated_failures_from_one_address_are_limited(backend: Backend) {
    let mut config = common::test_config();
    config.ip_max_failures = 5;
    let server = TestServer::start_with(backend, config).await;
    let user = server.signup(&unique_email("ip")).await;
    for _ in 0..5 {
        let body = json!({ "email": unique_email("spray"), "auth_key": common::random_b64(32) });
        let (status, _) = server.post("/auth/login", None, body).await;
        assert_eq!(status, 401);
    }
    // Now even a right key from that address waits.
    let retry = refused_with_retry_after(&server, &user).await;
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("dave")).await;
    let (status, first) = server
        .post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": user.refresh }),
        )
        .await;
    assert_eq!(status, 200);
    let newer = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(newer, user.refresh);
    assert_eq!(
        server
            .get("/me", first["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );

    // The spent token comes back: refused, and the newer one dies with it.
    let (status, body) = server
        .post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": user.refresh }),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "refresh_token_reused");
    let (status, _) = server
        .post("/auth/refresh", None, json!({ "refresh_token": newer }))
        .await;
    assert_eq!(status, 401);
}

async fn concurrent_refreshes_of_one_token_have_one_winner(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("erin")).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let http = server.http.clone();
            let url = server.url("/auth/refresh");
            let token = user.refresh.clone();
            tokio::spawn(async move {
                http.post(url)
                    .json(&json!({ "refresh_token": token }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        19,
        "{statuses:?}"
    );
}

async fn logout_ends_the_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("fay")).await;
    let (status, _) = server
        .post(
            "/auth/logout",
            None,
            json!({ "refresh_token": user.refresh }),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": user.refresh }),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .post(
            "/auth/logout",
            None,
            json!({ "refresh_token": "envv_rt_nope" }),
        )
        .await;
    assert_eq!(status, 401);
}

/// A password change: the current auth key must verify; then only the new
/// one logs in, the identity comes back as re-wrapped, the other sessions'
/// refresh tokens are spent, and the caller gets a session of its own.
async fn a_password_change_swaps_the_key_and_ends_other_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("pat")).await;
    let fresh = Credentials::random(&user.email);
    let body = |current: &str| {
        json!({
            "current_auth_key": current,
            "new_auth_key": fresh.auth_key,
            "wrapped_identity": fresh.wrapped_identity,
            "kdf": fresh.kdf,
        })
    };
    // A wrong current key changes nothing.
    let wrong = Credentials::random(&user.email);
    let (status, refused) = server
        .post("/auth/password", Some(&user.access), body(&wrong.auth_key))
        .await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_credentials");
    assert_eq!(
        login_answer(&server, &user.email, &user.creds.auth_key)
            .await
            .0,
        200
    );
    // Without a token, nothing either.
    let (status, _) = server
        .post("/auth/password", None, body(&user.creds.auth_key))
        .await;
    assert_eq!(status, 401);

    let (status, session) = server
        .post(
            "/auth/password",
            Some(&user.access),
            body(&user.creds.auth_key),
        )
        .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["wrapped_identity"], fresh.wrapped_identity);
    let refresh = session["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(
        login_answer(&server, &user.email, &user.creds.auth_key)
            .await
            .0,
        401
    );
    let (status, _, after) = login_answer(&server, &user.email, &fresh.auth_key).await;
    assert_eq!(status, 200);
    assert!(
        after.contains(&fresh.wrapped_identity),
        "the login answer carries the new wrapped identity"
    );
    let (status, prelogin) = server
        .post("/auth/prelogin", None, json!({ "email": user.email }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(prelogin["kdf"]["salt"], fresh.kdf.salt);
    // The session from before the change is over; the caller's new one works.
    let (status, _) = server
        .post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": user.refresh }),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .post("/auth/refresh", None, json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, 200);
}

on_both_backends!(
    a_password_change_swaps_the_key_and_ends_other_sessions,
    signup_then_login_then_me,
    signup_twice_with_one_email_conflicts,
    prelogin_is_stable_and_alike_for_unknown_emails,
    unknown_email_and_wrong_key_answer_byte_identical,
    repeated_failures_are_limited_across_case_variants,
    locked_account_and_locked_unknown_email_answer_alike,
    a_disabled_account_can_neither_log_in_nor_refresh,
    repeated_failures_from_one_address_are_limited,
    refresh_rotates_and_reuse_revokes_the_family,
    concurrent_refreshes_of_one_token_have_one_winner,
    logout_ends_the_session,
);
