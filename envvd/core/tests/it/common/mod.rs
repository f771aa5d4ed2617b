//! Shared test helpers.
#![allow(dead_code)]

use envv_core::crypto::{EpochIdentity, FileSigner, TeamKeyring};
use envv_core::envfile::{EnvName, ReadOptions, SecretName};
use uuid::Uuid;

/// A keyring for a new team holding epochs 1..=epochs, signing as a
/// fresh member.
pub fn keyring(epochs: u64) -> TeamKeyring {
    let team = Uuid::new_v4();
    let mut ring = TeamKeyring::new(EpochIdentity::generate(team, 1));
    for e in 2..=epochs {
        ring.insert(EpochIdentity::generate(team, e))
            .expect("same team");
    }
    ring.set_signer(signer());
    ring
}

/// A fresh member's signer.
pub fn signer() -> FileSigner {
    FileSigner {
        user: Uuid::new_v4(),
        key: envv_core::crypto::UserIdentity::generate()
            .signing_key()
            .clone(),
    }
}

/// A keyring holding only the first `n` epochs of `ring`.
pub fn truncated_ring(ring: &TeamKeyring, n: u64) -> TeamKeyring {
    let mut out = TeamKeyring::new(ring.get(1).expect("epoch 1").clone());
    for e in 2..=n {
        out.insert(ring.get(e).expect("epoch").clone())
            .expect("same team");
    }
    if let Some(signer) = ring.signer() {
        out.set_signer(signer.clone());
    }
    out
}

pub fn name(s: &str) -> SecretName {
    SecretName::new(s).expect("valid name")
}

pub fn env(s: &str) -> EnvName {
    if s == "default" {
        EnvName::default_env()
    } else {
        EnvName::new(s).expect("valid env")
    }
}

pub fn any_epoch(s: &str) -> ReadOptions {
    ReadOptions::any_epoch(env(s))
}
