//! Client events reaching the audit trail: exactly once, validated,
//! queried and exposed; usage counters and plan limits.

use crate::common;

use chrono::{Datelike, Duration, Utc};
use common::audit::{event, export, ingest, usage_count};
use common::{Backend, TestServer, TestUser, unique_email};
use envv_api::{Role, verify_chain};
use serde_json::{Value, json};
use uuid::Uuid;

async fn each_event_is_stored_once_however_often_it_is_sent(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Once").await;
    let batch: Vec<Value> = (0..50).map(|_| event("exec", &["TOKEN"])).collect();
    let first = ingest(&server, team, &owner, &batch).await;
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicate"].as_u64()),
        (Some(50), Some(0))
    );
    let again = ingest(&server, team, &owner, &batch).await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicate"].as_u64()),
        (Some(0), Some(50))
    );

    // Two overlapping batches at once, a few times over.
    let mut unique = 50u64;
    for _ in 0..5 {
        let events: Vec<Value> = (0..100).map(|_| event("decrypt", &["TOKEN"])).collect();
        let (a, b) = (events[..70].to_vec(), events[30..].to_vec());
        let (ra, rb) = tokio::join!(
            ingest(&server, team, &owner, &a),
            ingest(&server, team, &owner, &b)
        );
        let accepted = ra["accepted"].as_u64().unwrap() + rb["accepted"].as_u64().unwrap();
        let duplicate = ra["duplicate"].as_u64().unwrap() + rb["duplicate"].as_u64().unwrap();
        assert_eq!((accepted, duplicate), (100, 40));
        unique += 100;
    }
    let chain = export(&server, team, &owner).await;
    assert_eq!(verify_chain(&chain), Ok(()));
    let client_events = chain
        .iter()
        .filter(|e| e.action == "exec" || e.action == "decrypt");
    assert_eq!(client_events.count() as u64, unique);
    let mut ids: Vec<Uuid> = chain.iter().map(|e| e.event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), chain.len(), "an event id is stored twice");
    assert_eq!(usage_count(&server, team, &owner, "exec").await, 50);
    assert_eq!(
        usage_count(&server, team, &owner, "decrypt").await,
        unique - 50
    );
    server.stop().await;
}

/// The owner moves the team to the free plan.
async fn on_free_plan(server: &TestServer, team: Uuid, owner: &TestUser) {
    let (status, body) = server
        .post(
            &format!("/teams/{team}/billing"),
            Some(&owner.access),
            json!({ "plan": "free", "billing_email": "pay@example.com" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn sixth_member_of_a_free_team_is_refused_until_it_upgrades(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Small").await;
    on_free_plan(&server, team, &owner).await;
    for i in 0..3 {
        let user = server.signup(&unique_email(&format!("m{i}"))).await;
        server.add_member(team, &owner, &user, Role::Member).await;
    }
    // Two invites out for the last seat: the second accept is refused.
    let fifth = server.signup(&unique_email("fifth")).await;
    let sixth = server.signup(&unique_email("sixth")).await;
    let invite5 = server
        .invite(team, &owner, &fifth.email, Role::Member)
        .await;
    let invite6 = server
        .invite(team, &owner, &sixth.email, Role::Member)
        .await;
    let accept = |user: &TestUser, invite: &common::TestInvite| {
        let path = format!("/invites/{}/accept", invite.id);
        let body = invite.accept_body(user);
        let token = user.access.clone();
        let server = &server;
        async move { server.post(&path, Some(&token), body).await }
    };
    assert_eq!(accept(&fifth, &invite5).await.0, 200);
    let (status, body) = accept(&sixth, &invite6).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], "plan_limit");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("free") && message.contains("5 members"),
        "{message}"
    );
    // A new invite is refused up front with the same message.
    let (seventh, _) = server
        .invite_body(team, &owner, &unique_email("seventh"), Role::Member)
        .await;
    let (status, body) = server
        .post(
            &format!("/teams/{team}/invite"),
            Some(&owner.access),
            seventh,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (402, json!("plan_limit"))
    );

    let (status, usage) = server
        .post(
            &format!("/teams/{team}/billing"),
            Some(&owner.access),
            json!({ "plan": "starter", "billing_email": "pay@example.com" }),
        )
        .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(
        accept(&sixth, &invite6).await.0,
        200,
        "upgrading lifts the limit"
    );
    let (_, usage) = server
        .get(&format!("/teams/{team}/usage"), &owner.access)
        .await;
    assert_eq!(usage["plan"], "starter");
    assert_eq!(usage["seats"], 6);
    assert_eq!(usage["limits"]["max_members"], 20);
    // This month from today on at 6 starter seats, prorated by the day
    // (the days before were on the free design partner start).
    let today = Utc::now().date_naive();
    let month_days = u64::from(
        (today.with_day(1).unwrap() + chrono::Months::new(1))
            .pred_opt()
            .unwrap()
            .day(),
    );
    let days_left = month_days - u64::from(today.day()) + 1;
    assert_eq!(
        usage["invoice_preview"]["monthly_total_cents"],
        (days_left * 6 * 900 + month_days / 2) / month_days
    );
    assert_eq!(usage["billing_email"], "pay@example.com");

    // Back to free with six members is refused; the change is audited.
    let (status, body) = server
        .post(
            &format!("/teams/{team}/billing"),
            Some(&owner.access),
            json!({ "plan": "free", "billing_email": "pay@example.com" }),
        )
        .await;
    assert_eq!(status, 402, "{body}");
    let chain = export(&server, team, &owner).await;
    let changes: Vec<_> = chain.iter().filter(|e| e.action == "plan.change").collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].details["to"], "starter");
    assert_eq!(verify_chain(&chain), Ok(()));
    server.stop().await;
}

