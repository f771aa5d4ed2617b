//! `envv doctor`: a healthy set-up, and each broken one named with its fix.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::{ControlPlane, Sandbox, code, stderr, stdout};

/// The doctor's lines, `(verdict, check, text)`: `TAG  CHECK    TEXT`,
/// the tag 4 wide, the check 9.
fn lines(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .map(|line| {
            let cell = |from: usize, to: usize| {
                line.get(from..to.min(line.len()))
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            };
            (cell(0, 4), cell(6, 15), cell(16, line.len()))
        })
        .collect()
}

fn verdicts(out: &str) -> Vec<(String, String)> {
    lines(out).into_iter().map(|(v, c, _)| (v, c)).collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(v, c)| ((*v).to_owned(), (*c).to_owned()))
        .collect()
}

#[test]
fn doctor_passes_a_healthy_team_project() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "hana@example.com");
    s.ok(["team", "create", "T"]);
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&s.project)
        .status()
        .expect("git");
    assert!(git.success());
    std::fs::write(s.project.join(".gitignore"), ".env\n").unwrap();
    std::fs::write(s.project.join(".env"), "PLAIN=1\n").unwrap();
    s.init();
    let out = s.run(["doctor"]);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(0), "{text}{}", stderr(&out));
    assert_eq!(
        verdicts(&text),
        pairs(&[
            ("ok", "agent"),
            ("ok", "dashboard"),
            ("ok", "agent"),
            ("ok", "socket"),
            ("ok", "server"),
            ("ok", "project"),
            ("ok", "git"),
        ]),
        "{text}"
    );
    let all = lines(&text);
    assert!(
        all[2]
            .2
            .contains("account hana@example.com on http://127.0.0.1"),
        "{text}"
    );
    assert!(
        all[4].2.ends_with("answers (plain HTTP, on this machine)"),
        "{text}"
    );
    assert!(all[5].2.contains("(encrypted to team "), "{text}");
}

#[test]
fn doctor_names_a_socket_open_to_others() {
    let s = Sandbox::new();
    s.init();
    let run = s.socket.parent().unwrap().to_path_buf();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = s.run(["doctor"]);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}{}", stderr(&out));
    let socket = lines(&text)
        .into_iter()
        .find(|(v, c, _)| v == "FAIL" && c == "socket")
        .unwrap_or_else(|| panic!("no socket failure in\n{text}"));
    assert_eq!(
        socket.2,
        format!(
            "the directory {} is open to other users (mode 755): run `chmod 700 {}`",
            run.display(),
            run.display()
        )
    );
    assert!(
        stderr(&out).contains("some checks failed"),
        "{}",
        stderr(&out)
    );
    // The fix works.
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = s.run(["doctor"]);
    assert_eq!(code(&out), Some(0), "{}", stdout(&out));
}

#[test]
fn doctor_names_an_unreachable_server() {
    let s = Sandbox::new();
    let port = envv_testkit::free_port();
    let server = format!("http://127.0.0.1:{port}");
    let out = s.run(["doctor", "--server", &server]);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}");
    let failure = lines(&text)
        .into_iter()
        .find(|(_, c, _)| c == "server")
        .unwrap();
    assert_eq!(failure.0, "FAIL", "{text}");
    assert!(
        failure
            .2
            .starts_with(&format!("the control plane at {server} is unreachable (")),
        "{text}"
    );
    assert!(
        failure.2.ends_with("start the control plane, or check the URL (ENVV_SERVER, or the account's server) and the network"),
        "{text}"
    );
    // Outside a project, that is only a warning.
    assert!(
        verdicts(&text).contains(&("warn".to_owned(), "project".to_owned())),
        "{text}"
    );
}

#[test]
fn doctor_names_an_untrusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let served = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key, wrong) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("other-ca.pem"),
    );
    std::fs::write(&cert, served.cert.pem()).unwrap();
    std::fs::write(&key, served.signing_key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&wrong, other.cert.pem()).unwrap();
    let port = envv_testkit::free_port();
    let _server = envv_testkit::ControlPlane::start_with(
        dir.path(),
        port,
        &[
            OsStr::new("--tls-cert"),
            cert.as_os_str(),
            OsStr::new("--tls-key"),
            key.as_os_str(),
        ],
    );
    let url = format!("https://localhost:{port}");

    // The agent trusts another CA: the doctor says so, and how to fix it.
    let s = Sandbox::new();
    let out = s
        .command(["doctor", "--server", &url])
        .env("ENVV_SERVER_CA", &wrong)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{text}{}", stderr(&out));
    let failure = lines(&text)
        .into_iter()
        .find(|(_, c, _)| c == "server")
        .unwrap();
    assert_eq!(failure.0, "FAIL", "{text}");
    assert!(failure.2.contains("certificate"), "{text}");
    assert!(
        failure.2.ends_with(
            "the server's certificate is not trusted: if it comes from a private CA, set \
             ENVV_SERVER_CA to that CA's PEM file and restart the agent (`envv agent stop`)"
        ),
        "{text}"
    );

    // With the right one, TLS checks out.
    let s = Sandbox::new();
    let out = s
        .command(["doctor", "--server", &url])
        .env("ENVV_SERVER_CA", &cert)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "ok    server    {url} answers; its TLS certificate is trusted"
        )),
        "{text}{}",
        stderr(&out)
    );
}

#[test]
fn envv_alone_explains_the_two_ways_to_start() {
    let s = Sandbox::new();
    let out = s.run(std::iter::empty::<&str>());
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "Two ways to start:",
        "With a team account",
        "envv auth signup --email you@example.com",
        "envv team create \"My team\"",
        "Locally, with no account",
        "envv init",
        "envv exec -- printenv KEY",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    assert!(!s.socket.exists(), "explaining starts no agent");
}

#[test]
fn signup_offers_the_next_commands() {
    let cp = ControlPlane::start();
    let mut s = Sandbox::new();
    s.server = Some(cp.url.clone());
    let out = s
        .envv(["auth", "signup", "--email", "ines@example.com"])
        .env("ENVV_PASSWORD", crate::common::PASSWORD)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "next: `envv team create NAME` (or `envv team join CODE` with an invite code), \
             then `envv init` in your project's directory (here: {})",
            s.project.display()
        )),
        "{}",
        stderr(&out)
    );
}
