//! Issue #17 through the real CLI, on SQLite and PostgreSQL: after a
//! removal, `envv team remove` lists every secret the removed member could
//! read (every name sealed at an epoch they held), marking the ones the
//! trail shows they decrypted; `envv audit verify` checkpoints the trail in
//! the team chain and reports the checkpoint it verified against.

use std::time::{Duration, Instant};

use envv_testkit::Backend;

use crate::common::*;

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen in 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn join(who: &Sandbox, code: &str) {
    use std::io::Write;
    let mut child = who
        .command(["team", "join", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("envv team join");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(code.as_bytes())
        .expect("code");
    let out = child.wait_with_output().expect("join");
    assert!(out.status.success(), "{}", stderr(&out));
}

fn exposure_and_checkpoints_on(backend: Backend) {
    let cp = ControlPlane::start_on(backend);
    let owner = Sandbox::signed_up(&cp, "owner@example.com");
    owner.ok(["team", "create", "Exposed"]);
    owner.init();
    for (name, value) in [
        ("API_KEY", "a"),
        ("DATABASE_URL", "b"),
        ("SMTP_PASSWORD", "c"),
    ] {
        owner.ok(["set", name, value]);
    }
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    for file in [".envv.json", ".env.enc"] {
        std::fs::copy(owner.project.join(file), bob.project.join(file)).expect("copy");
    }
    let code = owner.ok(["team", "invite", "bob@example.com", "--role", "member"]);
    join(&bob, code.trim());
    wait_until("the automatic admission", || {
        bob.run(["get", "API_KEY"]).status.success()
    });
    // Bob's read reaches the trail (`envv audit` ships the spool first).
    bob.ok(["audit", "--limit", "1"]);

    let out = owner.run(["team", "remove", "bob@example.com", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (listed, said) = (stdout(&out), stderr(&out));
    assert_eq!(
        listed, "API_KEY\tdefault *\nDATABASE_URL\tdefault\nSMTP_PASSWORD\tdefault\n",
        "{said}"
    );
    assert!(said.contains("Change all of these"), "{said}");
    let root = owner.project.canonicalize().expect("root");
    assert!(
        said.contains(&format!(
            "looked at the team's files in:\n  {}",
            root.display()
        )),
        "{said}"
    );

    // The owner's verification checkpoints the trail in the chain ...
    let first = owner.ok(["audit", "verify"]);
    assert!(
        first.contains("the team chain holds no audit checkpoint yet")
            && first.contains("checkpointed: statement "),
        "{first}"
    );
    let statement = first
        .lines()
        .find_map(|l| l.strip_prefix("checkpointed: statement "))
        .and_then(|l| l.split(' ').next())
        .expect("the checkpoint's statement")
        .to_owned();
    // ... and the next one is checked against it, and reports it.
    let second = owner.ok(["audit", "verify"]);
    assert!(
        second.contains(&format!(
            "verified against checkpoint: statement {statement} of the team chain, audit event "
        )) && second.contains("by owner@example.com at "),
        "{second}"
    );
    assert!(second.contains("extends event "), "{second}");
}

#[test]
fn exposure_and_checkpoints_on_sqlite() {
    exposure_and_checkpoints_on(Backend::Sqlite);
}

#[test]
fn exposure_and_checkpoints_on_postgres() {
    exposure_and_checkpoints_on(Backend::Postgres);
}
