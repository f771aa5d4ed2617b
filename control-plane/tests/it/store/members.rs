//! The member list in the store: the caller's membership checked, and the
//! list a store keeps answered only while the database says it is current.

use super::teams::{as_owner, join, join_pending};
use super::*;

/// The members listing checks the caller's membership.
async fn members_as_lists_only_for_members(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (owner, member, outsider) = (user(&store).await, user(&store).await, user(&store).await);
    let newcomer = user(&store).await;
    let other_team = team(&store, outsider).await;
    let team = team(&store, owner).await;
    join(&store, team, owner, member, Role::Member).await;
    join_pending(&store, team, owner, newcomer, Role::Member).await;
    let now = store::now();

    let listed = store.members(team).await.unwrap();
    for (caller, role) in [(owner, Role::Owner), (member, Role::Member)] {
        let (caller_role, list) = store.members_as(team, caller).await.unwrap().unwrap();
        let members = list.members();
        assert_eq!(caller_role, role);
        // Every field, as the row-per-member query has it: ids, keys,
        // microsecond times, who holds the key, join order.
        assert_eq!(members, listed);
        assert_eq!(
            members.iter().map(|m| m.has_key).collect::<Vec<_>>(),
            [true, true, false]
        );
        assert_eq!(
            members[2].signing_public_key,
            identity(newcomer).verifying_key().to_hex()
        );
    }
    assert_eq!(listed.len(), 3);
    assert!(store.members_as(team, outsider).await.unwrap().is_none());
    assert!(store.members_as(other_team, owner).await.unwrap().is_none());
    assert!(
        store
            .members_as(Uuid::new_v4(), owner)
            .await
            .unwrap()
            .is_none()
    );

    remove(&store, team, owner, member, as_owner(Role::Member), now)
        .await
        .unwrap();
    assert!(store.members_as(team, member).await.unwrap().is_none());
}

/// The member list a store keeps is checked against the database on every
/// call: what another replica, the operator's command line or someone
/// editing the database changes is in the next answer, never a kept one.
async fn member_lists_follow_every_writer(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Two replicas on one database.
    let (here, there) = (db.store().await, db.store().await);
    let (owner, member, newcomer) = (user(&here).await, user(&here).await, user(&here).await);
    let team = team(&here, owner).await;
    join(&here, team, owner, member, Role::Member).await;

    // `here`'s answer to `caller`, which must be a fresh read's.
    let listed = async |caller: Uuid| {
        let answer = here.members_as(team, caller).await.unwrap();
        let fresh = here.members(team).await.unwrap();
        answer.map(|(role, list)| {
            assert_eq!(
                list.members(),
                fresh,
                "a kept list that is not the database's"
            );
            (role, list.members().to_vec())
        })
    };
    let mut before = listed(owner).await.unwrap().1;
    assert_eq!(before.len(), 2);
    let mut changed = async |what: &str| {
        let now = listed(owner).await.unwrap().1;
        assert_ne!(now, before, "{what} did not show");
        before = now;
    };

    join(&there, team, owner, newcomer, Role::Member).await;
    changed("an admission on another replica").await;
    assert_eq!(listed(newcomer).await.unwrap().0, Role::Member);

    // Every column the list shows, changed behind the store's back.
    let sql = "UPDATE memberships SET role = $1 WHERE user_id = $2";
    db.update_row(sql, "admin", member).await;
    changed("a role").await;
    assert_eq!(listed(member).await.unwrap().0, Role::Admin);
    let joined = "2020-01-01T00:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    let sql = "UPDATE memberships SET joined_at = $1 WHERE user_id = $2";
    db.update_row(sql, joined, newcomer).await;
    changed("a join time").await;
    for sql in [
        "UPDATE users SET email = $1 WHERE id = $2",
        "UPDATE users SET name = $1 WHERE id = $2",
        "UPDATE users SET identity_public_key = $1 WHERE id = $2",
        "UPDATE users SET signing_public_key = $1 WHERE id = $2",
    ] {
        db.update_row(sql, "changed".to_owned(), member).await;
        changed(sql).await;
    }
    let sql = "DELETE FROM grants WHERE epoch = $1 AND user_id = $2";
    db.update_row(sql, 1_i64, newcomer).await;
    changed("a grant").await;
    let sql = "UPDATE teams SET current_epoch = $1 WHERE id = $2";
    db.update_row(sql, 2_i64, team).await;
    changed("the current epoch").await;

    // A removal on another replica is a 404 here at once.
    remove(
        &there,
        team,
        owner,
        member,
        as_owner(Role::Admin),
        store::now(),
    )
    .await
    .unwrap();
    assert!(listed(member).await.is_none());
    changed("a removal on another replica").await;
    there.delete_team(team, owner, store::now()).await.unwrap();
    assert!(listed(owner).await.is_none());
}

on_both_backends!(
    members_as_lists_only_for_members,
    member_lists_follow_every_writer,
);
