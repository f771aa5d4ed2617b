//! Key distribution end to end, with envv's real crypto on the client side:
//! invite binding, grants, removal and rotation, on both backends.

use crate::common;

use common::{Backend, TestServer};
use envv_api::Role;
use envv_core::chain::{Body, ChainError, TeamChain};
use envv_core::crypto::{SignatureBytes, TeamKeyring};
use envv_core::envfile::{EnvName, ReadOptions, SecretName, edit};
use envv_core::secret::SecretValue;
use serde_json::json;
use uuid::Uuid;

/// Writes one secret into a fresh `.env.enc` in `dir`.
fn write_secret(
    dir: &std::path::Path,
    ring: &TeamKeyring,
    name: &str,
    value: &str,
) -> std::path::PathBuf {
    let env = EnvName::default_env();
    let path = edit::env_path(dir, &env);
    edit::set(
        &path,
        &env,
        ring,
        SecretName::new(name).unwrap(),
        SecretValue::from(value),
    )
    .unwrap();
    path
}

fn read_secret(
    path: &std::path::Path,
    ring: &TeamKeyring,
    name: &str,
) -> Result<String, envv_core::envfile::EnvFileError> {
    let file = edit::read(path, ring, &ReadOptions::any_epoch(EnvName::default_env()))?;
    Ok(file.get(name).expect("secret present").expose().to_owned())
}

async fn invitee_reads_what_the_owner_wrote(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.person("owner").await;
    let bob = server.person("bob").await;
    let (team, ring) = server.found_team(&owner, "Demo Corp").await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_secret(dir.path(), &ring, "DATABASE_URL", "postgres://prod");

    let code = server
        .invite_with_code(team, &owner, &ring, &bob.user.email, Role::Member)
        .await;
    assert_eq!(server.join(&bob, &code).await, team);
    // Joined but pending: no key yet.
    let (_, members) = server
        .get(&format!("/teams/{team}/members"), &owner.user.access)
        .await;
    let bob_row = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == bob.user.id.to_string())
        .unwrap();
    assert_eq!(bob_row["has_key"], false);
    assert!(
        server.keyring(&bob, team).await.is_err(),
        "no grant before an admin admits"
    );

    let (granted, refused) = server.admit_pending(team, &owner, &ring).await;
    assert_eq!((granted, refused.len()), (1, 0));
    let bob_ring = server.keyring(&bob, team).await.expect("bob's grant opens");
    assert_eq!(
        read_secret(&file, &bob_ring, "DATABASE_URL").unwrap(),
        "postgres://prod"
    );
    let (_, pending) = server
        .get(&format!("/teams/{team}/grants/pending"), &owner.user.access)
        .await;
    assert_eq!(pending, json!([]));

    // A fresh login on a new device recovers the identity from the server's blob.
    let again = server.log_in(&bob.user.email, &bob.password).await;
    let ring_again = server.keyring(&again, team).await.unwrap();
    assert_eq!(
        read_secret(&file, &ring_again, "DATABASE_URL").unwrap(),
        "postgres://prod"
    );
}

async fn removed_member_is_cut_off_and_rotation_moves_on(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.person("owner").await;
    let alice = server.person("alice").await;
    let mallory = server.person("mallory").await;
    let (team, mut ring) = server.found_team(&owner, "T").await;
    server
        .bring_in(team, &owner, &ring, &alice, Role::Admin)
        .await;
    server
        .bring_in(team, &owner, &ring, &mallory, Role::Member)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_secret(dir.path(), &ring, "API_KEY", "old-value");
    let mallory_ring = server.keyring(&mallory, team).await.unwrap();
    assert_eq!(
        read_secret(&file, &mallory_ring, "API_KEY").unwrap(),
        "old-value"
    );

    let (status, _) = server.remove(team, &owner, mallory.user.id).await;
    assert_eq!(status, 204);
    // At once, with the same unexpired token.
    assert_eq!(server.keyring(&mallory, team).await.unwrap_err().0, 404);
    let (_, view) = server
        .get(&format!("/teams/{team}"), &owner.user.access)
        .await;
    assert_eq!(view["rekey_required"], true);

    let (status, rotated) = server.rotate(team, &owner, &mut ring).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["epoch"], 2);
    let (_, view) = server
        .get(&format!("/teams/{team}"), &owner.user.access)
        .await;
    assert_eq!(
        (
            view["current_epoch"].clone(),
            view["rekey_required"].clone()
        ),
        (json!(2), json!(false))
    );

    edit::set(
        &file,
        &EnvName::default_env(),
        &ring,
        SecretName::new("API_KEY").unwrap(),
        "new-value".into(),
    )
    .unwrap();
    let alice_ring = server.keyring(&alice, team).await.unwrap();
    assert_eq!(alice_ring.current_epoch(), 2);
    assert_eq!(
        read_secret(&file, &alice_ring, "API_KEY").unwrap(),
        "new-value"
    );
    // Mallory's epoch-1 key opens nothing new.
    assert!(read_secret(&file, &mallory_ring, "API_KEY").is_err());
    // Alice keeps epoch 1 for files not yet re-encrypted; Mallory's grants are gone.
    assert!(alice_ring.get(1).is_some());
}

