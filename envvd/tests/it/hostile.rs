//! A control plane that lies. The real server, whose SQLite database the
//! test edits between steps as an attacker who holds the server (or only
//! its database) would, driven by real agents. Each attack must be refused
//! with its own error, and leave no grant, no key and no sealed write
//! behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use envv_core::chain::{Body, Draft, Hash, Statement};
use envv_core::crypto::{EpochIdentity, PublicKey, UserIdentity};
use proto_ipc::{Client, IpcError, Request, Response, Role, Secret};
use rusqlite::params;
use uuid::Uuid;

use crate::world::*;

/// The control plane's database, opened behind its back.
struct Db(rusqlite::Connection);

impl Db {
    fn open(world: &World) -> Db {
        let db = rusqlite::Connection::open(world.home.path().join("cp.db")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        Db(db)
    }

    fn user(&self, email: &str) -> Uuid {
        self.0
            .query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
                r.get(0)
            })
            .unwrap()
    }

    fn grants_of(&self, user: Uuid) -> i64 {
        self.0
            .query_row(
                "SELECT COUNT(*) FROM grants WHERE user_id = ?1",
                [user],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn chain_len(&self, team: Uuid) -> i64 {
        self.0
            .query_row(
                "SELECT COUNT(*) FROM team_chain WHERE team_id = ?1",
                [team],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn statements(&self, team: Uuid) -> Vec<String> {
        let mut q = self
            .0
            .prepare("SELECT body FROM team_chain WHERE team_id = ?1 ORDER BY seq")
            .unwrap();
        q.query_map([team], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Replaces the team's whole chain with `statements`.
    fn replace_chain(&self, team: Uuid, statements: &[Statement]) {
        self.0
            .execute("DELETE FROM team_chain WHERE team_id = ?1", [team])
            .unwrap();
        for s in statements {
            self.0
                .execute(
                    "INSERT INTO team_chain (team_id, seq, hash, body, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        team,
                        s.seq() as i64,
                        s.hash().0.to_vec(),
                        s.as_str(),
                        "2026-12-05T00:00:00Z"
                    ],
                )
                .unwrap();
        }
    }

    /// A user the server makes up, with keys of its own.
    fn fake_user(&self, email: &str) -> (Uuid, UserIdentity) {
        let (id, identity) = (Uuid::new_v4(), UserIdentity::generate());
        self.0
            .execute(
                "INSERT INTO users (id, email, email_norm, name, auth_key_hash, \
                 identity_public_key, signing_public_key, wrapped_identity, kdf, created_at) \
                 VALUES (?1, ?2, ?2, 'Mallory', 'x', ?3, ?4, 'x', '{}', '2026-12-05T00:00:00Z')",
                params![
                    id,
                    email,
                    identity.public_key().as_str(),
                    identity.verifying_key().to_hex()
                ],
            )
            .unwrap();
        (id, identity)
    }
}

/// The agent's error message, whatever its code.
fn refused(result: Result<Response, IpcError>) -> String {
    match result {
        Err(IpcError::Agent { message, .. }) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// owner@example.com's team and a project with one secret.
fn owner_team(world: &World) -> (Client, Uuid, PathBuf) {
    let mut owner = world.client();
    let (team, project) = team_project(world, &mut owner, "owner@example.com");
    (owner, team, project)
}

/// `NAME@example.com` signed up on an agent of their own (that admits no
/// one by itself), and the code `inviter` made for them; not joined yet.
fn invited(
    world: &World,
    inviter: &mut Client,
    team: Uuid,
    name: &str,
    role: Role,
) -> (Process, Client, Secret) {
    let (agent, socket) = world.agent_for(&format!("-{name}"), &["--admit-interval", "3600"]);
    let mut client = Client::connect(&socket, "test").unwrap();
    let email = format!("{name}@example.com");
    signup(&mut client, &world.server, &email);
    let Response::InviteCode { code, .. } = inviter
        .request(&Request::Invite { team, email, role })
        .unwrap()
    else {
        panic!("invite code");
    };
    (agent, client, code)
}

/// `NAME@example.com` on an agent of their own, invited with `role` and
/// joined; admitted by the owner's agent unless `admit` is false.
fn newcomer(
    world: &World,
    owner: &mut Client,
    team: Uuid,
    name: &str,
    role: Role,
    admit: bool,
) -> (Process, Client) {
    let (agent, mut client, code) = invited(world, owner, team, name, role);
    client.request(&Request::Join { code }).unwrap();
    if admit {
        let Response::Admitted { granted, refused } =
            owner.request(&Request::AdmitPending { team }).unwrap()
        else {
            panic!("admitted");
        };
        // The owner's own admitter may have been first.
        assert!(refused.is_empty() && granted <= 1, "{refused:?}");
    }
    (agent, client)
}

fn wait_read(client: &mut Client, project: &Path) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match read(client, project) {
            Ok(secrets) => return secrets,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("never read: {e}"),
        }
    }
}

fn relock(client: &mut Client) {
    client.request(&Request::Lock).unwrap();
    unlock(client);
}

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
        let why = refused(client.request(&Request::Set {
            at: at(&project),
            name: "DATABASE_URL".into(),
            value: Secret::new("postgres://attacker"),
        }));
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
    let why = refused(bob.request(&Request::Set {
        at: at(&project),
        name: "X".into(),
        value: Secret::new("y"),
    }));
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
    let why = refused(bob.request(&Request::Set {
        at: at(&project),
        name: "X".into(),
        value: Secret::new("y"),
    }));
    assert!(why.contains("epoch 2"), "{why}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

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

/// Attack 10: on a new device, the server asks for a weaker password
/// derivation than the client's own, or a shorter salt.
#[test]
fn a_weaker_kdf_at_login_is_refused_before_anything_is_sent() {
    let world = World::new();
    let strong = ["--kdf-memory-kib", "16384", "--kdf-iterations", "2"];
    let (_first, socket) = world.agent_for("-laptop", &strong);
    let mut laptop = Client::connect(&socket, "test").unwrap();
    signup(&mut laptop, &world.server, "kdf@example.com");
    let db = Db::open(&world);
    let user = db.user("kdf@example.com");
    let kdf: String =
        db.0.query_row("SELECT kdf FROM users WHERE id = ?1", [user], |r| r.get(0))
            .unwrap();
    let (_second, socket) = world.agent_for("-desktop", &strong);
    let mut desktop = Client::connect(&socket, "test").unwrap();
    let login = |desktop: &mut Client| {
        desktop.request(&Request::Login {
            server: world.server.clone(),
            email: "kdf@example.com".into(),
            password: Secret::new(PASSWORD),
        })
    };
    let weaker = kdf.replace("\"memory_kib\":16384", "\"memory_kib\":8192");
    assert_ne!(weaker, kdf);
    db.0.execute(
        "UPDATE users SET kdf = ?1 WHERE id = ?2",
        params![weaker, user],
    )
    .unwrap();
    let why = refused(login(&mut desktop));
    assert!(
        why.contains("weaker password derivation (8 MiB, 2 passes"),
        "{why}"
    );

    let mut parsed: serde_json::Value = serde_json::from_str(&kdf).unwrap();
    parsed["salt"] = "AAAAAAAAAAAAAAAAAAAAAA==".into();
    db.0.execute(
        "UPDATE users SET kdf = ?1 WHERE id = ?2",
        params![parsed.to_string(), user],
    )
    .unwrap();
    let why = refused(login(&mut desktop));
    assert!(why.contains("16-byte salt"), "{why}");

    db.0.execute(
        "UPDATE users SET kdf = ?1 WHERE id = ?2",
        params![kdf, user],
    )
    .unwrap();
    login(&mut desktop).expect("the account's own parameters log in");
}

/// The chain as stored, verified from its first statement.
fn stored_chain(db: &Db, team: Uuid) -> envv_core::chain::TeamChain {
    let statements: Vec<Statement> = db
        .statements(team)
        .iter()
        .map(|t| Statement::parse(t).unwrap())
        .collect();
    envv_core::chain::TeamChain::verify(&statements).unwrap()
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
