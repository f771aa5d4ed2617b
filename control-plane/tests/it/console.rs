//! The operator's web console, in process on its own listener beside the
//! API, on SQLite and PostgreSQL: who may open and post what (a table),
//! CSRF and cross-site posts, the changes and their audit, escaping,
//! security headers, and the invoice CSV equal to `admin invoices --csv`.
//! The real binary in a real browser is `console_browser.rs`.

use crate::common;

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::{Backend, TestServer};
use control_plane::console::{self, Console};
use envv_api::{Plan, Role};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use tokio::sync::oneshot;
use uuid::Uuid;

/// The API server and, beside it on another port, its console.
struct ConsoleServer {
    api: TestServer,
    base: String,
    /// No redirects followed, no cookie jar: each test says what it sends.
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl ConsoleServer {
    async fn start(backend: Backend) -> ConsoleServer {
        Self::start_with(backend, |_| {}).await
    }

    async fn start_with(backend: Backend, tune: impl FnOnce(&mut Console)) -> ConsoleServer {
        let api = TestServer::start(backend).await;
        let mut console = Console::new(api.state.clone(), false);
        tune(&mut console);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(console::serve(listener, console, async {
            let _ = rx.await;
        }));
        ConsoleServer {
            api,
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            _stop: tx,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An operator token, as `admin token create` makes it.
    async fn token(&self, name: &str) -> String {
        let out = console::tokens::create(
            self.api.state.store.as_ref(),
            name,
            "test",
            control_plane::store::now(),
        )
        .await
        .unwrap();
        out.lines().next().unwrap().to_owned()
    }

    /// Logs in with `token`: the session cookie (`name=value`), if any.
    async fn login(&self, token: &str) -> (StatusCode, Option<String>) {
        let resp = self
            .http
            .post(self.url("/console/login"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        let cookie = resp
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        (resp.status(), cookie)
    }

    async fn session(&self, name: &str) -> Session {
        let token = self.token(name).await;
        let (status, cookie) = self.login(&token).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = cookie.expect("a session cookie");
        let page = self.get("/console/teams", Some(&cookie)).await.1;
        Session {
            cookie,
            csrf: csrf_in(&page).expect("the page's CSRF field"),
            token,
        }
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
        let mut req = self.http.get(self.url(path));
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut req = self.http.post(self.url(path)).form(form);
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn plan_of(&self, team: Uuid) -> Plan {
        let teams = self
            .api
            .state
            .store
            .team_summaries(control_plane::store::now())
            .await
            .unwrap();
        teams.iter().find(|t| t.id == team).unwrap().plan
    }
}

struct Session {
    cookie: String,
    csrf: String,
    token: String,
}

/// The value of the first `name="csrf"` hidden field of a page.
fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(page[at..].split('"').next()?.to_owned())
}

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
    // A revoked token no longer logs in.
    assert_eq!(c.login(&revoked.token).await.0, StatusCode::UNAUTHORIZED);

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
    let cases: [Case; 6] = [
        ("no CSRF token", None, vec![]),
        ("a wrong CSRF token", Some("00ff"), vec![]),
        ("another session's token", Some(&other.csrf), vec![]),
        (
            "another origin",
            Some(&ops.csrf),
            vec![("origin", "http://evil.example")],
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

/// Every answer carries the security headers, team names are escaped, a
/// search is bounded, failed logins are limited per address, and a
/// session lasts no longer than it should.
async fn console_pages_are_hardened(backend: Backend) {
    let c = ConsoleServer::start_with(backend, |console| {
        console.session_ttl = Duration::ZERO;
    })
    .await;
    let owner = c.api.signup(&common::unique_email("owner")).await;
    c.api.create_team(&owner, "<script>alert(1)</script>").await;
    let token = c.token("ops").await;
    for path in [
        "/console/login",
        "/console/teams",
        "/console/nowhere",
        "/console/style.css",
    ] {
        let resp = c.http.get(c.url(path)).send().await.unwrap();
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    // A session that expired at once lets nothing in.
    let (status, cookie) = c.login(&token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.unwrap();
    assert_eq!(
        c.get("/console/teams", Some(&cookie)).await.0,
        StatusCode::SEE_OTHER
    );

    let c = ConsoleServer::start(backend).await;
    let owner = c.api.signup(&common::unique_email("owner")).await;
    c.api.create_team(&owner, "<script>alert(1)</script>").await;
    let ops = c.session("ops").await;
    let (_, page) = c.get("/console/teams?q=%3Cscript", Some(&ops.cookie)).await;
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("1 of 1 teams"), "{page}");
    let long = format!("/console/teams?q={}", "a".repeat(201));
    assert_eq!(
        c.get(&long, Some(&ops.cookie)).await.0,
        StatusCode::BAD_REQUEST
    );
    let big = "x".repeat(console::MAX_FORM_BYTES + 1);
    let (status, _) = c
        .post("/console/login", None, &[("token", &big)], &[])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Ten wrong tokens from one address, then even the right one waits.
    for _ in 0..10 {
        assert_eq!(c.login("envvop_wrong").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(c.login(&ops.token).await.0, StatusCode::TOO_MANY_REQUESTS);
}

/// `admin token create|list|revoke` on the real binary: the token printed
/// once and never listed, names never reused, revocation ending sessions.
async fn operator_tokens_from_the_command_line(backend: Backend) {
    let c = ConsoleServer::start(backend).await;
    let admin = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
            .arg("admin")
            .args(args)
            .args(["--database-url", &c.api.db.url, "--operator", "root-ops"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, out, err) = admin(&["token", "create", "--name", "dave"]);
    assert!(ok, "{err}");
    let token = out.lines().next().unwrap().to_owned();
    assert!(token.starts_with("envvop_") && token.len() == 50, "{out}");
    let (ok, _, err) = admin(&["token", "create", "--name", "dave"]);
    assert!(!ok && err.contains("never reused"), "{err}");

    let (status, cookie) = c.login(&token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.unwrap();
    // Neither the token nor the session cookie is in the database in
    // clear, hex or base64; their SHA-256 is.
    let dump = common::dump(&c.api).await;
    let cookie_value = cookie.split_once('=').unwrap().1.to_owned();
    for secret in [token.as_str(), cookie_value.as_str()] {
        for form in [
            secret.to_owned(),
            hex::encode(secret),
            base64::engine::general_purpose::STANDARD.encode(secret),
        ] {
            assert!(
                !dump.windows(form.len()).any(|w| w == form.as_bytes()),
                "a token or cookie is in the database"
            );
        }
    }
    let (ok, list, _) = admin(&["token", "list"]);
    assert!(ok);
    assert!(
        list.contains("dave") && list.contains("root-ops") && list.contains("live"),
        "{list}"
    );
    assert!(!list.contains(&token[7..]), "the list shows no token");

    let (ok, out, err) = admin(&["token", "revoke", "dave"]);
    assert!(ok, "{err}");
    assert!(out.contains("revoked"), "{out}");
    assert_eq!(
        c.get("/console/teams", Some(&cookie)).await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(c.login(&token).await.0, StatusCode::UNAUTHORIZED);
    let (ok, _, err) = admin(&["token", "revoke", "dave"]);
    assert!(!ok && err.contains("no live token"), "{err}");
    let events = c.api.state.store.operator_events(None, 10).await.unwrap();
    let revoke = events
        .iter()
        .find(|e| e.action == "admin.token.revoke")
        .unwrap();
    assert_eq!(revoke.details["operator"], "root-ops");
    assert_eq!(revoke.details["sessions_ended"], 1);
}

on_both_backends!(
    console_routes_need_a_live_session,
    console_posts_need_csrf_and_same_origin,
    console_changes_are_the_clis_and_audited,
    console_pages_are_hardened,
    operator_tokens_from_the_command_line,
);
