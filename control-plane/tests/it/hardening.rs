//! What a database dump shows, and how bad input is answered.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Backend, TestServer, contains, dump, unique_email};
use serde_json::json;

async fn database_holds_no_token_or_auth_key_in_clear(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("zk")).await;
    let (_, rotated) = server
        .post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": user.refresh }),
        )
        .await;
    let latest = rotated["refresh_token"].as_str().unwrap().to_owned();
    let dump = dump(&server).await;
    assert!(
        contains(&dump, user.email.as_bytes()),
        "the dump must hold the data at all"
    );

    let key = STANDARD.decode(&user.creds.auth_key).unwrap();
    let mut canaries: Vec<(&str, Vec<u8>)> = vec![
        (
            "auth key (base64)",
            user.creds.auth_key.clone().into_bytes(),
        ),
        (
            "auth key (url base64)",
            URL_SAFE_NO_PAD.encode(&key).into_bytes(),
        ),
        ("auth key (hex)", hex::encode(&key).into_bytes()),
        ("auth key (raw)", key.clone()),
        ("first refresh token", user.refresh.clone().into_bytes()),
        ("latest refresh token", latest.clone().into_bytes()),
    ];
    for token in [&user.refresh, &latest] {
        let body = token.strip_prefix("envv_rt_").unwrap();
        canaries.push(("refresh token body", body.as_bytes().to_vec()));
        canaries.push(("refresh token bytes", URL_SAFE_NO_PAD.decode(body).unwrap()));
    }
    for (what, canary) in canaries {
        assert!(
            !contains(&dump, &canary),
            "the database holds the {what} in clear"
        );
    }
}

async fn bad_input_gets_a_json_4xx(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("input")).await;
    let team = server.create_team(&user, "T").await;
    let raw = |method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = server
            .http
            .request(method, server.url(path))
            .bearer_auth(&user.access)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or(json!(null));
            (status, body)
        }
    };
    let json_ct = Some("application/json");
    let bad_member = format!("/teams/{team}/members/not-a-uuid/role");
    let own_role = format!("/teams/{team}/members/{}/role", user.id);
    // (method, path, content type, body, expected status)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("POST", "/teams", json_ct, b"{not json".to_vec(), 400),
        ("POST", "/teams", json_ct, br#"{"name": 42}"#.to_vec(), 400),
        ("POST", "/teams", json_ct, b"{}".to_vec(), 400),
        ("POST", "/teams", json_ct, br#"{"name": ""}"#.to_vec(), 400),
        (
            "POST",
            "/teams",
            Some("text/plain"),
            br#"{"name":"x"}"#.to_vec(),
            415,
        ),
        ("POST", "/teams", None, br#"{"name":"x"}"#.to_vec(), 415),
        (
            "POST",
            "/teams",
            json_ct,
            vec![b' '; envv_api::MAX_BODY_BYTES + 1],
            413,
        ),
        ("GET", "/teams/not-a-uuid", None, vec![], 400),
        (
            "GET",
            "/teams/00000000-0000-0000-0000-000000000000",
            None,
            vec![],
            404,
        ),
        (
            "GET",
            "/teams/00000000-0000-0000-0000-000000000000/members",
            None,
            vec![],
            404,
        ),
        (
            "PUT",
            &bad_member,
            json_ct,
            br#"{"role":"admin"}"#.to_vec(),
            400,
        ),
        (
            "PUT",
            &own_role,
            json_ct,
            br#"{"role":"king"}"#.to_vec(),
            400,
        ),
        ("DELETE", "/teams", None, vec![], 405),
        ("GET", "/no/such/route", None, vec![], 404),
        (
            "POST",
            "/auth/login",
            json_ct,
            br#"{"email":"a@b.c","auth_key":"short"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/auth/signup",
            json_ct,
            br#"{"email":"a@b.c"}"#.to_vec(),
            400,
        ),
    ];
    for (method, path, ct, body, expected) in cases {
        let (status, answer) = raw(method, path, ct, body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        assert!(
            answer["error"]["code"].is_string(),
            "{method} {path}: {answer}"
        );
        assert!(
            answer["error"]["message"].is_string(),
            "{method} {path}: {answer}"
        );
    }
}

async fn errors_never_echo_the_input(backend: Backend) {
    let server = TestServer::start(backend).await;
    let canary = "CANARY-value-3f9a7c1e";
    for body in [
        json!({ "email": canary, "auth_key": canary }),
        json!({ "email": "a@b.c", "auth_key": canary }),
        json!({ "email": 7, "auth_key": canary }),
        json!({ "email": "a@b.c", "auth_key": [canary] }),
    ] {
        let (status, answer) = server.post("/auth/login", None, body).await;
        assert_eq!(status, 400);
        assert!(!answer.to_string().contains(canary), "{answer}");
    }
}

async fn operations_endpoints_answer(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("ops")).await;
    server.get("/teams", &user.access).await;
    let unknown = format!("/teams/{}", uuid::Uuid::new_v4());
    assert_eq!(server.get(&unknown, &user.access).await.0, 404);
    assert_eq!(server.call("GET", "/healthz", None, None).await.0, 200);
    assert_eq!(server.call("GET", "/readyz", None, None).await.0, 200);

    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"envv_http_requests_total{method="GET",route="/teams",status="200"} 1"#),
        "{metrics}"
    );
    // Latencies by route and status, so slow failures don't hide in the
    // successes' distribution.
    for line in [
        r#"envv_http_request_duration_seconds_count{method="GET",route="/teams",status="200"} 1"#,
        r#"envv_http_request_duration_seconds_count{method="GET",route="/teams/{team}",status="404"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    let (status, doc) = server.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/teams/{team}/members"]["get"].is_object());
    assert!(doc["components"]["schemas"]["SignupRequest"].is_object());

    let resp = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
}

/// `/readyz` says 503 once the database is gone, while `/healthz` (the
/// process) still answers 200. PostgreSQL only: the database is dropped
/// from under the server, which an open SQLite file can't be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_when_the_database_is_gone() {
    use sqlx::Connection;

    let server = TestServer::start(Backend::Postgres).await;
    assert_eq!(server.call("GET", "/readyz", None, None).await.0, 200);
    let name = server.db.url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect(&common::postgres_admin_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let (status, body) = server.call("GET", "/readyz", None, None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(server.call("GET", "/healthz", None, None).await.0, 200);
}

/// A body declared larger than its route's limit gets 413 before it is sent,
/// naming that route's limit, also where the limit is raised above the
/// default.
async fn oversized_bodies_are_refused_with_the_routes_limit(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("big")).await;
    let team = server.create_team(&user, "T").await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let routes = [
        (format!("/teams/{team}/invite"), envv_api::MAX_BODY_BYTES),
        (
            format!("/teams/{team}/keys/rotate"),
            control_plane::routes::keys::MAX_ROTATE_BODY,
        ),
        (
            format!("/teams/{team}/audit"),
            control_plane::routes::audit::MAX_INGEST_BODY,
        ),
    ];
    for (path, limit) in routes {
        let mut conn = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        // Only the head: the answer must come before the body is sent.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            user.access,
            limit + 1
        );
        conn.write_all(head.as_bytes()).await.expect("send head");
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            conn.read_to_end(&mut answer),
        )
        .await
        .expect("an answer without the body")
        .expect("read the answer");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "POST {path}: {answer}");
        assert!(
            answer.contains(r#""code":"payload_too_large""#),
            "POST {path}: {answer}"
        );
        assert!(
            answer.contains(&format!("the {limit}-byte limit")),
            "POST {path} must name its {limit}-byte limit: {answer}"
        );
    }
    server.stop().await;
}

