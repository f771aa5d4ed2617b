//! The storage trait itself, the same suite on SQLite and PostgreSQL:
//! accounts and sessions here, teams and their chain in `teams.rs`, the
//! member list in `members.rs`.

use crate::common;

mod members;
mod teams;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::Duration;
use common::{Backend, TestDb};
use control_plane::store::{
    self, AuditEvent, AuthorisedOn, MembershipRefusal, NewEpoch, NewInvite, NewRefreshToken,
    NewUser, RefreshOutcome, Store, StoreError, TeamRecord, ThrottlePolicy,
};
use envv_api::{CHAIN_PAGE_LEN, KdfParams, Role};
use envv_core::chain::{Body, Draft, Hash, Statement, TeamChain, acceptance};
use envv_core::crypto::{EpochIdentity, InviteSecret, UserIdentity};
use uuid::Uuid;

/// The test users' identities, by user id: they sign the chain statements
/// the store is given, as each user's client would.
fn identities() -> &'static Mutex<HashMap<Uuid, UserIdentity>> {
    static KEYS: OnceLock<Mutex<HashMap<Uuid, UserIdentity>>> = OnceLock::new();
    KEYS.get_or_init(Default::default)
}

fn identity(user: Uuid) -> UserIdentity {
    identities().lock().unwrap()[&user].clone()
}

/// The team's chain as the store has it, verified.
async fn chain(store: &Arc<dyn Store>, team: Uuid) -> TeamChain {
    let (texts, head) = store.chain_page(team, 0, CHAIN_PAGE_LEN).await.unwrap();
    let statements: Vec<Statement> = texts.iter().map(|t| Statement::parse(t).unwrap()).collect();
    assert_eq!(statements.len() as u64, head);
    TeamChain::verify(&statements).unwrap()
}

/// The next statement of the team's chain, signed by `by`, made at `at`.
pub(crate) async fn sign_at(
    store: &Arc<dyn Store>,
    team: Uuid,
    by: Uuid,
    at: i64,
    body: Body,
) -> Statement {
    chain(store, team)
        .await
        .draft(by, at, body)
        .sign(identity(by).signing_key())
}

async fn sign(store: &Arc<dyn Store>, team: Uuid, by: Uuid, body: Body) -> Statement {
    sign_at(store, team, by, store::now().timestamp(), body).await
}

pub(crate) fn new_user(email: &str) -> NewUser {
    let keys = UserIdentity::generate();
    let id = Uuid::new_v4();
    let identity_public_key = keys.public_key().as_str().to_owned();
    let signing_public_key = keys.verifying_key().to_hex();
    identities().lock().unwrap().insert(id, keys);
    NewUser {
        id,
        email: email.to_owned(),
        email_norm: email.to_lowercase(),
        name: "N".into(),
        auth_key_hash: "$argon2id$stand-in".into(),
        identity_public_key,
        signing_public_key,
        wrapped_identity: "blob".into(),
        kdf: KdfParams {
            algorithm: "argon2id".into(),
            memory_kib: 65536,
            iterations: 3,
            parallelism: 1,
            salt: "c2FsdHNhbHRzYWx0c2FsdA==".into(),
        },
        created_at: store::now(),
    }
}

pub(crate) async fn user(store: &Arc<dyn Store>) -> Uuid {
    let user = new_user(&common::unique_email("u"));
    store.create_user(user.clone()).await.unwrap();
    user.id
}

async fn team(store: &Arc<dyn Store>, owner: Uuid) -> Uuid {
    team_at(store, owner, store::now()).await
}

/// A team `owner` created at `created_at`.
pub(crate) async fn team_at(
    store: &Arc<dyn Store>,
    owner: Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
) -> Uuid {
    let team = TeamRecord {
        id: Uuid::new_v4(),
        name: "T".into(),
        current_epoch: 1,
        rekey_required: false,
        max_staleness_secs: envv_api::DEFAULT_MAX_STALENESS_SECS,
        created_at,
    };
    let epoch_key = EpochIdentity::generate(team.id, 1).public_key();
    let keys = identity(owner);
    let genesis = Draft {
        team: team.id,
        seq: 1,
        prev: Hash::ZERO,
        by: owner,
        at: team.created_at.timestamp(),
        body: Body::Create {
            email: format!("{owner}@x.io"),
            age: keys.public_key(),
            signing: keys.verifying_key(),
            epoch_key: epoch_key.clone(),
        },
    }
    .sign(keys.signing_key());
    let first = NewEpoch {
        public_key: epoch_key.as_str().to_owned(),
        grants: vec![(owner, "grant-for-owner".into())],
    };
    store
        .create_team(team.clone(), owner, first, genesis)
        .await
        .unwrap();
    team.id
}

