//! Account mode end to end: the real `envv`, real agents and a real control
//! plane on SQLite.

use std::time::Duration;

use crate::common::{ControlPlane, PASSWORD, Sandbox, code, join_with, stderr, stdout, wait_until};

#[test]
fn the_spec_demo_runs_against_a_control_plane() {
    let cp = ControlPlane::start();
    let mut s = Sandbox::new();
    s.server = Some(cp.url.clone());
    // As the spec writes it: a bare `envv auth signup` (the email and
    // password a terminal would ask for come from the environment here).
    s.envv(["auth", "signup"])
        .env("ENVV_EMAIL", "ada@example.com")
        .env("ENVV_PASSWORD", PASSWORD)
        .assert()
        .success();
    s.ok(["team", "create", "Demo Corp"]);
    s.init();
    s.ok(["set", "KEY", "value"]);
    assert_eq!(s.ok(["exec", "--", "printenv", "KEY"]), "value\n");

    let audit = s.ok(["audit"]);
    for action in ["team.create", "set", "exec"] {
        assert!(
            audit
                .lines()
                .any(|l| l.split_whitespace().any(|w| w == action)),
            "no {action} in:\n{audit}"
        );
    }
    assert!(audit.contains("ada@example.com"), "{audit}");

    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&s.ok(["audit", "--action", "exec", "--json"])).expect("json");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&s.ok([
        "audit",
        "--actor",
        "ada@example.com",
        "--secret",
        "KEY",
        "--json",
    ]))
    .expect("json");
    assert!(rows.len() >= 2, "set and exec of KEY: {rows:?}");
    assert_eq!(
        s.ok(["audit", "--limit", "1", "--json"])
            .matches("\"seq\"")
            .count(),
        1
    );
    let jsonl = s.ok(["audit", "--export", "jsonl"]);
    assert!(jsonl.lines().count() >= 3, "{jsonl}");
    for line in jsonl.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(row["action"].is_string(), "{line}");
    }
    let csv = s.ok(["audit", "--export", "csv"]);
    assert!(
        csv.starts_with("seq,at,actor,action,target,details\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), jsonl.lines().count() + 1);

    let who: serde_json::Value =
        serde_json::from_str(&s.ok(["auth", "whoami", "--json"])).expect("json");
    assert_eq!(who["email"], "ada@example.com");
    assert_eq!(who["server"], cp.url.as_str());
}

#[test]
fn audit_verify_passes_on_an_untouched_trail() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "vera@example.com");
    s.ok(["team", "create", "T"]);
    s.init();
    s.ok(["set", "K", "v"]);
    s.ok(["exec", "--", "true"]);
    s.ok(["audit"]);
    let out = s.ok(["audit", "verify"]);
    assert!(out.starts_with("OK: "), "{out}");
}

#[test]
fn usage_shows_the_plan_and_billing_changes_it() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "olga@example.com");
    s.ok(["team", "create", "T"]);
    s.init();
    s.ok(["set", "K", "v"]);
    let usage = s.ok(["usage"]);
    assert!(usage.contains("plan:     design_partner"), "{usage}");
    assert!(usage.contains("seats:    1"), "{usage}");
    let changed = s.ok([
        "billing",
        "--plan",
        "free",
        "--email",
        "billing@example.com",
        "--yes",
    ]);
    assert!(changed.contains("plan:     free"), "{changed}");
    assert!(changed.contains("billing@example.com"), "{changed}");
    let report: serde_json::Value = serde_json::from_str(&s.ok(["usage", "--json"])).expect("json");
    assert_eq!(report["plan"], "free");
    assert_eq!(report["limits"]["max_members"], 5);
}

