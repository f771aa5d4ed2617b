//! What the benches share: accounts made straight in the store.

use control_plane::store::{self, NewUser, Store};
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
