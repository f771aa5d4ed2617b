//! The operator's store (deals, plan history, accounts, seat history,
//! stats) and the invoice computation, on SQLite and PostgreSQL, with the
//! clock as the test's to set. Accounts and stats: `accounts.rs`.

use crate::common;

mod accounts;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::{Backend, TestDb};
use control_plane::invoice::{self, Month};
use control_plane::store::{
    self, AccountAction, AccountRefusal, AccountState, AuthorisedOn, ChainItem, NewRefreshToken,
    RefreshOutcome, Store, StoreError,
};
use envv_api::{Plan, Role};

use crate::store as store_suite;
use uuid::Uuid;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test time")
}

async fn user_at(store: &Arc<dyn Store>, email: &str, created_at: DateTime<Utc>) -> Uuid {
    let mut user = store_suite::new_user(email);
    user.created_at = created_at;
    store.create_user(user.clone()).await.unwrap();
    user.id
}

async fn user(store: &Arc<dyn Store>) -> Uuid {
    store_suite::user(store).await
}

async fn team_at(store: &Arc<dyn Store>, owner: Uuid, created_at: DateTime<Utc>) -> Uuid {
    store_suite::team_at(store, owner, created_at).await
}

/// `user` accepts an invite to `team` at `now` (a seat from then on,
/// admitted or not), the invite valid until `expires`; returns the
/// invite's id and the acceptance.
async fn accept_at(
    store: &Arc<dyn Store>,
    team: Uuid,
    owner: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<(Uuid, (String, String)), StoreError> {
    let (invite, secret, hash) = store_suite::invite(
        store,
        team,
        owner,
        &format!("{user}@x.io"),
        Role::Member,
        now,
        expires,
    )
    .await;
    let signatures = store_suite::accepting(team, invite.id, &hash, &secret, user);
    let accepted = store
        .accept_invite(
            invite.id,
            user,
            signatures.0.clone(),
            signatures.1.clone(),
            now,
        )
        .await?;
    assert!(accepted, "the invite was accepted");
    Ok((invite.id, signatures))
}

async fn join_at(
    store: &Arc<dyn Store>,
    team: Uuid,
    owner: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    accept_at(store, team, owner, user, now, now + Duration::days(1))
        .await
        .map(|_| true)
}

/// A deal reverts on its date to the plan after it, once, with its audit
/// event and history row; limits follow from that date even before the
/// end is recorded, and nothing is deleted.
async fn a_deal_ends_on_its_date_and_limits_follow(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let now = store::now();
    let owner = user(&store).await;
    let team = team_at(&store, owner, now).await;
    let until = now + Duration::days(30);

    let change = store
        .operator_set_plan(
            team,
            Plan::DesignPartner,
            Some(until),
            Some("feedback calls".into()),
            "ops",
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        (change.from, change.to),
        (Plan::DesignPartner, Plan::DesignPartner)
    );
    // Six members: over free's five, which the deal allows.
    for _ in 0..5 {
        let member = user(&store).await;
        assert!(join_at(&store, team, owner, member, now).await.unwrap());
    }
    let summary = |at| {
        let store = store.clone();
        async move {
            store
                .team_summaries(at)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.id == team)
                .unwrap()
        }
    };
    let during = summary(now).await;
    assert_eq!(during.plan, Plan::DesignPartner);
    assert_eq!(
        during.deal,
        Some(envv_api::Deal {
            until,
            then: Plan::Free
        })
    );

    // Not yet: the day before, nothing ends.
    assert!(
        store
            .end_deals(until - Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );

    // From the date on, free's limits hold, recorded or not.
    let after = until + Duration::hours(1);
    let seventh = user(&store).await;
    let refused = join_at(&store, team, owner, seventh, after).await;
    assert!(
        matches!(&refused, Err(StoreError::PlanLimit(m)) if m.contains("free plan allows 5 members")),
        "{refused:?}"
    );
    assert_eq!(summary(after).await.plan, Plan::Free);
    assert_eq!(summary(after).await.deal, None);

    let ended = store.end_deals(after).await.unwrap();
    assert_eq!(ended.len(), 1);
    let (ended_team, change) = &ended[0];
    assert_eq!(*ended_team, team);
    assert_eq!(
        (
            change.from,
            change.to,
            change.changed_at,
            change.changed_by.as_str()
        ),
        (Plan::DesignPartner, Plan::Free, until, "deal end")
    );
    assert!(
        store.end_deals(after).await.unwrap().is_empty(),
        "ended once"
    );

    // Nothing deleted: six members, still over the limit.
    assert_eq!(store.members(team).await.unwrap().len(), 6);
    assert_eq!(summary(after).await.seats, 6);

    let history = store.plan_changes(team).await.unwrap();
    let rows: Vec<_> = history
        .iter()
        .map(|c| {
            (
                c.from,
                c.to,
                c.until,
                c.note.as_deref(),
                c.changed_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                Plan::DesignPartner,
                Plan::DesignPartner,
                Some(until),
                Some("feedback calls"),
                "operator:ops"
            ),
            (Plan::DesignPartner, Plan::Free, None, None, "deal end"),
        ]
    );
    let events = store.operator_events(Some(team), 10).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["plan.deal_end", "admin.plan"]);
    assert_eq!(events[1].details["operator"], "ops");
    assert_eq!(events[1].details["note"], "feedback calls");
    assert_eq!(events[1].details["then"], "free");
    assert_eq!(events[0].details["to"], "free");
    // Both joined the team's hash chain.
    let chain = store
        .audit_page(team, &Default::default(), store::Page::After(0), 100)
        .await
        .unwrap();
    assert!(chain.iter().any(|e| e.action == "plan.deal_end"));
    assert!(chain.iter().any(|e| e.action == "admin.plan"));
}

