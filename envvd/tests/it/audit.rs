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
    let Response::AuditVerified {
        events, problem, ..
    } = client.request(&Request::AuditVerify { team }).unwrap()
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

    set(&mut client, &project, "KEY", "v").unwrap();
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

/// The control plane's SQLite database, rewritten as someone who holds it
/// would: event `seq`'s details changed, and every hash from there on
/// recomputed, so the trail agrees with itself again.
fn rewrite_trail(world: &World, team: uuid::Uuid, seq: i64, details: serde_json::Value) {
    use envv_api::{AuditEntry, chain_hash};
    let db = rusqlite::Connection::open(world.home.path().join("cp.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut q = db
        .prepare(
            "SELECT chain_seq, event_id, actor_id, action, target, details, occurred_at, \
             prev_hash FROM audit_events WHERE team_id = ?1 AND chain_seq >= ?2 \
             ORDER BY chain_seq",
        )
        .unwrap();
    let rows: Vec<(AuditEntry, Vec<u8>)> = q
        .query_map(rusqlite::params![team, seq], |r| {
            let at: String = r.get(6)?;
            let occurred_at = chrono::DateTime::parse_from_rfc3339(&at)
                .or_else(|_| chrono::DateTime::parse_from_str(&at, "%Y-%m-%d %H:%M:%S%.f%:z"))
                .unwrap()
                .with_timezone(&chrono::Utc);
            let details: String = r.get(5)?;
            Ok((
                AuditEntry {
                    team_id: team,
                    chain_seq: r.get(0)?,
                    event_id: r.get(1)?,
                    actor_id: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    details: serde_json::from_str(&details).unwrap(),
                    occurred_at,
                    prev_hash: String::new(),
                    hash: String::new(),
                },
                r.get(7)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!rows.is_empty(), "no event {seq}");
    let mut prev: [u8; 32] = rows[0].1.clone().try_into().unwrap();
    for (mut entry, _) in rows {
        if entry.chain_seq == seq {
            entry.details = details.clone();
        }
        let hash = chain_hash(&prev, &entry);
        db.execute(
            "UPDATE audit_events SET details = ?1, prev_hash = ?2, hash = ?3 \
             WHERE team_id = ?4 AND chain_seq = ?5",
            rusqlite::params![
                entry.details.to_string(),
                prev.to_vec(),
                hash.to_vec(),
                team,
                entry.chain_seq
            ],
        )
        .unwrap();
        prev = hash;
    }
    db.execute(
        "UPDATE teams SET audit_head = ?1 WHERE id = ?2",
        rusqlite::params![prev.to_vec(), team],
    )
    .unwrap();
}

fn verified(client: &mut Client, team: uuid::Uuid) -> Response {
    client.request(&Request::AuditVerify { team }).unwrap()
}

/// `envv audit verify` on an admin's agent checkpoints the trail in the
/// team chain; a trail rewritten before that checkpoint (and re-hashed so
/// it agrees with itself) then fails on a new device that never saw it,
/// naming the checkpoint, and on the device that remembers its head.
#[test]
fn a_trail_rewritten_before_a_checkpoint_fails_on_a_new_device() {
    let world = World::new();
    let mut client = world.client();
    let (team, project) = team_project(&world, &mut client, "anchor@example.com");
    read(&mut client, &project).unwrap();
    client.request(&Request::SyncAudit).unwrap();

    let Response::AuditVerified {
        problem: None,
        checkpoint: None,
        remembered: None,
        checkpointed: Some(Ok(made)),
        events,
    } = verified(&mut client, team)
    else {
        panic!("the first verification checkpoints")
    };
    assert_eq!(made.audit_seq, events as u64);
    assert_eq!(made.by_email, "anchor@example.com");
    // Again: checked against that checkpoint and the remembered head.
    let again = verified(&mut client, team);
    let Response::AuditVerified {
        problem: None,
        checkpoint: Some(against),
        remembered: Some(remembered),
        ..
    } = &again
    else {
        panic!("{again:?}")
    };
    assert_eq!(against, &made);
    assert_eq!(*remembered, made.audit_seq);
    let remembered_file = world
        .home
        .path()
        .join(format!("data/envv/audit_heads/{team}.json"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&remembered_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // The database's holder hides the read: event 2's names changed, and
    // the trail re-hashed to agree with itself.
    rewrite_trail(
        &world,
        team,
        2,
        serde_json::json!({ "secret_names": ["NOTHING"] }),
    );

    // A new device of the same user, which never saw the trail.
    let (_agent, socket) = world.agent_for("-new", &[]);
    let mut fresh = Client::connect(&socket, "test").unwrap();
    fresh
        .request(&Request::Login {
            server: world.server.clone(),
            email: "anchor@example.com".into(),
            password: Secret::new(PASSWORD),
        })
        .unwrap();
    let Response::AuditVerified {
        problem: Some(problem),
        ..
    } = verified(&mut fresh, team)
    else {
        panic!("a rewritten trail verifies on a new device")
    };
    assert!(
        problem.contains(&format!("checkpoint (statement {}", made.statement))
            && problem.contains(&format!("audit event {}", made.audit_seq))
            && problem.contains("rewritten"),
        "{problem}"
    );
    // The device that verified before refuses it too.
    let Response::AuditVerified {
        problem: Some(_), ..
    } = verified(&mut client, team)
    else {
        panic!("a rewritten trail verifies where it was seen")
    };
}
