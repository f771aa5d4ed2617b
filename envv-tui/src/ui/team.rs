//! The current team: its key, its members and who waits for a grant.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};

use super::{no_team, not_ready};
use crate::app::{App, Loadable};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    if no_team(frame, app, area, "Team") || not_ready(frame, area, "Team", &app.teams) {
        return;
    }
    let Some(team) = app.current_team() else {
        return;
    };
    let [summary, list] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(area);
    let (pending, waiting_me, admins) = match &app.members {
        Loadable::Ready(members) => (
            members.iter().filter(|m| !m.has_key).count(),
            members
                .iter()
                .any(|m| !m.has_key && Some(m.user_id) == app.my_id()),
            members
                .iter()
                .filter(|m| matches!(m.role, proto_ipc::Role::Admin | proto_ipc::Role::Owner))
                .map(|m| m.email.clone())
                .collect::<Vec<_>>(),
        ),
        _ => (0, false, Vec::new()),
    };
    let admin = app.is_admin();
    let old = app.old_epoch_files();
    let rekey = if team.rekey_required {
        Span::raw(if admin {
            "re-key required: a member was removed (R rotates)"
        } else {
            "re-key required: a member was removed; an admin rotates"
        })
        .fg(Color::Yellow)
        .bold()
    } else if !old.is_empty() {
        let files: Vec<String> = old
            .iter()
            .map(|(root, file, epoch)| format!("{} (epoch {epoch})", root.join(file).display()))
            .collect();
        Span::raw(format!(
            "old-epoch files, unreadable to newer members: {}; {}",
            files.join(", "),
            if admin {
                "R re-encrypts them"
            } else {
                "an admin should run `envv rotate` there"
            }
        ))
        .fg(Color::Yellow)
    } else {
        Span::raw("no re-key needed").dim()
    };
    let grants = match pending {
        _ if waiting_me => Span::raw(format!(
            "you are waiting for an admin to grant you the key (admins: {})",
            admins.join(", ")
        ))
        .fg(Color::Yellow),
        0 => Span::raw("every member holds the current key").dim(),
        n => Span::raw(format!(
            "{n} member{} waiting for the key ({})",
            if n == 1 { "" } else { "s" },
            if admin {
                "a admits now"
            } else {
                "an admin's agent grants it"
            }
        ))
        .fg(Color::Yellow),
    };
    let lines = vec![
        Line::from(vec![
            Span::raw(team.name.clone()).bold(),
            Span::raw(format!(
                " · you are {} · key epoch {} · offline reads for {}",
                team.role,
                team.current_epoch,
                super::duration(u64::from(team.max_staleness_secs))
            )),
        ]),
        Line::from(rekey),
        Line::from(grants),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Team ")),
        summary,
    );
    if not_ready(frame, list, "Members", &app.members) {
        return;
    }
    let Loadable::Ready(members) = &app.members else {
        return;
    };
    let me = app.my_id();
    let rows = members.iter().map(|m| {
        let name = if Some(m.user_id) == me {
            format!("{} (you)", m.name)
        } else {
            m.name.clone()
        };
        let key = if m.has_key {
            Line::from("✓ current").fg(Color::Green)
        } else {
            Line::from("pending grant").fg(Color::Yellow)
        };
        Row::new([
            Line::from(name),
            Line::from(m.email.clone()),
            Line::from(m.role.as_str()),
            key,
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Percentage(28),
            Constraint::Percentage(40),
            Constraint::Length(8),
            Constraint::Length(14),
        ],
    )
    .header(Row::new(["NAME", "EMAIL", "ROLE", "KEY"]).bold())
    .block(Block::bordered().title(format!(" Members ({}) ", members.len())))
    .row_highlight_style(Style::new().reversed());
    let mut state = TableState::default().with_selected(Some(app.member_selected));
    frame.render_stateful_widget(table, list, &mut state);
}
