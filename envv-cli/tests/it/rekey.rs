//! Re-keying that holds (issue #17): after a removal nothing new is sealed
//! to the epoch the removed member still holds, online or offline, until an
//! admin rotates; a rotation re-seals every environment of the project and
//! names the other checkouts this machine knows that it left behind.

use envv_testkit::Backend;

use crate::common::*;

/// `who` joins `owner`'s team with a fresh invite, gets the project's files
/// and waits for the owner's agent to admit them.
fn join(owner: &Sandbox, who: &Sandbox, email: &str) {
    clone_project(owner, who);
    join_with(
        who,
        &owner.ok(["team", "invite", email, "--role", "member"]),
    );
    wait_until("the automatic admission", || {
        who.run(["exec", "--", "true"]).status.success()
    });
}

/// The refusal a write gets while the team's newest epoch is closed.
fn assert_refused_for_removal(out: &std::process::Output) {
    assert_eq!(code(out), Some(6), "{}", stderr(out));
    let why = stderr(out);
    assert!(
        why.contains("nothing was written: bob@example.com left team")
            && why.contains("holds its key epoch 1")
            && why.contains("An admin must run `envv rotate`"),
        "{why}"
    );
}

#[test]
fn after_a_removal_writes_wait_for_a_rotation_online_and_offline() {
    writes_wait_for_a_rotation_on(Backend::Sqlite);
}

#[test]
fn after_a_removal_writes_wait_for_a_rotation_on_postgres() {
    writes_wait_for_a_rotation_on(Backend::Postgres);
}

fn writes_wait_for_a_rotation_on(backend: Backend) {
    let mut cp = ControlPlane::start_on(backend);
    let owner = Sandbox::signed_up(&cp, "owner@example.com");
    owner.ok(["team", "create", "Rekey Corp"]);
    owner.init();
    owner.ok(["set", "KEY", "v1"]);
    owner.ok(["--env", "staging", "set", "STAGE", "s1"]);
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    let carol = Sandbox::signed_up(&cp, "carol@example.com");
    join(&owner, &bob, "bob@example.com");
    join(&owner, &carol, "carol@example.com");
    // Bob's agent holds epoch 1's key in memory from here on.
    assert_eq!(bob.ok(["exec", "--", "printenv", "KEY"]), "v1\n");

    // A second checkout of the project on the owner's machine, opened once.
    let other = owner.root().join("other-checkout");
    std::fs::create_dir_all(&other).expect("mkdir");
    for file in [".envv.json", ".env.enc"] {
        std::fs::copy(owner.project.join(file), other.join(file)).expect("copy");
    }
    let mut ls = owner.command(["ls"]);
    ls.current_dir(&other);
    assert!(ls.output().expect("ls").status.success());

    owner.ok(["team", "remove", "bob@example.com", "--yes"]);
    // The admin's own agent, and another member's, which learns of the
    // removal from the chain before it writes.
    assert_refused_for_removal(&owner.run(["set", "KEY", "v2"]));
    assert_refused_for_removal(&carol.run(["set", "NEW", "by carol"]));
    let import = carol
        .envv(["import", "-"])
        .write_stdin("A=1\n")
        .output()
        .expect("import");
    assert_refused_for_removal(&import);

    // Offline, the chain this machine verified still says the epoch is closed.
    cp.stop();
    let offline = carol.run(["set", "NEW", "by carol"]);
    assert_refused_for_removal(&offline);
    cp.restart();

    // The rotation re-seals both environments here and names the checkout
    // it left at the old epoch.
    let out = owner.run(["rotate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("epoch 2; re-encrypted 2 files"),
        "{}",
        stdout(&out)
    );
    let left = stderr(&out);
    assert!(
        left.contains("not re-encrypted: other projects of team")
            && left.contains(&other.display().to_string()),
        "{left}"
    );
    assert!(
        !left.contains(&owner.project.display().to_string()),
        "{left}"
    );

    owner.ok(["set", "KEY", "v2"]);
    // Carol's copy is still at epoch 1: her write seals it at epoch 2, which
    // Bob's agent (holding epoch 1 only) can't open.
    carol.ok(["set", "NEW", "by carol"]);
    std::fs::copy(carol.project.join(".env.enc"), bob.project.join(".env.enc")).expect("copy");
    let out = bob.run(["exec", "--", "printenv", "NEW"]);
    assert!(!out.status.success(), "removed, yet: {}", stdout(&out));
    assert!(!stdout(&out).contains("by carol"));
    assert_eq!(
        owner.ok(["--env", "staging", "exec", "--", "printenv", "STAGE"]),
        "s1\n"
    );
}
