//! Snapshots of every screen and state, at 80x24 and at 160x48, and the
//! key flows that lead to them.

mod common;
mod invites;

use common::*;
use envv_tui::app::{App, Loadable, Popup, Screen, Tag};
use proto_ipc::{Event, IpcError, ReadPurpose, Request, Response, Role, Secret};
use ratatui::crossterm::event::KeyCode;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

/// Snapshots `app` at both sizes, as `NAME-80x24` and `NAME-160x48`.
fn snapshot(name: &str, app: &mut App) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}-{w}x{h}"), render(app, w, h));
    }
}

fn usage() -> Response {
    Response::Usage(
        serde_json::from_value(serde_json::json!({
            "plan": "starter",
            "billing_email": "billing@demo.example",
            "seats": 3,
            "limits": {"max_members": 10, "max_secrets": 200, "audit_retention_days": 90,
                       "price_per_seat_cents": 800},
            "secrets": 170,
            "usage": (1..=30).map(|d| serde_json::json!({
                "day": format!("2026-11-{d:02}"), "action": "exec", "count": (d * 7) % 23
            })).chain([serde_json::json!({"day": "2026-11-28", "action": "get", "count": 4})])
            .collect::<Vec<_>>(),
            "invoice_preview": {"seats": 3, "price_per_seat_cents": 800,
                                "monthly_total_cents": 2400, "currency": "usd"},
        }))
        .expect("a usage report"),
    )
}

/// On `screen`, with what the agent answers when it goes there.
fn on(screen: Screen) -> App {
    let mut app = app(false, true);
    let key = match screen {
        Screen::Secrets => return app,
        Screen::Team => '2',
        Screen::Audit => '3',
        Screen::Plan => '4',
    };
    press(&mut app, &key.to_string());
    app.take_outbox();
    app.on_reply(Tag::Members(TEAM), Ok(members()));
    match screen {
        Screen::Team => app.on_reply(
            Tag::Invites(TEAM),
            Ok(Response::Invites {
                invites: Vec::new(),
            }),
        ),
        Screen::Audit => {
            answer_audit_page(&mut app, Ok(audit_page(100_000, 500)));
        }
        Screen::Plan => app.on_reply(Tag::Usage(TEAM), Ok(usage())),
        _ => {}
    }
    app
}

#[test]
fn secrets_screen() {
    snapshot("secrets", &mut app(false, true));
}

#[test]
fn secrets_screen_reveals_one_value_and_hides_it_on_moving() {
    let mut app = app(false, true);
    app.on_key(key(KeyCode::Enter));
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Enter));
    let sent = app.take_outbox();
    let expected = Request::Read {
        at: default_env(),
        only: vec!["DATABASE_URL".into()],
        purpose: ReadPurpose::Get,
    };
    assert_eq!(
        sent,
        [(Tag::Reveal(default_env(), "DATABASE_URL".into()), expected)]
    );
    app.on_reply(
        sent[0].0.clone(),
        Ok(Response::Secrets {
            secrets: vec![(
                "DATABASE_URL".into(),
                Secret::new("postgres://db.internal/app"),
            )],
        }),
    );
    snapshot("secrets-revealed", &mut app);
    app.on_key(key(KeyCode::Down));
    assert!(app.secrets.revealed.is_none());
    assert!(!render(&mut app, 80, 24).contains("postgres://"));
}

#[test]
fn secrets_screen_searches_names() {
    let mut app = app(false, true);
    press(&mut app, "/str");
    app.on_key(key(KeyCode::Enter));
    assert_eq!(app.secrets.visible_names(), ["STRIPE_SECRET"]);
    snapshot("secrets-search", &mut app);
}

#[test]
fn secrets_screen_empty() {
    let mut app = app(false, true);
    app.on_reply(Tag::Projects, Ok(Response::Projects { projects: vec![] }));
    snapshot("secrets-empty", &mut app);
}

#[test]
fn secrets_screen_locked() {
    let mut app = app(true, true);
    snapshot("secrets-locked", &mut app);
}

