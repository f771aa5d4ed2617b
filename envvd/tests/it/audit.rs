//! The agent's audit spool, the trail it reads and verifies, and its
//! event stream.

use std::time::Duration;

use crate::world::*;
use proto_ipc::{Client, Request, Response, Secret};

#[test]
fn audit_events_reach_the_server_exactly_once_across_outages_and_crashes() {
    let mut world = World::new();
    let mut client = world.client();
    let (team, project) = team_project(&world, &mut client, "audit@example.com");
    read(&mut client, &project).unwrap();
    let synced = client.request(&Request::SyncAudit).unwrap();
    assert!(
        matches!(synced, Response::Synced { pending: 0, .. }),
        "{synced:?}"
    );
    assert_eq!(count_actions(&mut client, team, "set"), 1);
    assert_eq!(count_actions(&mut client, team, "exec"), 1);
    let Response::AuditVerified { events, problem } =
        client.request(&Request::AuditVerify { team }).unwrap()
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
    unlock(&mut client);
    assert!(matches!(
        client.request(&Request::SyncAudit).unwrap(),
        Response::Synced { pending: 0, .. }
    ));
    assert_eq!(
        count_actions(&mut client, team, "exec"),
        301,
        "each event exactly once"
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
    unlock(&mut client);
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
