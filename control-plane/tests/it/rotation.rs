//! Rotation under races between replicas and under crashes: at every point
//! every current member can still open the team's current epoch.

use crate::common;

use std::time::Duration;

use common::client::Person;
use common::process::Replica;
use common::{Backend, TestServer};
use envv_api::Role;
use rand::Rng;
use uuid::Uuid;

/// Every member holds a grant for the current epoch, and it opens to the
/// key whose public half the team advertises.
async fn assert_everyone_reads_current(
    server: &TestServer,
    team: Uuid,
    members: &[&Person],
) -> u64 {
    let (status, public) = server
        .get(
            &format!("/teams/{team}/keys/public"),
            &members[0].user.access,
        )
        .await;
    assert_eq!(status, 200, "{public}");
    let epoch = public["epoch"].as_u64().unwrap();
    for person in members {
        let ring = server.keyring(person, team).await.expect("keys fetch");
        // The fetch reports the team's epoch from the same snapshot as the grants.
        assert_eq!(ring.team_epoch(), epoch, "the epoch moved during the check");
        assert_eq!(
            ring.current_epoch(),
            epoch,
            "{} lacks the current epoch",
            person.user.email
        );
        assert_eq!(
            ring.current().public_key().as_str(),
            public["public_key"].as_str().unwrap()
        );
    }
    epoch
}

async fn ten_rotations_over_two_replicas_have_one_winner(backend: Backend) {
    let server = TestServer::start(backend).await;
    let replica = Replica::start(&server);
    let owner = server.person("owner").await;
    let alice = server.person("alice").await;
    let bob = server.person("bob").await;
    let (team, ring) = server.found_team(&owner, "T").await;
    server
        .bring_in(team, &owner, &ring, &alice, Role::Admin)
        .await;
    server
        .bring_in(team, &owner, &ring, &bob, Role::Member)
        .await;

    let mut tasks = Vec::new();
    for i in 0..10 {
        let admin = if i % 2 == 0 { &owner } else { &alice };
        let base = if i < 5 {
            server.base.clone()
        } else {
            replica.base.clone()
        };
        let (_, body) = server.prepare_rotation(team, admin, 1).await;
        let request = server
            .http
            .post(format!("{base}/teams/{team}/keys/rotate"))
            .bearer_auth(&admin.user.access)
            .json(&body);
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    // The chain holds the one winner and verifies.
    assert_eq!(
        server.chain(team, &owner.user.access).await.current_epoch(),
        2
    );
    assert_eq!(
        assert_everyone_reads_current(&server, team, &[&owner, &alice, &bob]).await,
        2
    );
}

/// Rotations keep hitting a replica that is SIGKILLed at a random moment,
/// again and again; after each crash the team is whole.
async fn a_replica_killed_mid_rotation_leaves_the_team_readable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.person("owner").await;
    let members: Vec<Person> = {
        let mut v = Vec::new();
        for i in 0..6 {
            v.push(server.person(&format!("m{i}")).await);
        }
        v
    };
    let (team, ring) = server.found_team(&owner, "T").await;
    for m in &members {
        server.bring_in(team, &owner, &ring, m, Role::Member).await;
    }
    let everyone: Vec<&Person> = std::iter::once(&owner).chain(members.iter()).collect();

    let mut last_epoch = 1;
    for round in 0..6 {
        let mut replica = Replica::start(&server);
        // A client that rotates through the replica as fast as it can.
        let bodies = server.prepare_rotations(team, &owner, last_epoch, 20).await;
        let http = server.http.clone();
        let url = format!("{}/teams/{team}/keys/rotate", replica.base);
        let token = owner.user.access.clone();
        let client = tokio::spawn(async move {
            for body in bodies {
                if http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let delay = rand::thread_rng().gen_range(0..40);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        replica.kill();
        let _ = client.await;
        // A COMMIT the replica sent just before dying may still be landing;
        // the check below is about what the database settles on.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let epoch = assert_everyone_reads_current(&server, team, &everyone).await;
        assert!(epoch >= last_epoch, "round {round}: the epoch went back");
        // The tables and the chain agree on where the team is.
        let chain = server.chain(team, &owner.user.access).await;
        assert_eq!(chain.current_epoch(), epoch, "round {round}");
        last_epoch = epoch;
    }
    // And the team still rotates normally afterwards.
    let mut ring = server.keyring(&owner, team).await.unwrap();
    assert_eq!(server.rotate(team, &owner, &mut ring).await.0, 200);
    assert_everyone_reads_current(&server, team, &everyone).await;
}

on_both_backends!(
    ten_rotations_over_two_replicas_have_one_winner,
    a_replica_killed_mid_rotation_leaves_the_team_readable,
);

/// PostgreSQL only: a client that dies before sending; the database dropping
/// the rotating connection in the middle of its transaction; then every
/// connection of the database going at once, as a restart does. (A real
/// restart of the shared server would break the tests running beside this
/// one; terminating every backend of this test's database is what the
/// control plane sees of one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_mid_transaction_roll_back_cleanly() {
    use sqlx::Connection;
    let server = TestServer::start(Backend::Postgres).await;
    let owner = server.person("owner").await;
    let bob = server.person("bob").await;
    let (team, ring) = server.found_team(&owner, "T").await;
    server
        .bring_in(team, &owner, &ring, &bob, Role::Member)
        .await;
    let db_name = server.db.url.rsplit('/').next().unwrap().to_owned();

    // A client that prepares a rotation and dies before sending it changes
    // nothing: the epoch key it made dies with it.
    drop(server.prepare_rotation(team, &owner, 1).await);
    assert_eq!(
        assert_everyone_reads_current(&server, team, &[&owner, &bob]).await,
        1
    );

    // Hold the grants table so the rotation stops inside its transaction,
    // after it has locked the team and written the new epoch row.
    let (_, body) = server.prepare_rotation(team, &owner, 1).await;
    let mut blocker = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("LOCK TABLE grants IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let request = server
        .http
        .post(server.url(&format!("/teams/{team}/keys/rotate")))
        .bearer_auth(&owner.user.access)
        .json(&body);
    let rotation = tokio::spawn(async move { request.send().await.unwrap().status().as_u16() });

    let mut admin = sqlx::PgConnection::connect(&common::postgres_admin_url())
        .await
        .unwrap();
    let waiting = loop {
        let pids: Vec<(i32,)> = sqlx::query_as(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' \
             AND query LIKE 'INSERT INTO grants%'",
        )
        .bind(&db_name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        if let Some((pid,)) = pids.first() {
            break *pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(waiting)
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let status = rotation.await.unwrap();
    assert!(
        status >= 500,
        "the rotation failed with the connection: {status}"
    );
    assert_eq!(
        assert_everyone_reads_current(&server, team, &[&owner, &bob]).await,
        1
    );

    // Every connection of this database goes, as in a restart.
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(&db_name)
        .execute(&mut admin)
        .await
        .unwrap();
    drop(blocker);
    // A restart takes longer than the pool's idle-ping threshold
    // (`PING_IF_IDLE_FOR`): the dead connections are pinged and replaced.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut ring = server
        .keyring(&owner, team)
        .await
        .expect("the pool reconnects");
    assert_eq!(server.rotate(team, &owner, &mut ring).await.0, 200);
    assert_eq!(
        assert_everyone_reads_current(&server, team, &[&owner, &bob]).await,
        2
    );
}
