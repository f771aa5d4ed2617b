//! Two people and a team through the real CLI, on SQLite and PostgreSQL:
//! invite, join, automatic admission, fingerprints compared out of band,
//! a role change, an admin's removal voiding their invites, rotation.

use envv_testkit::Backend;

use crate::common::*;

/// `envv team join --stdin` with the code `inviter` made for `email`.
fn invite(inviter: &Sandbox, email: &str, role: &str) -> String {
    let out = inviter.run(["team", "invite", email, "--role", role]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// The fingerprint line of `envv auth whoami`.
fn own_fingerprint(who: &Sandbox) -> String {
    let out = who.ok(["auth", "whoami"]);
    out.lines()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint in {out}"))
        .to_owned()
}

fn team_members_and_chains_on(backend: Backend) {
    let cp = ControlPlane::start_on(backend);
    let owner = Sandbox::signed_up(&cp, "owner@example.com");
    owner.ok(["team", "create", "Chain Corp"]);
    owner.init();
    owner.ok(["set", "KEY", "shared value"]);
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    clone_project(&owner, &bob);

    let code = invite(&owner, "bob@example.com", "member");
    let listed = owner.ok(["team", "members"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("bob@example.com") && l.contains("invited")),
        "{listed}"
    );
    assert!(code.starts_with("envv-inv2.") && code.len() < 130, "{code}");
    let out = accept(&bob, &code);
    assert!(out.status.success(), "{}", stderr(&out));
    // Nobody runs `team grant`: the owner's unlocked agent admits Bob.
    wait_until("the automatic admission", || {
        bob.run(["exec", "--", "printenv", "KEY"]).status.success()
    });
    assert_eq!(bob.ok(["exec", "--", "printenv", "KEY"]), "shared value\n");

    // What each sees of the other is what the other says of themselves,
    // and both see the same head of the chain.
    let bob_fp = own_fingerprint(&bob);
    let owner_fp = own_fingerprint(&owner);
    let seen_by_owner = owner.ok(["team", "members"]);
    let seen_by_bob = bob.ok(["team", "members"]);
    for (listing, email, fp) in [
        (&seen_by_owner, "bob@example.com", &bob_fp),
        (&seen_by_bob, "owner@example.com", &owner_fp),
    ] {
        let line = listing
            .lines()
            .find(|l| l.starts_with(email))
            .unwrap_or_else(|| panic!("{email} not in {listing}"));
        assert!(line.contains(fp.as_str()), "{line} vs {fp}");
    }
    let head = |listing: &str| {
        listing
            .lines()
            .find(|l| l.starts_with("team chain:"))
            .expect("the chain's head")
            .to_owned()
    };
    assert_eq!(head(&seen_by_owner), head(&seen_by_bob));
    assert!(
        head(&seen_by_owner).contains("3 statements"),
        "{seen_by_owner}"
    );

    // Bob becomes an admin and invites Carol; then he is removed, and the
    // invite he made dies with his role.
    owner.ok(["team", "role", "bob@example.com", "admin"]);
    let carol = Sandbox::signed_up(&cp, "carol@example.com");
    let carol_code = invite(&bob, "carol@example.com", "member");
    let out = owner.run(["team", "remove", "bob@example.com", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = accept(&carol, &carol_code);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("was issued by a member removed since; ask an admin for a new one"),
        "{}",
        stderr(&out)
    );

    let listed = owner.ok(["team", "invites"]);
    let line = listed
        .lines()
        .find(|l| l.contains("carol@example.com"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.ends_with("issued by a member removed since"), "{line}");
    assert!(
        line.contains("bob@example.com")
            && (line.contains("in 6d 23h") || line.contains("in 7d 0h")),
        "{line}"
    );

    // A revoked invite admits no one either.
    let dave = Sandbox::signed_up(&cp, "dave@example.com");
    let dave_code = invite(&owner, "dave@example.com", "member");
    let invites: Vec<serde_json::Value> =
        serde_json::from_str(&owner.ok(["team", "invites", "--json"])).expect("json");
    let id = invites
        .iter()
        .find(|i| i["email"] == "dave@example.com" && i["state"] == "open")
        .expect("dave's open invite")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    owner.ok(["team", "invite", "--revoke", &id]);
    let out = accept(&dave, &dave_code);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("this invite was revoked; ask an admin for a new one"),
        "{}",
        stderr(&out)
    );

    let rotated = owner.ok(["rotate"]);
    assert!(rotated.contains("epoch 2"), "{rotated}");
    clone_project(&owner, &bob);
    let out = bob.run(["exec", "--", "printenv", "KEY"]);
    assert!(!out.status.success(), "removed, yet: {}", stdout(&out));
    assert_eq!(
        owner.ok(["exec", "--", "printenv", "KEY"]),
        "shared value\n"
    );
    // A fresh invite from the owner still works for Carol.
    let out = accept(&carol, &invite(&owner, "carol@example.com", "member"));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn team_members_and_chains_on_sqlite() {
    team_members_and_chains_on(Backend::Sqlite);
}

#[test]
fn team_members_and_chains_on_postgres() {
    team_members_and_chains_on(Backend::Postgres);
}
