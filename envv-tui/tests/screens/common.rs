//! Dashboard states built the way the running dashboard builds them: the
//! agent's answers fed to [`App::on_reply`], keys to [`App::on_key`].
#![allow(dead_code)]

use std::path::PathBuf;

use envv_tui::app::{App, Tag};
use proto_ipc::{
    Account, AgentStatus, AuditRow, EnvRef, IpcError, MemberInfo, Mode, ProjectInfo, Response,
    Role, TeamInfo,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use uuid::Uuid;

pub const TEAM: Uuid = Uuid::from_u128(0x7e57_0000_0000_4000_8000_0000_0000_0001);
pub const ME: Uuid = Uuid::from_u128(0xa11c_0000_0000_4000_8000_0000_0000_0001);
pub const BOB: Uuid = Uuid::from_u128(0xb0b0_0000_0000_4000_8000_0000_0000_0002);
pub const CAROL: Uuid = Uuid::from_u128(0xca20_0000_0000_4000_8000_0000_0000_0003);

pub fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

pub fn status(locked: bool, online: bool) -> AgentStatus {
    AgentStatus {
        agent_version: "0.1.0".into(),
        protocol: proto_ipc::PROTOCOL_VERSION,
        pid: 4242,
        mode: Mode::Account,
        locked,
        idle_lock_in: (!locked).then_some(540),
        absolute_lock_in: (!locked).then_some(28_000),
        cached_files: 1,
        online,
        last_sync: Some("2026-11-28T11:59:48Z".into()),
        account: Some(Account {
            server: "https://envv.example.com".into(),
            user_id: ME,
            email: "alice@example.com".into(),
            name: "Alice".into(),
            fingerprint: None,
        }),
    }
}

pub fn root() -> PathBuf {
    PathBuf::from("/home/alice/code/api")
}

pub fn default_env() -> EnvRef {
    EnvRef {
        dir: root(),
        env: None,
    }
}

/// An account-mode dashboard on the Secrets screen with a project loaded.
pub fn app(locked: bool, online: bool) -> App {
    let mut app = App::new(None, None, now());
    app.home = Some(PathBuf::from("/home/alice"));
    app.take_outbox();
    app.on_reply(Tag::Status, Ok(Response::Status(status(locked, online))));
    app.on_reply(
        Tag::Teams,
        Ok(Response::Teams {
            teams: vec![
                TeamInfo {
                    id: TEAM,
                    name: "Demo Corp".into(),
                    role: Role::Owner,
                    current_epoch: 3,
                    rekey_required: true,
                    max_staleness_secs: 72 * 3600,
                },
                TeamInfo {
                    id: Uuid::from_u128(9),
                    name: "Side Project".into(),
                    role: Role::Member,
                    current_epoch: 1,
                    rekey_required: false,
                    max_staleness_secs: 72 * 3600,
                },
            ],
        }),
    );
    app.on_reply(
        Tag::Projects,
        Ok(Response::Projects {
            projects: vec![
                ProjectInfo {
                    root: root(),
                    team: TEAM,
                    envs: vec![None, Some("production".into()), Some("staging".into())],
                    epochs: vec![Some(3), Some(3), Some(2)],
                },
                ProjectInfo {
                    root: PathBuf::from("/srv/billing"),
                    team: TEAM,
                    envs: vec![None],
                    epochs: vec![Some(3)],
                },
            ],
        }),
    );
    let names = if locked {
        Err(IpcError::Locked)
    } else {
        Ok(Response::Names {
            names: ["API_KEY", "DATABASE_URL", "SENTRY_DSN", "STRIPE_SECRET"]
                .map(String::from)
                .to_vec(),
        })
    };
    app.on_reply(Tag::Names(default_env()), names);
    app.take_outbox();
    app
}

pub fn members() -> Response {
    let member = |user_id, email: &str, name: &str, role: &str, has_key| MemberInfo {
        user_id,
        email: email.into(),
        name: name.into(),
        role: role.parse().expect("a role"),
        has_key,
        admitted: true,
        fingerprint: String::new(),
    };
    Response::Members {
        members: vec![
            member(ME, "alice@example.com", "Alice", "owner", true),
            member(BOB, "bob@example.com", "Bob", "admin", true),
            member(CAROL, "carol@example.com", "Carol", "member", false),
        ],
        chain_seq: 5,
        chain_head: String::new(),
    }
}

pub fn audit_row(seq: i64) -> AuditRow {
    let actors = [Some(ME), Some(BOB), Some(CAROL), None];
    let actions = ["get", "exec", "set", "team.invite"];
    let names = ["DATABASE_URL", "API_KEY", "STRIPE_SECRET", ""];
    let i = (seq % 4) as usize;
    let details = if names[i].is_empty() {
        r#"{"email":"dave@example.com","role":"member"}"#.to_owned()
    } else {
        format!(r#"{{"env":null,"secret_names":["{}"]}}"#, names[i])
    };
    AuditRow {
        seq,
        event_id: Uuid::from_u128(seq as u128),
        // Thirty seconds apart, the newest at noon.
        at: (now() - chrono::Duration::seconds((100_000 - seq) * 30)).to_rfc3339(),
        actor: actors[i],
        actor_email: None,
        target_email: None,
        action: actions[i].into(),
        target: names[i].is_empty().then(|| "dave@example.com".into()),
        details,
    }
}

/// The newest `n` events of a trail of `total`, newest first.
pub fn audit_page(total: i64, n: i64) -> Response {
    Response::AuditPage {
        events: (total - n + 1..=total).rev().map(audit_row).collect(),
        next_cursor: (n < total).then(|| "next".into()),
    }
}

/// The agent's answer to the audit page the dashboard asked for last.
pub fn answer_audit_page(app: &mut App, answer: Result<Response, IpcError>) {
    let generation = app.audit.generation;
    app.on_reply(
        Tag::Audit {
            generation,
            head: false,
        },
        answer,
    );
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
}

/// The screen as text, `width` × `height`.
pub fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| envv_tui::ui::draw(frame, app))
        .unwrap();
    terminal.backend().to_string()
}
