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
    let pending = match &app.members {
        Loadable::Ready(members) => members.iter().filter(|m| !m.has_key).count(),
        _ => 0,
    };
    let rekey = if team.rekey_required {
        Span::raw("re-key required: a member was removed (R rotates)")
            .fg(Color::Yellow)
            .bold()
    } else {
        Span::raw("no re-key needed").dim()
    };
    let grants = match pending {
        0 => Span::raw("every member holds the current key").dim(),
        n => Span::raw(format!(
            "{n} member{} waiting for the key (a admits now)",
            if n == 1 { "" } else { "s" }
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
