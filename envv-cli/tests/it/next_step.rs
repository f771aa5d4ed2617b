//! The first hour (issue 21): every message tells the truth and names the
//! next step. The real `envv`, agents and control plane; each test pins the
//! message and the exit code of one moment a newcomer meets.

use crate::common::{
    ControlPlane, PASSWORD, Sandbox, accept, clone_project, code, join, join_with, stderr, stdout,
    wait_until,
};

/// Point 1: after `team join`, before an admin's agent grants the key, the
/// member is told they wait for an admin, and which admins there are; not
/// that the agent is locked (it is not, and `envv unlock` changes nothing).
#[test]
fn a_member_waiting_for_the_key_is_told_who_grants_it() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "ann@example.com");
    owner.ok(["team", "create", "Acme"]);
    owner.init();
    owner.ok(["set", "KEY", "shared"]);
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    clone_project(&owner, &bob);
    // A locked admin's agent grants nothing: Bob waits.
    let code = owner.ok(["team", "invite", "bob@example.com"]);
    owner.ok(["lock"]);
    join_with(&bob, &code);

    for args in [vec!["ls"], vec!["exec", "--", "true"], vec!["get", "KEY"]] {
        let out = bob.run(&args);
        let err = stderr(&out);
        assert_eq!(code_of(&out), 4, "{args:?}: {err}");
        assert!(
            err.contains("waiting for an admin to grant you this team's key"),
            "{args:?}: {err}"
        );
        assert!(err.contains("ann@example.com"), "names the admin: {err}");
        assert!(!err.contains("envv unlock"), "nothing to unlock: {err}");
    }
    assert_eq!(bob.status()["locked"], false);

    // The admin unlocks; their agent grants by itself.
    owner
        .envv(["unlock"])
        .env("ENVV_PASSWORD", PASSWORD)
        .assert()
        .success();
    wait_until("the grant", || bob.run(["get", "KEY"]).status.success());
    assert_eq!(bob.ok(["get", "KEY"]), "shared\n");
}

fn code_of(out: &std::process::Output) -> i32 {
    code(out).unwrap_or(-1)
}

