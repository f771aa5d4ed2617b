//! Files no one can forge, through the real CLI on SQLite and PostgreSQL:
//! a file a removed member sealed (before the rotation, at the then
//! current epoch; and after it, at the old one) is refused by the
//! remaining members with the signer named; `envv reseal` after review
//! makes it readable again, signed by the reviewer.

use envv_testkit::Backend;

use crate::common::*;

fn refused_naming_bob(out: &std::process::Output) {
    assert!(!out.status.success(), "accepted: {}", stdout(out));
    assert_eq!(code(out), Some(6), "{}", stderr(out));
    let err = stderr(out);
    assert!(
        err.contains("by bob@example.com, who was removed from the team on")
            && err.contains("envv reseal"),
        "{err}"
    );
    assert!(!stdout(out).contains("attacker"), "{}", stdout(out));
}

fn a_removed_members_file_is_refused_until_resealed_on(backend: Backend) {
    let cp = ControlPlane::start_on(backend);
    let ada = Sandbox::signed_up(&cp, "ada@example.com");
    ada.ok(["team", "create", "Acme"]);
    ada.init();
    ada.ok(["set", "DATABASE_URL", "postgres://db.internal/acme"]);
    let bob = Sandbox::signed_up(&cp, "bob@example.com");
    clone_project(&ada, &bob);
    join(&ada, &bob, "bob@example.com");
    ada.ok(["team", "grant"]);
    // While still a member, Bob seals a value of his own (epoch 1).
    bob.ok(["set", "DATABASE_URL", "postgres://attacker.example/acme"]);
    let planted = std::fs::read(bob.project.join(".env.enc")).expect("bob's file");
    // Ada reads her own version, so she has one to compare with later.
    assert_eq!(
        ada.ok(["get", "DATABASE_URL"]),
        "postgres://db.internal/acme\n"
    );
    let own = std::fs::read(ada.project.join(".env.enc")).expect("ada's file");

    ada.ok(["team", "remove", "bob@example.com", "--yes"]);
    // Sealed at the epoch that was current then, before any rotation.
    std::fs::write(ada.project.join(".env.enc"), &planted).expect("plant");
    refused_naming_bob(&ada.run(["get", "DATABASE_URL"]));
    refused_naming_bob(&ada.run(["exec", "--", "printenv", "DATABASE_URL"]));
    std::fs::write(ada.project.join(".env.enc"), &own).expect("restore");

    // After the rotation, the same file is at an old epoch: still refused.
    ada.ok(["rotate"]);
    std::fs::write(ada.project.join(".env.enc"), &planted).expect("plant");
    refused_naming_bob(&ada.run(["get", "DATABASE_URL"]));
    refused_naming_bob(&ada.run(["exec", "--", "printenv", "DATABASE_URL"]));

    // Ada looks, sees which value differs from what she had, and reseals.
    let out = ada.run(["reseal"]);
    assert_eq!(
        code(&out),
        Some(2),
        "a confirmation is needed: {}",
        stderr(&out)
    );
    let preview = stdout(&out);
    assert!(
        preview
            .lines()
            .any(|l| l.starts_with("DATABASE_URL") && l.ends_with("changed")),
        "{preview}"
    );
    assert!(stderr(&out).contains("bob@example.com"), "{}", stderr(&out));
    assert!(!preview.contains("attacker"), "values are never shown");
    let out = ada.run(["reseal", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ada.ok(["get", "DATABASE_URL"]),
        "postgres://attacker.example/acme\n",
        "the value she reviewed, now hers"
    );
    let resealed = std::fs::read_to_string(ada.project.join(".env.enc")).expect("file");
    assert!(resealed.starts_with("envv-env v2\n"));
    assert!(resealed.contains("\nepoch 2\n"), "at the current epoch");
    // And the audit trail says who resealed it.
    assert!(
        ada.ok(["audit", "--action", "reseal"])
            .contains("ada@example.com")
    );
}

#[test]
fn a_removed_members_file_is_refused_until_resealed_on_sqlite() {
    a_removed_members_file_is_refused_until_resealed_on(Backend::Sqlite);
}

#[test]
fn a_removed_members_file_is_refused_until_resealed_on_postgres() {
    a_removed_members_file_is_refused_until_resealed_on(Backend::Postgres);
}
