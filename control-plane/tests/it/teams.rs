//! Teams, invites, roles and removal over HTTP, on both backends.

use crate::common;

use common::{Backend, TestServer, unique_email};
use envv_api::Role;
use envv_core::chain::Body;
use serde_json::json;

async fn creator_owns_the_team_and_sees_it_listed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Demo Corp").await;

    let (status, teams) = server.get("/teams", &owner.access).await;
    assert_eq!(status, 200);
    assert_eq!(teams[0]["id"], team.to_string());
    assert_eq!(teams[0]["role"], "owner");
    assert_eq!(teams[0]["name"], "Demo Corp");

    let (status, members) = server
        .get(&format!("/teams/{team}/members"), &owner.access)
        .await;
    assert_eq!(status, 200);
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(members[0]["role"], "owner");

    let stranger = server.signup(&unique_email("stranger")).await;
    let (status, teams) = server.get("/teams", &stranger.access).await;
    assert_eq!((status, teams), (200, json!([])));
}

async fn invite_is_single_use_and_bound_to_its_email(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let invitee = server.signup(&unique_email("invitee")).await;
    let other = server.signup(&unique_email("other")).await;
    let team = server.create_team(&owner, "T").await;
    let invite = server
        .invite(team, &owner, &invitee.email.to_uppercase(), Role::Admin)
        .await;
    let accept = |token: &str| {
        let mut body = invite.accept_body(&invitee);
        body["accept_token"] = json!(token);
        body
    };
    let path = format!("/invites/{}/accept", invite.id);

    // Someone else, or the wrong token: the same 404.
    assert_eq!(
        server
            .post(&path, Some(&other.access), accept(&invite.accept_token))
            .await
            .0,
        404
    );
    assert_eq!(
        server
            .post(&path, Some(&invitee.access), accept("wrong"))
            .await
            .0,
        404
    );

    let (status, joined) = server
        .post(&path, Some(&invitee.access), accept(&invite.accept_token))
        .await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["role"], "admin");
    // Spent.
    assert_eq!(
        server
            .post(&path, Some(&invitee.access), accept(&invite.accept_token))
            .await
            .0,
        404
    );

    let (_, pending) = server
        .get(&format!("/teams/{team}/invites"), &owner.access)
        .await;
    assert_eq!(pending, json!([]));
}

async fn revoked_invite_cannot_be_accepted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let invitee = server.signup(&unique_email("invitee")).await;
    let team = server.create_team(&owner, "T").await;
    let invite = server
        .invite(team, &owner, &invitee.email, Role::Member)
        .await;
    let (_, pending) = server
        .get(&format!("/teams/{team}/invites"), &owner.access)
        .await;
    assert_eq!(pending[0]["id"], invite.id.to_string());
    let (status, _) = server.revoke(team, &owner, invite.id).await;
    assert_eq!(status, 204);
    let (status, _) = server.accept(&invite, &invitee).await;
    assert_eq!(status, 404);
}

async fn inviting_a_member_again_conflicts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let member = server.signup(&unique_email("member")).await;
    let team = server.create_team(&owner, "T").await;
    server.add_member(team, &owner, &member, Role::Member).await;
    let (body, _) = server
        .invite_body(team, &owner, &member.email, Role::Member)
        .await;
    let (status, body) = server
        .post(&format!("/teams/{team}/invite"), Some(&owner.access), body)
        .await;
    assert_eq!(status, 409, "{body}");
}

async fn last_owner_can_neither_leave_nor_be_demoted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let second = server.signup(&unique_email("second")).await;
    let team = server.create_team(&owner, "T").await;

    let (status, body) = server.remove(team, &owner, owner.id).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("last_owner"))
    );
    let (status, _) = server.set_role(team, &owner, owner.id, Role::Admin).await;
    assert_eq!(status, 409);

    // With a second owner, the first may step down, and then leave.
    server.add_member(team, &owner, &second, Role::Owner).await;
    let (status, member) = server.set_role(team, &owner, owner.id, Role::Admin).await;
    assert_eq!((status, member["role"].as_str()), (200, Some("admin")));
    let (status, _) = server.set_role(team, &owner, owner.id, Role::Owner).await;
    assert_eq!(status, 403, "an admin cannot make themself owner again");
    assert_eq!(server.remove(team, &owner, owner.id).await.0, 204);
    assert_eq!(
        server.get(&format!("/teams/{team}"), &owner.access).await.0,
        404
    );
}