/// Point 3: a file at an epoch the newcomer was never granted names the
/// epoch and the fix (an admin's `envv rotate` there), not tampering; a
/// mistyped invite code is not called a changed file either; and a
/// rotation outside the team's projects asks first.
#[test]
fn old_epoch_files_name_the_epoch_and_the_rotation_they_need() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "ann@example.com");
    owner.ok(["team", "create", "Acme"]);
    owner.init();
    owner.ok(["set", "KEY", "v1"]);

    // Outside any project: a rotation re-encrypts nothing, so it asks.
    let elsewhere = owner.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let elsewhere = elsewhere.display().to_string();
    let out = owner.run(["-C", elsewhere.as_str(), "rotate"]);
    assert_eq!(code_of(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no file is re-encrypted"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    let teams: Vec<serde_json::Value> =
        serde_json::from_str(&owner.ok(["team", "list", "--json"])).expect("json");
    assert_eq!(teams[0]["current_epoch"], 1, "nothing rotated: {teams:?}");
    let rotated = owner.ok(["-C", elsewhere.as_str(), "rotate", "--yes"]);
    assert!(rotated.contains("epoch 2"), "{rotated}");

    // Bob joins at epoch 2; the project's file is still at epoch 1.
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    clone_project(&owner, &bob);
    join(&owner, &bob, "bob@example.com");
    owner.ok(["team", "grant"]);
    let out = bob.run(["get", "KEY"]);
    let err = stderr(&out);
    assert_eq!(code_of(&out), 6, "{err}");
    assert!(err.contains("epoch 1"), "{err}");
    assert!(err.contains("envv rotate"), "{err}");
    assert!(!err.contains("changed outside envv"), "{err}");

    // A mistyped invite code is a mistyped code.
    let carol = Sandbox::signed_up(&cp, "carol@example.com");
    let code = owner.ok(["team", "invite", "carol@example.com"]);
    let typo: String = code
        .trim()
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 12 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    let out = accept(&carol, &typo);
    assert!(!out.status.success());
    assert!(
        !stderr(&out).contains("changed outside envv"),
        "{}",
        stderr(&out)
    );

    // In the project, the admin's rotation fixes it for Bob.
    let rotated = owner.ok(["rotate"]);
    assert!(rotated.contains("1 file"), "{rotated}");
    clone_project(&owner, &bob);
    assert_eq!(bob.ok(["get", "KEY"]), "v1\n");

    // A file really changed outside envv is called that, and named.
    let path = bob.project.join(".env.enc");
    let text = std::fs::read_to_string(&path).expect("read");
    let damaged: String = text
        .lines()
        .map(|l| match l.strip_prefix("KEY=") {
            Some(value) => {
                let mut v: Vec<char> = value.chars().collect();
                v[3] = if v[3] == 'A' { 'B' } else { 'A' };
                format!("KEY={}", v.into_iter().collect::<String>())
            }
            None => l.to_owned(),
        })
        .map(|l| l + "\n")
        .collect();
    assert_ne!(damaged, text);
    std::fs::write(&path, damaged).expect("write");
    let out = bob.run(["get", "KEY"]);
    let err = stderr(&out);
    assert_eq!(code_of(&out), 6, "{err}");
    assert!(err.contains("changed outside envv"), "{err}");
    assert!(err.contains(".env.enc"), "{err}");
}

/// Point 5: after an offboarding the audit still names the person, as actor
/// and as target, in aligned columns; `--actor EMAIL` finds a former
/// member's events; `--since` takes ages and dates.
#[test]
fn the_audit_names_former_members_and_takes_ages_and_dates() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "ann@example.com");
    owner.ok(["team", "create", "Acme"]);
    owner.init();
    owner.ok(["set", "KEY", "v"]);
    let bob = Sandbox::signed_up(&cp, "bob.long.name@example.com");
    clone_project(&owner, &bob);
    join(&owner, &bob, "bob.long.name@example.com");
    owner.ok(["team", "grant"]);
    wait_until("the grant", || {
        bob.run(["exec", "--", "true"]).status.success()
    });
    bob.ok(["audit"]);
    owner.ok(["team", "role", "bob.long.name@example.com", "admin"]);
    owner.ok(["team", "remove", "bob.long.name@example.com", "--yes"]);

    let table = owner.ok(["audit"]);
    let header = table.lines().next().expect("a header");
    let action_at = header.find("ACTION").expect("ACTION column");
    for line in table.lines().skip(1) {
        let action = line[action_at..].split_whitespace().next().unwrap_or("");
        assert!(
            !action.is_empty() && line.as_bytes()[action_at - 1] == b' ',
            "the ACTION column is aligned:\n{table}"
        );
    }
    // Bob as the actor, and as the target of the admin's actions: by email,
    // with no bare id (details such as `invite_id=` may carry ids).
    for action in ["exec", "grant", "role.change", "member.remove"] {
        let line = table
            .lines()
            .find(|l| l[action_at..].starts_with(action))
            .unwrap_or_else(|| panic!("no {action} in:\n{table}"));
        assert!(line.contains("bob.long.name@example.com"), "{line}");
        let uuid = regex_like_uuid(line);
        assert!(uuid.is_none(), "a bare id {uuid:?} in:\n{table}");
    }

    let rows: Vec<serde_json::Value> = serde_json::from_str(&owner.ok([
        "audit",
        "--actor",
        "bob.long.name@example.com",
        "--json",
    ]))
    .expect("json");
    assert!(
        rows.iter().any(|r| r["action"] == "exec"),
        "a former member's events: {rows:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r["actor_email"] == "bob.long.name@example.com"),
        "{rows:?}"
    );

    // Today (UTC), as the trail dates its events.
    let today = rows[0]["at"].as_str().expect("a time")[..10].to_owned();
    for since in ["1h", today.as_str()] {
        let out = owner.run(["audit", "--since", since, "--action", "member.remove"]);
        assert_eq!(code_of(&out), 0, "--since {since}: {}", stderr(&out));
        assert!(stdout(&out).contains("member.remove"), "{}", stdout(&out));
    }
    let out = owner.run(["audit", "--since", "soon"]);
    assert_eq!(code_of(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1h") || stderr(&out).contains("12h"),
        "{}",
        stderr(&out)
    );
}

