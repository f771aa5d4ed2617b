//! The chain itself: statements dropped, rewritten, reordered or forged,
//! roles in the tables only, two admins at once, a new device's anchor.

use super::*;

/// Attack 5: statements an agent verified are dropped, rewritten,
/// reordered, or followed by one the server signed itself.
#[test]
fn a_verified_chain_dropped_rewritten_reordered_or_forged_is_refused() {
    let world = World::new();
    let (mut owner, team, _) = owner_team(&world);
    let (_agent, _bob) = newcomer(&world, &mut owner, team, "bob", Role::Member, true);
    owner.request(&Request::Members { team }).unwrap();
    let db = Db::open(&world);
    let honest: Vec<Statement> = db
        .statements(team)
        .iter()
        .map(|t| Statement::parse(t).unwrap())
        .collect();
    assert_eq!(honest.len(), 3);

    let check = |owner: &mut Client, tampered: &[Statement], expect: &str| {
        db.replace_chain(team, tampered);
        let why = refused(owner.request(&Request::Members { team }));
        assert!(why.contains(expect), "{expect}: {why}");
        db.replace_chain(team, &honest);
        owner.request(&Request::Members { team }).unwrap();
    };
    check(&mut owner, &honest[..2], "statements were dropped");
    // Statement 3 as the server would rewrite it: its own signature.
    let server = UserIdentity::generate();
    let rewritten = Draft {
        team,
        seq: 3,
        prev: honest[1].hash(),
        by: honest[0].by(),
        at: honest[2].at(),
        body: Body::Settings {
            max_staleness_secs: 30 * 24 * 3600,
        },
    }
    .sign(server.signing_key());
    check(
        &mut owner,
        &[honest[0].clone(), honest[1].clone(), rewritten],
        "rewritten or forked",
    );
    // Reordered: statement 2 stored where 3 was, and 3 where 2 was.
    let reordered = [honest[0].clone(), honest[2].clone(), honest[1].clone()];
    db.0.execute("DELETE FROM team_chain WHERE team_id = ?1", [team])
        .unwrap();
    for (i, s) in reordered.iter().enumerate() {
        db.0.execute(
            "INSERT INTO team_chain (team_id, seq, hash, body, recorded_at) VALUES (?1, ?2, ?3, ?4, 'x')",
            params![team, i as i64 + 1, s.hash().0.to_vec(), s.as_str()],
        )
        .unwrap();
    }
    let why = refused(owner.request(&Request::Members { team }));
    assert!(why.contains("where statement 3 should be"), "{why}");
    db.replace_chain(team, &honest);
    // A new statement 4 the server signed as the owner.
    let forged = Draft {
        team,
        seq: 4,
        prev: honest[2].hash(),
        by: honest[0].by(),
        at: honest[2].at() + 1,
        body: Body::Settings {
            max_staleness_secs: 30 * 24 * 3600,
        },
    }
    .sign(server.signing_key());
    let mut extended = honest.clone();
    extended.push(forged);
    check(&mut owner, &extended, "signature by");
}

/// Attack 8: a member marked admin (or owner) in the server's tables only.
#[test]
fn a_role_in_the_tables_only_is_refused_and_confers_nothing() {
    let world = World::new();
    let (mut owner, team, _) = owner_team(&world);
    let (_b, mut bob) = newcomer(&world, &mut owner, team, "bob", Role::Member, true);
    let (_c, _carol) = newcomer(&world, &mut owner, team, "carol", Role::Member, true);
    let db = Db::open(&world);
    let bob_id = db.user("bob@example.com");
    let carol_id = db.user("carol@example.com");
    let length = db.chain_len(team);
    for role in ["admin", "owner"] {
        db.0.execute(
            "UPDATE memberships SET role = ?1 WHERE user_id = ?2",
            params![role, bob_id],
        )
        .unwrap();
        let why = refused(owner.request(&Request::Members { team }));
        assert!(
            why.contains(&format!(
                "lists bob@example.com as {role}, but the team chain says member"
            )),
            "{why}"
        );
        // Bob's own agent won't sign what the chain doesn't let him do.
        let why = refused(bob.request(&Request::SetRole {
            team,
            user: carol_id,
            role: Role::Admin,
        }));
        assert!(why.contains("you are member in this team"), "{why}");
    }
    assert_eq!(db.chain_len(team), length, "nothing was appended");
}

