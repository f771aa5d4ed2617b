//! Teams in the store: memberships and their roles, statements checked in
//! the write, invites (accepted and revoked at once), renames and
//! deletions; the member list is in `members.rs`.

use super::*;

/// `user` joins `team` with `role` through an invite from `owner`, and
/// is admitted.
pub(super) async fn join(store: &Arc<dyn Store>, team: Uuid, owner: Uuid, user: Uuid, role: Role) {
    let invite = join_pending(store, team, owner, user, role).await;
    let signatures = invite.1;
    admit(store, team, owner, user, invite.0, &signatures).await;
}

/// `user` accepts an invite to `team`: they wait to be admitted. Returns
/// the invite and their signatures of the acceptance.
pub(super) async fn join_pending(
    store: &Arc<dyn Store>,
    team: Uuid,
    owner: Uuid,
    user: Uuid,
    role: Role,
) -> (Uuid, (String, String)) {
    let now = store::now();
    let email = format!("{user}@x.io");
    let (invite, secret, hash) = invite(
        store,
        team,
        owner,
        &email,
        role,
        now,
        now + Duration::days(1),
    )
    .await;
    let signatures = accepting(team, invite.id, &hash, &secret, user);
    assert!(
        store
            .accept_invite(
                invite.id,
                user,
                signatures.0.clone(),
                signatures.1.clone(),
                now
            )
            .await
            .unwrap()
    );
    (invite.id, signatures)
}

/// What a change authorised for an owner on a target with `target`'s role
/// was decided on.
pub(super) fn as_owner(target: Role) -> AuthorisedOn {
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

    let (invite, secret, hash) = invite(
        &store,
        team,
        owner,
        "m@x.io",
        Role::Member,
        now,
        now + Duration::days(1),
    )
    .await;
    let signatures = accepting(team, invite.id, &hash, &secret, member);
    assert!(
        store
            .accept_invite(
                invite.id,
                member,
                signatures.0.clone(),
                signatures.1.clone(),
                now
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .accept_invite(
                invite.id,
                member,
                signatures.0.clone(),
                signatures.1.clone(),
                now
            )
            .await
            .unwrap(),
        "single use"
    );
    assert_eq!(
        store.invite(invite.id).await.unwrap().unwrap().accepted_by,
        Some(member)
    );
    let pending = store.pending_grants(team).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (
            pending[0].user_id,
            pending[0].proof.as_deref(),
            pending[0].consent.as_deref()
        ),
        (
            member,
            Some(signatures.0.as_str()),
            Some(signatures.1.as_str())
        )
    );
    admit(&store, team, owner, member, invite.id, &signatures).await;
    assert!(store.pending_grants(team).await.unwrap().is_empty());

    assert_eq!(
        change_role(
            &store,
            team,
            owner,
            owner,
            as_owner(Role::Owner),
            Role::Admin,
            now
        )
        .await,
        Err(MembershipRefusal::LastOwner)
    );
    assert_eq!(
        remove(&store, team, owner, owner, as_owner(Role::Owner), now).await,
        Err(MembershipRefusal::LastOwner)
    );
    let stranger = Uuid::new_v4();
    assert_eq!(
        change_role(
            &store,
            team,
            owner,
            stranger,
            as_owner(Role::Member),
            Role::Admin,
            now
        )
        .await,
        Err(MembershipRefusal::NotMember)
    );
    change_role(
        &store,
        team,
        owner,
        member,
        as_owner(Role::Member),
        Role::Owner,
        now,
    )
    .await
    .unwrap();
    remove(&store, team, owner, owner, as_owner(Role::Owner), now)
        .await
        .unwrap();
    let members = store.members(team).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!((members[0].user_id, members[0].role), (member, Role::Owner));
    // The tables are an index of the chain.
    let chain = chain(&store, team).await;
    assert_eq!(chain.members().keys().collect::<Vec<_>>(), [&member]);
    assert_eq!(chain.members()[&member].role, Role::Owner);
    assert!(chain.closed_by_removal().is_some());
    assert!(store.team(team).await.unwrap().unwrap().rekey_required);
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
    change_role(
        &store,
        team,
        owner,
        member,
        as_owner(Role::Member),
        Role::Owner,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        remove(&store, team, admin, member, admin_on_member, now).await,
        Err(MembershipRefusal::Changed)
    );
    assert_eq!(
        change_role(
            &store,
            team,
            admin,
            member,
            admin_on_member,
            Role::Member,
            now
        )
        .await,
        Err(MembershipRefusal::Changed)
    );
    assert_eq!(
        store.membership(team, member).await.unwrap().unwrap().1,
        Role::Owner
    );

    // The admin is demoted before its change commits.
    change_role(
        &store,
        team,
        member,
        member,
        as_owner(Role::Owner),
        Role::Member,
        now,
    )
    .await
    .unwrap();
    change_role(
        &store,
        team,
        owner,
        admin,
        as_owner(Role::Admin),
        Role::Member,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        remove(&store, team, admin, member, admin_on_member, now).await,
        Err(MembershipRefusal::Changed)
    );
    assert!(store.membership(team, member).await.unwrap().is_some());

    // Decided on the roles that hold now, a removal goes through.
    remove(&store, team, owner, member, as_owner(Role::Member), now)
        .await
        .unwrap();
    assert!(store.membership(team, member).await.unwrap().is_none());
}

