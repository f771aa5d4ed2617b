//! Helpers of the audit tests: statements on the test's own database,
//! client events, ingestion and export over HTTP.

use chrono::Utc;
use envv_api::AuditEntry;
use serde_json::{Value, json};
use sqlx::Connection;
use uuid::Uuid;

use super::{Backend, TestServer, TestUser};

/// Runs one statement on the test's own database, `$1` bound to `team`
/// and `$2` to `extra`.
pub async fn exec_sql(server: &TestServer, sql: &str, team: Uuid, extra: Option<Uuid>) {
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

pub fn event(action: &str, secrets: &[&str]) -> Value {
    json!({
        "id": Uuid::new_v4(),
        "action": action,
        "occurred_at": Utc::now(),
        "secret_names": secrets,
    })
}

pub async fn ingest(server: &TestServer, team: Uuid, user: &TestUser, events: &[Value]) -> Value {
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
pub async fn export(server: &TestServer, team: Uuid, user: &TestUser) -> Vec<AuditEntry> {
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

pub async fn team_with_events(server: &TestServer, owner: &TestUser, n: usize) -> Uuid {
    let team = server.create_team(owner, "Audited").await;
    let events: Vec<Value> = (0..n).map(|_| event("decrypt", &["API_KEY"])).collect();
    ingest(server, team, owner, &events).await;
    team
}

pub async fn usage_count(server: &TestServer, team: Uuid, user: &TestUser, action: &str) -> u64 {
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
