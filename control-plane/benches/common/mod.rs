//! What the benches share: accounts and teams made straight in the store.

use control_plane::store::{self, NewEpoch, NewUser, Store, TeamRecord};
use envv_api::KdfParams;
use uuid::Uuid;

/// An account with stand-ins for its key material (the server only stores
/// it); returns its id and email.
pub async fn user(store: &dyn Store, i: usize) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let email = format!("bench{i}-{id}@example.com");
    store
        .create_user(NewUser {
            id,
            email: email.clone(),
            email_norm: email.clone(),
            name: format!("Bench {i}"),
            auth_key_hash: "x".into(),
            identity_public_key: format!("age1{}", "q".repeat(58)),
            wrapped_identity: "x".into(),
            kdf: KdfParams {
                algorithm: "argon2id".into(),
                memory_kib: 65536,
                iterations: 3,
                parallelism: 1,
                salt: "AAAAAAAAAAAAAAAAAAAAAA==".into(),
            },
            created_at: store::now(),
        })
        .await
        .expect("create user");
    (id, email)
}

/// A team at epoch 1 with `owner` as its owner, holding a stand-in grant.
pub async fn team(store: &dyn Store, name: String, owner: Uuid) -> Uuid {
    let team = Uuid::new_v4();
    store
        .create_team(
            TeamRecord {
                id: team,
                name,
                current_epoch: 1,
                rekey_required: false,
                max_staleness_secs: envv_api::DEFAULT_MAX_STALENESS_SECS,
                created_at: store::now(),
            },
            owner,
            NewEpoch {
                public_key: format!("age1{}", "q".repeat(58)),
                grants: vec![(owner, "grant".into())],
            },
        )
        .await
        .expect("create team");
    team
}