async fn queries_filter_and_page_and_exposure_lists_decrypted_names(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let member = server.signup(&unique_email("member")).await;
    let team = server.create_team(&owner, "Query").await;
    server.add_member(team, &owner, &member, Role::Member).await;
    let old = json!({ "id": Uuid::new_v4(), "action": "decrypt",
        "occurred_at": Utc::now() - Duration::days(3), "secret_names": ["OLD_KEY"], "env": "prod" });
    ingest(
        &server,
        team,
        &member,
        &[
            old,
            event("decrypt", &["DB_URL", "API_KEY"]),
            event("exec", &["DB_URL"]),
            event("set", &["OTHER"]),
        ],
    )
    .await;
    ingest(&server, team, &owner, &[event("decrypt", &["OWNER_ONLY"])]).await;
    let query = |q: String| {
        let server = &server;
        let token = member.access.clone();
        async move {
            let (status, body) = server
                .get(&format!("/teams/{team}/audit?{q}"), &token)
                .await;
            assert_eq!(status, 200, "{q}: {body}");
            body
        }
    };
    let actions = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        actions(&query("secret=DB_URL".into()).await),
        ["decrypt", "exec"]
    );
    assert_eq!(
        actions(&query(format!("actor={}&action=decrypt", member.id)).await).len(),
        2
    );
    let since = (Utc::now() - Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let recent = query(format!("action=decrypt&since={since}")).await;
    assert_eq!(actions(&recent).len(), 2, "{recent}");

    // Paging two at a time walks the whole chain in order, once; newest
    // first (a dashboard's live view), backwards, once.
    let walk = async |order: &str| {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("{order}limit=2&cursor={c}"),
                None => format!("{order}limit=2"),
            };
            let page = query(q).await;
            for e in page["events"].as_array().unwrap() {
                seen.push(e["chain_seq"].as_i64().unwrap());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break seen,
            }
        }
    };
    let mut seen = walk("").await;
    let all = export(&server, team, &owner).await;
    assert_eq!(seen, all.iter().map(|e| e.chain_seq).collect::<Vec<_>>());
    let backwards = walk("order=newest&").await;
    // A newest-first cursor doesn't quietly continue oldest first.
    let first = query("order=newest&limit=2".into()).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, body) = server
        .get(
            &format!("/teams/{team}/audit?limit=2&cursor={cursor}"),
            &owner.access,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    seen.reverse();
    assert_eq!(backwards, seen);
    assert_eq!(
        actions(&query("order=newest&secret=DB_URL".into()).await),
        ["exec", "decrypt"]
    );
    for bad in [
        "limit=0",
        "limit=1001",
        "cursor=nonsense",
        "order=sideways",
        "since=yesterday",
        "secret=a%20b",
    ] {
        let (status, body) = server
            .get(&format!("/teams/{team}/audit?{bad}"), &member.access)
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    let (status, exposure) = server
        .get(
            &format!("/teams/{team}/members/{}/exposure", member.id),
            &owner.access,
        )
        .await;
    assert_eq!(status, 200, "{exposure}");
    let names: Vec<&str> = exposure["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["API_KEY", "DB_URL", "OLD_KEY"],
        "set is not exposure; others' reads aren't theirs"
    );
    let db_url = &exposure["secrets"][1];
    assert_eq!(db_url["count"], 2);
    assert_eq!(exposure["secrets"][2]["env"], "prod", "{exposure}");
    assert_eq!(db_url["env"], Value::Null);
    server.stop().await;
}

async fn client_events_are_validated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Strict").await;
    let future = json!({ "id": Uuid::new_v4(), "action": "decrypt",
        "occurred_at": Utc::now() + Duration::hours(1) });
    let too_many: Vec<Value> = (0..1001).map(|_| event("exec", &[])).collect();
    let cases = [
        json!({ "events": [event("rotate", &[])] }),
        json!({ "events": [event("decrypt", &["has space"])] }),
        json!({ "events": [event("decrypt", &["VALUE=secret"])] }),
        json!({ "events": [future] }),
        json!({ "events": too_many }),
    ];
    for body in cases {
        let (status, answer) = server
            .post(&format!("/teams/{team}/audit"), Some(&owner.access), body)
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
    }
    // Whatever the body says, the actor is the caller.
    let mut forged = event("decrypt", &["X"]);
    forged["actor_id"] = json!(Uuid::new_v4());
    ingest(&server, team, &owner, &[forged]).await;
    let chain = export(&server, team, &owner).await;
    assert_eq!(chain.last().unwrap().actor_id, Some(owner.id));
    server.stop().await;
}

