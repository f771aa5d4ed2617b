//! The agent and a control plane over HTTPS: a trusted certificate works,
//! and a bad one fails closed, never falling back to cached keys.

use crate::world::*;
use proto_ipc::{Client, ErrorCode, IpcError, Request, Response, Secret};

#[test]
fn the_agent_talks_to_a_control_plane_over_https() {
    let home = tempfile::tempdir().unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (home.path().join("cert.pem"), home.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let port = envv_testkit::free_port();
    let tls = [
        std::ffi::OsStr::new("--tls-cert"),
        cert.as_os_str(),
        std::ffi::OsStr::new("--tls-key"),
        key.as_os_str(),
    ];
    let _control_plane = ControlPlane::start_with(home.path(), port, &tls);
    // The self-signed certificate is the one root this agent trusts beyond
    // the system's.
    let (_agent, socket) = start_agent(
        home.path(),
        "",
        &[],
        &[("ENVV_SERVER_CA", cert.as_os_str())],
    );
    let mut client = Client::connect(&socket, "test").unwrap();
    let https = format!("https://localhost:{port}");
    let answer = client.request(&Request::Signup {
        server: https.clone(),
        email: "tls@example.com".into(),
        name: "TLS".into(),
        password: Secret::new(PASSWORD),
        allow_weak_password: false,
    });
    assert!(matches!(answer, Ok(Response::Account(_))), "{answer:?}");
    assert!(matches!(
        client.request(&Request::ListTeams),
        Ok(Response::Teams { .. })
    ));

    // An agent that doesn't trust that certificate refuses the server.
    let (_untrusting, untrusting_socket) = start_agent(home.path(), "2", &[], &[]);
    let mut client = Client::connect(&untrusting_socket, "test").unwrap();
    let refused = client.request(&Request::Login {
        server: https,
        email: "tls@example.com".into(),
        password: Secret::new(PASSWORD),
    });
    assert!(
        matches!(
            &refused,
            Err(IpcError::Agent {
                code: ErrorCode::Server,
                message,
            }) if message.contains("TLS connection") && message.contains("certificate")
        ),
        "{refused:?}"
    );
}

/// A self-signed certificate and key for localhost, written under `dir`.
fn certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// Offline is only "could not connect": a server that does not answer at
/// all lets the cached keys stand in, but one presenting a certificate the
/// agent doesn't trust (a network attacker's) is an error, and the agent
/// reads nothing from its cache.
#[test]
fn a_bad_certificate_fails_closed_and_never_falls_back_to_the_cache() {
    let home = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(home.path(), "real");
    let (forged_cert, forged_key) = certificate(home.path(), "forged");
    let port = envv_testkit::free_port();
    let serve = |cert: &std::path::Path, key: &std::path::Path| {
        let tls = [
            std::ffi::OsStr::new("--tls-cert"),
            cert.as_os_str(),
            std::ffi::OsStr::new("--tls-key"),
            key.as_os_str(),
        ];
        ControlPlane::start_with(home.path(), port, &tls)
    };
    let mut real = serve(&cert, &key);
    let (_agent, socket) = start_agent(
        home.path(),
        "",
        &[],
        &[("ENVV_SERVER_CA", cert.as_os_str())],
    );
    let mut client = Client::connect(&socket, "test").unwrap();
    let https = format!("https://localhost:{port}");
    let (_, project) = team_project_in(home.path(), &mut client, &https, "tls@example.com");
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");

    // Unreachable: offline, and the cached keys open the file.
    real.stop();
    client.request(&Request::Lock).unwrap();
    unlock(&mut client);
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");

    // Back on the same address, with a certificate the agent doesn't trust.
    drop(real);
    let _impostor = serve(&forged_cert, &forged_key);
    client.request(&Request::Lock).unwrap();
    unlock(&mut client);
    let err = read(&mut client, &project).unwrap_err();
    assert!(
        matches!(&err, IpcError::Agent { code: ErrorCode::Server, message }
            if message.contains("TLS connection to the control plane")
                && message.contains("certificate")
                && message.contains("nothing cached stands in")),
        "{err}"
    );
    // Nor does a write go through on the verified chain alone.
    let err = set(&mut client, &project, "KEY", "w").unwrap_err();
    assert!(
        matches!(&err, IpcError::Agent { code: ErrorCode::Server, message } if message.contains("TLS")),
        "{err}"
    );
}
