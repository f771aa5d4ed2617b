//! The audit trail on a real server and database: the hash chain against
//! tampering in the database, fail-closed writes, exactly-once ingestion,
//! queries, exposure, retention, usage and plan limits.

mod common;

use chrono::{Duration, Utc};
use common::{Backend, TestServer, TestUser, unique_email};
use envv_api::{AuditEntry, BreakKind, ChainBreak, Role, verify_chain};
use serde_json::{Value, json};
use sqlx::Connection;
use uuid::Uuid;

/// Runs one statement on the test's own database, `$1` bound to `team`
/// and `$2` to `extra`.
async fn exec_sql(server: &TestServer, sql: &str, team: Uuid, extra: Option<Uuid>) {
    let has_params = sql.contains("$1");
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match server.db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&server.db.url)
                .await
                .unwrap();
            let mut q = sqlx::query(sql);
            if has_params {
                q = q.bind(team);
            }
            if let Some(x) = extra {
                q = q.bind(x);
            }
            q.execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&server.db.url).await.unwrap();
            let mut q = sqlx::query(sql);
            if has_params {
                q = q.bind(team);
            }
            if let Some(x) = extra {
                q = q.bind(x);
            }
            q.execute(&mut conn).await.unwrap();
        }
    }
}

fn event(action: &str, secrets: &[&str]) -> Value {
    json!({
        "id": Uuid::new_v4(),
        "action": action,
        "occurred_at": Utc::now(),
        "secret_names": secrets,
    })
}

async fn ingest(server: &TestServer, team: Uuid, user: &TestUser, events: &[Value]) -> Value {
    let (status, body) = server
        .post(
            &format!("/teams/{team}/audit"),
            Some(&user.access),
            json!({ "events": events }),
        )
        .await;
    assert_eq!(status, 200, "ingest: {body}");
    body
}

/// The team's export as JSON lines, parsed.
async fn export(server: &TestServer, team: Uuid, user: &TestUser) -> Vec<AuditEntry> {
    let resp = server
        .http
        .get(server.url(&format!("/teams/{team}/audit/export?format=jsonl")))
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("export line"))
        .collect()
}

async fn team_with_events(server: &TestServer, owner: &TestUser, n: usize) -> Uuid {
    let team = server.create_team(owner, "Audited").await;
    let events: Vec<Value> = (0..n).map(|_| event("decrypt", &["API_KEY"])).collect();
    ingest(server, team, owner, &events).await;
    team
}

async fn verify_names_the_first_edited_deleted_or_inserted_row(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;

    let untouched = team_with_events(&server, &owner, 8).await;
    let chain = export(&server, untouched, &owner).await;
    assert_eq!(chain.len(), 9, "team.create and eight events");
    assert_eq!(verify_chain(&chain), Ok(()));

    let edited = team_with_events(&server, &owner, 8).await;
    exec_sql(
        &server,
        "UPDATE audit_events SET action = 'exec' WHERE team_id = $1 AND chain_seq = 4",
        edited,
        None,
    )
    .await;
    let chain = export(&server, edited, &owner).await;
    assert_eq!(
        verify_chain(&chain),
        Err(ChainBreak {
            index: 3,
            chain_seq: 4,
            kind: BreakKind::Edited
        })
    );

    let deleted = team_with_events(&server, &owner, 8).await;
    exec_sql(
        &server,
        "DELETE FROM audit_events WHERE team_id = $1 AND chain_seq = 5",
        deleted,
        None,
    )
    .await;
    let chain = export(&server, deleted, &owner).await;
    assert_eq!(
        verify_chain(&chain),
        Err(ChainBreak {
            index: 4,
            chain_seq: 5,
            kind: BreakKind::Deleted
        })
    );

    // Inserting needs room: shift the rows from 6 up by one, then forge a
    // row at 6 linked to row 5.
    let inserted = team_with_events(&server, &owner, 8).await;
    exec_sql(
        &server,
        "UPDATE audit_events SET chain_seq = -chain_seq WHERE team_id = $1 AND chain_seq >= 6",
        inserted,
        None,
    )
    .await;
    exec_sql(
        &server,
        "UPDATE audit_events SET chain_seq = 1 - chain_seq WHERE team_id = $1 AND chain_seq < 0",
        inserted,
        None,
    )
    .await;
    exec_sql(
        &server,
        "INSERT INTO audit_events (event_id, team_id, actor_id, action, target, details, \
         occurred_at, chain_seq, prev_hash, hash) \
         SELECT $2, team_id, actor_id, 'decrypt', target, details, occurred_at, 6, hash, hash \
         FROM audit_events WHERE team_id = $1 AND chain_seq = 5",
        inserted,
        Some(Uuid::new_v4()),
    )
    .await;
    let chain = export(&server, inserted, &owner).await;
    assert_eq!(
        verify_chain(&chain),
        Err(ChainBreak {
            index: 5,
            chain_seq: 6,
            kind: BreakKind::Inserted
        })
    );
    // The first team is still intact beside the tampered ones.
    assert_eq!(
        verify_chain(&export(&server, untouched, &owner).await),
        Ok(())
    );
    server.stop().await;
}