/// A statement is stored only at the chain's head and within its rules;
/// the refused change leaves the tables as they were.
async fn statements_are_checked_inside_the_write(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (owner, member) = (user(&store).await, user(&store).await);
    let team = team(&store, owner).await;
    join(&store, team, owner, member, Role::Member).await;
    let now = store::now();

    // Two statements made at one head: the second is a conflict.
    let first = role_statement(&store, team, owner, member, Role::Admin).await;
    let second = role_statement(&store, team, owner, member, Role::Admin).await;
    store
        .set_role(
            team,
            owner,
            member,
            as_owner(Role::Member),
            Role::Admin,
            now,
            first,
        )
        .await
        .unwrap()
        .unwrap();
    let stale = store
        .set_role(
            team,
            owner,
            member,
            as_owner(Role::Admin),
            Role::Admin,
            now,
            second,
        )
        .await;
    assert!(matches!(stale, Err(StoreError::ChainConflict)), "{stale:?}");

    // Signed by someone else's key than the one the chain has for `by`.
    let forged = chain(&store, team)
        .await
        .draft(
            owner,
            now.timestamp(),
            Body::Role {
                user: member,
                role: Role::Member,
            },
        )
        .sign(identity(member).signing_key());
    let refused = store
        .set_role(
            team,
            owner,
            member,
            as_owner(Role::Admin),
            Role::Member,
            now,
            forged,
        )
        .await;
    assert!(
        matches!(&refused, Err(StoreError::InvalidStatement(m)) if m.contains("signature")),
        "{refused:?}"
    );
    assert_eq!(
        store.membership(team, member).await.unwrap().unwrap().1,
        Role::Admin
    );
    assert_eq!(
        chain(&store, team).await.members()[&member].role,
        Role::Admin
    );
}

async fn expired_invite_cannot_be_accepted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (owner, invitee) = (user(&store).await, user(&store).await);
    let team = team(&store, owner).await;
    let now = store::now();
    let (invite, secret, hash) = invite(
        &store,
        team,
        owner,
        "i@x.io",
        Role::Member,
        now - Duration::days(8),
        now - Duration::days(1),
    )
    .await;
    assert!(store.pending_invites(team, now).await.unwrap().is_empty());
    let (proof, consent) = accepting(team, invite.id, &hash, &secret, invitee);
    assert!(
        !store
            .accept_invite(invite.id, invitee, proof, consent, now)
            .await
            .unwrap()
    );
    assert!(store.membership(team, invitee).await.unwrap().is_none());
}

/// An invite accepted while an admin revokes it: both take the team's row
/// first, so on PostgreSQL neither waits on the other's invite row
/// (a deadlock, answered 500); whichever commits second sees the first.
async fn accepting_and_revoking_at_once_never_deadlock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let owner = user(&store).await;
    let team = team(&store, owner).await;
    for round in 0..12 {
        let invitee = user(&store).await;
        let now = store::now();
        let email = format!("{invitee}@x.io");
        let (invite, secret, hash) = invite(
            &store,
            team,
            owner,
            &email,
            Role::Member,
            now,
            now + Duration::days(1),
        )
        .await;
        let (proof, consent) = accepting(team, invite.id, &hash, &secret, invitee);
        let revocation = sign(
            &store,
            team,
            owner,
            Body::RevokeInvite { invite: invite.id },
        )
        .await;
        let (accepted, revoked) = tokio::join!(
            store.accept_invite(invite.id, invitee, proof, consent, now),
            store.revoke_invite(team, invite.id, owner, now, revocation),
        );
        let (accepted, revoked) = (accepted.unwrap(), revoked.unwrap());
        // Revoked either way: open, or accepted by a newcomer not admitted
        // yet, who then leaves the pending list.
        assert!(revoked, "round {round}");
        assert!(
            store.membership(team, invitee).await.unwrap().is_none(),
            "round {round}: accepted ({accepted}), revoked, and still waiting"
        );
    }
}

/// Renaming and deleting a team are on record; a deleted team's trail
/// outlives it.
async fn renames_and_deletions_are_audited(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let owner = user(&store).await;
    let team = team(&store, owner).await;
    store
        .rename_team(team, owner, "Renamed", store::now())
        .await
        .unwrap();
    assert_eq!(store.team(team).await.unwrap().unwrap().name, "Renamed");
    store.delete_team(team, owner, store::now()).await.unwrap();
    assert!(store.team(team).await.unwrap().is_none());
    assert!(store.members_as(team, owner).await.unwrap().is_none());
    let events = store.audit_events(team, 100).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.ends_with(&["team.rename", "team.delete"]),
        "{actions:?}"
    );
    let deleted = events.last().unwrap();
    assert_eq!(deleted.actor_id, Some(owner));
    assert_eq!(deleted.details["name"], "Renamed");
    assert!(matches!(
        store.delete_team(team, owner, store::now()).await,
        Err(StoreError::NotFound)
    ));
}

on_both_backends!(
    renames_and_deletions_are_audited,
    memberships_keep_an_owner,
    membership_changes_need_the_roles_they_were_authorised_on,
    statements_are_checked_inside_the_write,
    expired_invite_cannot_be_accepted,
    accepting_and_revoking_at_once_never_deadlock,
);
