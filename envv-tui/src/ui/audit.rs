//! The trail, newest first. Only the rows on screen are built, so a frame
//! costs the same with a hundred events loaded or a hundred thousand.

use chrono::DateTime;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};
use uuid::Uuid;

use super::{no_team, notice};
use crate::app::App;

/// Below this width the detail pane goes under the list.
const WIDE: u16 = 120;

pub fn draw(frame: &mut Frame, app: &mut App, area: Rect) {
    if no_team(frame, app, area, "Audit") {
        return;
    }
    let [filter, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let [list, detail] = if area.width >= WIDE {
        Layout::horizontal([Constraint::Min(60), Constraint::Length(48)]).areas(rest)
    } else {
        Layout::vertical([Constraint::Min(5), Constraint::Length(7)]).areas(rest)
    };
    draw_filter(frame, app, filter);
    let view = &app.audit;
    if let Some(why) = &view.error
        && view.rows.is_empty()
    {
        notice(frame, rest, "Audit", why, true);
        return;
    }
    if view.rows.is_empty() {
        let text = if !view.loaded {
            "Loading…"
        } else if view.filter_text.is_empty() {
            "No events yet: they appear here as members read and change secrets."
        } else {
            "No event matches the filter; press c to clear it."
        };
        notice(frame, rest, "Audit", text, false);
        return;
    }
    draw_rows(frame, app, list);
    draw_detail(frame, app, detail);
}

fn draw_filter(frame: &mut Frame, app: &App, area: Rect) {
    let line = if app.audit.filter_text.is_empty() {
        Line::from(vec![
            Span::raw(" All events, newest first").bold(),
            Span::raw(" · live · / to filter").dim(),
        ])
    } else {
        Line::from(vec![
            Span::raw(" Filter ").reversed(),
            Span::raw(format!(" {}", app.audit.filter_text)).bold(),
            Span::raw(" · c clears").dim(),
        ])
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// `11-28 10:00:05` in UTC.
fn short_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |at| at.to_utc().format("%m-%d %H:%M:%S").to_string(),
    )
}

fn actor(app: &App, id: Option<Uuid>, email: Option<&str>) -> String {
    match id {
        None => "server".to_owned(),
        Some(id) if Some(id) == app.my_id() => "you".to_owned(),
        Some(id) => app
            .email_of(id)
            .or(email)
            .map_or_else(|| id.to_string()[..8].to_owned(), str::to_owned),
    }
}

fn draw_rows(frame: &mut Frame, app: &mut App, area: Rect) {
    // Borders and the header take three rows.
    let height = usize::from(area.height.saturating_sub(3));
    app.audit_height = height.max(1);
    app.audit.scroll_into_view(height);
    let view = &app.audit;
    let end = (view.offset + height).min(view.rows.len());
    let rows = view.rows[view.offset..end]
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let seq = row.seq.map_or_else(
                || Line::from("new").fg(Color::Cyan),
                |s| Line::from(s.to_string()),
            );
            let style = if view.offset + i == view.selected {
                Style::new().reversed()
            } else {
                Style::new()
            };
            Row::new([
                seq,
                Line::from(short_time(&row.at)),
                Line::from(actor(app, row.actor, row.actor_email.as_deref())),
                Line::from(row.action.clone()),
                Line::from(row.summary.clone()),
            ])
            .style(style)
        });
    let more = match (&view.next_cursor, view.loading) {
        (_, true) => " · loading…",
        (Some(_), false) => " · more below",
        (None, false) => "",
    };
    let title = format!(
        " Audit · {} of {}{more} ",
        view.selected + 1,
        view.rows.len()
    );
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(14),
            Constraint::Percentage(30),
            Constraint::Length(16),
            Constraint::Percentage(40),
        ],
    )
    .header(Row::new(["SEQ", "TIME (UTC)", "ACTOR", "ACTION", "SECRETS"]).bold())
    .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}

fn draw_detail(frame: &mut Frame, app: &App, area: Rect) {
    let Some(row) = app.audit.selected_row() else {
        return;
    };
    let seq = row.seq.map_or_else(
        || "recorded here, not shipped yet".to_owned(),
        |s| s.to_string(),
    );
    let actor = match row.actor {
        Some(id) => format!(
            "{} ({id})",
            actor(app, Some(id), row.actor_email.as_deref())
        ),
        None => "the server".to_owned(),
    };
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::raw(format!("{name:<8}")).dim(),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        field("event", format!("#{seq} · {}", row.action)),
        field("at", row.at.clone()),
        field("actor", actor),
    ];
    if let Some(target) = &row.target {
        lines.push(field("target", target.clone()));
    }
    lines.push(field("details", row.details.clone()));
    lines.push(field("id", row.event_id.to_string()));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Detail ")),
        area,
    );
}