/// Secrets live in clients' files: an over-limit count is kept, flagged
/// and answered with a warning naming the plan and the limit.
async fn secret_counts_over_the_plan_are_flagged(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Counted").await;
    on_free_plan(&server, team, &owner).await;
    let mut within = event("set", &["A"]);
    within["secret_count"] = json!(50);
    let answer = ingest(&server, team, &owner, &[within]).await;
    assert!(answer.get("plan_warning").is_none(), "{answer}");
    let mut over = event("import", &["B"]);
    over["secret_count"] = json!(51);
    let answer = ingest(&server, team, &owner, &[over]).await;
    let warning = answer["plan_warning"].as_str().expect("a warning");
    assert!(
        warning.contains("free") && warning.contains("50 secrets"),
        "{warning}"
    );
    let chain = export(&server, team, &owner).await;
    assert_eq!(chain.last().unwrap().details["over_plan_limit"], true);
    let (_, usage) = server
        .get(&format!("/teams/{team}/usage"), &owner.access)
        .await;
    assert_eq!(usage["secrets"], 51);
    assert_eq!(usage["limits"]["max_secrets"], 50);
    server.stop().await;
}

/// The team's secret count is the sum of each file's latest count: a
/// write to one file doesn't hide the others, and a late batch with an
/// older count doesn't undo a newer one.
async fn secrets_are_counted_over_all_the_teams_files(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Files").await;
    let file = |action: &str, path: char, count: u32, age_secs: i64| {
        let mut e = event(action, &["A"]);
        e["path_hash"] = json!(path.to_string().repeat(64));
        e["secret_count"] = json!(count);
        e["occurred_at"] = json!(Utc::now() - Duration::seconds(age_secs));
        e
    };
    let secrets = || async {
        let (_, usage) = server
            .get(&format!("/teams/{team}/usage"), &owner.access)
            .await;
        usage["secrets"].clone()
    };
    // Production holds 3, staging 2: 5, whichever was written last.
    ingest(
        &server,
        team,
        &owner,
        &[file("set", 'a', 3, 30), file("import", 'b', 2, 20)],
    )
    .await;
    assert_eq!(secrets().await, 5);
    // One secret less in production.
    ingest(&server, team, &owner, &[file("unset", 'a', 2, 10)]).await;
    assert_eq!(secrets().await, 4);
    // A batch another machine held back, older than what is stored: kept
    // in the trail, but not the count.
    ingest(&server, team, &owner, &[file("set", 'a', 9, 25)]).await;
    assert_eq!(secrets().await, 4);
    // Reads report no count.
    ingest(&server, team, &owner, &[event("decrypt", &["A"])]).await;
    assert_eq!(secrets().await, 4);
    server.stop().await;
}

on_both_backends!(
    secrets_are_counted_over_all_the_teams_files,
    each_event_is_stored_once_however_often_it_is_sent,
    sixth_member_of_a_free_team_is_refused_until_it_upgrades,
    queries_filter_and_page_and_exposure_lists_decrypted_names,
    client_events_are_validated,
    secret_counts_over_the_plan_are_flagged,
);
