//! The Team screen's invites: listed for admins, revoked after a
//! confirmation, and a new code shown on one line with a copy key.

use crate::common::*;
use crate::snapshot;
use envv_tui::app::{App, Popup, Tag};
use proto_ipc::{IpcError, Request, Response, Role, Secret};
use ratatui::crossterm::event::KeyCode;

const DAVE_INVITE: uuid::Uuid = uuid::Uuid::from_u128(0xda7e);
const ERIN_INVITE: uuid::Uuid = uuid::Uuid::from_u128(0xe1);

/// The team's invites as the agent reads them off the chain: two open,
/// the rest void for a reason.
fn invites() -> Response {
    let at = now().timestamp();
    let invite = |id, email: &str, role: Role, expires_at, state: &str| proto_ipc::InviteInfo {
        id,
        email: email.into(),
        role,
        issued_by: "alice@example.com".into(),
        expires_at,
        state: state.into(),
    };
    Response::Invites {
        invites: vec![
            invite(
                DAVE_INVITE,
                "dave@example.com",
                Role::Member,
                at + 6 * 86_400 + 23 * 3600 + 120,
                "open",
            ),
            invite(
                uuid::Uuid::from_u128(0xf0),
                "frank@example.com",
                Role::Member,
                at + 86_400,
                "used",
            ),
            invite(
                ERIN_INVITE,
                "erin@example.com",
                Role::Admin,
                at + 5 * 3600 + 600,
                "open",
            ),
            invite(
                uuid::Uuid::from_u128(0xf1),
                "gina@example.com",
                Role::Member,
                at + 86_400,
                "revoked",
            ),
            invite(
                uuid::Uuid::from_u128(0xf2),
                "hank@example.com",
                Role::Member,
                at - 3600,
                "expired",
            ),
        ],
    }
}

/// The Team screen as an owner, members and invites answered.
fn team_with_invites() -> App {
    let mut app = app(false, true);
    press(&mut app, "2");
    let sent = app.take_outbox();
    assert!(
        sent.contains(&(Tag::Invites(TEAM), Request::Invites { team: TEAM })),
        "an admin's Team screen asks for the invites with the members: {sent:?}"
    );
    app.on_reply(Tag::Members(TEAM), Ok(members()));
    app.on_reply(Tag::Invites(TEAM), Ok(invites()));
    app
}

#[test]
fn team_screen_lists_open_invites_for_admins() {
    let mut app = team_with_invites();
    snapshot("team-invites", &mut app);
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("dave@example.com"), "{screen}");
    assert!(screen.contains("in 6d 23h"), "{screen}");
    assert!(screen.contains("erin@example.com"), "{screen}");
    assert!(screen.contains("in 5h 10m"), "{screen}");
    assert!(screen.contains("Open invites (2)"), "{screen}");
    for void in ["frank@", "gina@", "hank@"] {
        assert!(!screen.contains(void), "{void} is not open: {screen}");
    }

    // Refreshed with the members.
    app.on_key(ratatui::crossterm::event::KeyEvent::new(
        KeyCode::Char('r'),
        ratatui::crossterm::event::KeyModifiers::CONTROL,
    ));
    let sent = app.take_outbox();
    assert!(
        sent.contains(&(Tag::Members(TEAM), Request::Members { team: TEAM }))
            && sent.contains(&(Tag::Invites(TEAM), Request::Invites { team: TEAM })),
        "{sent:?}"
    );

    // A plain member's team: no invites asked for or shown.
    press(&mut app, "t");
    let sent = app.take_outbox();
    assert!(
        !sent
            .iter()
            .any(|(_, r)| matches!(r, Request::Invites { .. })),
        "{sent:?}"
    );
    app.on_reply(Tag::Members(uuid::Uuid::from_u128(9)), Ok(members()));
    let screen = render(&mut app, 120, 30);
    assert!(!screen.contains("invites"), "{screen}");
}

#[test]
fn team_screen_invites_error_is_shown() {
    let mut app = app(false, true);
    press(&mut app, "2");
    app.on_reply(Tag::Members(TEAM), Ok(members()));
    app.on_reply(
        Tag::Invites(TEAM),
        Err(IpcError::Agent {
            code: proto_ipc::ErrorCode::Offline,
            message: "the control plane is unreachable".into(),
        }),
    );
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("Open invites"), "{screen}");
    assert!(
        screen.contains("the control plane is unreachable"),
        "{screen}"
    );
}

