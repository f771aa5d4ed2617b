//! `envv ui` in a real terminal: tmux runs the real binary against a real
//! agent and control plane; keys go in with send-keys and the screen comes
//! back with capture-pane.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{ControlPlane, ENVV, PASSWORD, Sandbox, clone_project, join_with};

const VALUE: &str = "r3v34l-c4n4ry-8d1f0a";

/// A tmux server of this test's own, with one session running a script.
struct Tmux {
    server: String,
}

impl Tmux {
    fn start(width: u16, height: u16, script: &str) -> Tmux {
        let server = format!("envv-ui-test-{}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &server,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "ui",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(script)
            .status()
            .expect("tmux is needed for this test (apt-get install tmux; .ci/run installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { server }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.server])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "ui"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "ui"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "ui", "-l", text]);
    }

    /// The screen once `ready` holds for it; fails with the last screen.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(text, |screen| screen.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// The process whose command line starts with `argv`, running in `cwd`.
fn pid_of(argv: &[&str], cwd: &Path) -> Option<i32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let here = std::fs::read_link(entry.path().join("cwd")).ok()?;
            (cmdline.starts_with(&wanted) && here == cwd).then_some(pid)
        })
}

/// Single-quoted for `sh`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// An agent binary that logs everything (trace level) to `log`.
fn logging_agent(dir: &Path, log: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let wrapper = dir.join("envvd-logging");
    let script = format!(
        "#!/bin/sh\nRUST_LOG=trace exec {} \"$@\" 2>>{}\n",
        quote(&crate::common::agentd().display().to_string()),
        quote(&log.display().to_string())
    );
    std::fs::write(&wrapper, script).expect("write the wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    wrapper
}

#[test]
fn unlock_reveal_and_see_the_reveal_in_the_audit_screen() {
    let cp = ControlPlane::start();
    let mut s = Sandbox::new();
    let log = s.root().join("agent.log");
    s.agentd = logging_agent(s.root(), &log);
    s.server = Some(cp.url.clone());
    s.envv([
        "auth",
        "signup",
        "--email",
        "alice@example.com",
        "--name",
        "Alice",
    ])
    .env("ENVV_PASSWORD", PASSWORD)
    .assert()
    .success();
    s.ok(["team", "create", "Demo Corp"]);
    s.init();
    s.envv(["set", "API_KEY", "--stdin"])
        .write_stdin(format!("{VALUE}\n"))
        .assert()
        .success();
    s.ok(["set", "DATABASE_URL", "postgres://db/app"]);
    s.ok(["lock"]);

    let first_exit = s.root().join("first-exit");
    let env: Vec<String> = s
        .vars()
        .into_iter()
        .map(|(k, v)| quote(&format!("{k}={}", v.to_string_lossy())))
        .collect();
    let script = format!(
        "cd {dir} && env -i TERM=xterm-256color {env} {envv} ui; echo $? > {first}; \
         env -i TERM=xterm-256color {env} {envv} ui --team 'Demo Corp'; echo \"again: exited with $?\"; \
         sleep 600",
        dir = quote(&s.project.display().to_string()),
        first = quote(&first_exit.display().to_string()),
        env = env.join(" "),
        envv = quote(ENVV),
    );
    let tmux = Tmux::start(120, 40, &script);

    tmux.wait_for_text("LOCKED");
    tmux.keys(&["u"]);
    tmux.wait_for_text("Your account password");
    tmux.type_text(PASSWORD);
    let typed = tmux.screen();
    assert!(!typed.contains(PASSWORD), "the password shows:\n{typed}");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("UNLOCKED");

    // Browse: the project's default environment, then its first name.
    tmux.wait_for_text("API_KEY");
    assert!(!tmux.screen().contains(VALUE), "masked until revealed");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for_text(VALUE);

    // The reveal's event arrives on the audit screen.
    tmux.keys(&["3"]);
    let audit = tmux.wait_for("the reveal's audit event", |screen| {
        screen
            .lines()
            .any(|l| l.contains("decrypt") && l.contains("API_KEY") && l.contains("you"))
    });
    assert!(
        audit.contains("Detail"),
        "the wide layout's detail pane:\n{audit}"
    );
    assert!(
        !audit.contains(VALUE),
        "the value is not on the audit screen"
    );

    tmux.keys(&["q"]);
    tmux.wait_for("`q` to end the dashboard", |_| {
        std::fs::read_to_string(&first_exit).is_ok_and(|code| code.trim() == "0")
    });

    // Started again (on the Secrets screen), then sent SIGTERM: it
    // restores the terminal too.
    let again = tmux.wait_for("the dashboard again", |screen| {
        screen.contains("Secrets · .env.enc") && screen.contains("UNLOCKED")
    });
    assert!(again.contains("Demo Corp"), "{again}");
    // `envv ui` became the dashboard, its own program, in the project.
    let dashboard = Path::new(ENVV).with_file_name("envv-tui");
    let dashboard = dashboard.to_str().expect("a UTF-8 path");
    let pid = pid_of(&[dashboard, "--team"], &s.project).expect("the second envv ui runs");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("pid"),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM");
    let after = tmux.wait_for_text("again: exited with 0");
    assert!(
        !after.contains("UNLOCKED"),
        "the terminal is restored after quitting:\n{after}"
    );

    let logged = std::fs::read_to_string(&log).expect("the agent's log");
    assert!(logged.contains("read"), "the agent logged its requests");
    assert!(
        !logged.contains(VALUE),
        "the revealed value reached the agent's log"
    );
}

/// `envv ui` for sandbox `s`, in its project, on a `width`-column terminal.
fn dashboard(s: &Sandbox, width: u16) -> Tmux {
    let env: Vec<String> = s
        .vars()
        .into_iter()
        .map(|(k, v)| quote(&format!("{k}={}", v.to_string_lossy())))
        .collect();
    let script = format!(
        "cd {dir} && env -i TERM=xterm-256color {env} {envv} ui; sleep 600",
        dir = quote(&s.project.display().to_string()),
        env = env.join(" "),
        envv = quote(ENVV),
    );
    Tmux::start(width, 40, &script)
}

/// Issue 21, point 1: a member waiting for the team key sees an unlocked
/// agent (never LOCKED), is told an admin grants the key and who the admins
/// are, and is not offered the admins' actions.
#[test]
fn a_waiting_member_sees_who_grants_the_key_and_no_admin_actions() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "ann@example.com");
    owner.ok(["team", "create", "Acme"]);
    owner.init();
    owner.ok(["set", "KEY", "v"]);
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    clone_project(&owner, &bob);
    let code = owner.ok(["team", "invite", "bob@example.com"]);
    // A locked admin's agent grants nothing: Bob waits.
    owner.ok(["lock"]);
    join_with(&bob, &code);

    let tmux = dashboard(&bob, 140);
    let secrets = tmux.wait_for_text("waiting for an admin to grant you");
    assert!(secrets.contains("UNLOCKED"), "{secrets}");
    // The dashboard polls; the answer never flips it to LOCKED.
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(250));
        let screen = tmux.screen();
        assert!(!screen.contains(" LOCKED "), "{screen}");
    }
    tmux.keys(&["2"]);
    let team = tmux.wait_for_text("you are waiting for an admin to grant you the key");
    assert!(team.contains("ann@example.com"), "{team}");
    assert!(!team.contains("a admits now"), "{team}");
    assert!(
        !team.contains("R rotate"),
        "no admin keys in the hints: {team}"
    );
    tmux.keys(&["a"]);
    let refused = tmux.wait_for_text("only the team's admins can do that");
    assert!(refused.contains("UNLOCKED"), "{refused}");
}