/// A trigger makes the audit insert of one action fail: the change it
/// records must not happen.
async fn a_change_whose_audit_row_fails_is_not_applied(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let member = server.signup(&unique_email("member")).await;
    let team = server.create_team(&owner, "Fail closed").await;
    server.add_member(team, &owner, &member, Role::Member).await;
    let nil = Uuid::nil();
    match backend {
        Backend::Sqlite => {
            exec_sql(
                &server,
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 WHEN NEW.action IN ('role.change', 'decrypt', 'plan.change') \
                 BEGIN SELECT RAISE(ABORT, 'audit refused'); END",
                nil,
                None,
            )
            .await
        }
        Backend::Postgres => {
            exec_sql(
                &server,
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.action IN ('role.change', 'decrypt', 'plan.change') THEN \
                 RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END $$",
                nil,
                None,
            )
            .await;
            exec_sql(
                &server,
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
                nil,
                None,
            )
            .await;
        }
    }
    let (status, _) = server
        .call(
            "PUT",
            &format!("/teams/{team}/members/{}/role", member.id),
            Some(&owner.access),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(status, 500);
    let (_, members) = server
        .get(&format!("/teams/{team}/members"), &owner.access)
        .await;
    let role = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == json!(member.id))
        .map(|m| m["role"].clone());
    assert_eq!(role, Some(json!("member")), "the role change was applied");

    let (status, _) = server
        .post(
            &format!("/teams/{team}/billing"),
            Some(&owner.access),
            json!({ "plan": "pro", "billing_email": "pay@example.com" }),
        )
        .await;
    assert_eq!(status, 500);
    let (_, usage) = server
        .get(&format!("/teams/{team}/usage"), &owner.access)
        .await;
    assert_eq!(
        usage["plan"], "design_partner",
        "the plan change was applied"
    );

    // A batch is one transaction: one refused event refuses it all.
    let (status, _) = server
        .post(
            &format!("/teams/{team}/audit"),
            Some(&owner.access),
            json!({ "events": [event("exec", &["A"]), event("decrypt", &["B"])] }),
        )
        .await;
    assert_eq!(status, 500);
    let chain = export(&server, team, &owner).await;
    assert!(
        chain.iter().all(|e| e.action != "exec"),
        "part of the batch was stored"
    );
    assert_eq!(verify_chain(&chain), Ok(()));
    server.stop().await;
}

async fn usage_count(server: &TestServer, team: Uuid, user: &TestUser, action: &str) -> u64 {
    let (status, usage) = server
        .get(&format!("/teams/{team}/usage"), &user.access)
        .await;
    assert_eq!(status, 200, "{usage}");
    usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["action"] == action)
        .map(|d| d["count"].as_u64().unwrap())
        .sum()
}

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

