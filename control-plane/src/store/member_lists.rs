//! Teams' member lists, kept between requests and checked on each one.
//!
//! Reading a member list is a four-table join, sorted; with its JSON it was
//! most of the work of `GET /teams/{id}/members` (`bench/results.md`). A
//! list changes rarely, so the store keeps each team's last one with the
//! team's *member version*, which triggers in the database set to a new
//! random number in the writing transaction itself whenever anything the
//! list shows changes (the migrations `20261205190000_member_version.sql`
//! and `20261205210000_random_member_version.sql`). Every request still
//! reads the version from the database, one indexed row; the kept list is
//! answered only if it was read at that very version, so it is exactly the
//! list a fresh read would give, whichever process or replica wrote last.
//! Random, not counted: a database restored from a backup, or a standby
//! promoted behind its primary, would count again through numbers this
//! store has seen, with other members behind them.
//! The membership check is made against it: a member removed on another
//! replica gets 404 on this one at once.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use envv_api::{Member, Role};
use uuid::Uuid;

/// Members kept, over all teams: about 1 KiB each with their JSON, so the
/// lists take at most some 50 MiB. Past it about half the lists go.
const MAX_MEMBERS: usize = 50_000;

/// A team's members in join order, as of one member version.
#[derive(Debug)]
pub struct MemberList {
    version: i64,
    members: Vec<Member>,
    json: OnceLock<Bytes>,
}

impl MemberList {
    pub(super) fn new(version: i64, members: Vec<Member>) -> Self {
        MemberList {
            version,
            members,
            json: OnceLock::new(),
        }
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn into_members(self) -> Vec<Member> {
        self.members
    }

    /// The user's role, if they are a member.
    pub fn role_of(&self, user: Uuid) -> Option<Role> {
        self.members
            .iter()
            .find(|m| m.user_id == user)
            .map(|m| m.role)
    }

    /// The list as the API answers it, serialised once per list.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                let json = serde_json::to_vec(&self.members);
                // Strings, ids, times and flags: nothing that can fail.
                Bytes::from(json.expect("a member list serialises"))
            })
            .clone()
    }
}

/// The last list read of each team, at most [`MAX_MEMBERS`] members in all.
#[derive(Debug, Default)]
pub(super) struct MemberLists {
    lists: RwLock<Lists>,
}

#[derive(Debug, Default)]
struct Lists {
    by_team: HashMap<Uuid, Arc<MemberList>>,
    members: usize,
}

impl MemberLists {
    fn read(&self) -> RwLockReadGuard<'_, Lists> {
        self.lists.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Lists> {
        self.lists.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The team's list kept at exactly `version`, if any.
    pub(super) fn get(&self, team: Uuid, version: i64) -> Option<Arc<MemberList>> {
        self.read()
            .by_team
            .get(&team)
            .filter(|list| list.version == version)
            .cloned()
    }

    /// Keeps `list` in place of the team's last one. Two requests reading
    /// the team at once may leave the older list kept: the next request
    /// finds its version stale and reads the team again. A team of more
    /// than half the bound is read every time instead.
    pub(super) fn insert(&self, team: Uuid, list: Arc<MemberList>) {
        if list.members.len() > MAX_MEMBERS / 2 {
            return;
        }
        let mut lists = self.write();
        if let Some(kept) = lists.by_team.remove(&team) {
            lists.members -= kept.members.len();
        }
        if lists.members + list.members.len() > MAX_MEMBERS {
            lists.shrink();
        }
        lists.members += list.members.len();
        lists.by_team.insert(team, list);
    }
}

impl Lists {
    /// Drops lists, in no particular order, until at most half the bound
    /// is kept: not just under it, or every insert would scan them all.
    fn shrink(&mut self) {
        let mut members = self.members;
        self.by_team.retain(|_, list| {
            if members <= MAX_MEMBERS / 2 {
                return true;
            }
            members -= list.members.len();
            false
        });
        self.members = members;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role) -> Member {
        Member {
            user_id: Uuid::new_v4(),
            email: "a@example.com".into(),
            name: "A".into(),
            role,
            identity_public_key: "age1".into(),
            signing_public_key: "ed".into(),
            has_key: true,
            joined_at: chrono::Utc::now(),
        }
    }

    fn list(version: i64, members: Vec<Member>) -> Arc<MemberList> {
        Arc::new(MemberList::new(version, members))
    }

    #[test]
    fn a_list_is_answered_only_at_its_own_version() {
        let lists = MemberLists::default();
        let team = Uuid::new_v4();
        lists.insert(team, list(3, vec![member(Role::Owner)]));
        assert!(lists.get(team, 3).is_some());
        assert!(lists.get(team, 4).is_none());
        assert!(lists.get(team, 2).is_none());
        assert!(lists.get(Uuid::new_v4(), 3).is_none());
    }

    #[test]
    fn a_list_replaces_the_teams_last_one() {
        let lists = MemberLists::default();
        let team = Uuid::new_v4();
        lists.insert(team, list(5, vec![member(Role::Owner)]));
        let two = vec![member(Role::Owner), member(Role::Member)];
        lists.insert(team, list(-4, two));
        assert!(lists.get(team, 5).is_none());
        assert_eq!(lists.get(team, -4).unwrap().members().len(), 2);
        assert_eq!(lists.read().members, 2);
        lists.insert(team, list(6, vec![]));
        assert!(lists.get(team, 6).is_some());
        assert_eq!(lists.read().members, 0);
    }

    #[test]
    fn roles_and_json_come_from_the_list() {
        let owner = member(Role::Owner);
        let admin = member(Role::Admin);
        let (owner_id, admin_id) = (owner.user_id, admin.user_id);
        let list = MemberList::new(1, vec![owner, admin]);
        assert_eq!(list.role_of(owner_id), Some(Role::Owner));
        assert_eq!(list.role_of(admin_id), Some(Role::Admin));
        assert_eq!(list.role_of(Uuid::new_v4()), None);
        let parsed: Vec<Member> = serde_json::from_slice(&list.json()).unwrap();
        assert_eq!(parsed, list.members());
    }

    #[test]
    fn the_lists_stay_within_their_bound() {
        let lists = MemberLists::default();
        let big = || (0..1_000).map(|_| member(Role::Member)).collect::<Vec<_>>();
        for _ in 0..(MAX_MEMBERS / 1_000) * 3 {
            lists.insert(Uuid::new_v4(), list(1, big()));
            let kept = lists.read();
            assert!(kept.members <= MAX_MEMBERS);
            let counted: usize = kept.by_team.values().map(|l| l.members.len()).sum();
            assert_eq!(counted, kept.members);
        }
        assert!(lists.read().by_team.len() >= MAX_MEMBERS / 2_000);
        // Replacing a kept team's list while over the bound counts it once.
        let kept = *lists.read().by_team.keys().next().unwrap();
        for version in 2..20 {
            lists.insert(kept, list(version, big()));
            let counted: usize = lists.read().by_team.values().map(|l| l.members.len()).sum();
            assert_eq!(counted, lists.read().members);
        }
        let huge = (0..=MAX_MEMBERS / 2)
            .map(|_| member(Role::Member))
            .collect();
        let team = Uuid::new_v4();
        lists.insert(team, list(1, huge));
        assert!(lists.get(team, 1).is_none());
    }
}
