//! The audit hash chain on a real server and database: tampering found,
//! fail-closed writes, one chain across replicas, exports that verify,
//! retention that keeps the rest verifiable.

use crate::common;

use chrono::{Duration, Utc};
use common::audit::{event, exec_sql, export, ingest, team_with_events, usage_count};
use common::{Backend, TestServer, unique_email};
use envv_api::{AuditEntry, BreakKind, ChainBreak, Role, verify_chain};
use serde_json::{Value, json};
use uuid::Uuid;

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
    let (status, _) = server.set_role(team, &owner, member.id, Role::Admin).await;
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
        1 + 3 + 2400,
        "team.create, invite, join, grant, the events"
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

on_both_backends!(
    verify_names_the_first_edited_deleted_or_inserted_row,
    a_change_whose_audit_row_fails_is_not_applied,
    retention_deletes_a_prefix_and_the_rest_still_verifies,
    two_replicas_appending_at_once_keep_one_chain,
    exports_span_pages_and_verify_in_both_formats,
);
