//! Teams through two agents and one control plane: invite, join, admit,
//! remove, rotate.

use std::time::{Duration, Instant};

use crate::world::*;
use proto_ipc::{Client, ErrorCode, IpcError, Request, Response};
use uuid::Uuid;

/// owner@example.com signs up and creates a team.
fn owner_of_a_team(world: &World) -> (Client, proto_ipc::TeamInfo) {
    let mut owner = world.client();
    signup(&mut owner, &world.server, "owner@example.com");
    let Response::Team(team) = owner
        .request(&Request::CreateTeam { name: "T".into() })
        .unwrap()
    else {
        panic!("create_team answers the team");
    };
    (owner, team)
}

/// `NAME@example.com` signs up on an agent of their own and joins `team`
/// with an invite from `owner`'s agent.
fn invite_and_join(world: &World, owner: &mut Client, team: Uuid, name: &str) -> (Process, Client) {
    let (agent, socket) = world.agent_for(&format!("-{name}"), &[]);
    let mut client = Client::connect(&socket, "test").unwrap();
    let email = format!("{name}@example.com");
    signup(&mut client, &world.server, &email);
    let Response::InviteCode { code, .. } = owner
        .request(&Request::Invite {
            team,
            email,
            role: proto_ipc::Role::Member,
        })
        .unwrap()
    else {
        panic!("invite code");
    };
    let Response::Team(joined) = client.request(&Request::Join { code }).unwrap() else {
        panic!("join answers the team");
    };
    assert_eq!(joined.id, team);
    (agent, client)
}

#[test]
fn invite_join_admit_then_remove_and_rotate() {
    let world = World::new();
    let (mut owner, team) = owner_of_a_team(&world);
    let project = world.project();
    owner
        .request(&Request::Init {
            dir: project.clone(),
            team: Some(team.id),
        })
        .unwrap();
    set(&mut owner, &project, "DB", "postgres://prod").unwrap();

    let (_bob_agent, mut bob) = invite_and_join(&world, &mut owner, team.id, "bob");
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
    let Response::Members { members, .. } =
        owner.request(&Request::Members { team: team.id }).unwrap()
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
        matches!(&cut_off, IpcError::Agent { code: ErrorCode::Forbidden, message } if message.contains("not a member")),
        "{cut_off}"
    );

    // A member who stays, holding only epoch 1, picks up epoch 2 by herself.
    let (_carol_agent, mut carol) = invite_and_join(&world, &mut owner, team.id, "carol");
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
    set(&mut carol, &project, "NEW", "written at epoch 3").unwrap();
    assert_eq!(read(&mut owner, &project).unwrap().len(), 2);
}