/// The first 8-4-4-4-12 hex id in `text`, if any.
fn regex_like_uuid(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|w| w.parse::<uuid::Uuid>().is_ok() && w.len() == 36)
        .map(str::to_owned)
}

/// Point 6: in a cloned project, signup uses the control plane the project
/// names and checks it answers before asking anything; `envv auth passwd`
/// changes the password (the old one opens nothing, other machines log in
/// with the new one).
#[test]
fn signup_uses_the_projects_server_and_passwd_changes_the_password() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "ann@example.com");
    owner.ok(["team", "create", "Acme"]);
    owner.init();
    owner.ok(["set", "KEY", "v"]);

    // No ENVV_SERVER: the clone's `.envv.json` names the server.
    let newcomer = Sandbox::new();
    clone_project(&owner, &newcomer);
    newcomer
        .envv(["auth", "signup", "--email", "new@example.com"])
        .env("ENVV_PASSWORD", PASSWORD)
        .assert()
        .success();
    let who: serde_json::Value =
        serde_json::from_str(&newcomer.ok(["auth", "whoami", "--json"])).expect("json");
    assert_eq!(who["server"], cp.url.as_str());

    // A project naming a server that is down: said before anything is
    // asked (no email, no password given here, and none asked for).
    let stranded = Sandbox::new();
    let project: serde_json::Value =
        serde_json::from_slice(&std::fs::read(owner.project.join(".envv.json")).expect("read"))
            .expect("json");
    let text = serde_json::to_string(&project)
        .expect("json")
        .replace(&cp.url, "http://127.0.0.1:9");
    std::fs::write(stranded.project.join(".envv.json"), text).expect("write");
    let out = stranded.run(["auth", "signup"]);
    let err = stderr(&out);
    assert_eq!(code_of(&out), 7, "{err}");
    assert!(
        err.contains("127.0.0.1:9") && err.contains("unreachable"),
        "{err}"
    );
    assert!(err.contains("nothing was asked"), "{err}");

    // A second machine of Ann's.
    let mut laptop = Sandbox::new();
    laptop.server = Some(cp.url.clone());
    laptop
        .envv(["auth", "login", "--email", "ann@example.com"])
        .env("ENVV_PASSWORD", PASSWORD)
        .assert()
        .success();
    // A wrong current password changes nothing.
    let out = owner
        .envv(["auth", "passwd"])
        .env("ENVV_PASSWORD", "not it")
        .env("ENVV_NEW_PASSWORD", "a brand new passphrase")
        .output()
        .expect("run");
    assert_eq!(code_of(&out), 8, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("current password is wrong"),
        "{}",
        stderr(&out)
    );

    let out = owner
        .envv(["auth", "passwd"])
        .env("ENVV_PASSWORD", PASSWORD)
        .env("ENVV_NEW_PASSWORD", "a brand new passphrase")
        .output()
        .expect("run");
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("other session"), "{}", stderr(&out));
    assert_eq!(owner.ok(["get", "KEY"]), "v\n");

    // Here: the old password no longer unlocks, the new one does.
    owner.ok(["lock"]);
    let out = owner
        .envv(["unlock"])
        .env("ENVV_PASSWORD", PASSWORD)
        .output()
        .expect("run");
    assert_ne!(code_of(&out), 0, "the old password unlocked");
    owner
        .envv(["unlock"])
        .env("ENVV_PASSWORD", "a brand new passphrase")
        .assert()
        .success();
    assert_eq!(owner.ok(["get", "KEY"]), "v\n");

    // The other machine: its session ended; the new password unlocks it
    // (its copy of the wrapped key follows), and it reads again.
    clone_project(&owner, &laptop);
    laptop.ok(["lock"]);
    laptop
        .envv(["unlock"])
        .env("ENVV_PASSWORD", "a brand new passphrase")
        .assert()
        .success();
    assert_eq!(laptop.ok(["get", "KEY"]), "v\n");
    laptop.ok(["lock"]);
    laptop
        .envv(["unlock"])
        .env("ENVV_PASSWORD", "a brand new passphrase")
        .assert()
        .success();

    // A new machine: the old password no longer logs in; the new one does.
    let mut desktop = Sandbox::new();
    desktop.server = Some(cp.url.clone());
    let out = desktop
        .envv(["auth", "login", "--email", "ann@example.com"])
        .env("ENVV_PASSWORD", PASSWORD)
        .output()
        .expect("run");
    assert_eq!(code_of(&out), 8, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("check the email and password"),
        "{}",
        stderr(&out)
    );
    desktop
        .envv(["auth", "login", "--email", "ann@example.com"])
        .env("ENVV_PASSWORD", "a brand new passphrase")
        .assert()
        .success();
}

