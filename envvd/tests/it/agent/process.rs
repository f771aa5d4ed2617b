//! The agent as a process: locking, its socket, signals, core files, other users.

use super::*;

#[test]
fn the_idle_lock_fires() {
    let agent = Agent::start(&["--idle-lock", "1"]);
    let (mut client, project) = agent.local_project();
    set(&mut client, &project, "KEY", "value");
    read(&mut client, &project);
    let Response::Status(status) = client.request(&Request::Status).unwrap() else {
        panic!()
    };
    assert!(!status.locked && status.cached_files == 1);
    std::thread::sleep(Duration::from_millis(2500));
    let Response::Status(status) = client.request(&Request::Status).unwrap() else {
        panic!()
    };
    assert!(status.locked, "idle lock");
    assert_eq!(
        status.cached_files, 0,
        "decrypted values are dropped with the keys"
    );
    client.request(&Request::Lock).unwrap();
}

#[test]
fn a_live_socket_is_never_stolen_and_a_stale_one_is_replaced() {
    let mut first = Agent::start(&[]);
    let home = first.home.path().to_path_buf();
    let second = Command::new(envv_testkit::bin("envvd"))
        .arg("--socket")
        .arg(&first.socket)
        .env("XDG_DATA_HOME", home.join("data"))
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));
    assert!(
        first.client().request(&Request::Status).is_ok(),
        "the first agent still serves"
    );

    // Killed without cleaning up: the socket file stays behind, dead.
    first.child.kill().unwrap();
    first.wait();
    assert!(first.socket.exists());
    let home_dir = std::mem::replace(&mut first.home, tempfile::tempdir().unwrap());
    let third = Agent::start_in(home_dir, &[]);
    assert!(third.client().request(&Request::Status).is_ok());
}

#[test]
fn sigterm_locks_removes_the_socket_and_exits() {
    let mut agent = Agent::start(&[]);
    agent.signal(rustix::process::Signal::TERM);
    assert!(agent.wait().success());
    assert!(!agent.socket.exists());
}

#[test]
fn the_agent_makes_no_core_files() {
    let agent = Agent::start(&[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", agent.pid())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}

#[test]
fn shutdown_over_the_socket() {
    let mut agent = Agent::start(&[]);
    assert_eq!(
        agent.client().request(&Request::Shutdown).unwrap(),
        Response::Done
    );
    assert!(agent.wait().success());
    assert!(!agent.socket.exists());
}

#[test]
fn another_user_gets_no_answer() {
    use std::os::unix::fs::PermissionsExt;
    // Dropping to another uid needs root (CI runs as root), util-linux's
    // setpriv and a client another user can run: Debian's python3.
    let python = Path::new("/usr/bin/python3");
    if rustix::process::getuid().as_raw() != 0 || !python.exists() {
        eprintln!("skipping: needs root and /usr/bin/python3");
        return;
    }
    let agent = Agent::start(&[]);
    // Open the way to the socket, so only the agent's own check stands.
    let mut dir = agent.socket.parent().unwrap().to_path_buf();
    loop {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        if dir == agent.home.path() {
            break;
        }
        dir.pop();
    }
    std::fs::set_permissions(&agent.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let hello = r#"{"version":1,"client":"intruder"}"#;
    // Connects, says hello, and reports whether any answer came back; a
    // reset or broken pipe is the agent hanging up.
    let script = format!(
        "import socket,struct,sys\nd=b''\ntry:\n  s=socket.socket(socket.AF_UNIX)\n  s.connect(sys.argv[1])\n  b=b'{hello}'\n  s.sendall(struct.pack('>I',len(b))+b)\n  d=s.recv(4)\nexcept OSError:\n  pass\nprint('answered' if d else 'closed')"
    );
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(python)
        .args(["-c", &script])
        .arg(&agent.socket)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("closed"),
        "stdout {stdout} stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // We ourselves still get an answer (our client insists on a private directory).
    let socket_dir = agent.socket.parent().unwrap();
    std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(agent.client().request(&Request::Status).is_ok());
}

#[test]
fn agents_racing_for_one_socket_leave_exactly_one() {
    let home = tempfile::tempdir().unwrap();
    let socket = home.path().join("run/envv/agent.sock");
    let start = || {
        Command::new(envv_testkit::bin("envvd"))
            .arg("--socket")
            .arg(&socket)
            .env("XDG_DATA_HOME", home.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    for round in 0..3 {
        let mut racers: Vec<Child> = (0..8).map(|_| start()).collect();
        // The losers exit as soon as they find the socket held; on a
        // loaded machine that can take a while, so wait until they have
        // (or 30 s), then check that exactly one is left.
        let deadline = Instant::now() + Duration::from_secs(30);
        let running = loop {
            let running = racers
                .iter_mut()
                .filter_map(|c| c.try_wait().unwrap().is_none().then_some(()))
                .count();
            if running <= 1 || Instant::now() > deadline {
                break running;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(
            running, 1,
            "round {round}: exactly one agent keeps the socket"
        );
        let mut client = Client::connect(&socket, "test").unwrap();
        assert!(client.request(&Request::Status).is_ok());
        // Die without cleaning up, leaving a stale socket for the next round.
        for racer in &mut racers {
            let _ = racer.kill();
            let _ = racer.wait();
        }
    }
}
