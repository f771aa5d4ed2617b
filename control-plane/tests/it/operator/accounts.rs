//! The operator's account actions (lock, unlock, disable) and the weekly
//! stats, on both databases.

use super::*;

async fn accounts_lock_unlock_and_disable(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let now = store::now();
    let email = common::unique_email("Locked");
    let id = user_at(&store, &email, now).await;
    let team = team_at(&store, id, now).await;
    let _ = team;
    for n in 1..=2u8 {
        store
            .start_session(
                NewRefreshToken {
                    token_hash: vec![n; 32],
                    family_id: Uuid::new_v4(),
                    user_id: id,
                    created_at: now,
                    expires_at: now + Duration::days(1),
                },
                store::AuditEvent::new("login").actor(id),
            )
            .await
            .unwrap();
    }
    let norm = email.to_lowercase();
    let locked = store
        .set_account_state(&norm, AccountAction::Lock, "ops", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            locked.before,
            locked.after,
            locked.sessions_revoked,
            locked.teams
        ),
        (
            AccountState::Active,
            AccountState::Locked,
            2,
            vec!["T".to_owned()]
        )
    );
    assert!(store.user_by_email(&norm).await.unwrap().unwrap().disabled);
    assert_eq!(
        store
            .rotate_refresh(&[1; 32], &[9; 32], now, now + Duration::days(1))
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );

    let unlocked = store
        .set_account_state(&norm, AccountAction::Unlock, "ops", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unlocked.after, AccountState::Active);
    assert!(!store.user_by_email(&norm).await.unwrap().unwrap().disabled);
    // Revoked sessions stay revoked.
    assert_eq!(
        store
            .rotate_refresh(&[2; 32], &[9; 32], now, now + Duration::days(1))
            .await
            .unwrap(),
        RefreshOutcome::Invalid
    );

    let disabled = store
        .set_account_state(&norm, AccountAction::Disable, "ops", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(disabled.after, AccountState::Disabled);
    assert_eq!(
        store
            .set_account_state(&norm, AccountAction::Unlock, "ops", now)
            .await
            .unwrap(),
        Err(AccountRefusal::Disabled)
    );
    assert_eq!(
        store
            .set_account_state("nobody@x.io", AccountAction::Lock, "ops", now)
            .await
            .unwrap(),
        Err(AccountRefusal::NoSuchAccount)
    );
    let members = store.member_summaries(team).await.unwrap();
    assert_eq!(members[0].account, AccountState::Disabled);

    let events = store.operator_events(None, 10).await.unwrap();
    let seen: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.details["operator"].as_str().unwrap(),
                e.details["to"].as_str().unwrap(),
                e.target.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("admin.account.disable", "ops", "disabled", id.to_string()),
            ("admin.account.unlock", "ops", "active", id.to_string()),
            ("admin.account.lock", "ops", "locked", id.to_string()),
        ]
    );
}

async fn weekly_stats_count_signups_active_teams_and_decrypts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    // Wednesday 2026-11-18; weeks start on Mondays (Nov 9, Nov 16).
    let now = at("2026-11-18T12:00:00Z");
    let early = user_at(&store, "early@x.io", at("2026-11-10T09:00:00Z")).await;
    user_at(&store, "late1@x.io", at("2026-11-16T00:00:00Z")).await;
    user_at(&store, "late2@x.io", at("2026-11-17T23:59:00Z")).await;
    user_at(&store, "ancient@x.io", at("2026-10-01T00:00:00Z")).await;
    let team = team_at(&store, early, at("2026-11-10T10:00:00Z")).await;
    let read = |action: &str, when: &str| ChainItem {
        event_id: Uuid::new_v4(),
        actor_id: Some(early),
        action: action.into(),
        target: None,
        details: serde_json::json!({}),
        occurred_at: at(when),
        secret_names: vec!["KEY".into()],
        env: None,
    };
    store
        .ingest(
            team,
            vec![
                read("decrypt", "2026-11-11T10:00:00Z"),
                read("decrypt", "2026-11-17T10:00:00Z"),
                read("exec", "2026-11-17T11:00:00Z"),
                read("set", "2026-11-17T12:00:00Z"),
            ],
            Vec::new(),
            now,
        )
        .await
        .unwrap();
    let weeks = store.weekly_stats(2, now).await.unwrap();
    let rows: Vec<_> = weeks
        .iter()
        .map(|w| {
            (
                w.week_start.to_string(),
                w.signups,
                w.active_teams,
                w.decrypts,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-11-09".to_owned(), 1, 1, 1),
            ("2026-11-16".to_owned(), 2, 1, 2),
        ]
    );
}

on_both_backends!(
    accounts_lock_unlock_and_disable,
    weekly_stats_count_signups_active_teams_and_decrypts,
);