/// The operator's deal, as the team sees it: its end and, from 14 days
/// before, a warning naming the plan that follows.
#[test]
fn usage_warns_before_the_operators_deal_ends() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "dora@example.com");
    s.ok(["team", "create", "Partners"]);
    let far = s.ok(["usage"]);
    assert!(!far.contains("warning:"), "{far}");
    // The date ten days on, UTC.
    let until = std::process::Command::new("date")
        .args(["-u", "-d", "+10 days", "+%F"])
        .output()
        .expect("date");
    let until = String::from_utf8(until.stdout).unwrap().trim().to_owned();
    let out = cp.admin(&["plan", "Partners", "design_partner", "--until", &until]);
    assert!(out.contains("-> design_partner until"), "{out}");
    let usage = s.ok(["usage"]);
    assert!(
        usage.contains(&format!(
            "plan:     design_partner until {until}, then free"
        )),
        "{usage}"
    );
    assert!(
        usage.contains(&format!(
            "warning:  The design_partner plan ends on {until} (in 10 days); the team then moves to free"
        )),
        "{usage}"
    );
    let report: serde_json::Value = serde_json::from_str(&s.ok(["usage", "--json"])).expect("json");
    assert_eq!(report["deal"]["then"], "free");

    // Enterprise is the operator's to set: the owner is told whom to ask.
    let out = s.run([
        "billing",
        "--plan",
        "enterprise",
        "--email",
        "billing@example.com",
        "--yes",
    ]);
    assert_eq!(code(&out), Some(9), "{}", stderr(&out));
    assert!(stderr(&out).contains("contact us"), "{}", stderr(&out));
}

#[test]
fn team_settings_show_and_set_the_offline_bound() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "sam@example.com");
    s.ok(["team", "create", "T"]);
    assert!(s.ok(["team", "settings"]).contains("max offline: 72h"));
    let set: serde_json::Value =
        serde_json::from_str(&s.ok(["team", "settings", "--max-offline", "90m", "--json"]))
            .expect("json");
    assert_eq!(set["max_staleness_secs"], 5400);
    assert!(s.ok(["team", "settings"]).contains("max offline: 90m"));
    let too_long = s.run(["team", "settings", "--max-offline", "31d"]);
    assert_eq!(code(&too_long), Some(2), "{}", stderr(&too_long));
}

#[test]
fn invite_join_grant_then_remove_and_rotate() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "owner@example.com");
    owner.ok(["team", "create", "Demo Corp"]);
    owner.init();
    owner.ok(["set", "KEY", "shared value"]);

    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    let carol = Sandbox::signed_up(&cp, "carol@example.com");
    // The team's files, as a clone of the repository would bring them.
    for who in [&bob, &carol] {
        for file in [".envv.json", ".env.enc"] {
            std::fs::copy(owner.project.join(file), who.project.join(file)).expect("copy");
        }
    }

    for (who, email) in [(&bob, "bob@example.com"), (&carol, "carol@example.com")] {
        let out = owner.run(["team", "invite", email]);
        assert!(out.status.success(), "{}", stderr(&out));
        let code = stdout(&out);
        assert_eq!(code.lines().count(), 1, "only the code on stdout: {code}");
        assert!(stderr(&out).contains("out of band"), "{}", stderr(&out));
        // The code on stdin keeps it out of argv.
        join_with(who, &code);
    }
    // The owner's agent admits on its own; `team grant` does it now.
    owner.ok(["team", "grant"]);
    for who in [&bob, &carol] {
        wait_until("the grant", || {
            who.run(["exec", "--", "printenv", "KEY"]).status.success()
        });
        assert_eq!(who.ok(["exec", "--", "printenv", "KEY"]), "shared value\n");
    }
    let members: Vec<serde_json::Value> =
        serde_json::from_str(&owner.ok(["team", "members", "--json"])).expect("json");
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members.iter().all(|m| m["has_key"] == true), "{members:?}");

    // A member can't remove anyone.
    let out = bob.run(["team", "remove", "carol@example.com", "--yes"]);
    assert!(!out.status.success(), "{}", stdout(&out));

    // Bob's agent ships its spool (`audit` ships first) before he goes.
    bob.ok(["audit"]);
    let out = owner.run(["team", "remove", "bob@example.com", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("envv rotate"), "{}", stderr(&out));
    // Bob could read KEY, and ran `exec` with it: marked, to change.
    assert_eq!(stdout(&out), "KEY\tdefault *\n", "{}", stderr(&out));
    let rotated = owner.ok(["rotate"]);
    assert!(rotated.contains("epoch 2"), "{rotated}");
    assert!(rotated.contains("1 file"), "{rotated}");
    for who in [&bob, &carol] {
        for file in [".envv.json", ".env.enc"] {
            std::fs::copy(owner.project.join(file), who.project.join(file)).expect("copy");
        }
    }

    let out = bob.run(["exec", "--", "printenv", "KEY"]);
    assert!(!out.status.success(), "removed, yet: {}", stdout(&out));
    assert!(!stdout(&out).contains("shared value"));
    assert_eq!(
        owner.ok(["exec", "--", "printenv", "KEY"]),
        "shared value\n"
    );
    // Carol's agent holds only the old epoch; it fetches the new one itself.
    assert_eq!(
        carol.ok(["exec", "--", "printenv", "KEY"]),
        "shared value\n"
    );
}

