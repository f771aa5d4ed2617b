//! `envv exec` is the command: stdio, exit status and signals are its own.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::common::{Sandbox, code, stderr, stdout};
use rustix::process::{Pid, Signal, kill_process};

fn demo() -> Sandbox {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "KEY", "value"]);
    s.ok(["set", "OTHER", "other"]);
    s
}

#[test]
fn exec_passes_stdin_stdout_and_stderr() {
    let s = demo();
    let out = s
        .envv(["exec", "--", "sh", "-c", "cat; echo \"to stderr $KEY\" >&2"])
        .write_stdin("from stdin\n")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(stdout(&out), "from stdin\n");
    assert_eq!(stderr(&out), "to stderr value\n");
}

#[test]
fn exec_exits_with_the_commands_status() {
    let s = demo();
    let out = s.run(["exec", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code(&out), Some(7));
    let out = s.run(["exec", "--", "false"]);
    assert_eq!(code(&out), Some(1));
}

#[test]
fn exec_killed_by_sigterm_shows_as_128_plus_15() {
    let s = demo();
    let out = s.run(["exec", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.signal(), Some(15), "{:?}", out.status);
    // And a shell running envv sees 143, as for any command killed so.
    let out = s.shell("\"$ENVV\" exec -- sh -c 'kill -TERM $$'; echo \"status=$?\"");
    assert_eq!(stdout(&out), "status=143\n", "{}", stderr(&out));
}

#[test]
fn exec_replaces_envv_so_the_pid_is_the_commands() {
    let s = demo();
    let child = s
        .command(["exec", "--", "sh", "-c", "echo $$"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(stdout(&out).trim(), pid.to_string());
}

/// A signal sent to envv's pid reaches the command, which handles it.
#[test]
fn sigterm_and_sigint_reach_the_command() {
    let s = demo();
    for (signal, name, status) in [(Signal::TERM, "TERM", 3), (Signal::INT, "INT", 4)] {
        let script = format!(
            "trap 'echo got {name}; exit {status}' {name}; echo ready; \
             while :; do sleep 0.05; done"
        );
        let mut child = s
            .command(["exec", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("read");
        assert_eq!(line, "ready\n");
        let pid = Pid::from_raw(child.id() as i32).expect("pid");
        kill_process(pid, signal).expect("kill");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).expect("read");
        let exit = child.wait().expect("wait");
        assert_eq!(rest, format!("got {name}\n"));
        assert_eq!(exit.code(), Some(status), "{name}: {exit:?}");
    }
}

#[test]
fn exec_only_passes_the_named_secrets() {
    let s = demo();
    let out = s.run([
        "exec",
        "--only",
        "OTHER",
        "--",
        "sh",
        "-c",
        "echo \"${KEY:-unset} $OTHER\"",
    ]);
    assert_eq!(stdout(&out), "unset other\n", "{}", stderr(&out));
    let out = s.run(["exec", "--only", "NOPE", "--", "true"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("NOPE"));
}

#[test]
fn exec_of_a_missing_command_exits_127() {
    let s = demo();
    let out = s.run(["exec", "--", "envv-no-such-command"]);
    assert_eq!(code(&out), Some(127));
    assert!(
        stderr(&out).contains("command not found"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("value"), "no secret in errors");
}

/// envv's password unlocks every team: the command `envv exec` runs never
/// sees it, whatever else of the environment it inherits.
#[test]
fn exec_keeps_envvs_password_from_the_command() {
    let s = demo();
    let out = s
        .envv([
            "exec",
            "--",
            "sh",
            "-c",
            "printenv ENVV_PASSWORD; echo \"KEY=$KEY\"",
        ])
        .env("ENVV_PASSWORD", "hunter2-unlocks-everything")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "KEY=value\n", "no password in the child");
}

/// No envv credential reaches the command: the new password of a change
/// neither.
#[test]
fn exec_keeps_every_envv_credential_from_the_command() {
    let s = demo();
    let out = s
        .envv([
            "exec",
            "--",
            "sh",
            "-c",
            "printenv ENVV_PASSWORD ENVV_NEW_PASSWORD; echo \"KEY=$KEY\"",
        ])
        .env("ENVV_PASSWORD", "hunter2-unlocks-everything")
        .env("ENVV_NEW_PASSWORD", "hunter3-the-next-one")
        .output()
        .expect("run");
    assert_eq!(stdout(&out), "KEY=value\n", "no password in the child");
}

/// A name that changes which code programs load is stored only with
/// `--allow-loader-var` (by `set` and by `import`), and `exec` warns when
/// one is passed, naming it, never showing its value.
#[test]
fn loader_variables_need_a_flag_and_exec_warns_of_them() {
    let s = demo();
    let out = s.run(["set", "LD_BIND_NOW", "1"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("LD_BIND_NOW changes which code programs run under `envv exec`")
            && stderr(&out).contains("--allow-loader-var"),
        "{}",
        stderr(&out)
    );
    let out = s
        .envv(["import", "-"])
        .write_stdin("FINE=1\nPYTHONWARNINGS=default::zz9planted\n")
        .output()
        .expect("import");
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PYTHONWARNINGS would change which code programs run")
            && stderr(&out).contains("nothing was imported"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("zz9planted"), "{}", stderr(&out));
    assert_eq!(s.ok(["ls"]), "KEY\nOTHER\n", "nothing was stored");

    s.ok(["set", "LD_BIND_NOW", "1", "--allow-loader-var"]);
    s.envv(["import", "-", "--allow-loader-var"])
        .write_stdin("PYTHONWARNINGS=default::zz9planted\n")
        .assert()
        .success();
    let out = s.run(["exec", "--", "printenv", "KEY"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "value\n");
    let warned = stderr(&out);
    assert!(
        warned.contains(
            "warning: the secrets passed to this command set LD_BIND_NOW, PYTHONWARNINGS"
        ),
        "{warned}"
    );
    assert!(!warned.contains("zz9planted"), "{warned}");
    // Without them, no warning.
    let out = s.run(["exec", "--only", "KEY", "--", "true"]);
    assert_eq!(stderr(&out), "");
}

/// `envv exec` pays only for what it runs: the `envv` binary links neither
/// the dashboard (ratatui, crossterm) nor the agent's HTTP and TLS stack,
/// which are `envv-tui`'s and `envvd`'s, programs of their own.
#[test]
fn envv_links_neither_the_agent_nor_the_dashboard() {
    let dir = std::path::Path::new(crate::common::ENVV)
        .parent()
        .expect("a directory");
    let binary = |name: &str| std::fs::read(dir.join(name)).expect(name);
    let links = |binary: &[u8], krate: &str| {
        binary
            .windows(krate.len())
            .any(|window| window == krate.as_bytes())
    };
    let (envv, dashboard, agent) = (binary("envv"), binary("envv-tui"), binary("envvd"));
    for (krate, linked_by) in [
        ("ratatui", &dashboard),
        ("crossterm", &dashboard),
        ("reqwest", &agent),
        ("rustls", &agent),
    ] {
        assert!(links(linked_by, krate), "the check can see {krate}");
        assert!(!links(&envv, krate), "envv links {krate}");
    }
}
