//! The operator's web console, in process on its own listener beside the
//! API, on SQLite and PostgreSQL: who may open and post what (a table),
//! CSRF and cross-site posts, the changes and their audit, and the invoice
//! CSV equal to `admin invoices --csv`. Hardening and tokens are in
//! `console_hardening.rs`; the real binary in a real browser is
//! `console_browser.rs`.

use crate::common;

use std::process::Command;

use common::Backend;
use common::console::ConsoleServer;
use control_plane::console;
use envv_api::{Plan, Role};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

/// Every console route, opened and posted without a session, with a made-up
/// cookie, with the session of a revoked token, and with a live one: only
/// the last is let in (a page opened goes to the login page, a form posted
/// is a 401), and the public API's port has none of them.
async fn console_routes_need_a_live_session(backend: Backend) {
    let c = ConsoleServer::start(backend).await;
    let owner = c.api.signup(&common::unique_email("owner")).await;
    let member = c.api.signup(&common::unique_email("member")).await;
    let team = c.api.create_team(&owner, "Acme").await;
    c.api.add_member(team, &owner, &member, Role::Member).await;
    let live = c.session("ops").await;
    let revoked = c.session("gone").await;
    console::tokens::revoke(
        c.api.state.store.as_ref(),
        "gone",
        "test",
        control_plane::store::now(),
    )
    .await
    .unwrap();
    let made_up = "envv_console=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();
    let month = chrono::Utc::now().format("%Y-%m").to_string();

    let pages = [
        "/console/teams".to_owned(),
        "/console/teams?q=acme&sort=seats&order=desc".to_owned(),
        format!("/console/teams/{team}"),
        format!("/console/teams/{team}/plan?plan=pro"),
        format!("/console/accounts/lock?email={}", member.email),
        format!("/console/invoices?month={month}"),
        format!("/console/invoices.csv?month={month}"),
    ];
    let team_plan = format!("/console/teams/{team}/plan");
    let forms: [(&str, Vec<(&str, &str)>); 3] = [
        (&team_plan, vec![("plan", "pro")]),
        ("/console/accounts/lock", vec![("email", &member.email)]),
        ("/console/logout", vec![]),
    ];
    for (who, cookie) in [
        ("no session", None),
        ("a made-up cookie", Some(made_up.as_str())),
        ("a revoked token's session", Some(revoked.cookie.as_str())),
    ] {
        for path in &pages {
            let resp = c
                .http
                .get(c.url(path))
                .header(COOKIE, cookie.unwrap_or(""))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{who}: GET {path}");
            assert_eq!(resp.headers()[LOCATION], "/console/login", "{who}: {path}");
        }
        for (path, fields) in &forms {
            // With the live session's CSRF token: no session, no entry.
            let mut fields = fields.clone();
            fields.push(("csrf", &live.csrf));
            let (status, body) = c.post(path, cookie, &fields, &[]).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{who}: POST {path}: {body}"
            );
        }
    }
    assert_eq!(c.plan_of(team).await, Plan::DesignPartner);

    // The live session opens every page.
    for path in &pages {
        let (status, body) = c.get(path, Some(&live.cookie)).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    }
    // A revoked token no longer logs in, nor does a wrong one.
    for wrong in [revoked.token.as_str(), "envvop_wrong", ""] {
        let (status, cookie) = c.login(wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert!(cookie.is_none(), "{wrong:?}");
    }
    // The teams sort by any column, both ways, and filter by search.
    c.api.create_team(&owner, "Zeta").await;
    for (query, first, second) in [
        ("sort=seats&order=desc", "Acme", "Zeta"),
        ("sort=seats&order=asc", "Zeta", "Acme"),
        ("sort=name&order=desc", "Zeta", "Acme"),
        ("sort=created", "Acme", "Zeta"),
    ] {
        let (_, page) = c
            .get(&format!("/console/teams?{query}"), Some(&live.cookie))
            .await;
        let (a, b) = (
            page.find(&format!(">{first}<")),
            page.find(&format!(">{second}<")),
        );
        assert!(a.is_some() && a < b, "{query}: {first} before {second}");
    }
    let (_, page) = c.get("/console/teams?q=ZET", Some(&live.cookie)).await;
    assert!(
        page.contains("1 of 2 teams") && !page.contains(">Acme<"),
        "{page}"
    );
    // The listener's root leads to the teams.
    for path in ["/", "/console"] {
        let resp = c.http.get(c.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(resp.headers()[LOCATION], "/console/teams", "{path}");
    }

    // The public API's port serves none of the console's paths.
    for path in
        pages
            .iter()
            .map(String::as_str)
            .chain(["/console/login", "/console", "/console/style.css"])
    {
        let (status, _) = c.api.call("GET", path, None, None).await;
        assert_eq!(status, 404, "the API port answers {path}");
    }
    let resp = c
        .http
        .post(c.api.url("/console/login"))
        .form(&[("token", live.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// A post needs this session's CSRF token and a same-origin request: each
/// way of getting either wrong is a 403 that changes nothing.
async fn console_posts_need_csrf_and_same_origin(backend: Backend) {
    let c = ConsoleServer::start(backend).await;
    let owner = c.api.signup(&common::unique_email("owner")).await;
    let team = c.api.create_team(&owner, "Acme").await;
    let ops = c.session("ops").await;
    let other = c.session("other").await;
    let path = format!("/console/teams/{team}/plan");
    let ours = c.base.clone();
    // What is wrong, the CSRF field sent, the headers sent.
    type Case<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: [Case; 7] = [
        ("no CSRF token", None, vec![]),
        ("a wrong CSRF token", Some("00ff"), vec![]),
        ("another session's token", Some(&other.csrf), vec![]),
        (
            "another origin",
            Some(&ops.csrf),
            vec![("origin", "http://evil.example")],
        ),
        (
            "an opaque origin",
            Some(&ops.csrf),
            vec![("origin", "null")],
        ),
        (
            "a cross-site fetch",
            Some(&ops.csrf),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "a same-site page on another port",
            Some(&ops.csrf),
            vec![("sec-fetch-site", "same-site")],
        ),
    ];
    for (what, csrf, headers) in cases {
        let mut form = vec![("plan", "enterprise")];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let (status, body) = c.post(&path, Some(&ops.cookie), &form, &headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(body.contains("Refused"), "{what}: {body}");
    }
    assert_eq!(c.plan_of(team).await, Plan::DesignPartner);

    // The same post from the console's own page goes through.
    let (status, body) = c
        .post(
            &path,
            Some(&ops.cookie),
            &[("plan", "enterprise"), ("csrf", &ops.csrf)],
            &[("origin", &ours), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(c.plan_of(team).await, Plan::Enterprise);

    // Logging out ends the session: its cookie opens nothing after.
    let (status, _) = c
        .post(
            "/console/logout",
            Some(&ops.cookie),
            &[("csrf", &ops.csrf)],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = c.get("/console/teams", Some(&ops.cookie)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// A plan change and a lock and unlock through the console: the `admin`
/// CLI's own functions, audited under the token's name, as `admin team`
/// then shows them; the invoice CSV is `admin invoices --csv` to the byte.
async fn console_changes_are_the_clis_and_audited(backend: Backend) {
    let c = ConsoleServer::start(backend).await;
    let owner = c.api.signup(&common::unique_email("owner")).await;
    let member = c.api.signup(&common::unique_email("member")).await;
    let team = c.api.create_team(&owner, "Acme <b>Corp</b>").await;
    c.api.add_member(team, &owner, &member, Role::Member).await;
    let ops = c.session("ops-carol").await;
    let until = (chrono::Utc::now() + chrono::Duration::days(30))
        .date_naive()
        .to_string();

    // The confirmation page says what will change and changes nothing.
    let confirm = format!("/console/teams/{team}/plan?plan=pro&until={until}&note=deal+7");
    let (status, page) = c.get(&confirm, Some(&ops.cookie)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Change the plan of Acme &lt;b&gt;Corp&lt;/b&gt;?"),
        "{page}"
    );
    assert!(!page.contains("<b>Corp</b>"), "{page}");
    assert_eq!(c.plan_of(team).await, Plan::DesignPartner);
    // Refusals come before the confirmation: a deal ending in the past.
    let (status, page) = c
        .get(
            &format!("/console/teams/{team}/plan?plan=pro&until=2020-01-01"),
            Some(&ops.cookie),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("is not after today"), "{page}");

    let (status, page) = c
        .post(
            &format!("/console/teams/{team}/plan"),
            Some(&ops.cookie),
            &[
                ("plan", "pro"),
                ("until", &until),
                ("note", "deal 7"),
                ("csrf", &ops.csrf),
            ],
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("design_partner -&gt; pro until"), "{page}");
    assert_eq!(c.plan_of(team).await, Plan::Pro);

    for action in ["lock", "unlock"] {
        let (status, page) = c
            .get(
                &format!(
                    "/console/accounts/{action}?email={}&team={team}",
                    member.email
                ),
                Some(&ops.cookie),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let (status, page) = c
            .post(
                &format!("/console/accounts/{action}"),
                Some(&ops.cookie),
                &[
                    ("email", &member.email),
                    ("team", &team.to_string()),
                    ("csrf", &ops.csrf),
                ],
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{action}: {page}");
        if action == "lock" {
            assert!(
                page.contains("active -&gt; locked; 1 sessions revoked"),
                "{page}"
            );
            let members = c.api.state.store.member_summaries(team).await.unwrap();
            let state = members
                .iter()
                .find(|m| m.email == member.email)
                .unwrap()
                .account;
            assert_eq!(state.as_str(), "locked");
            // Locked means locked: the member's refresh token is dead.
            let (status, _) = c
                .api
                .post(
                    "/auth/refresh",
                    None,
                    serde_json::json!({ "refresh_token": member.refresh }),
                )
                .await;
            assert_eq!(status, 401);
        }
    }
    // Disable is the CLI's alone.
    let (status, _) = c
        .get(
            &format!("/console/accounts/disable?email={}", member.email),
            Some(&ops.cookie),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The audit names the operator token, and the team page and the CLI
    // both show it.
    let events = c.api.state.store.operator_events(None, 50).await.unwrap();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.details["operator"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for expected in [
        ("admin.plan", "ops-carol"),
        ("admin.account.lock", "ops-carol"),
        ("admin.account.unlock", "ops-carol"),
        ("admin.console.login", "ops-carol"),
        ("admin.token.create", "test"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
    }
    let (_, page) = c
        .get(&format!("/console/teams/{team}"), Some(&ops.cookie))
        .await;
    assert!(
        page.contains("admin.plan") && page.contains("ops-carol"),
        "{page}"
    );
    assert!(
        page.contains(&member.email) && page.contains("<svg"),
        "{page}"
    );
    let cli = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
        .args([
            "admin",
            "team",
            &team.to_string(),
            "--database-url",
            &c.api.db.url,
        ])
        .env("USER", "cli")
        .output()
        .unwrap();
    let cli = String::from_utf8(cli.stdout).unwrap();
    assert!(cli.contains("admin.plan  pro  by ops-carol"), "{cli}");
    assert!(
        cli.contains("-> pro until") && cli.contains("by operator:ops-carol — deal 7"),
        "{cli}"
    );

    // The CSV download is the CLI's output, byte for byte.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let resp = c
        .http
        .get(c.url(&format!("/console/invoices.csv?month={month}")))
        .header(COOKIE, &ops.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let csv = resp.text().await.unwrap();
    let cli = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
        .args([
            "admin",
            "invoices",
            "--month",
            &month,
            "--csv",
            "--database-url",
            &c.api.db.url,
        ])
        .output()
        .unwrap();
    assert!(cli.status.success());
    assert_eq!(csv, String::from_utf8(cli.stdout).unwrap());
    assert!(csv.contains("Acme <b>Corp</b>"), "{csv}");
    // A month that is not one is a 400 page, not a CSV.
    let (status, _) = c
        .get("/console/invoices.csv?month=2027-13", Some(&ops.cookie))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

on_both_backends!(
    console_routes_need_a_live_session,
    console_posts_need_csrf_and_same_origin,
    console_changes_are_the_clis_and_audited,
);