#[test]
fn team_commands_default_to_the_current_team() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "multi@example.com");
    let first = s.ok(["team", "create", "First"]).trim().to_owned();
    let second = s.ok(["team", "create", "Second"]).trim().to_owned();
    let teams: Vec<serde_json::Value> =
        serde_json::from_str(&s.ok(["team", "list", "--json"])).expect("json");
    assert_eq!(teams.len(), 2);
    // Creating switches; `switch` takes a name or an id.
    assert!(s.ok(["team", "list"]).contains(&format!("* {second}")));
    s.ok(["team", "switch", "First"]);
    assert!(s.ok(["team", "list"]).contains(&format!("* {first}")));
    s.init();
    let project: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.project.join(".envv.json")).expect("read"))
            .expect("json");
    assert_eq!(project["team"], first.as_str());

    let out = s.run([
        "team",
        "invite",
        "x@example.com",
        "--role",
        "admin",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let invite: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(invite["code"].is_string() && invite["invite_id"].is_string());

    let out = s.run(["team", "members", "--team", "nope"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
}

#[test]
fn lock_unlock_logout_and_error_messages() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "lock@example.com");
    s.ok(["team", "create", "T"]);
    s.init();
    s.ok(["set", "K", "v"]);
    s.ok(["lock"]);
    let out = s.run(["get", "K"]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("envv unlock"), "{}", stderr(&out));

    // Account mode needs the password: none given, none on a terminal.
    let out = s.run(["unlock"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ENVV_PASSWORD"), "{}", stderr(&out));
    s.envv(["unlock", "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n"))
        .assert()
        .success();
    assert_eq!(s.ok(["get", "K"]), "v\n");

    s.ok(["auth", "logout"]);
    let out = s.run(["auth", "whoami"]);
    assert_eq!(code(&out), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("envv auth login"), "{}", stderr(&out));
    let out = s.run(["team", "list"]);
    assert_eq!(code(&out), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("envv auth"), "{}", stderr(&out));

    // Wrong password, then the right one.
    let out = s
        .envv(["auth", "login", "--email", "lock@example.com"])
        .env("ENVV_PASSWORD", "not it")
        .output()
        .expect("run");
    assert_eq!(code(&out), Some(8), "{}", stderr(&out));
    s.envv([
        "auth",
        "login",
        "--email",
        "lock@example.com",
        "--password-stdin",
    ])
    .write_stdin(PASSWORD)
    .assert()
    .success();
    assert_eq!(s.ok(["get", "K"]), "v\n");
}

#[test]
fn an_unreachable_control_plane_is_reported_as_offline() {
    let s = Sandbox::new();
    let out = s
        .envv(["auth", "login", "--email", "x@example.com"])
        .env("ENVV_SERVER", "http://127.0.0.1:9")
        .env("ENVV_PASSWORD", PASSWORD)
        .output()
        .expect("run");
    assert_eq!(code(&out), Some(7), "{}", stderr(&out));
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));
}

/// On a terminal, signup asks for the password twice without echo; a
/// mismatch changes nothing. Under util-linux `script`; skipped without it.
#[test]
fn signup_on_a_terminal_asks_twice_without_echo() {
    use std::io::{Read, Write};
    let Some(script) = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("skipped: no `script` for a pseudo-terminal");
        return;
    };
    let cp = ControlPlane::start();
    let mut s = Sandbox::new();
    s.server = Some(cp.url.clone());
    let signup = |again: &str| {
        let mut cmd = std::process::Command::new(script);
        s.isolate(&mut cmd);
        let mut child = cmd
            .args([
                "-qec",
                &format!(
                    "'{}' auth signup --email tty@example.com",
                    crate::common::ENVV
                ),
                "/dev/null",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("script");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut shown = Vec::new();
        for (prompt, typed) in [("(not echoed): ", PASSWORD), ("again: ", again)] {
            let mut byte = [0u8; 1];
            while !String::from_utf8_lossy(&shown).ends_with(prompt) {
                let n = stdout.read(&mut byte).expect("read");
                assert!(n == 1, "no prompt: {}", String::from_utf8_lossy(&shown));
                shown.push(byte[0]);
            }
            // rpassword turns echo off just after printing the prompt.
            std::thread::sleep(Duration::from_millis(100));
            stdin
                .write_all(format!("{typed}\n").as_bytes())
                .expect("type");
        }
        stdout.read_to_end(&mut shown).expect("read");
        let status = child.wait().expect("wait");
        let shown = String::from_utf8_lossy(&shown).into_owned();
        assert!(
            !shown.contains(PASSWORD),
            "the password was echoed: {shown}"
        );
        (status.success(), shown)
    };
    let (ok, shown) = signup("a typo");
    assert!(!ok && shown.contains("differ"), "{shown}");
    let (ok, shown) = signup(PASSWORD);
    assert!(ok, "{shown}");
    assert!(s.ok(["auth", "whoami"]).contains("tty@example.com"));
}

/// The control plane stops answering (a proxy holds every byte, on open
/// connections and new ones) while `envv audit` waits on it: warm `exec`
/// and `get` still answer from the agent, and so does `envv lock`, which
/// wins over the call still in flight.
#[test]
fn warm_exec_get_and_lock_answer_while_the_control_plane_hangs() {
    let cp = ControlPlane::start();
    let proxy = envv_testkit::Proxy::start(cp.port());
    let mut s = Sandbox::new();
    s.server = Some(proxy.url());
    s.envv(["auth", "signup", "--email", "hang@example.com"])
        .env("ENVV_PASSWORD", PASSWORD)
        .assert()
        .success();
    s.ok(["team", "create", "Hang"]);
    s.init();
    s.ok(["set", "KEY", "v"]);
    assert_eq!(s.ok(["exec", "--", "printenv", "KEY"]), "v\n");

    proxy.hang(true);
    // `envv audit` ships the spool, then asks for a page: both need the server.
    let mut waiting = s.command(["audit"]).spawn().expect("start envv audit");
    wait_until("a request held by the hung server", || proxy.held() > 0);

    for _ in 0..20 {
        assert_eq!(s.ok(["exec", "--", "printenv", "KEY"]), "v\n");
        assert_eq!(s.ok(["get", "KEY"]).trim_end(), "v");
    }
    assert!(
        waiting.try_wait().expect("poll").is_none(),
        "the reads above were answered while `envv audit` still waited"
    );
    s.ok(["lock"]);
    assert!(waiting.try_wait().expect("poll").is_none());
    assert_eq!(s.status()["locked"], true);

    // The server answers again: whatever the call brings back, the agent
    // stays locked.
    proxy.hang(false);
    let _ = waiting.wait();
    assert_eq!(s.status()["locked"], true);
    let out = s.run(["get", "KEY"]);
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
}
