//! Account mode: the real agent against a real control plane, driven by
//! the real client: signup, login, unlock, offline use, locks (HTTPS is
//! `tls.rs`).

use std::time::Duration;

use crate::world::*;
use proto_ipc::{Client, ErrorCode, IpcError, Mode, ReadPurpose, Request, Response, Secret};

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
            allow_weak_password: false,
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
    set(&mut client, &project, "KEY", "value").unwrap();
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
                code: ErrorCode::NotLoggedIn,
                ..
            })
        ),
        "{wrong:?}"
    );
    unlock(&mut client);
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
    unlock(&mut client);
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
            allow_weak_password: false,
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
    set(&mut client, &project, "TOKEN", "s3cret").unwrap();
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
            allow_weak_password: false,
        })
        .unwrap();
    client.request(&Request::Lock).unwrap();
    // The control plane goes away.
    world.stop_control_plane();
    unlock(&mut client);
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

#[test]
fn offline_reads_use_cached_keys_until_they_are_too_old() {
    let mut world = World::new();
    let mut client = world.client();
    let (_, project) = team_project(&world, &mut client, "cache@example.com");

    // The control plane goes away and the agent restarts: the password
    // unlocks the identity, and the cached grant opens the team.
    world.stop_control_plane();
    drop(client);
    world.restart_agent();
    let mut client = world.client();
    unlock(&mut client);
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
    unlock(&mut client);
    let err = read(&mut client, &project).unwrap_err();
    assert!(
        matches!(&err, IpcError::Agent { code: ErrorCode::Offline, message } if message.contains("since")),
        "{err}"
    );
}

/// The team's own bound (set by an admin, learnt with the grants) applies
/// even to an agent whose own limit is the 72-hour default.
#[test]
fn a_teams_staleness_setting_bounds_offline_reads() {
    let mut world = World::new();
    let mut client = world.client();
    let (team, project) = team_project(&world, &mut client, "strict@example.com");
    let Response::Team(updated) = client
        .request(&Request::SetTeamSettings {
            team,
            max_staleness_secs: 1,
        })
        .unwrap()
    else {
        panic!("settings");
    };
    assert_eq!(updated.max_staleness_secs, 1);
    // A fresh unlock fetches (and caches) the grants with the setting.
    client.request(&Request::Lock).unwrap();
    unlock(&mut client);
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");

    world.stop_control_plane();
    drop(client);
    world.restart_agent();
    std::thread::sleep(Duration::from_millis(1500));
    let mut client = world.client();
    unlock(&mut client);
    let err = read(&mut client, &project).unwrap_err();
    assert!(
        matches!(&err, IpcError::Agent { code: ErrorCode::Offline, message } if message.contains("older than 1 second")),
        "{err}"
    );
}

/// An admin's unlocked agent admits newcomers every second, which is the
/// agent's own work, not a person's: the idle lock fires all the same.
#[test]
fn an_admins_agent_idle_locks_with_the_admitter_running() {
    let world = World::new();
    let (_agent, socket) = world.agent_for("admin", &["--idle-lock", "3", "--admit-interval", "1"]);
    let mut client = Client::connect(&socket, "test").unwrap();
    let (_, project) = team_project(&world, &mut client, "owner@example.com");
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");
    // The admitter runs four or five times meanwhile.
    std::thread::sleep(Duration::from_millis(4500));
    let status = status(&mut client);
    assert!(
        status.locked,
        "idle for 4.5 s with a 3 s idle lock: {status:?}"
    );
    assert_eq!(status.cached_files, 0);
    let err = read(&mut client, &project).unwrap_err();
    assert!(
        matches!(
            err,
            IpcError::Agent {
                code: ErrorCode::Locked,
                ..
            } | IpcError::Locked
        ),
        "{err}"
    );
}

/// With the control plane hung mid-call, the idle lock still fires on
/// time: the timer never waits behind the call.
#[test]
fn the_idle_lock_fires_while_a_call_to_the_control_plane_hangs() {
    let world = World::new();
    let proxy = Proxy::start(world.port);
    let (_agent, socket) = world.agent_for("hung", &["--idle-lock", "2", "--admit-interval", "60"]);
    let mut client = Client::connect(&socket, "test").unwrap();
    let (_, project) = team_project_on(&world, &mut client, &proxy.url(), "hung@example.com");
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");

    proxy.hang(true);
    // Listing teams always asks the server (and is not use of the keys).
    let hung = {
        let socket = socket.clone();
        std::thread::spawn(move || {
            Client::connect(&socket, "test")
                .unwrap()
                .request(&Request::ListTeams)
        })
    };
    wait_for("a request held by the hung server", || proxy.held() > 0);
    std::thread::sleep(Duration::from_millis(3000));
    assert!(!hung.is_finished(), "the call is still in flight");
    let now = status(&mut client);
    assert!(now.locked, "idle for 3 s with a 2 s idle lock: {now:?}");
    assert_eq!(now.cached_files, 0);
    assert!(
        !hung.is_finished(),
        "the status was answered while the call was still in flight, not after it"
    );
    // Whatever the call brings back once the server answers, the agent
    // stays locked.
    proxy.hang(false);
    let _ = hung.join();
    assert!(status(&mut client).locked);
}

