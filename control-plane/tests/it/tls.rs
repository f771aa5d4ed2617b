//! HTTPS with rustls: the real server behind a TLS listener.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use control_plane::tls::{TlsListener, server_config};
use control_plane::{AppState, serve_tls};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

async fn get_over_tls(
    addr: std::net::SocketAddr,
    cert: CertificateDer<'static>,
    path: &str,
) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tls.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_while_a_silent_client_stalls_its_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, issued.cert.pem()).unwrap();
    std::fs::write(&key_path, issued.signing_key.serialize_pem()).unwrap();

    let db = common::TestDb::new(common::Backend::Sqlite).await;
    let state = AppState::new(db.store().await, common::test_config());
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener::new(tcp, server_config(&cert_path, &key_path).unwrap()).unwrap();
    let server = tokio::spawn(serve_tls(listener, state, std::future::pending()));

    // A client that connects and never says hello must not block others.
    let _silent = TcpStream::connect(addr).await.unwrap();
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        get_over_tls(addr, issued.cert.der().clone(), "/healthz"),
    )
    .await
    .expect("the accept loop is not held up by a stalled handshake");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#"{"status":"ok"}"#), "{response}");

    // Plain HTTP to the TLS port gets nothing useful back.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    server.abort();
}

#[test]
fn mismatched_key_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let b = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, a.cert.pem()).unwrap();
    std::fs::write(&key_path, b.signing_key.serialize_pem()).unwrap();
    let err = server_config(&cert_path, &key_path).unwrap_err();
    assert!(format!("{err:#}").contains("do not match"), "{err:#}");
}
