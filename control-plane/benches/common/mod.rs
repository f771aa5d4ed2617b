//! What the benches share: accounts and teams made straight in the store.

use control_plane::store::{self, NewEpoch, NewUser, Store, TeamRecord};
use envv_api::KdfParams;
use envv_core::chain::{Body, Draft, Hash, TeamChain};
use envv_core::crypto::{EpochIdentity, UserIdentity};
use uuid::Uuid;

/// An account, with the keys its client would hold.
pub struct BenchUser {
    pub id: Uuid,
    pub email: String,
    pub keys: UserIdentity,
}

/// An account with real public keys and a stand-in wrapped identity (the
/// server only stores it).
pub async fn user(store: &dyn Store, i: usize) -> BenchUser {
    let id = Uuid::new_v4();
    let email = format!("bench{i}-{id}@example.com");
    let keys = UserIdentity::generate();
    store
        .create_user(NewUser {
            id,
            email: email.clone(),
            email_norm: email.clone(),
            name: format!("Bench {i}"),
            auth_key_hash: "x".into(),
            identity_public_key: keys.public_key().as_str().to_owned(),
            signing_public_key: keys.verifying_key().to_hex(),
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
    BenchUser { id, email, keys }
}

/// A team at epoch 1 with `owner` as its owner, holding a stand-in grant,
/// and its chain so far (the creation statement).
pub async fn team(store: &dyn Store, name: String, owner: &BenchUser) -> (Uuid, TeamChain) {
    let team = Uuid::new_v4();
    let created_at = store::now();
    let epoch_key = EpochIdentity::generate(team, 1).public_key();
    let genesis = Draft {
        team,
        seq: 1,
        prev: Hash::ZERO,
        by: owner.id,
        at: created_at.timestamp(),
        body: Body::Create {
            email: owner.email.clone(),
            age: owner.keys.public_key(),
            signing: owner.keys.verifying_key(),
            epoch_key: epoch_key.clone(),
        },
    }
    .sign(owner.keys.signing_key());
    let chain = TeamChain::genesis(&genesis).expect("genesis");
    store
        .create_team(
            TeamRecord {
                id: team,
                name,
                current_epoch: 1,
                rekey_required: false,
                max_staleness_secs: envv_api::DEFAULT_MAX_STALENESS_SECS,
                created_at,
            },
            owner.id,
            NewEpoch {
                public_key: epoch_key.as_str().to_owned(),
                grants: vec![(owner.id, "grant".into())],
            },
            genesis,
        )
        .await
        .expect("create team");
    (team, chain)
}