/// Two admins rotating at once, then admitting the same newcomer at once:
/// one chain, every statement in it once.
#[test]
fn two_admins_at_once_leave_one_consistent_chain() {
    let world = World::new();
    let (mut owner, team, _) = owner_team(&world);
    let (_b, mut bob) = newcomer(&world, &mut owner, team, "bob", Role::Admin, true);
    bob.request(&Request::Members { team }).unwrap();

    let rotations: Vec<Result<Response, IpcError>> = std::thread::scope(|s| {
        let a = s.spawn(|| owner.request(&Request::Rotate { team, dirs: vec![] }));
        let b = s.spawn(|| bob.request(&Request::Rotate { team, dirs: vec![] }));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let rotated = rotations.iter().filter(|r| r.is_ok()).count();
    assert!(rotated >= 1, "{rotations:?}");
    let db = Db::open(&world);
    let chain = stored_chain(&db, team);
    assert_eq!(chain.current_epoch(), 1 + rotated as u64, "{rotations:?}");

    // Dave accepts; both admins' agents try to admit him at once.
    let (_d, mut dave, code) = invited(&world, &mut owner, team, "dave", Role::Member);
    dave.request(&Request::Join { code }).unwrap();
    std::thread::scope(|s| {
        let a = s.spawn(|| owner.request(&Request::AdmitPending { team }));
        let b = s.spawn(|| bob.request(&Request::AdmitPending { team }));
        let _ = (a.join().unwrap(), b.join().unwrap());
    });
    let chain = stored_chain(&db, team);
    let dave_id = db.user("dave@example.com");
    assert!(chain.member(dave_id).is_some(), "Dave was admitted");
    assert_eq!(db.grants_of(dave_id), 1, "and granted once");
    // Everyone's agent agrees with the stored chain.
    for client in [&mut owner, &mut bob, &mut dave] {
        let Response::Members { chain_seq, .. } =
            client.request(&Request::Members { team }).unwrap()
        else {
            panic!("members");
        };
        assert_eq!(chain_seq, chain.seq());
    }
}

/// A new device of a member is shown a chain the server made, valid in
/// itself but without that member: it anchors on the member's own keys,
/// so it refuses.
#[test]
fn a_new_device_refuses_a_chain_without_its_user() {
    let world = World::new();
    let (mut owner, team, project) = owner_team(&world);
    let (_b, mut bob) = newcomer(&world, &mut owner, team, "bob", Role::Member, true);
    wait_read(&mut bob, &project);
    let db = Db::open(&world);
    let honest = db.statements(team);
    let server = UserIdentity::generate();
    let fake = Draft {
        team,
        seq: 1,
        prev: Hash::ZERO,
        by: db.user("owner@example.com"),
        at: 1_800_000_000,
        body: Body::Create {
            email: "owner@example.com".into(),
            age: server.public_key(),
            signing: server.verifying_key(),
            epoch_key: EpochIdentity::generate(team, 1).public_key(),
        },
    }
    .sign(server.signing_key());
    db.replace_chain(team, &[fake]);

    let (_d, socket) = world.agent_for("-bob-desktop", &[]);
    let mut desktop = Client::connect(&socket, "test").unwrap();
    desktop
        .request(&Request::Login {
            server: world.server.clone(),
            email: "bob@example.com".into(),
            password: Secret::new(PASSWORD),
        })
        .unwrap();
    let why = refused(desktop.request(&Request::Members { team }));
    assert!(why.contains("has no statement of yours"), "{why}");
    let Err(IpcError::Agent { message, .. }) = read(&mut desktop, &project) else {
        panic!("read a team whose chain it refused");
    };
    assert!(message.contains("has no statement of yours"), "{message}");

    // The honest chain is anchored by Bob's own admission.
    let honest: Vec<Statement> = honest
        .iter()
        .map(|t| Statement::parse(t).unwrap())
        .collect();
    db.replace_chain(team, &honest);
    desktop.request(&Request::Members { team }).unwrap();
    assert_eq!(read(&mut desktop, &project).unwrap()[0].1, "v");
}