/// Point 8: unlocked while the control plane is down, the agent says so,
/// works from its cache, and once the server is back reconnects by itself,
/// ships what waited and says it is online.
#[test]
fn an_offline_unlock_reconnects_by_itself() {
    let mut cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "ann@example.com");
    s.ok(["team", "create", "Acme"]);
    s.init();
    s.ok(["set", "KEY", "v"]);
    s.ok(["exec", "--", "true"]);
    s.ok(["audit"]);
    // A fresh agent holds no session; the server is down when it unlocks.
    s.ok(["agent", "stop"]);
    cp.stop();
    let out = s
        .envv(["unlock"])
        .env("ENVV_PASSWORD", PASSWORD)
        .output()
        .expect("run");
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("by itself"), "{}", stderr(&out));
    let status = s.ok(["agent", "status"]);
    assert!(status.contains("control plane:  offline"), "{status}");
    // Reads work from the cached key; their audit events wait on disk.
    assert_eq!(s.ok(["exec", "--", "printenv", "KEY"]), "v\n");
    let spool = s.home.join(".local/share/envv/spool");
    let pending = || {
        std::fs::read_dir(&spool)
            .map(|dir| {
                dir.flatten()
                    .map(|f| {
                        std::fs::read_to_string(f.path())
                            .unwrap_or_default()
                            .lines()
                            .count()
                    })
                    .sum::<usize>()
            })
            .unwrap_or(0)
    };
    assert!(pending() > 0, "the exec is spooled");

    cp.restart();
    wait_until("the agent to reconnect", || s.status()["online"] == true);
    wait_until("the spool to ship", || pending() == 0);
    let status = s.ok(["agent", "status"]);
    assert!(status.contains("control plane:  online"), "{status}");
    assert!(!status.contains("last sync:      never"), "{status}");
    // Calls need no `envv unlock`: the agent logged in by itself.
    let out = s.run(["team", "members"]);
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
}

/// Point 9: someone typing wrong passwords for your email elsewhere gets
/// the account's logins refused for a while; your own `envv unlock` still
/// works (the password opens the identity on this machine), and reads go on
/// from the cached key. A failed login says to check the email and password.
#[test]
fn wrong_passwords_elsewhere_do_not_lock_you_out() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "ann@example.com");
    s.ok(["team", "create", "Acme"]);
    s.init();
    s.ok(["set", "KEY", "v"]);
    assert_eq!(s.ok(["get", "KEY"]), "v\n");
    s.ok(["agent", "stop"]);

    let mut other = Sandbox::new();
    other.server = Some(cp.url.clone());
    let mut refused = false;
    for attempt in 0..8 {
        let out = other
            .envv(["auth", "login", "--email", "ann@example.com"])
            .env("ENVV_PASSWORD", "guess")
            .output()
            .expect("run");
        let err = stderr(&out);
        assert!(!out.status.success());
        if attempt == 0 {
            assert_eq!(code_of(&out), 8, "{err}");
            assert!(err.contains("check the email and password"), "{err}");
            assert!(!err.contains("envv auth login"), "{err}");
        }
        refused |= err.contains("too many attempts");
    }
    assert!(refused, "the control plane throttles the account");

    let out = s
        .envv(["unlock"])
        .env("ENVV_PASSWORD", PASSWORD)
        .output()
        .expect("run");
    assert_eq!(code_of(&out), 0, "{}", stderr(&out));
    assert_eq!(s.status()["locked"], false);
    assert_eq!(s.ok(["get", "KEY"]), "v\n");
    // A wrong password here is still refused, on this machine.
    s.ok(["lock"]);
    let out = s
        .envv(["unlock"])
        .env("ENVV_PASSWORD", "guess")
        .output()
        .expect("run");
    assert_ne!(code_of(&out), 0);
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
}