#[test]
fn unlock_popup_masks_the_password_and_sends_it() {
    let mut app = app(true, true);
    press(&mut app, "ucorrect horse");
    app.on_key(key(KeyCode::Backspace));
    snapshot("unlock", &mut app);
    assert!(!render(&mut app, 80, 24).contains("correct"));
    app.on_key(key(KeyCode::Enter));
    let sent = app.take_outbox();
    let [(Tag::Unlock, Request::Unlock { password: Some(p) })] = sent.as_slice() else {
        panic!("unlock sends the password once: {sent:?}");
    };
    assert_eq!(p.expose(), "correct hors");
    app.on_event(Event::Unlocked);
    assert!(!app.locked());
}

#[test]
fn team_screen() {
    snapshot("team", &mut on(Screen::Team));
}

#[test]
fn team_screen_local_mode() {
    let mut app = on(Screen::Team);
    let mut local = status(false, true);
    local.mode = proto_ipc::Mode::Local;
    local.account = None;
    app.on_reply(Tag::Status, Ok(Response::Status(local)));
    snapshot("team-local", &mut app);
}

#[test]
fn team_screen_error() {
    let mut app = on(Screen::Team);
    app.members = Loadable::Loading;
    app.on_reply(
        Tag::Members(TEAM),
        Err(IpcError::Agent {
            code: proto_ipc::ErrorCode::Offline,
            message: "the control plane is unreachable (connection refused)".into(),
        }),
    );
    snapshot("team-error", &mut app);
}

#[test]
fn admin_actions_ask_first() {
    let mut app = on(Screen::Team);
    app.on_key(key(KeyCode::Down));
    press(&mut app, "x");
    snapshot("team-confirm-remove", &mut app);
    press(&mut app, "n");
    assert!(app.take_outbox().is_empty(), "n sends nothing");

    press(&mut app, "xy");
    let sent = app.take_outbox();
    let [
        (
            removed,
            Request::RemoveMember {
                team: TEAM,
                user: BOB,
            },
        ),
    ] = sent.as_slice()
    else {
        panic!("{sent:?}")
    };
    // Once removed, what they could read is asked for and shown: every
    // name at the epochs they held, the decrypted ones marked.
    app.on_reply(removed.clone(), Ok(Response::Done));
    let sent = app.take_outbox();
    let exposure = sent
        .iter()
        .find(|(tag, _)| *tag == Tag::Exposure)
        .unwrap_or_else(|| panic!("no exposure request in {sent:?}"));
    assert!(
        matches!(
            &exposure.1,
            Request::Exposure {
                team: TEAM,
                user: BOB,
                ..
            }
        ),
        "{exposure:?}"
    );
    app.on_reply(
        Tag::Exposure,
        Ok(Response::Exposure(proto_ipc::ExposureReport {
            email: "bob@example.com".into(),
            last_epoch: 3,
            removed_seq: 9,
            secrets: ["API_KEY", "DATABASE_URL", "STRIPE_SECRET"]
                .iter()
                .map(|name| proto_ipc::ExposedName {
                    name: (*name).into(),
                    envs: vec![None, Some("staging".into())],
                    decrypted: *name == "DATABASE_URL",
                })
                .collect(),
            projects: vec![root()],
            later: vec![],
            decrypted_elsewhere: vec![],
            trail_error: None,
        })),
    );
    snapshot("team-removed-exposure", &mut app);
    app.on_key(key(KeyCode::Enter));
    assert!(app.popup.is_none());

    press(&mut app, "r");
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Enter));
    press(&mut app, "y");
    let sent = app.take_outbox();
    assert!(
        matches!(sent.as_slice(), [(_, Request::SetRole { user: BOB, role, .. })] if *role == Role::Owner),
        "{sent:?}"
    );

    press(&mut app, "R");
    let Some(Popup::Confirm { request, .. }) = &app.popup else {
        panic!("rotate asks first");
    };
    assert_eq!(
        **request,
        Request::Rotate {
            team: TEAM,
            dirs: vec![root(), "/srv/billing".into()]
        }
    );
    press(&mut app, "y");
    app.take_outbox();

    press(&mut app, "idave@example.com");
    app.on_key(key(KeyCode::Enter));
    app.on_key(key(KeyCode::Enter));
    press(&mut app, "y");
    let sent = app.take_outbox();
    assert!(matches!(
        sent.as_slice(),
        [(Tag::Invite(_), Request::Invite { role, .. })] if *role == Role::Member
    ));
    app.on_reply(
        sent[0].0.clone(),
        Ok(Response::InviteCode {
            code: Secret::new("ENVV-INVITE-7Q3M-XK2P"),
            invite_id: uuid::Uuid::nil(),
        }),
    );
    snapshot("team-invite-code", &mut app);
}

