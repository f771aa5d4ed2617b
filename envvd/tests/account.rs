//! Account mode: the real agent against a real control plane (the
//! `envv-control-plane` binary on a SQLite file), driven by the real client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proto_ipc::{
    AuditFilter, Client, EnvRef, ErrorCode, IpcError, Mode, ReadPurpose, Request, Response, Secret,
};

/// The control plane binary beside this test's, brought up to date first
/// (a stale one from an older checkout would answer an older API).
fn control_plane_binary() -> PathBuf {
    let deps = std::env::current_exe().expect("test path");
    let target = deps.parent().and_then(Path::parent).expect("target dir");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "control-plane",
            "--bin",
            "envv-control-plane",
        ])
        .env("CARGO_TARGET_DIR", target.parent().expect("target root"))
        .status()
        .expect("cargo build");
    assert!(status.success(), "building the control plane failed");
    target.join("envv-control-plane")
}

struct Process(Child);

/// An agent with its own data and socket under `home`, named by `user`.
fn start_agent(
    home: &Path,
    user: &str,
    extra: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> (Process, PathBuf) {
    let socket = home.join(format!("run{user}/envv/agent.sock"));
    let child = Command::new(env!("CARGO_BIN_EXE_envvd"))
        .arg("--socket")
        .arg(&socket)
        .args(["--kdf-memory-kib", "8192", "--kdf-iterations", "1"])
        .args(extra)
        .env("XDG_DATA_HOME", home.join(format!("data{user}")))
        .env_remove("ENVV_SERVER_CA")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the agent", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    (Process(child), socket)
}

/// The control plane on a SQLite file in `home`, on `port`.
fn start_control_plane(home: &Path, port: u16) -> Process {
    start_control_plane_with(home, port, &[])
}

fn start_control_plane_with(home: &Path, port: u16, extra: &[&std::ffi::OsStr]) -> Process {
    let child = Command::new(control_plane_binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
        ])
        .arg(format!("sqlite:{}", home.join("cp.db").display()))
        .arg("--signing-key-file")
        .arg(home.join("cp-key"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the control plane", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Process(child)
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct World {
    home: tempfile::TempDir,
    server: String,
    port: u16,
    control_plane: Process,
    agent: Option<Process>,
}

impl World {
    fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let control_plane = start_control_plane(home.path(), port);
        let mut world = World {
            home,
            server: format!("http://127.0.0.1:{port}"),
            port,
            control_plane,
            agent: None,
        };
        world.start_agent();
        world
    }

    fn stop_control_plane(&mut self) {
        let _ = self.control_plane.0.kill();
        let _ = self.control_plane.0.wait();
    }

    fn restart_control_plane(&mut self) {
        self.stop_control_plane();
        self.control_plane = start_control_plane(self.home.path(), self.port);
    }

    fn socket(&self) -> PathBuf {
        self.home.path().join("run/envv/agent.sock")
    }

    fn start_agent(&mut self) {
        let (agent, _) = self.agent_for("", &["--admit-interval", "1"]);
        self.agent = Some(agent);
    }

    /// Another user's agent on this machine: its own data and socket.
    fn agent_for(&self, user: &str, extra: &[&str]) -> (Process, PathBuf) {
        start_agent(self.home.path(), user, extra, &[])
    }

    fn restart_agent(&mut self) {
        self.client().request(&Request::Shutdown).unwrap();
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.0.wait();
        }
        self.start_agent();
    }

    fn client(&self) -> Client {
        Client::connect(&self.socket(), "test").unwrap()
    }

    fn project(&self) -> PathBuf {
        let dir = self.home.path().join("project");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

fn at(dir: &Path) -> EnvRef {
    EnvRef {
        dir: dir.to_path_buf(),
        env: None,
    }
}

fn read(client: &mut Client, dir: &Path) -> Result<Vec<(String, String)>, IpcError> {
    match client.request(&Request::Read {
        at: at(dir),
        only: vec![],
        purpose: ReadPurpose::Exec,
    })? {
        Response::Secrets { secrets } => Ok(secrets
            .into_iter()
            .map(|(n, v)| (n, v.expose().to_owned()))
            .collect()),
        other => panic!("expected secrets, got {other:?}"),
    }
}

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn signup_team_init_set_read_lock_unlock_and_restart() {
    let mut world = World::new();
    let mut client = world.client();
    let signed_up = client
        .request(&Request::Signup {
            server: world.server.clone(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            password: Secret::new(PASSWORD),
        })
        .unwrap();
    let Response::Account(account) = signed_up else {
        panic!("{signed_up:?}")
    };
    assert_eq!(account.email, "ada@example.com");

    let Response::Team(team) = client
        .request(&Request::CreateTeam {
            name: "Demo Corp".into(),
        })
        .unwrap()
    else {
        panic!("team");
    };
    assert_eq!((team.role.as_str(), team.current_epoch), ("owner", 1));
    let project = world.project();
    let Response::Project { team: bound, .. } = client
        .request(&Request::Init {
            dir: project.clone(),
            team: None,
        })
        .unwrap()
    else {
        panic!("init");
    };
    assert_eq!(bound, team.id, "the only team is chosen");
    client
        .request(&Request::Set {
            at: at(&project),
            name: "KEY".into(),
            value: Secret::new("value"),
        })
        .unwrap();
    assert_eq!(
        read(&mut client, &project).unwrap(),
        [("KEY".to_owned(), "value".to_owned())]
    );

    // Locked: reads refuse until the password unlocks again.
    client.request(&Request::Lock).unwrap();
    assert!(matches!(read(&mut client, &project), Err(IpcError::Locked)));
    let wrong = client.request(&Request::Unlock {
        password: Some(Secret::new("wrong")),
    });
    assert!(
        matches!(
            wrong,
            Err(IpcError::Agent {
                code: ErrorCode::Invalid,
                ..
            })
        ),
        "{wrong:?}"
    );
    client
        .request(&Request::Unlock {
            password: Some(Secret::new(PASSWORD)),
        })
        .unwrap();
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "value");

    // A restarted agent knows the account but holds no key until unlocked;
    // the team key then comes from the server's grant.
    drop(client);
    world.restart_agent();
    let mut client = world.client();
    let Response::Status(status) = client.request(&Request::Status).unwrap() else {
        panic!()
    };
    assert_eq!((status.mode, status.locked), (Mode::Account, true));
    assert!(matches!(read(&mut client, &project), Err(IpcError::Locked)));
    client
        .request(&Request::Unlock {
            password: Some(Secret::new(PASSWORD)),
        })
        .unwrap();
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "value");
    let Response::Teams { teams } = client.request(&Request::ListTeams).unwrap() else {
        panic!()
    };
    assert_eq!(teams.len(), 1);

    // The account file holds no secret in clear.
    let account_file =
        std::fs::read_to_string(world.home.path().join("data/envv/account.json")).unwrap();
    assert!(!account_file.contains(PASSWORD) && !account_file.contains("AGE-SECRET-KEY"));
}

#[test]
fn login_on_a_second_machine_reads_the_same_team() {
    let world = World::new();
    let mut client = world.client();
    client
        .request(&Request::Signup {
            server: world.server.clone(),
            email: "grace@example.com".into(),
            name: "Grace".into(),
            password: Secret::new(PASSWORD),
        })
        .unwrap();
    client
        .request(&Request::CreateTeam { name: "T".into() })
        .unwrap();
    let project = world.project();
    client
        .request(&Request::Init {
            dir: project.clone(),
            team: None,
        })
        .unwrap();
    client
        .request(&Request::Set {
            at: at(&project),
            name: "TOKEN".into(),
            value: Secret::new("s3cret"),
        })
        .unwrap();
    // Logging out forgets the account here; logging in again is a new device.
    assert_eq!(client.request(&Request::Logout).unwrap(), Response::Done);
    assert_eq!(
        client.request(&Request::Whoami).unwrap(),
        Response::NoAccount
    );
    let bad = client.request(&Request::Login {
        server: world.server.clone(),
        email: "grace@example.com".into(),
        password: Secret::new("not it"),
    });
    assert!(
        matches!(
            bad,
            Err(IpcError::Agent {
                code: ErrorCode::NotLoggedIn,
                ..
            })
        ),
        "{bad:?}"
    );
    client
        .request(&Request::Login {
            server: world.server.clone(),
            email: "grace@example.com".into(),
            password: Secret::new(PASSWORD),
        })
        .unwrap();
    assert_eq!(
        read(&mut client, &project).unwrap(),
        [("TOKEN".to_owned(), "s3cret".to_owned())]
    );
}

#[test]
fn unlock_works_offline() {
    let mut world = World::new();
    let mut client = world.client();
    client
        .request(&Request::Signup {
            server: world.server.clone(),
            email: "off@example.com".into(),
            name: "Off".into(),
            password: Secret::new(PASSWORD),
        })
        .unwrap();
    client.request(&Request::Lock).unwrap();
    // The control plane goes away.
    world.stop_control_plane();
    client
        .request(&Request::Unlock {
            password: Some(Secret::new(PASSWORD)),
        })
        .unwrap();
    let Response::Status(status) = client.request(&Request::Status).unwrap() else {
        panic!()
    };
    assert!(!status.locked);
    let err = client.request(&Request::ListTeams).unwrap_err();
    assert!(
        err.to_string().contains("run `envv unlock`") || err.to_string().contains("unreachable"),
        "{err}"
    );
}

fn signup(client: &mut Client, server: &str, email: &str) {
    client
        .request(&Request::Signup {
            server: server.to_owned(),
            email: email.into(),
            name: email.into(),
            password: Secret::new(PASSWORD),
        })
        .unwrap();
}

#[test]
fn invite_join_admit_then_remove_and_rotate() {
    let world = World::new();
    let mut owner = world.client();
    signup(&mut owner, &world.server, "owner@example.com");
    let Response::Team(team) = owner
        .request(&Request::CreateTeam { name: "T".into() })
        .unwrap()
    else {
        panic!()
    };
    let project = world.project();
    owner
        .request(&Request::Init {
            dir: project.clone(),
            team: Some(team.id),
        })
        .unwrap();
    owner
        .request(&Request::Set {
            at: at(&project),
            name: "DB".into(),
            value: Secret::new("postgres://prod"),
        })
        .unwrap();

    let (_bob_agent, bob_socket) = world.agent_for("-bob", &[]);
    let mut bob = Client::connect(&bob_socket, "test").unwrap();
    signup(&mut bob, &world.server, "bob@example.com");
    let Response::InviteCode { code, .. } = owner
        .request(&Request::Invite {
            team: team.id,
            email: "bob@example.com".into(),
            role: "member".into(),
        })
        .unwrap()
    else {
        panic!("invite code");
    };
    let Response::Team(joined) = bob.request(&Request::Join { code }).unwrap() else {
        panic!()
    };
    assert_eq!(joined.id, team.id);
    // No key until an admin's agent checks Bob's proof: the owner's agent
    // does it on its own (admit interval 1 s here).
    let deadline = Instant::now() + Duration::from_secs(20);
    let bob_read = loop {
        match read(&mut bob, &project) {
            Ok(secrets) => break secrets,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("bob never got the key: {e}"),
        }
    };
    assert_eq!(bob_read, [("DB".to_owned(), "postgres://prod".to_owned())]);
    let Response::Members { members } = owner.request(&Request::Members { team: team.id }).unwrap()
    else {
        panic!()
    };
    assert!(members.iter().all(|m| m.has_key), "{members:?}");

    // Removal and rotation: Bob's key opens nothing new.
    let bob_id = members
        .iter()
        .find(|m| m.email == "bob@example.com")
        .unwrap()
        .user_id;
    owner
        .request(&Request::RemoveMember {
            team: team.id,
            user: bob_id,
        })
        .unwrap();
    let Response::Rotated { epoch, files, .. } = owner
        .request(&Request::Rotate {
            team: team.id,
            dirs: vec![project.clone()],
        })
        .unwrap()
    else {
        panic!("rotated");
    };
    assert_eq!((epoch, files), (2, 1));
    assert_eq!(read(&mut owner, &project).unwrap()[0].1, "postgres://prod");
    // Bob's agent still holds epoch 1 in memory, but the file is at epoch 2;
    // fetching the new grants tells him he was removed.
    let cut_off = read(&mut bob, &project).unwrap_err();
    assert!(
        matches!(&cut_off, IpcError::Agent { code: ErrorCode::NotFound, message } if message.contains("not a member")),
        "{cut_off}"
    );

    // A member who stays, holding only epoch 1, picks up epoch 2 by herself.
    let (_carol_agent, carol_socket) = world.agent_for("-carol", &[]);
    let mut carol = Client::connect(&carol_socket, "test").unwrap();
    signup(&mut carol, &world.server, "carol@example.com");
    let Response::InviteCode { code, .. } = owner
        .request(&Request::Invite {
            team: team.id,
            email: "carol@example.com".into(),
            role: "member".into(),
        })
        .unwrap()
    else {
        panic!("invite code");
    };
    carol.request(&Request::Join { code }).unwrap();
    owner
        .request(&Request::AdmitPending { team: team.id })
        .unwrap();
    assert_eq!(read(&mut carol, &project).unwrap()[0].1, "postgres://prod");
    let Response::Rotated { epoch, .. } = owner
        .request(&Request::Rotate {
            team: team.id,
            dirs: vec![project.clone()],
        })
        .unwrap()
    else {
        panic!("rotated");
    };
    assert_eq!(epoch, 3);
    assert_eq!(read(&mut carol, &project).unwrap()[0].1, "postgres://prod");
    carol
        .request(&Request::Set {
            at: at(&project),
            name: "NEW".into(),
            value: Secret::new("written at epoch 3"),
        })
        .unwrap();
    assert_eq!(read(&mut owner, &project).unwrap().len(), 2);
}

fn count_actions(client: &mut Client, team: uuid::Uuid, action: &str) -> usize {
    let mut total = 0;
    let mut cursor = None;
    loop {
        let filter = AuditFilter {
            action: Some(action.into()),
            cursor: cursor.clone(),
            limit: Some(1000),
            ..AuditFilter::default()
        };
        let Response::AuditPage {
            events,
            next_cursor,
        } = client.request(&Request::Audit { team, filter }).unwrap()
        else {
            panic!("audit page");
        };
        total += events.len();
        match next_cursor {
            Some(next) => cursor = Some(next),
            None => return total,
        }
    }
}

#[test]
fn audit_events_reach_the_server_exactly_once_across_outages_and_crashes() {
    let mut world = World::new();
    let mut client = world.client();
    signup(&mut client, &world.server, "audit@example.com");
    let Response::Team(team) = client
        .request(&Request::CreateTeam { name: "T".into() })
        .unwrap()
    else {
        panic!()
    };
    let project = world.project();
    client
        .request(&Request::Init {
            dir: project.clone(),
            team: None,
        })
        .unwrap();
    client
        .request(&Request::Set {
            at: at(&project),
            name: "KEY".into(),
            value: Secret::new("v"),
        })
        .unwrap();
    read(&mut client, &project).unwrap();
    let synced = client.request(&Request::SyncAudit).unwrap();
    assert!(
        matches!(synced, Response::Synced { pending: 0, .. }),
        "{synced:?}"
    );
    assert_eq!(count_actions(&mut client, team.id, "set"), 1);
    assert_eq!(count_actions(&mut client, team.id, "exec"), 1);
    let Response::AuditVerified { events, problem } = client
        .request(&Request::AuditVerify { team: team.id })
        .unwrap()
    else {
        panic!()
    };
    assert!(events >= 3 && problem.is_none(), "{events} {problem:?}");

    // Offline: reads keep being recorded, on disk.
    world.stop_control_plane();
    for _ in 0..300 {
        read(&mut client, &project).unwrap();
    }
    let Response::Synced { pending, .. } = client.request(&Request::SyncAudit).unwrap() else {
        panic!()
    };
    assert_eq!(pending, 300);

    // Back online; the agent is killed while shipping, then restarted.
    world.restart_control_plane();
    let socket = world.socket();
    let syncing = std::thread::spawn(move || {
        Client::connect(&socket, "sync").and_then(|mut c| c.request(&Request::SyncAudit))
    });
    std::thread::sleep(Duration::from_millis(30));
    if let Some(agent) = world.agent.as_mut() {
        let _ = agent.0.kill();
        let _ = agent.0.wait();
    }
    let _ = syncing.join();
    world.start_agent();
    let mut client = world.client();
    client
        .request(&Request::Unlock {
            password: Some(Secret::new(PASSWORD)),
        })
        .unwrap();
    assert!(matches!(
        client.request(&Request::SyncAudit).unwrap(),
        Response::Synced { pending: 0, .. }
    ));
    assert_eq!(
        count_actions(&mut client, team.id, "exec"),
        301,
        "each event exactly once"
    );
}

#[test]
fn offline_reads_use_cached_keys_until_they_are_too_old() {
    let mut world = World::new();
    let mut client = world.client();
    signup(&mut client, &world.server, "cache@example.com");
    client
        .request(&Request::CreateTeam { name: "T".into() })
        .unwrap();
    let project = world.project();
    client
        .request(&Request::Init {
            dir: project.clone(),
            team: None,
        })
        .unwrap();
    client
        .request(&Request::Set {
            at: at(&project),
            name: "KEY".into(),
            value: Secret::new("v"),
        })
        .unwrap();

    // The control plane goes away and the agent restarts: the password
    // unlocks the identity, and the cached grant opens the team.
    world.stop_control_plane();
    drop(client);
    world.restart_agent();
    let mut client = world.client();
    client
        .request(&Request::Unlock {
            password: Some(Secret::new(PASSWORD)),
        })
        .unwrap();
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");
    // Edits are recorded for later shipping, not lost.
    let Response::Synced { pending, .. } = client.request(&Request::SyncAudit).unwrap() else {
        panic!()
    };
    assert!(pending >= 1);

    // An agent that accepts keys only a second old: past that, fail closed.
    client.request(&Request::Shutdown).unwrap();
    if let Some(mut agent) = world.agent.take() {
        let _ = agent.0.wait();
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (_strict, socket) = world.agent_for("", &["--max-staleness", "1"]);
    let mut client = Client::connect(&socket, "test").unwrap();
    client
        .request(&Request::Unlock {
            password: Some(Secret::new(PASSWORD)),
        })
        .unwrap();
    let err = read(&mut client, &project).unwrap_err();
    assert!(
        matches!(&err, IpcError::Agent { code: ErrorCode::Offline, message } if message.contains("since")),
        "{err}"
    );
}

#[test]
fn the_agent_talks_to_a_control_plane_over_https() {
    let home = tempfile::tempdir().unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (home.path().join("cert.pem"), home.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tls = [
        std::ffi::OsStr::new("--tls-cert"),
        cert.as_os_str(),
        std::ffi::OsStr::new("--tls-key"),
        key.as_os_str(),
    ];
    let _control_plane = start_control_plane_with(home.path(), port, &tls);
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
            refused,
            Err(IpcError::Agent {
                code: ErrorCode::Offline,
                ..
            })
        ),
        "{refused:?}"
    );
}

#[test]
fn a_subscriber_hears_locks_audit_events_and_connectivity() {
    let mut world = World::new();
    let mut client = world.client();
    signup(&mut client, &world.server, "watch@example.com");
    client
        .request(&Request::CreateTeam { name: "T".into() })
        .unwrap();
    let project = world.project();
    client
        .request(&Request::Init {
            dir: project.clone(),
            team: None,
        })
        .unwrap();

    let mut watcher = world.client();
    assert_eq!(
        watcher.request(&Request::Subscribe).unwrap(),
        Response::Done
    );
    watcher.set_timeout(Some(Duration::from_secs(10))).unwrap();

    client
        .request(&Request::Set {
            at: at(&project),
            name: "KEY".into(),
            value: Secret::new("v"),
        })
        .unwrap();
    match watcher.next_event().unwrap() {
        proto_ipc::Event::Audit { action, names, .. } => {
            assert_eq!((action.as_str(), names), ("set", vec!["KEY".to_owned()]))
        }
        other => panic!("expected the set, got {other:?}"),
    }
    client.request(&Request::Lock).unwrap();
    assert_eq!(watcher.next_event().unwrap(), proto_ipc::Event::Locked);
    client
        .request(&Request::Unlock {
            password: Some(Secret::new(PASSWORD)),
        })
        .unwrap();
    assert_eq!(watcher.next_event().unwrap(), proto_ipc::Event::Unlocked);

    world.stop_control_plane();
    assert!(client.request(&Request::ListTeams).is_err());
    assert!(matches!(
        watcher.next_event().unwrap(),
        proto_ipc::Event::Offline { .. }
    ));
    world.restart_control_plane();
    client.request(&Request::ListTeams).unwrap();
    assert_eq!(watcher.next_event().unwrap(), proto_ipc::Event::Online);
}