/// Issue 21, point 3: the Team screen lists the files still at an older
/// key epoch than the team's (rotated outside the project), instead of
/// "no re-key needed".
#[test]
fn the_team_screen_lists_files_at_an_old_epoch() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "ann@example.com");
    owner.ok(["team", "create", "Acme"]);
    owner.init();
    owner.ok(["set", "KEY", "v"]);
    let elsewhere = owner.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    owner.ok(["-C", elsewhere.to_str().expect("utf-8"), "rotate", "--yes"]);

    let tmux = dashboard(&owner, 220);
    tmux.wait_for_text("UNLOCKED");
    tmux.keys(&["2"]);
    let team = tmux.wait_for_text("old-epoch files");
    assert!(team.contains(".env.enc (epoch 1)"), "{team}");
    assert!(team.contains("R re-encrypts them"), "{team}");
    assert!(!team.contains("no re-key needed"), "{team}");
}

/// Issue 21, point 8: unlocked while the control plane was down, the
/// dashboard says OFFLINE; when the server is back the agent reconnects by
/// itself and the dashboard says online, with no key pressed.
#[test]
fn the_dashboard_goes_online_when_the_agent_reconnects() {
    let mut cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "ann@example.com");
    s.ok(["team", "create", "Acme"]);
    s.init();
    s.ok(["set", "KEY", "v"]);
    s.ok(["agent", "stop"]);
    cp.stop();
    s.envv(["unlock"])
        .env("ENVV_PASSWORD", PASSWORD)
        .assert()
        .success();

    let tmux = dashboard(&s, 140);
    let offline = tmux.wait_for_text("OFFLINE");
    assert!(offline.contains("UNLOCKED"), "{offline}");
    cp.restart();
    let online = tmux.wait_for("online", |screen| {
        screen.contains("online") && !screen.contains("OFFLINE")
    });
    assert!(online.contains("synced"), "{online}");
}