/// An owner's pick during a deal is the plan after it; a team that starts
/// on the design partner plan moves to free six months on.
async fn the_owners_choice_follows_the_deal(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let now = store::now();
    let owner = user(&store).await;
    let team = team_at(&store, owner, now).await;

    // A new team's own six months end when an owner picks a plan.
    let info = store.plan_info(team).await.unwrap().unwrap();
    assert_eq!(info.plan, Plan::DesignPartner);
    let six_months = info.schedule.running(now).unwrap();
    assert_eq!(
        six_months.until,
        now + Duration::days(envv_api::DESIGN_PARTNER_DAYS)
    );
    store
        .set_plan(team, owner, Plan::Pro, "bill@x.io".into(), now)
        .await
        .unwrap();
    let info = store.plan_info(team).await.unwrap().unwrap();
    assert_eq!((info.plan, info.schedule.ends), (Plan::Pro, None));

    // The operator's deal: the owner's pick is what follows it.
    let until = now + Duration::days(400);
    store
        .operator_set_plan(team, Plan::DesignPartner, Some(until), None, "ops", now)
        .await
        .unwrap();
    assert_eq!(
        store
            .plan_info(team)
            .await
            .unwrap()
            .unwrap()
            .schedule
            .running(now)
            .unwrap()
            .then,
        Plan::Pro
    );
    store
        .set_plan(team, owner, Plan::Starter, "bill@x.io".into(), now)
        .await
        .unwrap();
    let info = store.plan_info(team).await.unwrap().unwrap();
    assert_eq!(info.plan, Plan::DesignPartner, "the deal stays");
    assert_eq!(info.schedule.running(now).unwrap().then, Plan::Starter);
    assert_eq!(store.plan_changes(team).await.unwrap().len(), 2);
    assert!(
        store
            .end_deals(now + Duration::days(200))
            .await
            .unwrap()
            .is_empty(),
        "the six months no longer apply"
    );
    let ended = store.end_deals(until).await.unwrap();
    assert_eq!(ended[0].1.to, Plan::Starter);
    let info = store.plan_info(team).await.unwrap().unwrap();
    assert_eq!((info.plan, info.schedule.ends), (Plan::Starter, None));

    // A plan set without an end date has none; a later owner pick applies at once.
    let later = until + Duration::hours(1);
    store
        .operator_set_plan(
            team,
            Plan::Enterprise,
            None,
            Some("contract".into()),
            "ops",
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        store.plan_info(team).await.unwrap().unwrap().schedule.ends,
        None
    );
    store
        .set_plan(team, owner, Plan::Pro, "bill@x.io".into(), later)
        .await
        .unwrap();
    assert_eq!(
        store.plan_info(team).await.unwrap().unwrap().plan,
        Plan::Pro
    );
    let last = store.plan_changes(team).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.from, last.to, last.changed_by),
        (Plan::Enterprise, Plan::Pro, format!("owner:{owner}"))
    );
}