/// An invite of `team`'s from `owner`, created at `created` and expiring
/// at `expires`, with its statement; and the secret behind it.
pub(crate) async fn invite(
    store: &Arc<dyn Store>,
    team: Uuid,
    owner: Uuid,
    email: &str,
    role: Role,
    created: chrono::DateTime<chrono::Utc>,
    expires: chrono::DateTime<chrono::Utc>,
) -> (NewInvite, InviteSecret, Hash) {
    let secret = InviteSecret::generate();
    let token = envv_core::crypto::accept_token(&secret).digest();
    let invite = NewInvite {
        id: Uuid::new_v4(),
        team_id: team,
        email: email.to_owned(),
        email_norm: email.to_lowercase(),
        role,
        accept_token_hash: token.to_vec(),
        invited_by: owner,
        created_at: created,
        expires_at: expires,
    };
    let statement = sign_at(
        store,
        team,
        owner,
        created.timestamp(),
        Body::Invite {
            invite: invite.id,
            email: email.to_owned(),
            role,
            accept: Hash(token),
            proof_key: secret.proof_key().verifying_key(),
            expires: expires.timestamp(),
        },
    )
    .await;
    let hash = statement.hash();
    store
        .create_invite(invite.clone(), statement)
        .await
        .unwrap();
    (invite, secret, hash)
}

/// `user`'s two signatures of their acceptance of the invite.
pub(crate) fn accepting(
    team: Uuid,
    invite: Uuid,
    statement: &Hash,
    secret: &InviteSecret,
    user: Uuid,
) -> (String, String) {
    let keys = identity(user);
    let message = acceptance(
        team,
        invite,
        statement,
        user,
        &keys.public_key(),
        &keys.verifying_key(),
    );
    (
        secret.proof_key().sign(&message).to_base64(),
        keys.signing_key().sign(&message).to_base64(),
    )
}

/// Admits a newcomer who accepted `invite`, with their grant for epoch 1.
pub(crate) async fn admit(
    store: &Arc<dyn Store>,
    team: Uuid,
    owner: Uuid,
    user: Uuid,
    invite: Uuid,
    signatures: &(String, String),
) {
    admit_at(store, team, owner, user, invite, signatures, store::now()).await;
}

/// [`admit`] at `now` (the statement and the store's clock).
pub(crate) async fn admit_at(
    store: &Arc<dyn Store>,
    team: Uuid,
    owner: Uuid,
    user: Uuid,
    invite: Uuid,
    signatures: &(String, String),
    now: chrono::DateTime<chrono::Utc>,
) {
    let keys = identity(user);
    let signature = |s: &str| envv_core::crypto::SignatureBytes::from_base64(s).unwrap();
    let statement = sign_at(
        store,
        team,
        owner,
        now.timestamp(),
        Body::Admit {
            invite,
            user,
            age: keys.public_key(),
            signing: keys.verifying_key(),
            proof: signature(&signatures.0),
            consent: signature(&signatures.1),
        },
    )
    .await;
    store
        .post_grant(team, owner, user, 1, "grant".into(), now, statement)
        .await
        .unwrap()
        .unwrap();
}

/// A `role` statement.
async fn role_statement(
    store: &Arc<dyn Store>,
    team: Uuid,
    by: Uuid,
    user: Uuid,
    role: Role,
) -> Statement {
    sign(store, team, by, Body::Role { user, role }).await
}

/// `by` gives `user` the role `role`, with its signed statement, as
/// decided on `authorised_on`: the store's answer.
async fn change_role(
    store: &Arc<dyn Store>,
    team: Uuid,
    by: Uuid,
    user: Uuid,
    authorised_on: AuthorisedOn,
    role: Role,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), MembershipRefusal> {
    let statement = role_statement(store, team, by, user, role).await;
    store
        .set_role(team, by, user, authorised_on, role, now, statement)
        .await
        .unwrap()
}