/// Issue 21, point 4: an admin's Team screen lists the open invites; an
/// invite made there shows its code whole on one line with a copy key,
/// and `x` revokes the selected invite after asking, as the chain then
/// records.
#[test]
fn an_admin_sees_invites_copies_a_code_and_revokes_one() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "ann@example.com");
    owner.ok(["team", "create", "Acme"]);
    owner.init();
    owner.ok(["team", "invite", "dave@example.com"]);

    let tmux = dashboard(&owner, 140);
    tmux.wait_for_text("UNLOCKED");
    tmux.keys(&["2"]);
    let team = tmux.wait_for_text("Open invites (1)");
    assert!(team.contains("dave@example.com"), "{team}");
    // A week, as `envv team invites` counts it.
    assert!(
        team.contains("in 7d 0h") || team.contains("in 6d 23h"),
        "{team}"
    );

    // A second invite from the dashboard: email, role (member), confirm.
    tmux.keys(&["i"]);
    tmux.wait_for_text("Email of the person to invite");
    tmux.type_text("erin@example.com");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Role for erin@example.com");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Invite erin@example.com to Acme");
    tmux.keys(&["y"]);
    let popup = tmux.wait_for_text("shown once");
    let line = popup
        .lines()
        .find(|l| l.contains("envv-inv2."))
        .unwrap_or_else(|| panic!("no code on screen: {popup}"));
    let start = line.find("envv-inv2.").expect("the code");
    let code: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '│')
        .collect();
    assert_eq!(code.len(), 117, "the whole code on one line: {popup}");
    tmux.keys(&["c"]);
    tmux.wait_for_text("Copied to the clipboard.");
    tmux.keys(&["Enter"]);
    tmux.wait_for_text("Open invites (2)");

    // Past the one member: the first invite.
    tmux.keys(&["Down"]);
    tmux.wait_for_text("x revoke invite");
    tmux.keys(&["x"]);
    let confirm = tmux.wait_for_text("Its code admits no one");
    let email = ["dave@example.com", "erin@example.com"]
        .into_iter()
        .find(|e| confirm.contains(&format!("Revoke the invite for {e}")))
        .unwrap_or_else(|| panic!("which invite? {confirm}"));
    tmux.keys(&["y"]);
    tmux.wait_for_text(&format!("revoked the invite for {email}"));
    tmux.wait_for_text("Open invites (1)");

    let listed = owner.ok(["team", "invites", "--json"]);
    let invites: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("json");
    let state_of = |e: &str| {
        invites
            .iter()
            .find(|i| i["email"] == e)
            .map(|i| i["state"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(state_of(email).as_deref(), Some("revoked"), "{listed}");
    let other = if email.starts_with("dave") {
        "erin@example.com"
    } else {
        "dave@example.com"
    };
    assert_eq!(state_of(other).as_deref(), Some("open"), "{listed}");
}

/// Issue 17: a file a removed member sealed is refused in the dashboard
/// too, naming them; its values are never shown.
#[test]
fn the_dashboard_refuses_a_removed_members_file_and_names_them() {
    let cp = ControlPlane::start();
    let ann = Sandbox::signed_up(&cp, "ann@example.com");
    ann.ok(["team", "create", "Acme"]);
    ann.init();
    ann.ok(["set", "DATABASE_URL", "postgres://db.internal/acme"]);
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    clone_project(&ann, &bob);
    let code = ann.ok(["team", "invite", "bob@example.com"]);
    join_with(&bob, &code);
    ann.ok(["team", "grant"]);
    bob.ok(["set", "DATABASE_URL", "postgres://planted.example/acme"]);
    ann.ok(["team", "remove", "bob@example.com", "--yes"]);
    ann.ok(["rotate"]);
    std::fs::copy(bob.project.join(".env.enc"), ann.project.join(".env.enc")).expect("plant");

    let tmux = dashboard(&ann, 220);
    let screen = tmux.wait_for_text("who was removed from the team");
    assert!(screen.contains("bob@example.com"), "{screen}");
    assert!(!screen.contains("planted.example"), "{screen}");
}