#[test]
fn audit_screen() {
    snapshot("audit", &mut on(Screen::Audit));
}

#[test]
fn audit_screen_shows_this_machines_event_at_once() {
    let mut app = on(Screen::Audit);
    app.on_event(Event::Audit {
        id: uuid::Uuid::from_u128(1 << 100),
        team: TEAM,
        action: "get".into(),
        names: vec!["STRIPE_SECRET".into()],
        at: "2026-11-28T12:00:01Z".into(),
    });
    assert_eq!(app.audit.rows[0].seq, None);
    // ... and asks for the newest page, which replaces it once shipped.
    assert!(matches!(
        app.take_outbox().as_slice(),
        [(Tag::Audit { head: true, .. }, Request::Audit { .. })]
    ));
    snapshot("audit-live", &mut app);
}

#[test]
fn audit_screen_filters() {
    let mut app = on(Screen::Audit);
    press(&mut app, "/action:get actor:bob@example.com since:1d");
    app.on_key(key(KeyCode::Enter));
    let sent = app.take_outbox();
    let [(Tag::Audit { .. }, Request::Audit { filter, .. })] = sent.as_slice() else {
        panic!("a new query: {sent:?}");
    };
    assert_eq!(filter.action.as_deref(), Some("get"));
    assert_eq!(filter.actor, Some(BOB));
    assert_eq!(filter.since.as_deref(), Some("2026-11-27T12:00:00+00:00"));
    assert!(filter.newest_first);
    answer_audit_page(
        &mut app,
        Ok(Response::AuditPage {
            events: vec![],
            next_cursor: None,
        }),
    );
    snapshot("audit-filtered-empty", &mut app);
}

#[test]
fn audit_screen_pages_as_it_scrolls() {
    let mut app = on(Screen::Audit);
    app.take_outbox();
    render(&mut app, 80, 24);
    app.on_key(key(KeyCode::End));
    let sent = app.take_outbox();
    let [(tag, Request::Audit { filter, .. })] = sent.as_slice() else {
        panic!("the next page: {sent:?}");
    };
    assert_eq!(filter.cursor.as_deref(), Some("next"));
    app.on_reply(
        tag.clone(),
        Ok(Response::AuditPage {
            events: (99_000..=99_500).rev().map(audit_row).collect(),
            next_cursor: None,
        }),
    );
    assert_eq!(app.audit.rows.len(), 1001);
    snapshot("audit-scrolled", &mut app);
}

#[test]
fn audit_screen_offline() {
    let mut app = app(false, false);
    press(&mut app, "3");
    answer_audit_page(
        &mut app,
        Err(IpcError::Agent {
            code: proto_ipc::ErrorCode::Offline,
            message:
                "the control plane at https://envv.example.com is unreachable (connection refused)"
                    .into(),
        }),
    );
    snapshot("audit-offline", &mut app);
}

#[test]
fn plan_screen() {
    snapshot("plan", &mut on(Screen::Plan));
}

/// A deal ending within 14 days: its line and its warning, wrapped.
#[test]
fn plan_screen_warns_before_a_deal_ends() {
    let mut app = on(Screen::Plan);
    let until = chrono::Utc::now().date_naive() + chrono::Duration::days(10);
    let Response::Usage(mut report) = usage() else {
        unreachable!()
    };
    report.plan = proto_ipc::Plan::DesignPartner;
    report.deal = Some(envv_api::Deal {
        until: until.and_hms_opt(0, 0, 0).unwrap().and_utc(),
        then: proto_ipc::Plan::Free,
    });
    app.on_reply(Tag::Usage(TEAM), Ok(Response::Usage(report)));
    for (w, h) in SIZES {
        let screen = render(&mut app, w, h);
        let flat: String = screen
            .lines()
            .map(|l| l.trim_matches(|c: char| c == '│' || c == ' '))
            .collect::<Vec<_>>()
            .join(" ");
        for expected in [
            format!("deal      until {until}, then free"),
            format!("The design_partner plan ends on {until} (in 10 days); the team then"),
            "(5 members, 50 secrets).".to_owned(),
        ] {
            assert!(flat.contains(&expected), "{expected:?} not in\n{screen}");
        }
    }
}