async fn substituted_public_key_gets_no_grant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.person("owner").await;
    let bob = server.person("bob").await;
    let (team, ring) = server.found_team(&owner, "T").await;
    let code = server
        .invite_with_code(team, &owner, &ring, &bob.user.email, Role::Member)
        .await;
    server.join(&bob, &code).await;

    // The server swaps in a key of its own for Bob's.
    let evil = envv_core::crypto::UserIdentity::generate().public_key();
    swap_public_key(&server, bob.user.id, evil.as_str()).await;

    let (granted, refused) = server.admit_pending(team, &owner, &ring).await;
    assert_eq!(granted, 0);
    assert!(
        matches!(refused.as_slice(), [ChainError::BadAcceptance { .. }]),
        "{refused:?}"
    );
    assert!(server.keyring(&bob, team).await.is_err());
}

/// What a malicious server does: rewrite a user's public key in its database.
async fn swap_public_key(server: &TestServer, user: Uuid, key: &str) {
    let sql = "UPDATE users SET identity_public_key = $1 WHERE id = $2";
    server.db.update_row(sql, key.to_owned(), user).await;
}

async fn grants_only_for_members_of_the_current_epoch(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.person("owner").await;
    let stranger = server.person("stranger").await;
    let bob = server.person("bob").await;
    let (team, mut ring) = server.found_team(&owner, "T").await;
    let grant = ring
        .current()
        .grant_to(&stranger.identity.public_key())
        .unwrap();
    let grants_path = format!("/teams/{team}/grants");
    let post = |user: Uuid, epoch: u64, grant: String, statement: String| {
        server.post(
            &grants_path,
            Some(&owner.user.access),
            json!({ "user_id": user, "epoch": epoch, "grant": grant, "statement": statement }),
        )
    };
    // An admit statement for someone who never accepted an invite.
    let signature =
        SignatureBytes::from_base64(&stranger.identity.signing_key().sign(b"none").to_base64())
            .unwrap();
    let stray = server
        .sign(
            team,
            &owner,
            Body::Admit {
                invite: Uuid::new_v4(),
                user: stranger.user.id,
                age: stranger.identity.public_key(),
                signing: stranger.identity.verifying_key(),
                proof: signature,
                consent: signature,
            },
        )
        .await;
    assert_eq!(
        post(
            stranger.user.id,
            1,
            grant.as_str().into(),
            stray.as_str().into()
        )
        .await
        .0,
        404,
        "not a member"
    );

    let code = server
        .invite_with_code(team, &owner, &ring, &bob.user.email, Role::Member)
        .await;
    server.join(&bob, &code).await;
    // A newcomer not yet admitted is not in the rotation.
    assert_eq!(server.rotate(team, &owner, &mut ring).await.0, 200);
    let stale = ring
        .get(1)
        .unwrap()
        .grant_to(&bob.identity.public_key())
        .unwrap();
    let pending = server.pending_entry(team, &owner, bob.user.id).await;
    let admit = server.admit_statement(team, &owner, &pending).await;
    let (status, body) = post(bob.user.id, 1, stale.as_str().into(), admit.as_str().into()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("epoch_conflict"))
    );
}

async fn concurrent_rotations_have_one_winner(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.person("owner").await;
    let alice = server.person("alice").await;
    let (team, ring) = server.found_team(&owner, "T").await;
    server
        .bring_in(team, &owner, &ring, &alice, Role::Admin)
        .await;
    let mut attempts = Vec::new();
    for i in 0..10 {
        let admin = if i % 2 == 0 { &owner } else { &alice };
        let (next, body) = server.prepare_rotation(team, admin, 1).await;
        let request = server
            .http
            .post(server.url(&format!("/teams/{team}/keys/rotate")))
            .bearer_auth(&admin.user.access)
            .json(&body);
        attempts.push((
            next,
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() }),
        ));
    }
    let mut winners = Vec::new();
    let mut statuses = Vec::new();
    for (next, task) in attempts {
        let status = task.await.unwrap();
        statuses.push(status);
        if status == 200 {
            winners.push(next);
        }
    }
    assert_eq!(winners.len(), 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );
    // The chain has the winner's statement alone, and verifies.
    let chain = server.chain(team, &owner.user.access).await;
    assert_eq!(chain.current_epoch(), 2);
    assert_eq!(chain.epoch(2).unwrap().key, winners[0].public_key());
    let statements = server.chain_statements(team, &owner.user.access).await;
    assert_eq!(TeamChain::verify(&statements).unwrap().seq(), chain.seq());
    for person in [&owner, &alice] {
        let ring = server.keyring(person, team).await.unwrap();
        assert_eq!(ring.current_epoch(), 2);
        assert_eq!(ring.current().public_key(), winners[0].public_key());
    }
}

async fn rotation_with_a_stale_member_list_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.person("owner").await;
    let bob = server.person("bob").await;
    let (team, mut ring) = server.found_team(&owner, "T").await;
    let (_, body) = server.prepare_rotation(team, &owner, 1).await;
    // Bob joins between the client's chain and its rotation: the rotation
    // was not made at the chain's head.
    server
        .bring_in(team, &owner, &ring, &bob, Role::Member)
        .await;
    let (status, answer) = server
        .post(
            &format!("/teams/{team}/keys/rotate"),
            Some(&owner.user.access),
            body,
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("chain_conflict"))
    );
    assert_eq!(server.rotate(team, &owner, &mut ring).await.0, 200);
    assert_eq!(server.keyring(&bob, team).await.unwrap().current_epoch(), 2);
}

on_both_backends!(
    invitee_reads_what_the_owner_wrote,
    removed_member_is_cut_off_and_rotation_moves_on,
    substituted_public_key_gets_no_grant,
    grants_only_for_members_of_the_current_epoch,
    concurrent_rotations_have_one_winner,
    rotation_with_a_stale_member_list_is_refused,
);
