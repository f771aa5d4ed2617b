//! The chain read back: the routes page through it, and an audit
//! checkpoint in it must match the server's trail.

use super::*;

/// `GET /teams/{team}/chain?after=N` pages the chain oldest first, at most
/// `CHAIN_PAGE_LEN` a page, with the chain's length; the invitee reads the
/// same through `GET /invites/{invite}/chain`.
async fn the_chain_is_read_page_by_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Long").await;
    // More than a page of statements, made and verified by the test's
    // writer and stored directly: the appends' checks are the tests above;
    // this one is about reading. (The invite at the end goes through the
    // server, which replays every one of them.)
    let mut chain = server.chain(team, &owner.access).await;
    let extra = CHAIN_PAGE_LEN as u64 + 4;
    let mut made = Vec::new();
    for i in 0..extra {
        let statement = chain
            .draft(
                owner.id,
                common::chain::unix_now(),
                Body::Settings {
                    max_staleness_secs: 60 + (i as u32 % 100),
                },
            )
            .sign(owner.creds.identity.signing_key());
        chain.apply(&statement).unwrap();
        made.push(statement);
    }
    store_directly(&server, team, &made).await;
    let head = 1 + extra;

    let (status, page) = server.chain_page(team, 0, &owner.access).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["team_id"], team.to_string());
    assert_eq!(page["head_seq"], head);
    let texts = page["statements"].as_array().unwrap();
    assert_eq!(texts.len(), CHAIN_PAGE_LEN);
    let first = Statement::parse(texts[0].as_str().unwrap()).unwrap();
    assert_eq!(first.seq(), 1);
    assert_eq!(first.hash(), chain.hash_at(1).unwrap());

    let (_, rest) = server
        .chain_page(team, CHAIN_PAGE_LEN as u64, &owner.access)
        .await;
    let rest: Vec<Statement> = rest["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Statement::parse(t.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        rest.iter().map(Statement::seq).collect::<Vec<_>>(),
        (CHAIN_PAGE_LEN as u64 + 1..=head).collect::<Vec<_>>()
    );
    let (_, past) = server.chain_page(team, head + 10, &owner.access).await;
    assert_eq!(
        (past["statements"].clone(), past["head_seq"].clone()),
        (json!([]), json!(head))
    );
    // Read whole, the chain verifies and is the one the writer made.
    let served = server.chain(team, &owner.access).await;
    assert_eq!((served.seq(), served.head()), (chain.seq(), chain.head()));
    let (status, _) = server
        .get(&format!("/teams/{team}/chain?after=-1"), &owner.access)
        .await;
    assert_eq!(status, 400);

    // The invitee, before accepting, reads the same through the invite.
    let guest = server.signup(&unique_email("guest")).await;
    let invite = server
        .invite(team, &owner, &guest.email, Role::Member)
        .await;
    let path = format!("/invites/{}/chain?after={head}", invite.id);
    let (status, page) = server.get(&path, &guest.access).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["head_seq"], head + 1);
    let only = Statement::parse(page["statements"][0].as_str().unwrap()).unwrap();
    assert_eq!(only.hash(), invite.issued.statement);
    // Nobody else does.
    assert_eq!(server.get(&path, &owner.access).await.0, 404);
}

/// Inserts statements into `team_chain` behind the server's back.
async fn store_directly(server: &TestServer, team: Uuid, statements: &[Statement]) {
    use sqlx::Connection;
    macro_rules! insert_all {
        ($conn:ty) => {{
            let mut conn = <$conn>::connect(&server.db.url).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            for s in statements {
                sqlx::query(
                    "INSERT INTO team_chain (team_id, seq, hash, body, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(team)
                .bind(s.seq() as i64)
                .bind(s.hash().0.to_vec())
                .bind(s.as_str())
                .bind(chrono::Utc::now())
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }};
    }
    match server.db.backend {
        Backend::Sqlite => insert_all!(sqlx::SqliteConnection),
        Backend::Postgres => insert_all!(sqlx::PgConnection),
    }
}

/// `POST /teams/{team}/chain` appends an admin's audit checkpoint, and
/// only one that names an event of this server's trail with its hash; it
/// takes no other kind, and changes no table but the chain.
async fn an_audit_checkpoint_must_match_the_servers_trail(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (team, owner, admin, member) = team_of_three(&server).await;
    let path = format!("/teams/{team}/chain");
    let trail = common::audit::export(&server, team, &owner).await;
    let last = trail.last().unwrap();
    let head = envv_core::chain::Hash::from_hex(&last.hash).unwrap();
    let seq = last.chain_seq as u64;
    let body = |s: Statement| json!({ "statement": s.as_str() });
    let before = server.chain(team, &owner.access).await.seq();

    // A wrong hash, an event the trail does not hold, another kind.
    let cases = [
        (
            Body::Checkpoint {
                audit_seq: seq,
                audit_head: envv_core::chain::Hash([7; 32]),
            },
            "not the trail's",
        ),
        (
            Body::Checkpoint {
                audit_seq: seq + 5,
                audit_head: head,
            },
            "holds no event",
        ),
        (
            Body::Settings {
                max_staleness_secs: 60,
            },
            "checkpoint",
        ),
    ];
    for (wrong, why) in cases {
        let statement = server.sign(team, &admin, wrong).await;
        let (status, answer) = server
            .post(&path, Some(&admin.access), body(statement))
            .await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_statement"),
            "{answer}"
        );
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(why),
            "{answer}"
        );
    }
    // A member may not checkpoint (the route's role, as the chain's).
    let statement = server
        .sign(
            team,
            &member,
            Body::Checkpoint {
                audit_seq: seq,
                audit_head: head,
            },
        )
        .await;
    let (status, _) = server
        .post(&path, Some(&member.access), body(statement))
        .await;
    assert_eq!(status, 403);
    assert_eq!(server.chain(team, &owner.access).await.seq(), before);

    // The true head: appended, and the chain says so.
    let good = Body::Checkpoint {
        audit_seq: seq,
        audit_head: head,
    };
    let statement = server.sign(team, &admin, good.clone()).await;
    let stale = server.sign(team, &owner, good).await;
    let (status, answer) = server
        .post(&path, Some(&admin.access), body(statement))
        .await;
    assert_eq!(status, 204, "{answer}");
    let chain = server.chain(team, &owner.access).await;
    assert_eq!(chain.seq(), before + 1);
    let checkpoint = chain.audit_checkpoint().unwrap();
    assert_eq!(
        (checkpoint.audit_seq, checkpoint.audit_head, checkpoint.by),
        (seq, head, admin.id)
    );
    // Made at a head that moved since: a conflict, as every append.
    let (status, answer) = server.post(&path, Some(&owner.access), body(stale)).await;
    assert_eq!((status, code(&answer)), (409, "chain_conflict"), "{answer}");
    // No audit event of its own: the trail's head is where it was.
    let after = common::audit::export(&server, team, &owner).await;
    assert_eq!(after.last().unwrap().chain_seq, last.chain_seq);
    server.stop().await;
}

on_both_backends!(
    the_chain_is_read_page_by_page,
    an_audit_checkpoint_must_match_the_servers_trail,
);
