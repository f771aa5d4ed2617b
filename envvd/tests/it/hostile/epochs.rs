//! Epoch keys: one the server mints, an old one presented as current, a
//! rotation to members or keys the chain does not hold.

use super::*;

/// Attack 3: the server mints epoch 2 and grants it to every member, so
/// that later writes are sealed to a key it holds.
#[test]
fn an_epoch_the_server_minted_is_refused_and_nothing_is_sealed_to_it() {
    let world = World::new();
    let (mut owner, team, project) = owner_team(&world);
    let (_agent, mut bob) = newcomer(&world, &mut owner, team, "bob", Role::Member, true);
    wait_read(&mut bob, &project);
    let db = Db::open(&world);
    let minted = EpochIdentity::generate(team, 2);
    db.0.execute(
        "INSERT INTO team_epochs (team_id, epoch, public_key, created_at) \
         VALUES (?1, 2, ?2, '2026-12-05T00:00:00Z')",
        params![team, minted.public_key().as_str()],
    )
    .unwrap();
    for email in ["owner@example.com", "bob@example.com"] {
        let user = db.user(email);
        let key: String =
            db.0.query_row(
                "SELECT identity_public_key FROM users WHERE id = ?1",
                [user],
                |r| r.get(0),
            )
            .unwrap();
        let grant = minted.grant_to(&key.parse::<PublicKey>().unwrap()).unwrap();
        db.0.execute(
            "INSERT INTO grants (team_id, epoch, user_id, grant_blob, created_at) \
             VALUES (?1, 2, ?2, ?3, '2026-12-05T00:00:00Z')",
            params![team, user, grant.as_str()],
        )
        .unwrap();
    }
    db.0.execute("UPDATE teams SET current_epoch = 2 WHERE id = ?1", [team])
        .unwrap();
    let file = project.join(".env.enc");
    let before = std::fs::read(&file).unwrap();
    for client in [&mut owner, &mut bob] {
        relock(client);
        let why = refused(set(client, &project, "DATABASE_URL", "postgres://attacker"));
        assert!(
            why.contains("is at epoch 2, but its chain's newest rotation is epoch 1"),
            "{why}"
        );
    }
    assert_eq!(std::fs::read(&file).unwrap(), before, "nothing was written");
}

/// Attack 4: after a real rotation the server presents epoch 1 as current,
/// withholding epoch 2, or hands epoch 1's grant out as epoch 2's.
#[test]
fn an_old_epoch_presented_as_current_is_refused() {
    let world = World::new();
    let (mut owner, team, project) = owner_team(&world);
    let (_agent, mut bob) = newcomer(&world, &mut owner, team, "bob", Role::Member, true);
    wait_read(&mut bob, &project);
    owner
        .request(&Request::Rotate {
            team,
            dirs: vec![project.clone()],
        })
        .unwrap();
    let db = Db::open(&world);
    let bob_id = db.user("bob@example.com");
    let epoch_one: String =
        db.0.query_row(
            "SELECT grant_blob FROM grants WHERE user_id = ?1 AND epoch = 1",
            [bob_id],
            |r| r.get(0),
        )
        .unwrap();
    // Epoch 1's grant, filed as epoch 2's.
    db.0.execute(
        "UPDATE grants SET grant_blob = ?1 WHERE user_id = ?2 AND epoch = 2",
        params![epoch_one, bob_id],
    )
    .unwrap();
    relock(&mut bob);
    let why = refused(set(&mut bob, &project, "X", "y"));
    assert!(
        why.contains("grant is for team") && why.contains("epoch 1"),
        "{why}"
    );

    // No epoch 2 at all, and the team said to be at epoch 1.
    db.0.execute(
        "DELETE FROM grants WHERE user_id = ?1 AND epoch = 2",
        [bob_id],
    )
    .unwrap();
    db.0.execute("UPDATE teams SET current_epoch = 1 WHERE id = ?1", [team])
        .unwrap();
    relock(&mut bob);
    let file = project.join(".env.enc");
    let before = std::fs::read(&file).unwrap();
    let why = refused(set(&mut bob, &project, "X", "y"));
    assert!(why.contains("epoch 2"), "{why}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

/// Attack 7: at rotation the server lists an extra member, or another key
/// for a real one.
#[test]
fn a_rotation_wraps_only_to_the_chain_members_and_their_keys() {
    let world = World::new();
    let (mut owner, team, project) = owner_team(&world);
    let (_agent, mut bob) = newcomer(&world, &mut owner, team, "bob", Role::Member, true);
    wait_read(&mut bob, &project);
    let db = Db::open(&world);
    let (mallory, _) = db.fake_user("mallory@evil.example");
    db.0.execute(
        "INSERT INTO memberships (team_id, user_id, role, joined_at, admitted) \
         VALUES (?1, ?2, 'member', '2026-12-05T00:00:00Z', 1)",
        params![team, mallory],
    )
    .unwrap();
    let bob_id = db.user("bob@example.com");
    let real_key: String =
        db.0.query_row(
            "SELECT identity_public_key FROM users WHERE id = ?1",
            [bob_id],
            |r| r.get(0),
        )
        .unwrap();
    let swapped = UserIdentity::generate();
    db.0.execute(
        "UPDATE users SET identity_public_key = ?1 WHERE id = ?2",
        params![swapped.public_key().as_str(), bob_id],
    )
    .unwrap();
    let why = refused(owner.request(&Request::Members { team }));
    assert!(why.contains("other keys for bob@example.com"), "{why}");

    // Whatever the server's tables say, the rotation wraps the new key to
    // the chain's members and keys: Mallory gets nothing, Bob can read.
    let _ = owner.request(&Request::Rotate {
        team,
        dirs: vec![project.clone()],
    });
    assert_eq!(db.grants_of(mallory), 0);
    db.0.execute(
        "UPDATE users SET identity_public_key = ?1 WHERE id = ?2",
        params![real_key, bob_id],
    )
    .unwrap();
    db.0.execute("DELETE FROM memberships WHERE user_id = ?1", [mallory])
        .unwrap();
    owner
        .request(&Request::Rotate {
            team,
            dirs: vec![project.clone()],
        })
        .unwrap();
    relock(&mut bob);
    assert_eq!(wait_read(&mut bob, &project)[0].1, "v");
    assert_eq!(db.grants_of(mallory), 0);
}