#[test]
fn an_admin_revokes_the_selected_invite_after_confirming() {
    let mut app = team_with_invites();
    // Past the three members: the first open invite, then the second.
    for _ in 0..4 {
        app.on_key(key(KeyCode::Down));
    }
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.member_selected, 4, "the last row is the last invite");
    app.on_key(key(KeyCode::Up));
    press(&mut app, "x");
    snapshot("team-confirm-revoke", &mut app);
    let Some(Popup::Confirm { question, .. }) = &app.popup else {
        panic!("revoking asks first");
    };
    assert!(question.contains("dave@example.com"), "{question}");
    press(&mut app, "n");
    assert!(app.take_outbox().is_empty(), "n sends nothing");

    press(&mut app, "r");
    assert!(app.popup.is_none(), "an invite has no role to change");

    press(&mut app, "xy");
    let sent = app.take_outbox();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].1,
        Request::RevokeInvite {
            team: TEAM,
            invite: DAVE_INVITE
        }
    );
    app.on_reply(sent[0].0.clone(), Ok(Response::Done));
    assert!(
        matches!(&app.message, Some((_, text)) if text.contains("revoked the invite for dave@example.com")),
        "{:?}",
        app.message
    );
    let sent = app.take_outbox();
    assert!(
        sent.contains(&(Tag::Invites(TEAM), Request::Invites { team: TEAM })),
        "the list reloads: {sent:?}"
    );
}

#[test]
fn a_member_cannot_revoke_an_invite() {
    let mut app = team_with_invites();
    // Demoted since: the Teams answer now says member.
    app.on_reply(
        Tag::Teams,
        Ok(Response::Teams {
            teams: vec![proto_ipc::TeamInfo {
                id: TEAM,
                name: "Demo Corp".into(),
                role: Role::Member,
                current_epoch: 3,
                rekey_required: false,
                max_staleness_secs: 3600,
            }],
        }),
    );
    app.member_selected = 3;
    press(&mut app, "x");
    assert!(app.popup.is_none());
    assert!(app.take_outbox().is_empty());
    assert!(!render(&mut app, 120, 30).contains("dave@example.com"));
}

/// A real-length code: `envv-inv2.` and 107 characters.
fn long_code() -> String {
    let tail: String = (0..107)
        .map(|i| char::from(b"ABCDEFGHJKMNPQRSTVWXYZ0123456789abcdefghjk"[i % 42]))
        .collect();
    format!("envv-inv2.{tail}")
}

#[test]
fn the_invite_code_fits_on_one_line_and_copies() {
    let mut app = team_with_invites();
    let code = long_code();
    assert_eq!(code.len(), 117);
    app.popup = Some(Popup::InviteCode {
        email: "dave@example.com".into(),
        code: Secret::new(code.clone()),
        copied: false,
    });
    let screen = render(&mut app, 120, 30);
    assert!(
        screen.lines().any(|l| l.contains(&code)),
        "the whole code on one line at 120 columns:\n{screen}"
    );
    assert!(!screen.contains("too narrow"), "{screen}");
    insta::assert_snapshot!("invite-code-120x30", screen);

    let narrow = render(&mut app, 100, 30);
    assert!(narrow.contains("too narrow"), "{narrow}");
    assert!(narrow.contains("119 columns"), "{narrow}");

    press(&mut app, "c");
    let effects = app.take_effects();
    assert!(
        matches!(effects.as_slice(), [envv_tui::app::Effect::Copy(value)] if value.expose() == code),
        "c puts the code on the clipboard"
    );
    assert!(
        matches!(app.popup, Some(Popup::InviteCode { copied: true, .. })),
        "the code stays up after copying"
    );
    assert!(
        app.take_outbox().is_empty(),
        "copying asks the agent nothing"
    );
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("Copied to the clipboard."), "{screen}");
    // Only the popup shows it: not the message line, not the app's debug form.
    assert!(
        app.message.as_ref().is_none_or(|(_, m)| !m.contains(&code)),
        "{:?}",
        app.message
    );
    assert!(!format!("{:?}", app.popup).contains(&code[10..]));
    app.on_key(key(KeyCode::Esc));
    assert!(app.popup.is_none());
}
