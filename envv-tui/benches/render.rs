//! One frame of the audit screen with 100,000 events loaded: what scrolling
//! costs. `cargo bench -p envv-tui --bench render`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use envv_tui::app::{App, Tag};
use proto_ipc::{
    Account, AgentStatus, AuditRow, MemberInfo, Mode, PROTOCOL_VERSION, Response, TeamInfo,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use uuid::Uuid;

const EVENTS: i64 = 100_000;
const PAGE: i64 = 1_000;

fn row(seq: i64, members: &[Uuid]) -> AuditRow {
    AuditRow {
        seq,
        event_id: Uuid::from_u128(seq as u128),
        at: format!(
            "2026-11-{:02}T{:02}:{:02}:00Z",
            1 + seq % 28,
            seq % 24,
            seq % 60
        ),
        actor: Some(members[seq as usize % members.len()]),
        actor_email: None,
        target_email: None,
        action: ["decrypt", "exec", "set", "unset"][seq as usize % 4].into(),
        target: None,
        details: format!(
            r#"{{"env":null,"secret_names":["SECRET_{}","DATABASE_URL"]}}"#,
            seq % 97
        ),
    }
}

/// A dashboard on the audit screen with every event loaded, page by page
/// as the agent would send them.
fn loaded() -> App {
    let team = Uuid::from_u128(1);
    let members: Vec<Uuid> = (10..20).map(Uuid::from_u128).collect();
    let mut app = App::new(Some(team), None, "2026-11-28T12:00:00Z".parse().unwrap());
    app.on_reply(
        Tag::Status,
        Ok(Response::Status(AgentStatus {
            agent_version: "0.1.0".into(),
            protocol: PROTOCOL_VERSION,
            pid: 1,
            mode: Mode::Account,
            locked: false,
            idle_lock_in: Some(600),
            absolute_lock_in: Some(28_800),
            cached_files: 0,
            online: true,
            last_sync: None,
            account: Some(Account {
                server: "https://envv.example.com".into(),
                user_id: members[0],
                email: "m0@example.com".into(),
                name: "M0".into(),
                fingerprint: None,
            }),
        })),
    );
    app.on_reply(
        Tag::Teams,
        Ok(Response::Teams {
            teams: vec![TeamInfo {
                id: team,
                name: "Bench".into(),
                role: proto_ipc::Role::Owner,
                current_epoch: 1,
                rekey_required: false,
                max_staleness_secs: 72 * 3600,
            }],
        }),
    );
    app.on_key(KeyEvent::new(KeyCode::Char('3'), KeyModifiers::NONE));
    app.on_reply(
        Tag::Members(team),
        Ok(Response::Members {
            members: members
                .iter()
                .enumerate()
                .map(|(i, id)| MemberInfo {
                    user_id: *id,
                    email: format!("m{i}@example.com"),
                    name: format!("M{i}"),
                    role: proto_ipc::Role::Member,
                    has_key: true,
                    admitted: true,
                    fingerprint: String::new(),
                })
                .collect(),
            chain_seq: 1,
            chain_head: String::new(),
        }),
    );
    let generation = app.audit.generation;
    for page in 0..EVENTS / PAGE {
        let newest = EVENTS - page * PAGE;
        app.on_reply(
            Tag::Audit {
                generation,
                head: false,
            },
            Ok(Response::AuditPage {
                events: (newest - PAGE + 1..=newest)
                    .rev()
                    .map(|seq| row(seq, &members))
                    .collect(),
                next_cursor: (page + 1 < EVENTS / PAGE).then(|| "next".into()),
            }),
        );
        app.audit.loading = false;
    }
    app.take_outbox();
    assert_eq!(app.audit.rows.len(), EVENTS as usize);
    app
}

fn audit_frame(c: &mut Criterion) {
    let mut app = loaded();
    for (width, height) in [(80, 24), (160, 48)] {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        // Scrolling: each frame moves the selection one page deeper, so the
        // window over the rows really moves.
        c.bench_function(&format!("audit frame {width}x{height}, 100k events"), |b| {
            b.iter(|| {
                app.on_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
                if app.audit.selected + 1 >= app.audit.rows.len() {
                    app.on_key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
                }
                terminal
                    .draw(|frame| envv_tui::ui::draw(frame, black_box(&mut app)))
                    .unwrap();
            });
        });
    }
}

criterion_group!(benches, audit_frame);
criterion_main!(benches);
