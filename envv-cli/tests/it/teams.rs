//! Team housekeeping through the real CLI: one name per team among yours,
//! rename, leave, delete, and prompts that name the team.

use crate::common::*;

#[test]
fn names_are_unique_among_your_teams_and_teams_can_be_renamed_left_and_deleted() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "owner@example.com");
    owner.ok(["team", "create", "Acme"]);
    for twin in ["Acme", "acme"] {
        let out = owner.run(["team", "create", twin]);
        assert_eq!(code(&out), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("already in a team named \"Acme\""),
            "{}",
            stderr(&out)
        );
    }
    owner.ok(["team", "create", "Side"]);
    owner.ok(["team", "switch", "Acme"]);
    let out = owner.run(["team", "rename", "Side"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already in a team named \"Side\""),
        "{}",
        stderr(&out)
    );
    owner.ok(["team", "rename", "Acme Corp"]);
    assert!(owner.ok(["team", "list"]).contains("Acme Corp"));

    // Bob joins, then leaves on his own.
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    join(&owner, &bob, "bob@example.com");
    owner.ok(["team", "grant"]);
    let out = bob.run(["team", "leave"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("leave team Acme Corp?") && stderr(&out).contains("--yes"),
        "{}",
        stderr(&out)
    );
    let out = bob.run(["team", "leave", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("envv rotate"), "{}", stderr(&out));
    assert!(!bob.ok(["team", "list"]).contains("Acme Corp"));
    assert!(!owner.ok(["team", "members"]).contains("bob@example.com"));

    // Prompts name the team, not its id.
    let carol = Sandbox::signed_up(&cp, "carol@example.com");
    join(&owner, &carol, "carol@example.com");
    owner.ok(["team", "grant"]);
    let out = owner.run(["team", "remove", "carol@example.com"]);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("remove carol@example.com from team Acme Corp?"),
        "{}",
        stderr(&out)
    );

    // Only the owner deletes, and only when sure.
    let out = carol.run(["team", "delete", "--yes"]);
    assert_eq!(code(&out), Some(9), "{}", stderr(&out));
    let out = owner.run(["team", "delete"]);
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("delete team Acme Corp for every member?"),
        "{}",
        stderr(&out)
    );
    let out = owner.run(["team", "delete", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let teams = owner.ok(["team", "list"]);
    assert!(
        !teams.contains("Acme Corp") && teams.contains("Side"),
        "{teams}"
    );
    assert!(!carol.ok(["team", "list"]).contains("Acme Corp"));
}
