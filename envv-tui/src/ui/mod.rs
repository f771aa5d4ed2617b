//! Drawing: one function per screen, plus the frame around them (tabs,
//! message line, status bar) and the popups. Everything is drawn from
//! [`App`]; only the audit list's scroll position is written back.

mod audit;
mod plan;
mod popup;
mod secrets;
mod team;

use chrono::{DateTime, Utc};
use proto_ipc::Mode;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs, Wrap};

use crate::app::{App, Loadable, Screen, Tone};

pub fn draw(frame: &mut Frame, app: &mut App) {
    let [tabs, body, hint, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_tabs(frame, app, tabs);
    match app.screen {
        Screen::Secrets => secrets::draw(frame, app, body),
        Screen::Team => team::draw(frame, app, body),
        Screen::Audit => audit::draw(frame, app, body),
        Screen::Plan => plan::draw(frame, app, body),
    }
    draw_hint(frame, app, hint);
    draw_status(frame, app, status);
    popup::draw(frame, app);
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let titles = Screen::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{} {}", i + 1, s.title()));
    let selected = Screen::ALL.iter().position(|s| *s == app.screen);
    let [left, right] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(12)]).areas(area);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(Style::new().reversed().bold())
            .divider("│"),
        left,
    );
    frame.render_widget(
        Paragraph::new(Line::from("envv  ? help ").right_aligned()).dim(),
        right,
    );
}

fn draw_hint(frame: &mut Frame, app: &App, area: Rect) {
    let line = match &app.message {
        Some((Tone::Error, text)) => Line::from(format!(" {text}")).fg(Color::Red),
        Some((Tone::Info, text)) => Line::from(format!(" {text}")).fg(Color::Green),
        None => Line::from(format!(" {}", hints(app))).dim(),
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn hints(app: &App) -> &'static str {
    match app.screen {
        Screen::Secrets => "↑↓ move  ⏎ open/reveal  c copy  / search  tab next screen  q quit",
        Screen::Team if app.is_admin() => {
            "↑↓ move  i invite  r role  x remove  R rotate  a admit  t team"
        }
        Screen::Team => "↑↓ move  x leave (on yourself)  t team  q quit",
        Screen::Audit => "↑↓ PgUp PgDn g G move  / filter  c clear  t team  q quit",
        Screen::Plan => "t team  ctrl-r refresh  tab next screen  q quit",
    }
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans: Vec<Span> = Vec::new();
    let sep = || Span::raw(" │ ").dim();
    match (&app.agent_error, &app.status) {
        (Some(why), _) => {
            spans.push(
                Span::raw(" AGENT UNREACHABLE ")
                    .bold()
                    .bg(Color::Red)
                    .fg(Color::White),
            );
            spans.push(Span::raw(format!(" {why}")));
        }
        (None, None) => spans.push(Span::raw(" connecting to the agent…")),
        (None, Some(status)) => {
            if status.locked {
                spans.push(Span::raw(" LOCKED ").bold().bg(Color::Red).fg(Color::White));
                spans.push(Span::raw(" u unlocks"));
            } else {
                spans.push(
                    Span::raw(" UNLOCKED ")
                        .bold()
                        .bg(Color::Green)
                        .fg(Color::Black),
                );
                if let Some(idle) = status.idle_lock_in {
                    spans.push(Span::raw(format!(" locks in {}", duration(idle))));
                }
            }
            spans.push(sep());
            match (status.mode, status.online) {
                (Mode::Local, _) => spans.push(Span::raw("local, no server")),
                (Mode::Account, true) => spans.push(Span::raw("online").fg(Color::Green)),
                (Mode::Account, false) => spans.push(Span::raw("OFFLINE").fg(Color::Yellow).bold()),
            }
            if status.mode == Mode::Account {
                let synced = if status.online { "synced" } else { "last sync" };
                let sync = status.last_sync.as_deref().map_or_else(
                    || "not synced yet".to_owned(),
                    |at| format!("{synced} {}", ago(app.now, at)),
                );
                spans.push(Span::raw(format!(", {sync}")));
            }
            if let Some(team) = app.current_team() {
                spans.push(sep());
                spans.push(Span::raw(team.name.clone()).bold());
                spans.push(Span::raw(format!(" ({})", team.role)));
            }
            // Who is logged in, where there is room for it.
            if let Some(account) = &status.account
                && area.width >= 100
            {
                spans.push(sep());
                spans.push(Span::raw(account.email.clone()).dim());
            }
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// `9m`, `2h 5m`, `72h`: a span of time.
pub(crate) fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        _ if secs % 3600 < 60 => format!("{}h", secs / 3600),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}

/// `12s ago`, `3m ago`, `2d ago`.
pub(crate) fn ago(now: DateTime<Utc>, rfc3339: &str) -> String {
    let Ok(at) = DateTime::parse_from_rfc3339(rfc3339) else {
        return rfc3339.to_owned();
    };
    let secs = (now - at.with_timezone(&Utc)).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86400),
    }
}

/// A block with a sentence in it: loading, empty, locked, error.
fn notice(frame: &mut Frame, area: Rect, title: &str, text: &str, error: bool) {
    let body = Paragraph::new(text.to_owned())
        .wrap(Wrap { trim: true })
        .style(if error {
            Style::new().fg(Color::Red)
        } else {
            Style::new().dim()
        })
        .block(Block::bordered().title(format!(" {title} ")));
    frame.render_widget(body, area);
}

/// Draws the notice for anything but `Ready`, and says whether it did.
fn not_ready<T>(frame: &mut Frame, area: Rect, title: &str, data: &Loadable<T>) -> bool {
    match data {
        Loadable::Ready(_) => false,
        Loadable::Loading => {
            notice(frame, area, title, "Loading…", false);
            true
        }
        Loadable::Failed(why) => {
            notice(frame, area, title, why, true);
            true
        }
    }
}

/// The team screens' answer when this agent has no account.
fn no_team(frame: &mut Frame, app: &App, area: Rect, title: &str) -> bool {
    let local = app.status.as_ref().is_some_and(|s| s.mode == Mode::Local);
    let none = matches!(&app.teams, Loadable::Ready(t) if t.is_empty());
    if local {
        notice(
            frame,
            area,
            title,
            "This agent is in local mode: secrets use a personal key on this machine, with no team and no server. Run `envv auth signup` to share secrets with a team.",
            false,
        );
    } else if none {
        notice(
            frame,
            area,
            title,
            "You are in no team yet. Run `envv team create NAME`, or `envv team join CODE` with an invite code.",
            false,
        );
    } else if app.team.is_none() {
        // Still asking which teams there are, or why that failed (locked).
        return not_ready(frame, area, title, &app.teams);
    }
    local || none
}