/// A hundred clients read one team environment at once while the agent
/// ships audit events (their own reads' events among them): every read is
/// answered, with the right value.
#[test]
fn a_hundred_clients_read_at_once_while_the_spool_ships() {
    let world = World::new();
    let mut client = world.client();
    let (team, project) = team_project(&world, &mut client, "many@example.com");
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shipper = {
        let socket = world.socket();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut client = Client::connect(&socket, "shipper").unwrap();
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                client.request(&Request::SyncAudit).unwrap();
                rounds += 1;
            }
            rounds
        })
    };
    let readers: Vec<_> = (0..100)
        .map(|_| {
            let socket = world.socket();
            let project = project.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(&socket, "reader").unwrap();
                for _ in 0..10 {
                    let Response::Secrets { secrets } = client
                        .request(&Request::Read {
                            at: at(&project),
                            only: vec!["KEY".into()],
                            purpose: ReadPurpose::Get,
                        })
                        .unwrap()
                    else {
                        panic!("expected secrets")
                    };
                    assert_eq!(secrets[0].1.expose(), "v");
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().expect("every reader got its answers");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(shipper.join().unwrap() >= 1);
    // Every read was recorded, and all of it reaches the server.
    let Response::Synced { pending, .. } = client.request(&Request::SyncAudit).unwrap() else {
        panic!()
    };
    assert_eq!(pending, 0);
    assert_eq!(count_actions(&mut client, team, "decrypt"), 1000);
}

/// A read that must fetch the team's grants waits on a hung server; a lock
/// comes in meanwhile. Whatever the server sends once it answers is
/// dropped: the read fails as locked, and no key or value stays behind.
#[test]
fn a_lock_during_a_hung_key_fetch_drops_what_it_fetched() {
    let world = World::new();
    let proxy = Proxy::start(world.port);
    let (_agent, socket) = world.agent_for("drop", &["--admit-interval", "60"]);
    let mut client = Client::connect(&socket, "test").unwrap();
    let (_, project) = team_project_on(&world, &mut client, &proxy.url(), "drop@example.com");
    // Unlocked afresh: no team's keys are open yet.
    client.request(&Request::Lock).unwrap();
    unlock(&mut client);

    proxy.hang(true);
    let cold_read = {
        let socket = socket.clone();
        let project = project.clone();
        std::thread::spawn(move || read(&mut Client::connect(&socket, "test").unwrap(), &project))
    };
    wait_for("the key fetch held by the hung server", || proxy.held() > 0);
    client.request(&Request::Lock).unwrap();
    assert!(!cold_read.is_finished(), "the lock answered at once");
    proxy.hang(false);

    let err = cold_read.join().unwrap().unwrap_err();
    assert!(
        matches!(
            &err,
            IpcError::Agent {
                code: ErrorCode::Locked,
                ..
            } | IpcError::Locked
        ),
        "{err}"
    );
    let now = status(&mut client);
    assert!(now.locked && now.cached_files == 0, "{now:?}");
}

/// A dashboard left open polls the audit trail, the teams, the members and
/// the usage on its own: none of it is a person using the keys, so the
/// idle lock still fires.
#[test]
fn a_dashboard_polling_metadata_does_not_keep_the_agent_unlocked() {
    let world = World::new();
    let (_agent, socket) = world.agent_for("poll", &["--idle-lock", "2", "--admit-interval", "60"]);
    let mut client = Client::connect(&socket, "test").unwrap();
    let (team, project) = team_project(&world, &mut client, "poll@example.com");
    assert_eq!(read(&mut client, &project).unwrap()[0].1, "v");
    let until = std::time::Instant::now() + Duration::from_millis(3500);
    while std::time::Instant::now() < until {
        for request in [
            Request::Status,
            Request::ListTeams,
            Request::Members { team },
            Request::Usage { team },
            Request::Audit {
                team,
                filter: proto_ipc::AuditFilter::default(),
            },
        ] {
            // Past the lock these fail as locked; that is the point.
            let _ = client.request(&request);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let now = status(&mut client);
    assert!(
        now.locked,
        "only metadata for 3.5 s with a 2 s idle lock: {now:?}"
    );
}