/// `by` removes `user`, with the signed `remove` statement, as decided on
/// `authorised_on`: the store's answer.
async fn remove(
    store: &Arc<dyn Store>,
    team: Uuid,
    by: Uuid,
    user: Uuid,
    authorised_on: AuthorisedOn,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), MembershipRefusal> {
    let statement = sign(store, team, by, Body::Remove { user }).await;
    store
        .remove_member(team, by, user, authorised_on, now, statement)
        .await
        .unwrap()
}

async fn users_round_trip_and_emails_are_unique(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let alice = new_user("Alice@Example.com");
    store.create_user(alice.clone()).await.unwrap();
    let found = store
        .user_by_email("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id, found.email.as_str(), found.kdf.clone()),
        (alice.id, "Alice@Example.com", alice.kdf.clone())
    );
    assert_eq!(
        found.created_at, alice.created_at,
        "timestamps survive at microsecond precision"
    );
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap().email,
        alice.email
    );
    assert!(
        store
            .user_by_email("bob@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let mut twin = new_user("alice@example.com");
    twin.email_norm = alice.email_norm.clone();
    assert!(matches!(
        store.create_user(twin).await,
        Err(StoreError::Conflict)
    ));
}

async fn refresh_tokens_rotate_once_and_reuse_revokes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let uid = user(&store).await;
    let now = store::now();
    let family = Uuid::new_v4();
    store
        .start_session(
            NewRefreshToken {
                token_hash: vec![1; 32],
                family_id: family,
                user_id: uid,
                created_at: now,
                expires_at: now + Duration::days(1),
            },
            AuditEvent::new("login").actor(uid),
        )
        .await
        .unwrap();
    let later = now + Duration::days(1);
    let rotate = |old: u8, new: u8| {
        let store = store.clone();
        async move {
            store
                .rotate_refresh(&[old; 32], &[new; 32], now, later)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        rotate(1, 2).await,
        RefreshOutcome::Rotated {
            user_id: uid,
            family_id: family
        }
    );
    assert_eq!(rotate(1, 3).await, RefreshOutcome::Reused);
    assert_eq!(
        rotate(2, 4).await,
        RefreshOutcome::Invalid,
        "the family is revoked"
    );
    assert_eq!(rotate(9, 5).await, RefreshOutcome::Invalid);
}

async fn expired_refresh_token_is_invalid(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let uid = user(&store).await;
    let now = store::now();
    store
        .start_session(
            NewRefreshToken {
                token_hash: vec![7; 32],
                family_id: Uuid::new_v4(),
                user_id: uid,
                created_at: now - Duration::days(2),
                expires_at: now - Duration::days(1),
            },
            AuditEvent::new("login").actor(uid),
        )
        .await
        .unwrap();
    let outcome = store
        .rotate_refresh(&[7; 32], &[8; 32], now, now + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(outcome, RefreshOutcome::Invalid);
}

async fn login_throttle_locks_and_clears(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let policy = ThrottlePolicy {
        max_failures: 3,
        window: Duration::minutes(15),
        lockout: Duration::minutes(5),
    };
    let now = store::now();
    let fail = |at| {
        let store = store.clone();
        async move {
            store
                .record_login_failure("x@y.z", at, policy, AuditEvent::new("login.failed"))
                .await
                .unwrap()
        }
    };
    assert_eq!(fail(now).await, None);
    assert_eq!(fail(now).await, None);
    let until = fail(now).await.expect("third failure locks");
    assert_eq!(until, now + policy.lockout);
    assert_eq!(
        store.login_locked_until("x@y.z", now).await.unwrap(),
        Some(until)
    );
    assert_eq!(
        store.login_locked_until("x@y.z", until).await.unwrap(),
        None,
        "the lock ends"
    );
    assert_eq!(
        store.login_locked_until("other@y.z", now).await.unwrap(),
        None
    );

    // Failures outside the window start a new count.
    let much_later = now + Duration::hours(1);
    assert_eq!(fail(much_later).await, None);
    assert_eq!(fail(much_later + Duration::minutes(20)).await, None);
    assert_eq!(fail(much_later + Duration::minutes(40)).await, None);
    store.clear_login_failures("x@y.z").await.unwrap();
}

on_both_backends!(
    users_round_trip_and_emails_are_unique,
    refresh_tokens_rotate_once_and_reuse_revokes,
    expired_refresh_token_is_invalid,
    login_throttle_locks_and_clears,
);
