//! `envv-control-plane admin …`: the real binary on the database of a
//! running server (SQLite file or PostgreSQL), its output as the operator
//! reads it, and its effects as the API's users see them.

use crate::common;

use std::process::Command;

use chrono::{Datelike, Duration, Utc};
use common::{Backend, TestServer};
use envv_api::Role;
use serde_json::{Value, json};

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `admin ARGS` on the server's database as the OS user `user`.
fn admin(server: &TestServer, user: Option<&str>, args: &[&str]) -> Out {
    let mut command = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"));
    command
        .arg("admin")
        .args(args)
        .arg("--database-url")
        .arg(&server.db.url)
        .env_remove("ENVV_OPERATOR")
        .env_remove("LOGNAME")
        .env_remove("USER");
    if let Some(user) = user {
        command.env("USER", user);
    }
    let out = command.output().expect("run envv-control-plane admin");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(out: Out) -> String {
    assert!(out.ok, "admin failed: {}", out.stderr);
    out.stdout
}

fn refused(out: Out, says: &str) {
    assert!(!out.ok, "should have failed: {}", out.stdout);
    assert!(out.stderr.contains(says), "{}", out.stderr);
}

/// The operator's commands on the teams, plans and deals, as the API's
/// users then see them.
async fn admin_lists_teams_and_sets_plans_and_deals(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&common::unique_email("owner")).await;
    let member = server.signup(&common::unique_email("member")).await;
    let team = server.create_team(&owner, "Acme Corp").await;
    server.add_member(team, &owner, &member, Role::Member).await;
    let today = Utc::now().date_naive();
    let six_months = (Utc::now() + Duration::days(envv_api::DESIGN_PARTNER_DAYS)).date_naive();

    // The list, as text: a header, one padded row per team, a count; the
    // team name's escape sequence is defused.
    let text = ok(admin(&server, Some("ops"), &["teams"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let (name, plan) = (
        "Acme Corp",
        format!("design_partner until {six_months}, then free"),
    );
    assert_eq!(
        lines[0],
        format!(
            "{:<36}  {:<w1$}  {:<w2$}  SEATS  SECRETS  EVENTS 30D  CREATED     LAST ACTIVITY",
            "TEAM",
            "NAME",
            "PLAN",
            w1 = name.chars().count(),
            w2 = plan.len()
        )
    );
    let row: Vec<&str> = lines[1]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(row[0], team.to_string());
    assert_eq!((row[1], row[2]), (name, plan.as_str()));
    // seats, secrets, events in 30 days (the team's, as its usage counts
    // them), created.
    let (status, usage) = server
        .get(&format!("/teams/{team}/usage"), &owner.access)
        .await;
    assert_eq!(status, 200, "{usage}");
    let events: u64 = usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["count"].as_u64().unwrap())
        .sum();
    assert!(events >= 3, "create, invite, join at least: {usage}");
    assert_eq!(
        &row[3..7],
        ["2", "0", &events.to_string(), &today.to_string()]
    );
    assert_eq!(lines[2], "1 teams");

    let list: Value =
        serde_json::from_str(&ok(admin(&server, None, &["teams", "--json"]))).unwrap();
    assert_eq!(list[0]["id"], team.to_string());
    assert_eq!(list[0]["plan"], "design_partner");
    assert_eq!(list[0]["deal"]["then"], "free");
    assert_eq!(list[0]["seats"], 2);
    assert_eq!(list[0]["events_30d"], events);

    // An operator names themselves, or is the OS user; either is audited.
    let out = ok(admin(
        &server,
        Some("alice"),
        &[
            "plan",
            &team.to_string(),
            "pro",
            "--note",
            "contract 42",
            "--operator",
            "ops-bob",
        ],
    ));
    assert_eq!(out, format!("Acme Corp ({team}): design_partner -> pro\n"));
    let until = today + Duration::days(10);
    let out = ok(admin(
        &server,
        Some("alice"),
        &[
            "plan",
            &team.to_string(),
            "design_partner",
            "--until",
            &until.to_string(),
        ],
    ));
    assert_eq!(
        out,
        format!("Acme Corp ({team}): pro -> design_partner until {until}, then pro\n")
    );
    refused(
        admin(
            &server,
            Some("alice"),
            &["plan", &team.to_string(), "design_partner"],
        ),
        "a design partner deal needs an end: add --until YYYY-MM-DD",
    );
    refused(
        admin(
            &server,
            Some("alice"),
            &[
                "plan",
                &team.to_string(),
                "pro",
                "--until",
                &today.to_string(),
            ],
        ),
        "is not after today",
    );
    refused(
        admin(&server, None, &["plan", &team.to_string(), "pro"]),
        "pass --operator NAME",
    );
    refused(
        admin(&server, Some("alice"), &["plan", "Nope", "pro"]),
        "no team is named \"Nope\"",
    );
    refused(
        admin(&server, Some("alice"), &["plan", &team.to_string(), "gold"]),
        "one of design_partner, free, starter, pro, enterprise",
    );

    // The team's owners see the deal, its warning and the operator's
    // actions in their audit trail.
    let (status, usage) = server
        .get(&format!("/teams/{team}/usage"), &owner.access)
        .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["plan"], "design_partner");
    assert_eq!(usage["deal"]["then"], "pro");
    assert_eq!(usage["deal"]["until"], format!("{until}T00:00:00Z"));
    assert_eq!(usage["limits"]["price_per_seat_cents"], 0);
    let (status, audit) = server
        .get(
            &format!("/teams/{team}/audit?action=admin.plan"),
            &owner.access,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let operators: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"]["operator"].as_str().unwrap())
        .collect();
    assert_eq!(operators, ["ops-bob", "alice"]);

    // One team, by name once it is unique.
    let text = ok(admin(&server, None, &["team", &team.to_string()]));
    for expected in [
        format!("team:          Acme Corp ({team})"),
        format!("plan:          design_partner until {until}, then pro"),
        format!(
            "use:           2 seats, 0 secrets, {} events in 30 days",
            events + 2
        ),
        format!("  owner   {}", owner.email.to_lowercase()),
        format!("  member  {}", member.email.to_lowercase()),
        "design_partner -> pro  by operator:ops-bob — contract 42".to_owned(),
        format!("pro -> design_partner until {until}  by operator:alice"),
        "admin.plan  design_partner  by alice".to_owned(),
        "admin.plan  pro  by ops-bob".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in\n{text}");
    }
    let detail: Value = serde_json::from_str(&ok(admin(
        &server,
        None,
        &["team", &team.to_string(), "--json"],
    )))
    .unwrap();
    assert_eq!(detail["members"].as_array().unwrap().len(), 2);
    assert_eq!(detail["plan_history"][1]["note"], Value::Null);
    assert_eq!(detail["plan_history"][0]["note"], "contract 42");
    server.stop().await;
}

/// An owner picks free, starter or pro; enterprise and design partner are
/// the operator's.
async fn owners_cannot_pick_the_operators_plans(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&common::unique_email("owner")).await;
    let team = server.create_team(&owner, "Acme").await;
    for plan in ["enterprise", "design_partner"] {
        let (status, body) = server
            .post(
                &format!("/teams/{team}/billing"),
                Some(&owner.access),
                json!({ "plan": plan, "billing_email": "bill@acme.io" }),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "operator_plan");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("contact us"), "{message}");
        assert!(
            message.contains("owners can pick free, starter or pro"),
            "{message}"
        );
    }
    // Pro is the owner's to pick, at once during a new team's first six
    // months; during the operator's deal it is what follows the deal.
    ok(admin(
        &server,
        Some("ops"),
        &[
            "plan",
            &team.to_string(),
            "design_partner",
            "--until",
            "2099-01-01",
        ],
    ));
    let (status, body) = server
        .post(
            &format!("/teams/{team}/billing"),
            Some(&owner.access),
            json!({ "plan": "pro", "billing_email": "bill@acme.io" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan"], "design_partner");
    assert_eq!(body["deal"]["then"], "pro");
    server.stop().await;
}

/// Lock and disable revoke sessions and refuse logins; unlock lets the
/// person back in; each is audited with the operator.
async fn admin_locks_unlocks_and_disables_accounts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let person = server.signup(&common::unique_email("Person")).await;
    let email = person.email.to_lowercase();

    let out = ok(admin(
        &server,
        Some("ops"),
        &["account", &person.email, "lock"],
    ));
    assert_eq!(
        out,
        format!("{}: active -> locked; 1 sessions revoked\n", person.email)
    );
    let (status, _) = server
        .post(
            "/auth/refresh",
            None,
            json!({ "refresh_token": person.refresh }),
        )
        .await;
    assert_eq!(status, 401, "the session is revoked");
    let (status, _) = server
        .post("/auth/login", None, person.creds.login_body())
        .await;
    assert_eq!(status, 401, "a locked account can't log in");

    let out = ok(admin(&server, Some("ops"), &["account", &email, "unlock"]));
    assert_eq!(out, format!("{}: locked -> active\n", person.email));
    let (status, body) = server
        .post("/auth/login", None, person.creds.login_body())
        .await;
    assert_eq!(status, 200, "{body}");

    let out = ok(admin(&server, Some("ops"), &["account", &email, "disable"]));
    assert_eq!(
        out,
        format!("{}: active -> disabled; 1 sessions revoked\n", person.email)
    );
    refused(
        admin(&server, Some("ops"), &["account", &email, "unlock"]),
        "is disabled for good; unlock does not undo disable",
    );
    refused(
        admin(
            &server,
            Some("ops"),
            &["account", "nobody@example.com", "lock"],
        ),
        "no account has the email nobody@example.com",
    );
    refused(
        admin(&server, Some("ops"), &["account", &email, "delete"]),
        "invalid value 'delete'",
    );
    server.stop().await;
}

/// The month's invoices as text and CSV, equal to what the owners'
/// preview says, and the weekly stats.
async fn admin_invoices_match_previews_and_stats_count(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.signup(&common::unique_email("owner")).await;
    let team = server.create_team(&owner, "=cmd|' /C calc'!A0").await;
    for _ in 0..2 {
        let member = server.signup(&common::unique_email("m")).await;
        server.add_member(team, &owner, &member, Role::Member).await;
    }
    ok(admin(
        &server,
        Some("ops"),
        &["plan", &team.to_string(), "starter"],
    ));
    let now = Utc::now();
    let month = now.format("%Y-%m").to_string();
    let (status, usage) = server
        .get(&format!("/teams/{team}/usage"), &owner.access)
        .await;
    assert_eq!(status, 200, "{usage}");
    let preview = usage["invoice_preview"]["monthly_total_cents"]
        .as_u64()
        .unwrap();

    let csv = ok(admin(
        &server,
        None,
        &["invoices", "--month", &month, "--csv"],
    ));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "team_id,team,billing_email,plan,billable_seats,seat_days,amount,amount_cents,currency,period_start,period_end"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    let first = now.date_naive().with_day(1).unwrap();
    let last = (first + chrono::Months::new(1)).pred_opt().unwrap();
    // Created today on the design partner plan, starter from today: the
    // days before the team existed count no seat.
    let days_held = u64::from(last.day() - now.day() + 1);
    let expected_cents = (days_held * 3 * 900 + u64::from(last.day()) / 2) / u64::from(last.day());
    assert_eq!(preview, expected_cents, "the preview prorates by the day");
    assert_eq!(
        lines[1],
        format!(
            "{team},'=cmd|' /C calc'!A0,,starter,3,{},{}.{:02},{preview},USD,{first},{last}",
            days_held * 3,
            preview / 100,
            preview % 100
        )
    );

    let text = ok(admin(&server, None, &["invoices", "--month", &month]));
    assert!(text.starts_with("TEAM "), "{text}");
    assert!(
        text.contains(&format!("{}.{:02} USD", preview / 100, preview % 100)),
        "{text}"
    );
    assert!(text.contains("1 invoices,"), "{text}");
    refused(
        admin(&server, None, &["invoices", "--month", "2027-13"]),
        "is not a month: give YYYY-MM",
    );

    let stats: Value = serde_json::from_str(&ok(admin(
        &server,
        None,
        &["stats", "--weeks", "2", "--json"],
    )))
    .unwrap();
    let weeks = stats.as_array().unwrap();
    assert_eq!(weeks.len(), 2);
    assert_eq!(weeks[1]["signups"], 3);
    assert_eq!(weeks[1]["active_teams"], 1);
    assert_eq!(weeks[1]["decrypts"], 0);
    let text = ok(admin(&server, None, &["stats", "--weeks", "1"]));
    let monday = now.date_naive() - Duration::days(i64::from(now.weekday().num_days_from_monday()));
    assert_eq!(
        text,
        format!(
            "WEEK OF     SIGNUPS  ACTIVE TEAMS  DECRYPTS\n{monday}  3        1             0\n"
        )
    );
    server.stop().await;
}

on_both_backends!(
    admin_lists_teams_and_sets_plans_and_deals,
    owners_cannot_pick_the_operators_plans,
    admin_locks_unlocks_and_disables_accounts,
    admin_invoices_match_previews_and_stats_count,
);
