//! The storage trait itself, the same suite on SQLite and PostgreSQL.

use crate::common;

use std::sync::Arc;

use chrono::Duration;
use common::{Backend, TestDb};
use control_plane::store::{
    self, AuditEvent, AuthorisedOn, MembershipRefusal, NewEpoch, NewInvite, NewRefreshToken,
    NewUser, RefreshOutcome, Store, StoreError, TeamRecord, ThrottlePolicy,
};
use envv_api::{KdfParams, Role};
use uuid::Uuid;

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: Uuid::new_v4(),
        email: email.to_owned(),
        email_norm: email.to_lowercase(),
        name: "N".into(),
        auth_key_hash: "$argon2id$stand-in".into(),
        identity_public_key: common::random_recipient(),
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

async fn user(store: &Arc<dyn Store>) -> Uuid {
    let user = new_user(&common::unique_email("u"));
    store.create_user(user.clone()).await.unwrap();
    user.id
}

async fn team(store: &Arc<dyn Store>, owner: Uuid) -> Uuid {
    let team = TeamRecord {
        id: Uuid::new_v4(),
        name: "T".into(),
        current_epoch: 1,
        rekey_required: false,
        max_staleness_secs: envv_api::DEFAULT_MAX_STALENESS_SECS,
        created_at: store::now(),
    };
    let first = NewEpoch {
        public_key: common::random_recipient(),
        grants: vec![(owner, "grant-for-owner".into())],
    };
    store.create_team(team.clone(), owner, first).await.unwrap();
    team.id
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

/// `user` joins `team` with `role` through an invite from `owner`.
async fn join(store: &Arc<dyn Store>, team: Uuid, owner: Uuid, user: Uuid, role: Role) {
    let now = store::now();
    let invite = NewInvite {
        id: Uuid::new_v4(),
        team_id: team,
        email: format!("{user}@x.io"),
        email_norm: format!("{user}@x.io"),
        role,
        accept_token_hash: vec![0; 32],
        sealed_secret: None,
        invited_by: owner,
        created_at: now,
        expires_at: now + Duration::days(1),
    };
    store.create_invite(invite.clone()).await.unwrap();
    assert!(
        store
            .accept_invite(invite.id, user, None, now)
            .await
            .unwrap()
    );
}

/// What a change authorised for an owner on a target with `target`'s role
/// was decided on.
fn as_owner(target: Role) -> AuthorisedOn {
    AuthorisedOn {
        actor: Role::Owner,
        target,
    }
}

async fn memberships_keep_an_owner(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (owner, member) = (user(&store).await, user(&store).await);
    let team = team(&store, owner).await;
    let now = store::now();
    assert_eq!(
        store.membership(team, owner).await.unwrap().unwrap().1,
        Role::Owner
    );
    assert!(store.membership(team, member).await.unwrap().is_none());

    let invite = NewInvite {
        id: Uuid::new_v4(),
        team_id: team,
        email: "m@x.io".into(),
        email_norm: "m@x.io".into(),
        role: Role::Member,
        accept_token_hash: vec![0; 32],
        sealed_secret: None,
        invited_by: owner,
        created_at: now,
        expires_at: now + Duration::days(1),
    };
    store.create_invite(invite.clone()).await.unwrap();
    assert!(
        store
            .accept_invite(invite.id, member, Some("proof".into()), now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .accept_invite(invite.id, member, None, now)
            .await
            .unwrap(),
        "single use"
    );
    assert_eq!(
        store.invite(invite.id).await.unwrap().unwrap().accepted_by,
        Some(member)
    );

    assert_eq!(
        store
            .set_role(team, owner, owner, as_owner(Role::Owner), Role::Admin, now)
            .await
            .unwrap(),
        Err(MembershipRefusal::LastOwner)
    );
    assert_eq!(
        store
            .remove_member(team, owner, owner, as_owner(Role::Owner), now)
            .await
            .unwrap(),
        Err(MembershipRefusal::LastOwner)
    );
    assert_eq!(
        store
            .set_role(
                team,
                owner,
                Uuid::new_v4(),
                as_owner(Role::Member),
                Role::Admin,
                now
            )
            .await
            .unwrap(),
        Err(MembershipRefusal::NotMember)
    );
    store
        .set_role(
            team,
            owner,
            member,
            as_owner(Role::Member),
            Role::Owner,
            now,
        )
        .await
        .unwrap()
        .unwrap();
    store
        .remove_member(team, owner, owner, as_owner(Role::Owner), now)
        .await
        .unwrap()
        .unwrap();
    let members = store.members(team).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!((members[0].user_id, members[0].role), (member, Role::Owner));
}

/// An admin's removal of a member, decided before an owner made that member
/// an owner, is refused when it commits; so is one by an admin demoted
/// meanwhile.
async fn membership_changes_need_the_roles_they_were_authorised_on(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (owner, admin, member) = (user(&store).await, user(&store).await, user(&store).await);
    let team = team(&store, owner).await;
    join(&store, team, owner, admin, Role::Admin).await;
    join(&store, team, owner, member, Role::Member).await;
    let now = store::now();
    let admin_on_member = AuthorisedOn {
        actor: Role::Admin,
        target: Role::Member,
    };

    // The owner promotes the member between the admin's check and its write.
    store
        .set_role(
            team,
            owner,
            member,
            as_owner(Role::Member),
            Role::Owner,
            now,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .remove_member(team, admin, member, admin_on_member, now)
            .await
            .unwrap(),
        Err(MembershipRefusal::Changed)
    );
    assert_eq!(
        store
            .set_role(team, admin, member, admin_on_member, Role::Member, now)
            .await
            .unwrap(),
        Err(MembershipRefusal::Changed)
    );
    assert_eq!(
        store.membership(team, member).await.unwrap().unwrap().1,
        Role::Owner
    );

    // The admin is demoted before its change commits.
    store
        .set_role(
            team,
            member,
            member,
            as_owner(Role::Owner),
            Role::Member,
            now,
        )
        .await
        .unwrap()
        .unwrap();
    store
        .set_role(team, owner, admin, as_owner(Role::Admin), Role::Member, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .remove_member(team, admin, member, admin_on_member, now)
            .await
            .unwrap(),
        Err(MembershipRefusal::Changed)
    );
    assert!(store.membership(team, member).await.unwrap().is_some());

    // Decided on the roles that hold now, a removal goes through.
    store
        .remove_member(team, owner, member, as_owner(Role::Member), now)
        .await
        .unwrap()
        .unwrap();
    assert!(store.membership(team, member).await.unwrap().is_none());
}

async fn expired_invite_cannot_be_accepted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (owner, invitee) = (user(&store).await, user(&store).await);
    let team = team(&store, owner).await;
    let now = store::now();
    let invite = NewInvite {
        id: Uuid::new_v4(),
        team_id: team,
        email: "i@x.io".into(),
        email_norm: "i@x.io".into(),
        role: Role::Member,
        accept_token_hash: vec![0; 32],
        sealed_secret: Some("sealed".into()),
        invited_by: owner,
        created_at: now - Duration::days(8),
        expires_at: now - Duration::days(1),
    };
    store.create_invite(invite.clone()).await.unwrap();
    assert!(store.pending_invites(team, now).await.unwrap().is_empty());
    assert!(
        !store
            .accept_invite(invite.id, invitee, None, now)
            .await
            .unwrap()
    );
    assert!(store.membership(team, invitee).await.unwrap().is_none());
}

/// The members listing checks the caller's membership in the same statement.
async fn members_as_lists_only_for_members(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (owner, member, outsider) = (user(&store).await, user(&store).await, user(&store).await);
    let other_team = team(&store, outsider).await;
    let team = team(&store, owner).await;
    join(&store, team, owner, member, Role::Member).await;
    let now = store::now();

    let listed = store.members(team).await.unwrap();
    for (caller, role) in [(owner, Role::Owner), (member, Role::Member)] {
        let (caller_role, members) = store.members_as(team, caller).await.unwrap().unwrap();
        assert_eq!(caller_role, role);
        // Every field, as the row-per-member query has it: ids, keys,
        // microsecond times, who holds the key, join order.
        assert_eq!(members, listed);
        assert_eq!(
            members.iter().map(|m| m.has_key).collect::<Vec<_>>(),
            [true, false]
        );
    }
    assert_eq!(listed.len(), 2);
    assert!(store.members_as(team, outsider).await.unwrap().is_none());
    assert!(store.members_as(other_team, owner).await.unwrap().is_none());
    assert!(
        store
            .members_as(Uuid::new_v4(), owner)
            .await
            .unwrap()
            .is_none()
    );

    store
        .remove_member(team, owner, member, as_owner(Role::Member), now)
        .await
        .unwrap()
        .unwrap();
    assert!(store.members_as(team, member).await.unwrap().is_none());
}

on_both_backends!(
    users_round_trip_and_emails_are_unique,
    refresh_tokens_rotate_once_and_reuse_revokes,
    expired_refresh_token_is_invalid,
    login_throttle_locks_and_clears,
    memberships_keep_an_owner,
    membership_changes_need_the_roles_they_were_authorised_on,
    expired_invite_cannot_be_accepted,
    members_as_lists_only_for_members,
);
