//! Starting, stopping and locking the agent.

mod common;

use common::{Sandbox, code, stderr};

#[test]
fn the_agent_starts_on_demand_from_cold_and_after_a_stop() {
    let s = Sandbox::new();
    assert!(!s.socket.exists());
    let status = s.status();
    assert_eq!(status["running"], false);
    assert_eq!(code(&s.run(["agent", "status"])), Some(3));

    // Cold: the first command that needs the agent starts it.
    s.init();
    s.ok(["set", "K", "v"]);
    let first = s.agent_pid().expect("running");
    assert!(s.socket.exists());

    s.ok(["agent", "stop"]);
    assert!(!s.socket.exists(), "the socket goes with the agent");
    assert_eq!(s.status()["running"], false);

    assert_eq!(s.ok(["exec", "--", "printenv", "K"]), "v\n");
    let second = s.agent_pid().expect("running again");
    assert_ne!(first, second);

    // Explicit start and stop are idempotent.
    assert!(s.ok(["agent", "start"]).contains("already running"));
    s.ok(["agent", "stop"]);
    s.ok(["agent", "stop"]);
    assert!(s.ok(["agent", "start"]).contains("started"));
    assert!(s.agent_pid().is_some());
}

#[test]
fn the_started_agent_is_not_envvs_child() {
    let s = Sandbox::new();
    s.ok(["agent", "start"]);
    let pid = s.agent_pid().expect("running");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name: state, ppid, pgrp.
    let fields: Vec<&str> = stat[stat.rfind(')').expect(")") + 2..].split(' ').collect();
    let ppid: u32 = fields[1].parse().expect("ppid");
    let pgrp: u32 = fields[2].parse().expect("pgrp");
    let ours = rustix::process::getpgrp().as_raw_nonzero().get() as u32;
    assert_ne!(pgrp, ours, "the agent has its own process group");
    // It was started through a short-lived `sh` (the group's leader), which
    // has exited: the agent was handed to init or a subreaper, so an
    // `envv exec`'d command never has it as a child.
    assert_ne!(ppid, pgrp, "the starter is gone");
    assert!(!std::path::Path::new(&format!("/proc/{pgrp}")).exists());
}

#[test]
fn status_json_reports_the_agent() {
    let s = Sandbox::new();
    s.ok(["agent", "start"]);
    let status = s.status();
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["socket"], s.socket.to_str().expect("utf-8"));
    assert!(status["pid"].as_u64().is_some(), "{status}");
    assert_eq!(status["protocol"], 1);
    assert_eq!(status["mode"], "local");
    for field in [
        "agent_version",
        "locked",
        "idle_lock_in",
        "absolute_lock_in",
        "cached_files",
    ] {
        assert!(status.get(field).is_some(), "{field} missing: {status}");
    }
    let human = s.ok(["agent", "status"]);
    assert!(human.contains("locked:"), "{human}");
}

/// Local keys need no password: after `envv lock`, the agent holds nothing
/// decrypted, and `get` (or `envv unlock`) loads the personal key again.
#[test]
fn lock_forgets_and_local_mode_unlocks_without_a_password() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "K", "v"]);
    assert_eq!(s.ok(["get", "K"]), "v\n");
    s.ok(["lock"]);
    let status = s.status();
    assert_eq!(status["locked"], true, "{status}");
    assert_eq!(status["cached_files"], 0, "{status}");

    let out = s.run(["get", "K"]);
    match code(&out) {
        Some(0) => assert_eq!(common::stdout(&out), "v\n"),
        Some(4) => {
            assert!(stderr(&out).contains("envv unlock"), "{}", stderr(&out));
            s.ok(["unlock"]);
            assert_eq!(s.ok(["get", "K"]), "v\n");
        }
        other => panic!("get after lock: {other:?} {}", stderr(&out)),
    }
    s.ok(["lock"]);
    s.ok(["unlock"]);
    assert_eq!(s.status()["locked"], false);
    assert_eq!(s.ok(["get", "K"]), "v\n");
}

#[test]
fn lock_with_no_agent_is_not_an_error() {
    let s = Sandbox::new();
    s.ok(["lock"]);
    s.ok(["agent", "stop"]);
    assert!(!s.socket.exists());
}

#[test]
fn a_missing_agent_binary_is_explained() {
    let s = Sandbox::new();
    let out = s
        .envv(["init"])
        .env("ENVV_AGENTD", s.root().join("no-such-envvd"))
        .output()
        .expect("run");
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("ENVV_AGENTD"), "{}", stderr(&out));
}
