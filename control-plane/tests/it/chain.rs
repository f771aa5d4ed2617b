//! The team chain as the server keeps it: every append checked at the head,
//! against the chain's rules and against its request, inside the write;
//! concurrent appends have one winner; the chain routes page.

use crate::common;

use common::{Backend, TestServer, TestUser, unique_email};
use envv_api::{CHAIN_PAGE_LEN, Role};
use envv_core::chain::{Body, Statement, TeamChain};
use serde_json::{Value, json};
use uuid::Uuid;

/// The answer's error code.
fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

/// A team whose owner has an admin and a member beside them.
async fn team_of_three(server: &TestServer) -> (Uuid, TestUser, TestUser, TestUser) {
    let owner = server.signup(&unique_email("owner")).await;
    let admin = server.signup(&unique_email("admin")).await;
    let member = server.signup(&unique_email("member")).await;
    let team = server.create_team(&owner, "Chained").await;
    server.add_member(team, &owner, &admin, Role::Admin).await;
    server.add_member(team, &owner, &member, Role::Member).await;
    (team, owner, admin, member)
}

/// Someone the tables call an admin but the chain a member (an operator
/// edited the database): the chain's rules still refuse their statements.
async fn a_statement_its_signer_may_not_make_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (team, owner, _, member) = team_of_three(&server).await;
    server
        .db
        .update_user(
            "UPDATE memberships SET role = $1 WHERE user_id = $2",
            "admin".to_owned(),
            member.id,
        )
        .await;
    let before = server.chain(team, &owner.access).await.seq();

    let (body, _) = server
        .invite_body(team, &member, &unique_email("guest"), Role::Member)
        .await;
    let (status, answer) = server
        .post(&format!("/teams/{team}/invite"), Some(&member.access), body)
        .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{answer}"
    );
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("needs the admin role"), "{message}");
    let (status, answer) = server.set_settings(team, &member, 3600).await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{answer}"
    );

    // Nothing was stored.
    assert_eq!(server.chain(team, &owner.access).await.seq(), before);
    let (_, invites) = server
        .get(&format!("/teams/{team}/invites"), &owner.access)
        .await;
    assert_eq!(invites, json!([]));
    let (_, shown) = server.get(&format!("/teams/{team}"), &owner.access).await;
    assert_eq!(shown["max_staleness_secs"], 72 * 3600);
}