/// Sends `len` bytes of JSON whitespace to `path` through the server's
/// router, as a stream of unknown length, so the limit applies while the
/// body is read (a `Content-Length` over it is refused before, see above).
/// In process, so no socket's timing is part of the test.
async fn post_streamed(server: &TestServer, token: &str, path: &str, len: usize) -> (u16, String) {
    use axum::body::{Body, Bytes};
    use tower::ServiceExt;

    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..len)
        .step_by(64 * 1024)
        .map(|at| Ok(Bytes::from(vec![b' '; (len - at).min(64 * 1024)])))
        .collect();
    let request = axum::http::Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let response = control_plane::routes::router(server.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The raised limits hold while a body streams in: over the default limit
/// is read and parsed (whitespace only: 400), over the route's own limit is
/// 413 naming it. A real batch over the default limit is accepted.
async fn raised_limits_apply_to_streamed_bodies(backend: Backend) {
    use control_plane::routes::{audit, keys};

    let server = TestServer::start(backend).await;
    let user = server.signup(&unique_email("stream")).await;
    let team = server.create_team(&user, "T").await;
    for (path, limit) in [
        (format!("/teams/{team}/keys/rotate"), keys::MAX_ROTATE_BODY),
        (format!("/teams/{team}/audit"), audit::MAX_INGEST_BODY),
    ] {
        let over_default = envv_api::MAX_BODY_BYTES * 2;
        let (status, answer) = post_streamed(&server, &user.access, &path, over_default).await;
        assert_eq!(status, 400, "{path}: {answer}");
        let (status, answer) = post_streamed(&server, &user.access, &path, limit + 1).await;
        assert_eq!(status, 413, "{path}: {answer}");
        assert!(
            answer.contains(&format!("the {limit}-byte limit")),
            "{path} must name its {limit}-byte limit: {answer}"
        );
    }

    // 300 events of 40 names each: about 600 KiB of JSON.
    let names: Vec<String> = (0..40)
        .map(|i| format!("A_FAIRLY_LONG_SECRET_NAME_{i:04}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let batch: Vec<_> = (0..300)
        .map(|_| common::audit::event("exec", &names))
        .collect();
    let size = json!({ "events": batch }).to_string().len();
    assert!(size > envv_api::MAX_BODY_BYTES, "{size} bytes");
    let answer = common::audit::ingest(&server, team, &user, &batch).await;
    assert_eq!(answer["accepted"], 300);
    server.stop().await;
}

on_both_backends!(
    database_holds_no_token_or_auth_key_in_clear,
    raised_limits_apply_to_streamed_bodies,
    oversized_bodies_are_refused_with_the_routes_limit,
    bad_input_gets_a_json_4xx,
    errors_never_echo_the_input,
    operations_endpoints_answer,
);