async fn sixth_member_of_a_free_team_is_refused_until_it_upgrades(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Small").await;
    let (status, body) = server
        .post(
            &format!("/teams/{team}/billing"),
            Some(&owner.access),
            json!({ "plan": "free", "billing_email": "pay@example.com" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
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
        let body = json!({ "accept_token": invite.accept_token });
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
    let (status, body) = server
        .post(
            &format!("/teams/{team}/invite"),
            Some(&owner.access),
            json!({ "id": Uuid::new_v4(), "email": unique_email("seventh"), "role": "member",
                    "accept_token_hash": common::accept_token().1 }),
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
    assert_eq!(usage["invoice_preview"]["monthly_total_cents"], 6 * 900);
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

    // Paging two at a time walks the whole chain in order, once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".into(),
        };
        let page = query(q).await;
        for e in page["events"].as_array().unwrap() {
            seen.push(e["chain_seq"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let all = export(&server, team, &owner).await;
    assert_eq!(seen, all.iter().map(|e| e.chain_seq).collect::<Vec<_>>());
    for bad in [
        "limit=0",
        "limit=1001",
        "cursor=nonsense",
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

async fn retention_deletes_a_prefix_and_the_rest_still_verifies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = team_with_events(&server, &owner, 10).await;
    let (status, _) = server
        .post(
            &format!("/teams/{team}/billing"),
            Some(&owner.access),
            json!({ "plan": "free", "billing_email": "pay@example.com" }),
        )
        .await;
    assert_eq!(status, 200);
    let store = &server.state.store;
    assert_eq!(store.apply_retention(Utc::now()).await.unwrap(), 0);
    // Age the first six rows past the free plan's 30 days.
    let aged = Utc::now() - Duration::days(31);
    let sql = match backend {
        Backend::Sqlite => format!(
            "UPDATE audit_events SET recorded_at = '{}' WHERE team_id = $1 AND chain_seq <= 6",
            aged.format("%F %T%.f+00:00")
        ),
        Backend::Postgres => format!(
            "UPDATE audit_events SET recorded_at = '{}' WHERE team_id = $1 AND chain_seq <= 6",
            aged.to_rfc3339()
        ),
    };
    exec_sql(&server, &sql, team, None).await;
    assert_eq!(store.apply_retention(Utc::now()).await.unwrap(), 6);
    let chain = export(&server, team, &owner).await;
    assert_eq!(chain.first().map(|e| e.chain_seq), Some(7));
    assert_eq!(verify_chain(&chain), Ok(()));
    // The chain goes on from its head.
    ingest(&server, team, &owner, &[event("exec", &[])]).await;
    assert_eq!(verify_chain(&export(&server, team, &owner).await), Ok(()));
    assert_eq!(
        usage_count(&server, team, &owner, "decrypt").await,
        10,
        "usage outlives retention"
    );
    server.stop().await;
}

/// Two replicas on one database append at once (client batches and key
/// fetches, which are audited): one chain, no gaps, no fork.
async fn two_replicas_appending_at_once_keep_one_chain(backend: Backend) {
    let server = TestServer::start(backend).await;
    let replica = common::process::Replica::start(&server);
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Replicated").await;
    let bases = [server.url(""), replica.base.clone()];
    let mut tasks = Vec::new();
    for round in 0..8 {
        let base = bases[round % 2].clone();
        let http = server.http.clone();
        let token = owner.access.clone();
        tasks.push(tokio::spawn(async move {
            let events: Vec<Value> = (0..25).map(|_| event("decrypt", &["K"])).collect();
            let ingest = http
                .post(format!("{base}/teams/{team}/audit"))
                .bearer_auth(&token)
                .json(&json!({ "events": events }))
                .send()
                .await
                .unwrap()
                .status();
            let fetch = http
                .get(format!("{base}/teams/{team}/keys"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .status();
            (ingest.as_u16(), fetch.as_u16())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), (200, 200));
    }
    let chain = export(&server, team, &owner).await;
    assert_eq!(verify_chain(&chain), Ok(()));
    assert_eq!(
        chain.len(),
        1 + 8 * 25 + 8,
        "team.create, the events, the key fetches"
    );
    assert_eq!(chain.last().map(|e| e.chain_seq), Some(chain.len() as i64));
    drop(replica);
    server.stop().await;
}

/// A minimal RFC 4180 reader: quoted fields, doubled quotes, newlines in quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

fn entry_from_csv(row: &[String]) -> AuditEntry {
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    AuditEntry {
        team_id: row[0].parse().unwrap(),
        chain_seq: row[1].parse().unwrap(),
        event_id: row[2].parse().unwrap(),
        actor_id: opt(&row[3]).map(|a| a.parse().unwrap()),
        action: row[4].clone(),
        target: opt(&row[5]),
        details: serde_json::from_str(&row[6]).unwrap(),
        occurred_at: row[7].parse().unwrap(),
        prev_hash: row[8].clone(),
        hash: row[9].clone(),
    }
}

/// Exports run over several pages and verify as JSON lines and as CSV.
async fn exports_span_pages_and_verify_in_both_formats(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let member = server.signup(&unique_email("member")).await;
    let team = server.create_team(&owner, "Exported, \"quoted\"").await;
    server.add_member(team, &owner, &member, Role::Member).await;
    for _ in 0..3 {
        let events: Vec<Value> = (0..800).map(|_| event("decrypt", &["A", "B"])).collect();
        ingest(&server, team, &member, &events).await;
    }
    let jsonl = export(&server, team, &member).await;
    assert_eq!(
        jsonl.len(),
        1 + 2 + 2400,
        "team.create, invite, join, the events"
    );
    assert_eq!(verify_chain(&jsonl), Ok(()));

    let resp = server
        .http
        .get(server.url(&format!("/teams/{team}/audit/export?format=csv")))
        .bearer_auth(&member.access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let rows = parse_csv(&resp.text().await.unwrap());
    assert_eq!(rows[0][0], "team_id");
    let csv: Vec<AuditEntry> = rows[1..].iter().map(|r| entry_from_csv(r)).collect();
    assert_eq!(csv, jsonl);
    assert_eq!(verify_chain(&csv), Ok(()));
    let (status, _) = server
        .get(
            &format!("/teams/{team}/audit/export?format=xml"),
            &member.access,
        )
        .await;
    assert_eq!(status, 400);
    server.stop().await;
}

/// Secrets live in clients' files: an over-limit count is kept, flagged
/// and answered with a warning naming the plan and the limit.
async fn secret_counts_over_the_plan_are_flagged(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&unique_email("owner")).await;
    let team = server.create_team(&owner, "Counted").await;
    let (status, _) = server
        .post(
            &format!("/teams/{team}/billing"),
            Some(&owner.access),
            json!({ "plan": "free", "billing_email": "pay@example.com" }),
        )
        .await;
    assert_eq!(status, 200);
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

on_both_backends!(
    exports_span_pages_and_verify_in_both_formats,
    secret_counts_over_the_plan_are_flagged,
    two_replicas_appending_at_once_keep_one_chain,
    verify_names_the_first_edited_deleted_or_inserted_row,
    a_change_whose_audit_row_fails_is_not_applied,
    each_event_is_stored_once_however_often_it_is_sent,
    sixth_member_of_a_free_team_is_refused_until_it_upgrades,
    queries_filter_and_page_and_exposure_lists_decrypted_names,
    client_events_are_validated,
    retention_deletes_a_prefix_and_the_rest_still_verifies,
);
