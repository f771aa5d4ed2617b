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
    assert_eq!(status["protocol"], proto_ipc::PROTOCOL_VERSION);
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

/// Agents serving this sandbox's socket, by their command lines.
fn agents_for(s: &Sandbox) -> Vec<u32> {
    let needle = s.socket.to_str().expect("utf-8").as_bytes().to_vec();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let is_agent = cmdline
            .split(|b| *b == 0)
            .next()
            .is_some_and(|arg0| arg0.ends_with(b"envvd"));
        if is_agent && cmdline.windows(needle.len()).any(|w| w == needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Running (a zombie whose parent hasn't reaped it yet counts as dead).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// The agents left once those that lost the race to bind have exited.
fn settled_agents(s: &Sandbox) -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let agents: Vec<u32> = agents_for(s).into_iter().filter(|p| alive(*p)).collect();
        if agents.len() <= 1 || std::time::Instant::now() > deadline {
            return agents;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn get_concurrently(s: &Sandbox, n: usize) {
    let children: Vec<_> = (0..n)
        .map(|_| {
            s.command(["get", "K"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(common::stdout(&out), "v\n", "{}", stderr(&out));
    }
}

#[test]
fn concurrent_cold_starts_leave_one_agent() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "K", "v"]);
    s.ok(["agent", "stop"]);
    get_concurrently(&s, 4);
    let agents = settled_agents(&s);
    assert_eq!(agents.len(), 1, "agents: {agents:?}");

    // A crashed agent leaves its socket behind: the next start replaces it.
    let pid = rustix::process::Pid::from_raw(agents[0] as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive(agents[0]) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(s.socket.exists(), "a stale socket");
    get_concurrently(&s, 4);
    let agents = settled_agents(&s);
    assert_eq!(agents.len(), 1, "agents after a crash: {agents:?}");
    assert_eq!(
        s.agent_pid(),
        Some(agents[0]),
        "the one left owns the socket"
    );
}
