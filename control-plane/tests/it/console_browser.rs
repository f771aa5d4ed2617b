//! The operator's console in a real browser: headless Chromium, driven
//! over WebDriver, against the real `envv-control-plane` binary serving
//! the console on `--admin-listen`. An operator is refused without a token
//! and with a wrong one, logs in, finds a team, changes its plan and locks
//! an account through the confirmation pages, downloads the invoice CSV
//! (equal to `admin invoices --csv`), and a cross-site form post from
//! another page is refused. Each page's screenshot is kept in
//! `<target>/console-screenshots/<backend>/` for review.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::response::Html;
use common::process::Replica;
use common::webdriver::Browser;
use common::{Backend, TestServer};
use envv_api::Role;

/// `<target>/console-screenshots/<backend>`, emptied: the test binary is
/// in `<target>/<profile>/deps`.
fn screenshot_dir(backend: Backend) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("a test runs from <target>/<profile>/deps");
    let dir = target
        .join("console-screenshots")
        .join(format!("{backend:?}").to_lowercase());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

fn cli(server: &TestServer, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
        .arg("admin")
        .args(args)
        .args(["--database-url", &server.db.url, "--operator", "root"])
        .output()
        .expect("run admin");
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Waits for the one file Chromium finishes downloading into `dir`.
async fn downloaded(dir: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("downloads")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        if let [file] = done.as_slice() {
            return file.clone();
        }
        assert!(Instant::now() < deadline, "no CSV was downloaded in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Serves, on another port of the same host (same site, another origin),
/// a page whose form posts a plan change to the console without the CSRF
/// token: what a hostile page the operator opens could do.
async fn hostile_page(target: String) -> String {
    let page = format!(
        "<!doctype html><title>Win a prize</title><h1>Win a prize</h1>\
         <form method=post action=\"{target}\">\
         <input type=hidden name=plan value=enterprise>\
         <button id=go type=submit>Claim</button></form>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { Html(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn console_in_a_real_browser(backend: Backend) {
    let shots = screenshot_dir(backend);
    println!("console screenshots: {}", shots.display());
    let server = TestServer::start(backend).await;
    let owner = server.signup(&common::unique_email("owner")).await;
    let member = server.signup(&common::unique_email("member")).await;
    let acme = server.create_team(&owner, "Acme Rockets").await;
    server.add_member(acme, &owner, &member, Role::Admin).await;
    let globex = server.create_team(&owner, "Globex").await;
    server.create_team(&member, "Initech <script>").await;
    cli(&server, &["plan", &globex.to_string(), "enterprise"]);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let _replica = Replica::start_with(&server, &["--admin-listen", &format!("127.0.0.1:{port}")]);
    let console = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the console did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = cli(&server, &["token", "create", "--name", "browser-ops"]);
    let token = token.lines().next().unwrap();

    let downloads = tempfile::tempdir().unwrap();
    let b = Browser::start(downloads.path()).await;

    // No token: the console's pages send the browser to the login page.
    b.goto(&format!("{console}/console/teams")).await;
    assert_eq!(b.url().await, format!("{console}/console/login"));
    b.screenshot(&shots, "01-login").await;

    // A wrong token is refused.
    b.type_into(&b.find("#token").await, "envvop_not-a-real-token")
        .await;
    b.click(&b.find("button[type=submit]").await).await;
    b.wait_for_text("That is not a live operator token.").await;
    assert_eq!(b.url().await, format!("{console}/console/login"));
    b.screenshot(&shots, "02-wrong-token").await;

    // The right one lands on the teams.
    b.type_into(&b.find("#token").await, token).await;
    b.click(&b.find("section.login button[type=submit]").await)
        .await;
    b.wait_for_url(&format!("{console}/console/teams")).await;
    let text = b.page_text().await;
    assert!(
        text.contains("signed in as browser-ops") && text.contains("3 of 3 teams"),
        "{text}"
    );
    assert!(
        text.contains("Initech <script>"),
        "the name shown as text: {text}"
    );
    b.screenshot(&shots, "03-teams").await;

    // Find a team by searching, sorted by seats.
    b.type_into(&b.find("input[name=q]").await, "acme").await;
    b.click(&b.find("form.search button").await).await;
    let text = b.wait_for_text("1 of 3 teams").await;
    assert!(
        text.contains("1 of 3 teams") && text.contains("Acme Rockets"),
        "{text}"
    );
    assert!(!text.contains("Globex"), "{text}");
    b.screenshot(&shots, "04-search").await;
    b.click(&b.find("table.teams tbody a").await).await;
    b.wait_for_url(&format!("{console}/console/teams/{acme}"))
        .await;
    let text = b.page_text().await;
    assert!(
        text.contains(&member.email) && text.contains("admin"),
        "{text}"
    );
    assert!(!b.find_all("svg.chart rect.bar").await.is_empty());
    b.screenshot(&shots, "05-team").await;

    // Change its plan, through the confirmation.
    b.click(&b.find("select[name=plan] option[value=pro]").await)
        .await;
    b.type_into(&b.find("input[name=note]").await, "signed the pro contract")
        .await;
    b.click(&b.find("form.inline button[type=submit]").await)
        .await;
    let text = b.wait_for_text("Change the plan of").await;
    assert!(text.contains("Change the plan of Acme Rockets?"), "{text}");
    assert!(text.contains("From Design partner to Pro."), "{text}");
    b.screenshot(&shots, "06-confirm-plan").await;
    assert!(cli(&server, &["team", &acme.to_string()]).contains("plan:          design_partner"));
    b.click(&b.find("#confirm").await).await;
    let text = b.wait_for_text("Plan changed").await;
    assert!(text.contains("-> pro"), "{text}");
    b.screenshot(&shots, "07-plan-changed").await;
    let team = cli(&server, &["team", &acme.to_string()]);
    assert!(team.contains("plan:          pro\n"), "{team}");
    assert!(team.contains("admin.plan  pro  by browser-ops"), "{team}");
    assert!(
        team.contains("by operator:browser-ops — signed the pro contract"),
        "{team}"
    );

    // Lock the member's account, through its confirmation.
    b.goto(&format!("{console}/console/teams/{acme}")).await;
    b.screenshot(&shots, "08-team-after").await;
    let buttons = b.find_all("table.members button").await;
    let mut lock = None;
    for button in buttons {
        if b.text(&button).await == "lock…" {
            lock = Some(button);
        }
    }
    // The owner's row comes first; the member's button is the last.
    b.click(&lock.expect("a lock button")).await;
    let text = b.wait_for_text("Lock the account").await;
    assert!(text.contains("Lock ") && text.contains('?'), "{text}");
    b.screenshot(&shots, "09-confirm-lock").await;
    b.click(&b.find("#confirm").await).await;
    let text = b.wait_for_text("Account changed").await;
    assert!(text.contains("-> locked"), "{text}");
    b.screenshot(&shots, "10-locked").await;

    // The month's invoices, and their CSV: the CLI's, byte for byte.
    b.goto(&format!("{console}/console/invoices")).await;
    let text = b.page_text().await;
    assert!(
        text.contains("Acme Rockets") && text.contains("custom"),
        "{text}"
    );
    b.screenshot(&shots, "11-invoices").await;
    b.click(&b.find("#csv").await).await;
    let file = downloaded(downloads.path()).await;
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert_eq!(
        file.file_name().unwrap().to_str().unwrap(),
        format!("envv-invoices-{month}.csv")
    );
    let csv = std::fs::read_to_string(&file).unwrap();
    assert_eq!(csv, cli(&server, &["invoices", "--month", &month, "--csv"]));

    // A hostile page's cross-site post, cookie and all, is refused.
    let hostile = hostile_page(format!("{console}/console/teams/{acme}/plan")).await;
    b.goto(&hostile).await;
    b.screenshot(&shots, "12-hostile-page").await;
    b.click(&b.find("#go").await).await;
    let text = b.wait_for_text("Refused").await;
    assert!(
        text.contains("A form posted from another site is refused."),
        "{text}"
    );
    b.screenshot(&shots, "13-cross-site-refused").await;
    assert!(cli(&server, &["team", &acme.to_string()]).contains("plan:          pro\n"));

    // Logging out ends the session.
    b.goto(&format!("{console}/console/teams")).await;
    b.click(&b.find("form.logout button").await).await;
    b.wait_for_url(&format!("{console}/console/login")).await;
    b.goto(&format!("{console}/console/invoices")).await;
    assert_eq!(b.url().await, format!("{console}/console/login"));
    let count = std::fs::read_dir(&shots).unwrap().count();
    println!("{count} screenshots in {}", shots.display());
}

on_both_backends!(console_in_a_real_browser);
