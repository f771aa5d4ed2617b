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

mod epochs;
mod history;
mod joining;
mod login;

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

/// The chain as stored, verified from its first statement.
fn stored_chain(db: &Db, team: Uuid) -> envv_core::chain::TeamChain {
    let statements: Vec<Statement> = db
        .statements(team)
        .iter()
        .map(|t| Statement::parse(t).unwrap())
        .collect();
    envv_core::chain::TeamChain::verify(&statements).unwrap()
}
