//! Issue #17 through the real CLI, on SQLite and PostgreSQL: after a
//! removal, `envv team remove` lists every secret the removed member could
//! read (every name sealed at an epoch they held), marking the ones the
//! trail shows they decrypted; `envv audit verify` checkpoints the trail in
//! the team chain and reports the checkpoint it verified against.

use envv_testkit::Backend;

use crate::common::*;

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
    clone_project(&owner, &bob);
    let code = owner.ok(["team", "invite", "bob@example.com", "--role", "member"]);
    join_with(&bob, code.trim());
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