/// Each route's statement must say what its request says, be signed by the
/// caller, be for the route's team and of the route's kind.
async fn a_statement_that_differs_from_its_request_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (team, owner, admin, member) = team_of_three(&server).await;
    let other = server.create_team(&owner, "Other").await;
    let before = server.chain(team, &owner.access).await.seq();
    let invite_path = format!("/teams/{team}/invite");

    // An invite whose statement names another role, email, or token.
    let (body, _) = server
        .invite_body(team, &owner, &unique_email("guest"), Role::Member)
        .await;
    for (field, value) in [
        ("role", json!("admin")),
        ("email", json!(unique_email("someone-else"))),
        ("accept_token_hash", json!("00".repeat(32))),
        ("id", json!(Uuid::new_v4())),
    ] {
        let mut changed = body.clone();
        changed[field] = value;
        let (status, answer) = server
            .post(&invite_path, Some(&owner.access), changed)
            .await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_statement"),
            "{field}: {answer}"
        );
    }
    // Another member's statement, sent by the owner.
    let (by_admin, _) = server
        .invite_body(team, &admin, &unique_email("guest"), Role::Member)
        .await;
    let (status, answer) = server
        .post(&invite_path, Some(&owner.access), by_admin)
        .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{answer}"
    );
    // A statement for another team.
    let (elsewhere, _) = server
        .invite_body(other, &owner, &unique_email("guest"), Role::Member)
        .await;
    let (status, answer) = server
        .post(&invite_path, Some(&owner.access), elsewhere)
        .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{answer}"
    );

    // A role change whose statement is about someone else, or another role.
    let wrong_user = server
        .sign(
            team,
            &owner,
            Body::Role {
                user: admin.id,
                role: Role::Admin,
            },
        )
        .await;
    let wrong_role = server
        .sign(
            team,
            &owner,
            Body::Role {
                user: member.id,
                role: Role::Owner,
            },
        )
        .await;
    for statement in [&wrong_user, &wrong_role] {
        let (status, answer) = server
            .call(
                "PUT",
                &format!("/teams/{team}/members/{}/role", member.id),
                Some(&owner.access),
                Some(json!({ "role": "admin", "statement": statement.as_str() })),
            )
            .await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_statement"),
            "{answer}"
        );
    }
    // A removal carrying a statement of another kind.
    let settings = server
        .sign(
            team,
            &owner,
            Body::Settings {
                max_staleness_secs: 60,
            },
        )
        .await;
    let (status, answer) = server
        .call(
            "DELETE",
            &format!("/teams/{team}/members/{}", member.id),
            Some(&owner.access),
            Some(json!({ "statement": settings.as_str() })),
        )
        .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{answer}"
    );
    // Settings whose statement says another value.
    let (status, answer) = server
        .call(
            "PUT",
            &format!("/teams/{team}/settings"),
            Some(&owner.access),
            Some(json!({ "max_staleness_secs": 61, "statement": settings.as_str() })),
        )
        .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{answer}"
    );
    // A rotation whose statement names another epoch key.
    let mut rotation = server.rotation_body(team, &owner.access, &owner, 1).await;
    rotation["public_key"] = json!(common::random_recipient());
    let (status, answer) = server
        .post(
            &format!("/teams/{team}/keys/rotate"),
            Some(&owner.access),
            rotation,
        )
        .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{answer}"
    );
    // Not a statement at all, and one edited after it was signed.
    let tampered = settings
        .as_str()
        .replace("max-staleness 60", "max-staleness 61");
    for text in ["not a statement".to_owned(), "x".repeat(4096), tampered] {
        let (status, answer) = server
            .call(
                "PUT",
                &format!("/teams/{team}/settings"),
                Some(&owner.access),
                Some(json!({ "max_staleness_secs": 61, "statement": text })),
            )
            .await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_statement"),
            "{answer}"
        );
    }

    assert_eq!(server.chain(team, &owner.access).await.seq(), before);
}

/// Two statements made at one head: the second is refused with
/// `chain_conflict`, and made again at the new head it goes through.
async fn a_statement_not_at_the_head_conflicts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (team, owner, admin, _) = team_of_three(&server).await;
    let (first, _) = server
        .invite_body(team, &owner, &unique_email("first"), Role::Member)
        .await;
    let (second, _) = server
        .invite_body(team, &admin, &unique_email("second"), Role::Member)
        .await;
    let path = format!("/teams/{team}/invite");
    assert_eq!(server.post(&path, Some(&owner.access), first).await.0, 201);
    let (status, answer) = server.post(&path, Some(&admin.access), second).await;
    assert_eq!((status, code(&answer)), (409, "chain_conflict"), "{answer}");
    let (again, _) = server
        .invite_body(team, &admin, &unique_email("second"), Role::Member)
        .await;
    assert_eq!(server.post(&path, Some(&admin.access), again).await.0, 201);
    let chain = server.chain(team, &owner.access).await;
    assert_eq!(chain.invites().len(), 4, "two admissions and these two");
}

