//! A value given on stdin stays out of argv, logs and the disk.

use std::path::Path;

use crate::common::Sandbox;

const VALUE: &str = "pl41ntext-c4n4ry-5f0c2e9b";

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn set_from_stdin_keeps_the_value_off_argv_and_disk() {
    let s = Sandbox::new();
    s.init();
    s.envv(["set", "TOKEN", "--stdin"])
        .write_stdin(format!("{VALUE}\n"))
        .assert()
        .success()
        .stdout("");
    assert_eq!(s.ok(["get", "TOKEN"]), format!("{VALUE}\n"));
    assert_eq!(
        s.ok(["exec", "--", "printenv", "TOKEN"]),
        format!("{VALUE}\n")
    );

    let pid = s.agent_pid().expect("agent running");
    for what in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{what}")).expect("proc");
        assert!(
            !contains(&bytes, VALUE.as_bytes()),
            "value in the agent's {what}"
        );
    }

    let mut all = Vec::new();
    files(s.root(), &mut all);
    assert!(all.iter().any(|p| p.ends_with(".env.enc")), "{all:?}");
    for path in &all {
        let bytes = std::fs::read(path).expect("read");
        assert!(
            !contains(&bytes, VALUE.as_bytes()),
            "plaintext value found in {}",
            path.display()
        );
    }
}

/// On a terminal, `envv set KEY` prompts and the typed value is not echoed.
/// Runs under util-linux `script` for a pseudo-terminal; skipped without it.
#[test]
fn a_prompted_value_is_not_echoed() {
    let Some(script) = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("skipped: no `script` for a pseudo-terminal");
        return;
    };
    let s = Sandbox::new();
    s.init();
    let mut cmd = std::process::Command::new(script);
    s.isolate(&mut cmd);
    let mut child = cmd
        .args([
            "-qec",
            &format!("'{}' set PROMPTED", crate::common::ENVV),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    // Type only once the prompt is up, as a person would.
    let mut shown = Vec::new();
    let mut byte = [0u8; 1];
    while !contains(&shown, b"(not echoed): ") {
        let n = std::io::Read::read(&mut stdout, &mut byte).expect("read");
        assert!(n == 1, "no prompt: {}", String::from_utf8_lossy(&shown));
        shown.push(byte[0]);
    }
    // rpassword turns echo off just after printing the prompt.
    std::thread::sleep(std::time::Duration::from_millis(100));
    std::io::Write::write_all(&mut stdin, format!("{VALUE}\n").as_bytes()).expect("type");
    std::io::Read::read_to_end(&mut stdout, &mut shown).expect("read");
    let status = child.wait().expect("wait");
    drop(stdin);
    let shown = String::from_utf8_lossy(&shown);
    assert!(status.success(), "{shown}");
    assert!(shown.contains("value for PROMPTED"), "{shown}");
    assert!(!shown.contains(VALUE), "the value was echoed: {shown}");
    assert_eq!(s.ok(["get", "PROMPTED"]), format!("{VALUE}\n"));
}

/// Passwords from `$ENVV_PASSWORD` or `--password-stdin` reach no process's
/// argv, and the agent's environment never holds `$ENVV_PASSWORD`.
#[test]
fn passwords_stay_off_every_command_line() {
    const CANARY: &str = "pa55word-c4n4ry-81d3";
    let cp = crate::common::ControlPlane::start();
    let mut s = Sandbox::new();
    s.server = Some(cp.url.clone());
    s.envv(["auth", "signup", "--email", "argv@example.com"])
        .env("ENVV_PASSWORD", CANARY)
        .assert()
        .success();
    s.ok(["lock"]);
    s.envv(["unlock", "--password-stdin"])
        .write_stdin(format!("{CANARY}\n"))
        .assert()
        .success();

    let pid = s.agent_pid().expect("agent running");
    for what in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{what}")).expect("proc");
        assert!(
            !contains(&bytes, CANARY.as_bytes()),
            "password in the agent's {what}"
        );
    }
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            assert!(
                !contains(&bytes, CANARY.as_bytes()),
                "password in the argv of {}",
                entry.path().display()
            );
        }
    }
}