/// A month with seats added and removed mid-month: the preview on the
/// month's last day and the invoice after it are the same, to the cent,
/// and follow the documented proration.
async fn invoices_equal_previews_with_seats_changing_mid_month(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let owner = user(&store).await;
    let team = team_at(&store, owner, at("2026-03-01T10:00:00Z")).await;
    store
        .operator_set_plan(
            team,
            Plan::Pro,
            None,
            None,
            "ops",
            at("2026-03-01T11:00:00Z"),
        )
        .await
        .unwrap();
    let (a, b) = (user(&store).await, user(&store).await);
    let mut accepted = Vec::new();
    for member in [a, b] {
        accepted.push(
            accept_at(
                &store,
                team,
                owner,
                member,
                at("2026-03-10T09:00:00Z"),
                at("2026-03-11T09:00:00Z"),
            )
            .await
            .unwrap(),
        );
    }
    // Admitted (a removal is of an admitted member), then removed.
    store_suite::admit_at(
        &store,
        team,
        owner,
        a,
        accepted[0].0,
        &accepted[0].1,
        at("2026-03-10T10:00:00Z"),
    )
    .await;
    let removal = store_suite::sign_at(
        &store,
        team,
        owner,
        at("2026-03-20T15:00:00Z").timestamp(),
        envv_core::chain::Body::Remove { user: a },
    )
    .await;
    store
        .remove_member(
            team,
            owner,
            a,
            AuthorisedOn {
                actor: Role::Owner,
                target: Role::Member,
            },
            at("2026-03-20T15:00:00Z"),
            removal,
        )
        .await
        .unwrap()
        .unwrap();

    let month: Month = "2026-03".parse().unwrap();
    let held = store
        .seat_days(
            team,
            month.first(),
            month.last(),
            at("2026-04-02T00:00:00Z"),
        )
        .await
        .unwrap();
    let seats: Vec<u32> = held.iter().map(|(_, n)| *n).collect();
    // Mar 1–9: 1 seat; 10–20: 3 (the removed seat counts on its last day); 21–31: 2.
    let expected: Vec<u32> = [(1, 9), (3, 11), (2, 11)]
        .iter()
        .flat_map(|&(n, days)| std::iter::repeat_n(n, days))
        .collect();
    assert_eq!(seats, expected);

    let preview = invoice::invoice(store.as_ref(), team, month, at("2026-03-31T18:00:00Z"))
        .await
        .unwrap();
    let invoice = invoice::invoice(store.as_ref(), team, month, at("2026-04-02T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(preview, invoice);
    // 64 seat-days × 19.00 USD / 31 days = 39.2258… USD.
    assert_eq!(invoice.seat_days, 64);
    assert_eq!(invoice.peak_seats, 3);
    assert_eq!(invoice.amount_cents, Some(3923));
    assert_eq!(invoice.plans, [Plan::Pro]);
    // Mid-month, the rest is projected at today's seats (2).
    let mid = invoice::invoice(store.as_ref(), team, month, at("2026-03-15T12:00:00Z"))
        .await
        .unwrap();
    // Mar 1–9 at 1, 10–15 at 3, 16–31 at today's 2: 9 + 18 + 32.
    assert_eq!(mid.seat_days, 59);

    // The next month, a design partner deal from the 11th: 10 paid days.
    let april: Month = "2026-04".parse().unwrap();
    store
        .operator_set_plan(
            team,
            Plan::DesignPartner,
            Some(at("2026-10-01T00:00:00Z")),
            None,
            "ops",
            at("2026-04-11T08:00:00Z"),
        )
        .await
        .unwrap();
    let april_bill = invoice::invoice(store.as_ref(), team, april, at("2026-05-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(april_bill.plans, [Plan::Pro, Plan::DesignPartner]);
    // 10 days × 2 seats × 1900 / 30 = 1266.67.
    assert_eq!(april_bill.amount_cents, Some(1267));
}

on_both_backends!(
    a_deal_ends_on_its_date_and_limits_follow,
    the_owners_choice_follows_the_deal,
    invoices_equal_previews_with_seats_changing_mid_month,
);