/// Two admins admit newcomers at the same moment, each at the head they
/// read: one wins, the other is told to read the chain again; the chain
/// the server keeps verifies, and the tables say what it says.
async fn concurrent_admissions_have_one_winner(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (team, owner, admin, _) = team_of_three(&server).await;
    let first = server.signup(&unique_email("first")).await;
    let second = server.signup(&unique_email("second")).await;
    server.add_pending(team, &owner, &first, Role::Member).await;
    server
        .add_pending(team, &owner, &second, Role::Member)
        .await;

    let mut requests = Vec::new();
    for (actor, newcomer) in [(&owner, &first), (&admin, &second)] {
        let pending = server.pending_entry(team, actor, newcomer.id).await;
        let statement = server.admit_statement(team, actor, &pending).await;
        let request = server
            .http
            .post(server.url(&format!("/teams/{team}/grants")))
            .bearer_auth(&actor.access)
            .json(&json!({
                "user_id": newcomer.id,
                "epoch": 1,
                "grant": common::random_b64(200),
                "statement": statement.as_str(),
            }));
        requests.push(request);
    }
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|r| tokio::spawn(async move { r.send().await.unwrap().status().as_u16() }))
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, [204, 409], "{statuses:?}");

    let statements = server.chain_statements(team, &owner.access).await;
    let chain = TeamChain::verify(&statements).expect("the chain verifies");
    let admitted: Vec<Uuid> = [&first, &second]
        .iter()
        .filter(|u| chain.member(u.id).is_some())
        .map(|u| u.id)
        .collect();
    assert_eq!(admitted.len(), 1);
    let (_, pending) = server
        .get(&format!("/teams/{team}/grants/pending"), &owner.access)
        .await;
    let waiting: Vec<&Value> = pending.as_array().unwrap().iter().collect();
    assert_eq!(waiting.len(), 1);
    assert_ne!(waiting[0]["user_id"], admitted[0].to_string());

    // The loser retries on the new head.
    let loser = if admitted[0] == first.id {
        &second
    } else {
        &first
    };
    let entry = server.pending_entry(team, &owner, loser.id).await;
    server.admit(team, &owner, loser).await;
    let chain = server.chain(team, &owner.access).await;
    assert!(chain.member(first.id).is_some() && chain.member(second.id).is_some());
    // The same newcomer admitted again, at the new head: refused.
    let again = server.admit_statement(team, &admin, &entry).await;
    let (status, answer) = server
        .post(
            &format!("/teams/{team}/grants"),
            Some(&admin.access),
            json!({
                "user_id": loser.id,
                "epoch": 1,
                "grant": common::random_b64(200),
                "statement": again.as_str(),
            }),
        )
        .await;
    assert_eq!((status, code(&answer)), (409, "conflict"), "{answer}");
}

/// A newcomer who accepted but was not admitted yet is out of the
/// rotation's member set; revoking their invite drops them.
async fn a_pending_newcomer_is_no_member_of_the_chain(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (team, owner, _, _) = team_of_three(&server).await;
    let newcomer = server.signup(&unique_email("newcomer")).await;
    let invite = server
        .invite(team, &owner, &newcomer.email, Role::Member)
        .await;
    assert_eq!(server.accept(&invite, &newcomer).await.0, 200);
    // They read the chain they are about to be admitted to.
    let chain = server.chain(team, &newcomer.access).await;
    assert!(chain.member(newcomer.id).is_none());
    assert!(chain.invites().contains_key(&invite.id));

    // A rotation with a grant for them is refused; without, it goes through.
    let mut body = server.rotation_body(team, &owner.access, &owner, 1).await;
    body["grants"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "user_id": newcomer.id, "grant": common::random_b64(200) }));
    let (status, answer) = server
        .post(
            &format!("/teams/{team}/keys/rotate"),
            Some(&owner.access),
            body,
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    let body = server.rotation_body(team, &owner.access, &owner, 1).await;
    let (status, answer) = server
        .post(
            &format!("/teams/{team}/keys/rotate"),
            Some(&owner.access),
            body,
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    // A removal can't name them (the chain doesn't); revoking their invite does.
    let (status, answer) = server.remove(team, &owner, newcomer.id).await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revokes their invite"),
        "{answer}"
    );
    // Their invite revoked, they are no longer waiting, nor in the team.
    let (status, answer) = server.revoke(team, &owner, invite.id).await;
    assert_eq!(status, 204, "{answer}");
    let (_, pending) = server
        .get(&format!("/teams/{team}/grants/pending"), &owner.access)
        .await;
    assert_eq!(pending, json!([]));
    assert_eq!(
        server
            .get(&format!("/teams/{team}"), &newcomer.access)
            .await
            .0,
        404
    );
    let chain = server.chain(team, &owner.access).await;
    assert_eq!(chain.current_epoch(), 2);
}

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
    a_statement_its_signer_may_not_make_is_refused,
    a_statement_that_differs_from_its_request_is_refused,
    a_statement_not_at_the_head_conflicts,
    concurrent_admissions_have_one_winner,
    a_pending_newcomer_is_no_member_of_the_chain,
    the_chain_is_read_page_by_page,
    an_audit_checkpoint_must_match_the_servers_trail,
);