#[test]
fn plan_screen_error() {
    let mut app = on(Screen::Plan);
    app.usage = Loadable::Loading;
    app.on_reply(
        Tag::Usage(TEAM),
        Err(IpcError::Agent {
            code: proto_ipc::ErrorCode::Forbidden,
            message: "only members of the team can see its usage".into(),
        }),
    );
    snapshot("plan-error", &mut app);
}

#[test]
fn agent_unreachable() {
    let mut app = App::new(None, None, now());
    app.on_reply(
        Tag::Status,
        Err(IpcError::AgentNotRunning {
            path: "/run/user/1000/envv/agent.sock".into(),
        }),
    );
    app.on_reply(
        Tag::Projects,
        Err(IpcError::AgentNotRunning {
            path: "/run/user/1000/envv/agent.sock".into(),
        }),
    );
    snapshot("agent-unreachable", &mut app);
}

#[test]
fn help() {
    let mut app = app(false, true);
    press(&mut app, "?");
    snapshot("help", &mut app);
    press(&mut app, "x");
    assert!(app.popup.is_none(), "any key closes help");
}

#[test]
fn tab_cycles_screens_and_q_quits() {
    let mut app = app(false, true);
    for expected in [Screen::Team, Screen::Audit, Screen::Plan, Screen::Secrets] {
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.screen, expected);
    }
    app.on_key(key(KeyCode::BackTab));
    assert_eq!(app.screen, Screen::Plan);
    press(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn lock_event_hides_a_revealed_value() {
    let mut app = app(false, true);
    app.secrets.revealed = Some(("API_KEY".into(), Secret::new("sk_live_1")));
    app.on_event(Event::Locked);
    assert!(app.locked());
    assert!(app.secrets.revealed.is_none());
}

#[test]
fn a_reveal_that_arrives_after_moving_away_or_a_lock_stays_hidden() {
    let mut app = app(false, true);
    app.on_key(key(KeyCode::Enter));
    app.on_key(key(KeyCode::Enter));
    let [(tag, _)] = app.take_outbox().try_into().unwrap();
    app.on_key(key(KeyCode::Down));
    let value = || {
        Ok(Response::Secrets {
            secrets: vec![("API_KEY".into(), Secret::new("sk_live_1"))],
        })
    };
    app.on_reply(tag.clone(), value());
    assert!(app.secrets.revealed.is_none(), "moved away before it came");

    app.on_key(key(KeyCode::Up));
    app.on_key(key(KeyCode::Enter));
    app.take_outbox();
    // The agent locked (its status says so; the event may be lost).
    app.on_reply(Tag::Status, Ok(Response::Status(status(true, true))));
    app.on_reply(tag, value());
    assert!(app.secrets.revealed.is_none(), "a lock overtook it");
}

#[test]
fn a_late_audit_page_of_the_previous_team_is_dropped() {
    let mut app = on(Screen::Audit);
    app.on_key(key(KeyCode::End));
    let old = app.take_outbox();
    press(&mut app, "t");
    assert_eq!(app.team, Some(uuid::Uuid::from_u128(9)));
    for (tag, _) in old {
        app.on_reply(tag, Ok(audit_page(100_000, 500)));
    }
    assert!(app.audit.rows.is_empty(), "{} rows", app.audit.rows.len());
}

#[test]
fn control_keys_and_the_one_time_code_behave() {
    use ratatui::crossterm::event::{KeyEvent, KeyModifiers};
    let mut app = on(Screen::Team);
    app.on_key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
    assert!(
        app.popup.is_none(),
        "ctrl-r refreshes, it doesn't change a role"
    );

    app.popup = Some(Popup::InviteCode {
        email: "dave@example.com".into(),
        code: Secret::new("ENVV-INVITE-7Q3M-XK2P"),
        copied: false,
    });
    press(&mut app, "x");
    assert!(app.popup.is_some(), "a stray key doesn't close the code");
    app.on_key(key(KeyCode::Enter));
    assert!(app.popup.is_none());

    press(&mut app, "1/str");
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    assert_eq!(app.secrets.search, "str", "ctrl-u is not typed");
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.secrets.search, "", "esc puts the search back");
}
