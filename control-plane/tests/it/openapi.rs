//! `/openapi.json` lists every error status an operation answers: each
//! documented operation is called the ways that fail before its handler's
//! own logic (no token, an id that is not a UUID, a team nobody has, a body
//! of the wrong type, too large, not JSON or of the wrong shape, a query
//! parameter of the wrong type), and each answer's status must be among the
//! operation's documented responses, with the error body.

use crate::common;

use common::{Backend, TestServer, unique_email};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// One way of calling an operation: what replaces its path ids, whether a
/// token is sent, and the body.
struct Probe {
    what: &'static str,
    id: String,
    token: bool,
    body: Body,
    query: Option<String>,
}

enum Body {
    None,
    Json(Value),
    /// Bytes with a content type.
    Raw(&'static str, &'static str),
    /// A head declaring more bytes than any route takes; none sent.
    Oversized,
}

fn probes(op: &Value) -> Vec<Probe> {
    let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
    let has_body = op.get("requestBody").is_some();
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let in_path = params.iter().any(|p| p["in"] == "path");
    let typed_query: Vec<String> = params
        .iter()
        .filter(|p| p["in"] == "query" && p["schema"]["type"] != "string")
        .filter_map(|p| p["name"].as_str().map(|n| format!("{n}=not-a-number")))
        .collect();
    let nobodys = Uuid::new_v4().to_string();
    let body = || {
        if has_body {
            Body::Json(json!({}))
        } else {
            Body::None
        }
    };
    let probe = |what, id: &str, token, body| Probe {
        what,
        id: id.to_owned(),
        token,
        body,
        query: None,
    };
    let mut probes = vec![probe("as documented", &nobodys, true, body())];
    if secured {
        probes.push(probe("without a token", &nobodys, false, body()));
    }
    if in_path {
        probes.push(probe(
            "with an id that is no UUID",
            "not-a-uuid",
            true,
            body(),
        ));
    }
    if has_body {
        probes.push(probe(
            "with a body of the wrong shape",
            &nobodys,
            true,
            Body::Json(json!([1])),
        ));
        probes.push(probe(
            "with a body that is not JSON",
            &nobodys,
            true,
            Body::Raw("application/json", "{"),
        ));
        probes.push(probe(
            "with a text body",
            &nobodys,
            true,
            Body::Raw("text/plain", "{}"),
        ));
        probes.push(probe(
            "with a body over every limit",
            &nobodys,
            true,
            Body::Oversized,
        ));
    }
    for query in typed_query {
        let mut p = probe(
            "with a query parameter of the wrong type",
            &nobodys,
            true,
            body(),
        );
        p.query = Some(query);
        probes.push(p);
    }
    probes
}

/// The status and body of a request whose head declares a body larger
/// than every route's limit and sends none of it.
async fn oversized(server: &TestServer, method: &str, path: &str, token: &str) -> (u16, String) {
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        64 * 1024 * 1024
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
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status in {answer}"));
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

async fn every_error_an_operation_answers_is_documented(backend: Backend) {
    let server = TestServer::start(backend).await;
    // A real account in no team: authenticated, authorised for nothing.
    let user = server.signup(&unique_email("openapi")).await;
    let mut failures = Vec::new();
    for (method, pattern, op) in control_plane::openapi::operations() {
        let documented = op["responses"].as_object().expect("responses");
        for probe in probes(&op) {
            let mut path = pattern.clone();
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "path" {
                    let name = param["name"].as_str().expect("name");
                    path = path.replace(&format!("{{{name}}}"), &probe.id);
                }
            }
            if let Some(query) = &probe.query {
                path = format!("{path}?{query}");
            }
            let token = probe.token.then_some(user.access.as_str());
            let (status, body) = match probe.body {
                Body::Oversized => {
                    let (status, text) = oversized(&server, &method, &path, &user.access).await;
                    (
                        status,
                        serde_json::from_str(&text).unwrap_or(Value::String(text)),
                    )
                }
                Body::Raw(content_type, bytes) => {
                    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                    let mut req = server
                        .http
                        .request(m, server.url(&path))
                        .header("content-type", content_type)
                        .body(bytes);
                    if let Some(token) = token {
                        req = req.bearer_auth(token);
                    }
                    let resp = req.send().await.expect("request");
                    let status = resp.status().as_u16();
                    (status, resp.json().await.unwrap_or(Value::Null))
                }
                Body::Json(body) => server.call(&method, &path, token, Some(body)).await,
                Body::None => server.call(&method, &path, token, None).await,
            };
            let cell = format!("{method} {pattern} {}: {status}", probe.what);
            if !documented.contains_key(&status.to_string()) {
                failures.push(format!("{cell} is not documented"));
            }
            let error_body =
                body["error"]["code"].is_string() && body["error"]["message"].is_string();
            if status >= 400 && !error_body {
                failures.push(format!("{cell} without the error body: {body}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.stop().await;
}

/// The document is what `.ci/openapi`'s validator and Schemathesis check;
/// these are the properties a generated client relies on first.
#[test]
fn every_response_is_described_and_every_reference_resolves() {
    let doc = control_plane::openapi::document();
    let text = doc.to_string();
    for (method, path, op) in control_plane::openapi::operations() {
        for (status, response) in op["responses"].as_object().expect("responses") {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path} {status} has no description"
            );
        }
        for param in op["parameters"].as_array().into_iter().flatten() {
            let in_path = path.contains(&format!("{{{}}}", param["name"].as_str().unwrap()));
            assert_eq!(param["in"] == "path", in_path, "{method} {path}: {param}");
        }
    }
    const REF: &str = "\"$ref\":\"#/components/schemas/";
    let mut rest = text.as_str();
    while let Some(at) = rest.find(REF) {
        rest = &rest[at + REF.len()..];
        let name = &rest[..rest.find('"').expect("the reference ends")];
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "#/components/schemas/{name} is referenced but missing"
        );
    }
}

on_both_backends!(every_error_an_operation_answers_is_documented);