async fn concurrent_demotions_keep_an_owner(backend: Backend) {
    let server = TestServer::start(backend).await;
    let a = server.signup(&unique_email("a")).await;
    let b = server.signup(&unique_email("b")).await;
    let team = server.create_team(&a, "T").await;
    server.add_member(team, &a, &b, Role::Owner).await;
    // Each owner demotes themself at the same moment, each with a
    // statement made at the same head: one must be refused.
    let sa = server
        .sign(
            team,
            &a,
            Body::Role {
                user: a.id,
                role: Role::Member,
            },
        )
        .await;
    let sb = server
        .sign(
            team,
            &b,
            Body::Role {
                user: b.id,
                role: Role::Member,
            },
        )
        .await;
    let demote = |user: &common::TestUser, statement: String| {
        let http = server.http.clone();
        let url = server.url(&format!("/teams/{team}/members/{}/role", user.id));
        let token = user.access.clone();
        tokio::spawn(async move {
            http.put(url)
                .bearer_auth(token)
                .json(&json!({ "role": "member", "statement": statement }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    let (x, y) = (
        demote(&a, sa.as_str().to_owned()),
        demote(&b, sb.as_str().to_owned()),
    );
    let mut statuses = [x.await.unwrap(), y.await.unwrap()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let (_, members) = server
        .get(&format!("/teams/{team}/members"), &a.access)
        .await;
    let owners = members
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1);
    let chain = server.chain(team, &a.access).await;
    assert_eq!(
        chain
            .members()
            .values()
            .filter(|m| m.role == Role::Owner)
            .count(),
        1
    );
}

async fn removed_member_loses_access_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let member = server.signup(&unique_email("member")).await;
    let team = server.create_team(&owner, "T").await;
    server.add_member(team, &owner, &member, Role::Member).await;
    assert_eq!(
        server
            .get(&format!("/teams/{team}/members"), &member.access)
            .await
            .0,
        200
    );

    let (status, _) = server.remove(team, &owner, member.id).await;
    assert_eq!(status, 204);
    // Same access token, still unexpired: membership is checked on every call.
    assert_eq!(
        server
            .get(&format!("/teams/{team}/members"), &member.access)
            .await
            .0,
        404
    );
    let (_, teams) = server.get("/teams", &member.access).await;
    assert_eq!(teams, json!([]));
}

/// Two replicas on one database (the other one the real binary): a member
/// removed through one is refused the member list by the other at once,
/// though that one answered it a moment before (and keeps lists between
/// requests).
async fn a_removal_on_one_replica_is_refused_on_another_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let other = common::process::Replica::start(&server);
    let owner = server.signup(&unique_email("owner")).await;
    let member = server.signup(&unique_email("member")).await;
    let team = server.create_team(&owner, "T").await;
    server.add_member(team, &owner, &member, Role::Member).await;
    let members_on_other = async |token: &str| {
        let answer = server
            .http
            .get(format!("{}/teams/{team}/members", other.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json::<serde_json::Value>().await.unwrap())
    };
    let (status, listed) = members_on_other(&member.access).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 2);

    assert_eq!(server.remove(team, &owner, member.id).await.0, 204);
    let (status, _) = members_on_other(&member.access).await;
    assert_eq!(status, 404);
    let (status, listed) = members_on_other(&owner.access).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

async fn team_changes_are_audited_in_their_transaction(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let member = server.signup(&unique_email("member")).await;
    let team = server.create_team(&owner, "T").await;
    server.add_member(team, &owner, &member, Role::Member).await;
    assert_eq!(
        server
            .set_role(team, &owner, member.id, Role::Admin)
            .await
            .0,
        200
    );
    assert_eq!(server.remove(team, &owner, member.id).await.0, 204);
    let events = server.state.store.audit_events(team, 100).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "team.create",
            "invite",
            "join",
            "grant",
            "role.change",
            "member.remove"
        ]
    );
    assert_eq!(
        events[5].target.as_deref(),
        Some(member.id.to_string().as_str())
    );
    let account = server
        .state
        .store
        .account_events(owner.id, 100)
        .await
        .unwrap();
    let actions: Vec<_> = account.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["signup", "login"]);
}

async fn admins_set_how_long_agents_work_offline(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "T").await;
    let (_, shown) = server.get(&format!("/teams/{team}"), &owner.access).await;
    assert_eq!(shown["max_staleness_secs"], 72 * 3600);

    let (status, updated) = server.set_settings(team, &owner, 3600).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["max_staleness_secs"], 3600);
    // Agents learn it with their grants.
    let (_, keys) = server
        .get(&format!("/teams/{team}/keys"), &owner.access)
        .await;
    assert_eq!(keys["max_staleness_secs"], 3600);
    for bad in [0, 2_592_001] {
        let (status, body) = server.set_settings(team, &owner, bad).await;
        assert_eq!(status, 400, "{body}");
    }
    // The chain records it: every member's client reads it there.
    let chain = server.chain(team, &owner.access).await;
    assert_eq!(chain.max_staleness_secs(), Some(3600));
    let (_, audit) = server
        .get(
            &format!("/teams/{team}/audit?action=team.settings"),
            &owner.access,
        )
        .await;
    assert_eq!(
        audit["events"][0]["details"]["max_staleness_secs"],
        json!({ "from": 259200, "to": 3600 })
    );
}

on_both_backends!(
    admins_set_how_long_agents_work_offline,
    creator_owns_the_team_and_sees_it_listed,
    invite_is_single_use_and_bound_to_its_email,
    revoked_invite_cannot_be_accepted,
    inviting_a_member_again_conflicts,
    last_owner_can_neither_leave_nor_be_demoted,
    concurrent_demotions_keep_an_owner,
    removed_member_loses_access_at_once,
    a_removal_on_one_replica_is_refused_on_another_at_once,
    team_changes_are_audited_in_their_transaction,
);
