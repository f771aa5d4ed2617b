//! The team chain as the server keeps it: every append checked at the head,
//! against the chain's rules and against its request, inside the write;
//! concurrent appends have one winner. Reading it page by page and audit
//! checkpoints: `reads.rs`.

use crate::common;

mod reads;

use common::{Backend, TestServer, TestUser, unique_email};
use envv_api::{CHAIN_PAGE_LEN, Role};
use envv_core::chain::{Body, Statement, TeamChain};
use serde_json::{Value, json};
use uuid::Uuid;

/// The answer's error code.
fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

/// Checks that `what` was refused as an invalid statement; the answer.
fn invalid_statement((status, answer): (u16, Value), what: impl std::fmt::Display) -> Value {
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_statement"),
        "{what}: {answer}"
    );
    answer
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
        .update_row(
            "UPDATE memberships SET role = $1 WHERE user_id = $2",
            "admin".to_owned(),
            member.id,
        )
        .await;
    let before = server.chain(team, &owner.access).await.seq();

    let (body, _) = server
        .invite_body(team, &member, &unique_email("guest"), Role::Member)
        .await;
    let answer = invalid_statement(
        server
            .post(&format!("/teams/{team}/invite"), Some(&member.access), body)
            .await,
        "an invite by a member the tables call an admin",
    );
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("needs the admin role"), "{message}");
    invalid_statement(
        server.set_settings(team, &member, 3600).await,
        "settings by a member the tables call an admin",
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
        invalid_statement(
            server
                .post(&invite_path, Some(&owner.access), changed)
                .await,
            field,
        );
    }
    // Another member's statement, sent by the owner.
    let (by_admin, _) = server
        .invite_body(team, &admin, &unique_email("guest"), Role::Member)
        .await;
    invalid_statement(
        server
            .post(&invite_path, Some(&owner.access), by_admin)
            .await,
        "another member's statement",
    );
    // A statement for another team.
    let (elsewhere, _) = server
        .invite_body(other, &owner, &unique_email("guest"), Role::Member)
        .await;
    invalid_statement(
        server
            .post(&invite_path, Some(&owner.access), elsewhere)
            .await,
        "another team's statement",
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
        invalid_statement(
            server
                .call(
                    "PUT",
                    &format!("/teams/{team}/members/{}/role", member.id),
                    Some(&owner.access),
                    Some(json!({ "role": "admin", "statement": statement.as_str() })),
                )
                .await,
            "a role statement about another member or role",
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
    invalid_statement(
        server
            .call(
                "DELETE",
                &format!("/teams/{team}/members/{}", member.id),
                Some(&owner.access),
                Some(json!({ "statement": settings.as_str() })),
            )
            .await,
        "a removal carrying settings",
    );
    // Settings whose statement says another value.
    invalid_statement(
        server
            .call(
                "PUT",
                &format!("/teams/{team}/settings"),
                Some(&owner.access),
                Some(json!({ "max_staleness_secs": 61, "statement": settings.as_str() })),
            )
            .await,
        "settings saying another value",
    );
    // A rotation whose statement names another epoch key.
    let mut rotation = server.rotation_body(team, &owner.access, &owner, 1).await;
    rotation["public_key"] = json!(common::random_recipient());
    invalid_statement(
        server
            .post(
                &format!("/teams/{team}/keys/rotate"),
                Some(&owner.access),
                rotation,
            )
            .await,
        "a rotation naming another key",
    );
    // Not a statement at all, and one edited after it was signed.
    let tampered = settings
        .as_str()
        .replace("max-staleness 60", "max-staleness 61");
    for text in ["not a statement".to_owned(), "x".repeat(4096), tampered] {
        invalid_statement(
            server
                .call(
                    "PUT",
                    &format!("/teams/{team}/settings"),
                    Some(&owner.access),
                    Some(json!({ "max_staleness_secs": 61, "statement": text })),
                )
                .await,
            "a malformed or edited statement",
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
    let answer = invalid_statement(
        server.remove(team, &owner, newcomer.id).await,
        "a newcomer not yet admitted",
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

on_both_backends!(
    a_statement_its_signer_may_not_make_is_refused,
    a_statement_that_differs_from_its_request_is_refused,
    a_statement_not_at_the_head_conflicts,
    concurrent_admissions_have_one_winner,
    a_pending_newcomer_is_no_member_of_the_chain,
);
