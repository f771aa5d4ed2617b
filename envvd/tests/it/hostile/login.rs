//! Logging in on a new device: the server can't weaken the password
//! derivation.

use super::*;

/// Attack 10: on a new device, the server asks for a weaker password
/// derivation than the client's own, or a shorter salt.
#[test]
fn a_weaker_kdf_at_login_is_refused_before_anything_is_sent() {
    let world = World::new();
    let strong = ["--kdf-memory-kib", "16384", "--kdf-iterations", "2"];
    let (_first, socket) = world.agent_for("-laptop", &strong);
    let mut laptop = Client::connect(&socket, "test").unwrap();
    signup(&mut laptop, &world.server, "kdf@example.com");
    let db = Db::open(&world);
    let user = db.user("kdf@example.com");
    let kdf: String =
        db.0.query_row("SELECT kdf FROM users WHERE id = ?1", [user], |r| r.get(0))
            .unwrap();
    let (_second, socket) = world.agent_for("-desktop", &strong);
    let mut desktop = Client::connect(&socket, "test").unwrap();
    let login = |desktop: &mut Client| {
        desktop.request(&Request::Login {
            server: world.server.clone(),
            email: "kdf@example.com".into(),
            password: Secret::new(PASSWORD),
        })
    };
    let weaker = kdf.replace("\"memory_kib\":16384", "\"memory_kib\":8192");
    assert_ne!(weaker, kdf);
    db.0.execute(
        "UPDATE users SET kdf = ?1 WHERE id = ?2",
        params![weaker, user],
    )
    .unwrap();
    let why = refused(login(&mut desktop));
    assert!(
        why.contains("weaker password derivation (8 MiB, 2 passes"),
        "{why}"
    );

    let mut parsed: serde_json::Value = serde_json::from_str(&kdf).unwrap();
    parsed["salt"] = "AAAAAAAAAAAAAAAAAAAAAA==".into();
    db.0.execute(
        "UPDATE users SET kdf = ?1 WHERE id = ?2",
        params![parsed.to_string(), user],
    )
    .unwrap();
    let why = refused(login(&mut desktop));
    assert!(why.contains("16-byte salt"), "{why}");

    db.0.execute(
        "UPDATE users SET kdf = ?1 WHERE id = ?2",
        params![kdf, user],
    )
    .unwrap();
    login(&mut desktop).expect("the account's own parameters log in");
}
