//! Joining: newcomers the server invents or swaps keys for, a history
//! other than the invite code's, an invite from an admin removed since.

use super::*;

/// Attack 1: the server invents a newcomer, with an invite secret and
/// proofs of its own, and waits for an admin's agent to grant them the key.
#[test]
fn a_newcomer_the_server_invented_gets_no_grant() {
    let world = World::new();
    let (mut owner, team, _) = owner_team(&world);
    let db = Db::open(&world);
    let owner_id = db.user("owner@example.com");
    let (mallory, identity) = db.fake_user("mallory@evil.example");
    let invite = Uuid::new_v4();
    let secret = envv_core::crypto::InviteSecret::generate();
    let accepted = envv_core::chain::acceptance(
        team,
        invite,
        &Hash([9; 32]),
        mallory,
        &identity.public_key(),
        &identity.verifying_key(),
    );
    db.0.execute(
        "INSERT INTO invites (id, team_id, email, email_norm, role, accept_token_hash, invited_by, \
         created_at, expires_at, accepted_by, accepted_at, proof, consent) VALUES \
         (?1, ?2, 'mallory@evil.example', 'mallory@evil.example', 'admin', ?3, ?4, \
         '2026-12-05T00:00:00Z', '2099-01-01T00:00:00Z', ?5, '2026-12-05T00:00:00Z', ?6, ?7)",
        params![
            invite,
            team,
            vec![0u8; 32],
            owner_id,
            mallory,
            secret.proof_key().sign(&accepted).to_base64(),
            identity.signing_key().sign(&accepted).to_base64()
        ],
    )
    .unwrap();
    db.0.execute(
        "INSERT INTO memberships (team_id, user_id, role, joined_at, admitted) \
         VALUES (?1, ?2, 'admin', '2026-12-05T00:00:00Z', 0)",
        params![team, mallory],
    )
    .unwrap();

    let Response::Admitted { granted, refused } =
        owner.request(&Request::AdmitPending { team }).unwrap()
    else {
        panic!("admitted");
    };
    assert_eq!(granted, 0);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("mallory@evil.example")
            && refused[0].contains("no admin issued the invite"),
        "{refused:?}"
    );
    assert_eq!(db.grants_of(mallory), 0);
    assert_eq!(db.chain_len(team), 1);
}

/// Attack 2: an invitee's public keys swapped for the server's between
/// their acceptance and their admission.
#[test]
fn a_swapped_invitee_key_gets_no_grant() {
    let world = World::new();
    let (mut owner, team, _) = owner_team(&world);
    // Locked, the owner's agent admits no one until the swap is done.
    let (agent, mut bob, code) = invited(&world, &mut owner, team, "bob", Role::Member);
    owner.request(&Request::Lock).unwrap();
    bob.request(&Request::Join { code }).unwrap();
    let db = Db::open(&world);
    let bob_id = db.user("bob@example.com");
    let server_key = UserIdentity::generate();
    db.0.execute(
        "UPDATE users SET identity_public_key = ?1, signing_public_key = ?2 WHERE id = ?3",
        params![
            server_key.public_key().as_str(),
            server_key.verifying_key().to_hex(),
            bob_id
        ],
    )
    .unwrap();
    unlock(&mut owner);
    let Response::Admitted { granted, refused } =
        owner.request(&Request::AdmitPending { team }).unwrap()
    else {
        panic!("admitted");
    };
    assert_eq!(granted, 0);
    assert!(
        refused.len() == 1 && refused[0].contains("acceptance that does not verify"),
        "{refused:?}"
    );
    assert_eq!(db.grants_of(bob_id), 0);
    assert_eq!(db.chain_len(team), 2, "only the invite is in the chain");
    drop(agent);
}

/// Attack 6: a joiner is shown another team, or another history of the
/// team, than the one the invite code was made in.
#[test]
fn a_joiner_refuses_another_team_or_history_than_the_code_names() {
    let world = World::new();
    let (mut owner, team, _) = owner_team(&world);
    let (_agent, mut carol, code) = invited(&world, &mut owner, team, "carol", Role::Member);
    let db = Db::open(&world);
    let invite_id: Uuid =
        db.0.query_row(
            "SELECT id FROM invites WHERE email = 'carol@example.com'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let honest: Vec<Statement> = db
        .statements(team)
        .iter()
        .map(|t| Statement::parse(t).unwrap())
        .collect();

    // Another history: a genesis of the server's own, and the invite
    // (same id, token hash and proof key, all public) re-signed by it.
    let server = UserIdentity::generate();
    let genesis = Draft {
        team,
        seq: 1,
        prev: Hash::ZERO,
        by: honest[0].by(),
        at: honest[0].at(),
        body: Body::Create {
            email: "owner@example.com".into(),
            age: server.public_key(),
            signing: server.verifying_key(),
            epoch_key: EpochIdentity::generate(team, 1).public_key(),
        },
    }
    .sign(server.signing_key());
    let invite = Draft {
        team,
        seq: 2,
        prev: genesis.hash(),
        by: honest[1].by(),
        at: honest[1].at(),
        body: honest[1].body().clone(),
    }
    .sign(server.signing_key());
    db.replace_chain(team, &[genesis, invite]);
    let why = refused(carol.request(&Request::Join { code: code.clone() }));
    assert!(why.contains("history of the team other than"), "{why}");
    db.replace_chain(team, &honest);

    // Another team: the invite moved to a team the server made up.
    let Response::Team(other) = owner
        .request(&Request::CreateTeam {
            name: "Other".into(),
        })
        .unwrap()
    else {
        panic!("team");
    };
    db.0.execute(
        "UPDATE invites SET team_id = ?1 WHERE id = ?2",
        params![other.id, invite_id],
    )
    .unwrap();
    let why = refused(carol.request(&Request::Join { code }));
    assert!(why.contains("but the code names team"), "{why}");
    assert_eq!(db.grants_of(db.user("carol@example.com")), 0);
}

/// Attack 9: an invite made by an admin who was removed since.
#[test]
fn an_invite_from_a_removed_admin_admits_no_one() {
    let world = World::new();
    let (mut owner, team, _) = owner_team(&world);
    let (_a, mut admin) = newcomer(&world, &mut owner, team, "ada", Role::Admin, true);
    // Ada's agent must see the chain with her as admin first.
    admin.request(&Request::Members { team }).unwrap();
    let (_c, mut carol, code) = invited(&world, &mut admin, team, "carol", Role::Member);
    let db = Db::open(&world);
    let ada = db.user("ada@example.com");
    owner
        .request(&Request::RemoveMember { team, user: ada })
        .unwrap();
    let why = refused(carol.request(&Request::Join { code }));
    assert!(
        why.contains(
            "this invite was issued by a member removed since; ask an admin for a new one"
        ),
        "{why}"
    );
    assert_eq!(db.grants_of(db.user("carol@example.com")), 0);
}
