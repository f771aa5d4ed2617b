//! Popups over the screen: help, unlock, inputs, role choice,
//! confirmations and the one-time invite code.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::{App, InputKind, Popup, ROLES, RoleFor};

const HELP: &[(&str, &str)] = &[
    (
        "tab / shift-tab, 1-4",
        "next / previous screen, or go to one",
    ),
    ("↑ ↓  j k  PgUp PgDn  g G", "move"),
    ("t", "next team"),
    ("u / L", "unlock / lock the agent"),
    ("ctrl-r", "refresh"),
    ("q  esc  ctrl-c", "quit"),
    ("Secrets", ""),
    ("  ⏎ / ← →", "open an environment, switch panes"),
    ("  ⏎ or space", "reveal or hide the value (audited)"),
    ("  c", "copy the value to the clipboard (audited)"),
    ("  /", "search names"),
    ("Team (admins)", ""),
    ("  i  r  x", "invite, change role, remove"),
    ("  x on an invite", "revoke it (its code admits no one)"),
    ("  R  a", "rotate the key, admit newcomers"),
    ("Audit", ""),
    ("  / or f", "filter by action: secret: actor: since: until:"),
    ("  c", "clear the filter"),
];

/// A rectangle of `width` × `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [middle] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    middle
}

fn show(frame: &mut Frame, title: &str, lines: Vec<Line<'_>>, width: u16) {
    // Room for every line as wrapped inside the borders.
    let inner = usize::from(width.min(frame.area().width).saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let height = u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2);
    let area = centered(frame.area(), width, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(format!(" {title} "))
                .border_style(Style::new().fg(Color::Cyan)),
        ),
        area,
    );
}

fn keys_line(text: &str) -> Line<'static> {
    Line::from(text.to_owned()).dim()
}

pub fn draw(frame: &mut Frame, app: &App) {
    let Some(popup) = &app.popup else {
        return;
    };
    match popup {
        Popup::Help => {
            let lines = HELP
                .iter()
                .map(|(keys, what)| {
                    if what.is_empty() {
                        Line::from(keys.to_string()).bold()
                    } else {
                        Line::from(vec![
                            Span::raw(format!("{keys:<26}")).fg(Color::Cyan),
                            Span::raw(what.to_string()),
                        ])
                    }
                })
                .collect();
            show(frame, "Keys", lines, 76);
        }
        Popup::Unlock { password } => {
            // One dot per character, as password fields do; never the text.
            let dots = "•".repeat(password.expose().chars().count());
            show(
                frame,
                "Unlock",
                vec![
                    Line::from("The agent is locked. Your account password:"),
                    Line::from(vec![Span::raw(dots), Span::raw("▏")]),
                    keys_line("⏎ unlock · esc cancel"),
                ],
                50,
            );
        }
        Popup::Input { kind, text, .. } => {
            let (title, prompt) = match kind {
                InputKind::Search => ("Search", "Names containing:"),
                InputKind::AuditFilter => (
                    "Filter",
                    "action:decrypt secret:NAME actor:EMAIL since:2d until:2026-11-01",
                ),
                InputKind::InviteEmail => ("Invite", "Email of the person to invite:"),
            };
            show(
                frame,
                title,
                vec![
                    Line::from(prompt).dim(),
                    Line::from(format!("{text}▏")),
                    keys_line("⏎ ok · esc cancel"),
                ],
                66,
            );
        }
        Popup::Role { target, choice } => {
            let who = match target {
                RoleFor::Invite(email) | RoleFor::Member { email, .. } => email.clone(),
            };
            let mut lines = vec![Line::from(format!("Role for {who}:"))];
            lines.extend(ROLES.iter().enumerate().map(|(i, role)| {
                let line = Line::from(format!("  {role}"));
                if i == *choice { line.reversed() } else { line }
            }));
            lines.push(keys_line("↑↓ choose · ⏎ ok · esc cancel"));
            show(frame, "Role", lines, 50);
        }
        Popup::Confirm { question, .. } => show(
            frame,
            "Confirm",
            vec![
                Line::from(question.clone()),
                Line::from(""),
                keys_line("y yes · n no"),
            ],
            60,
        ),
        Popup::InviteCode {
            email,
            code,
            copied,
        } => {
            let code = Line::from(code.expose()).bold().fg(Color::Yellow);
            // Wide enough for the code on one line inside the borders: a
            // wrapped code would be copied by hand with a break in it.
            let needed = u16::try_from(code.width())
                .unwrap_or(u16::MAX)
                .saturating_add(2);
            let mut lines = vec![
                Line::from(format!(
                    "For {email}; shown once, hand it over out of band:"
                )),
                code,
            ];
            if frame.area().width < needed {
                lines.push(
                    Line::from(format!(
                        "The terminal is too narrow for the code on one line: widen it to {needed} columns, or press c to copy it."
                    ))
                    .fg(Color::Red),
                );
            }
            lines.push(Line::from(
                "They run `envv team join CODE`; an admin's agent then grants the key.",
            ));
            if *copied {
                lines.push(Line::from("Copied to the clipboard.").fg(Color::Green));
            }
            lines.push(keys_line("c copy · ⏎ or esc closes"));
            show(frame, "Invite code", lines, needed.max(70));
        }
        Popup::Exposure(report) => show(frame, "Change all of these", exposure_lines(report), 76),
    }
}

/// Every secret a removed member could read: all of them are to change,
/// the ones the trail shows they decrypted marked.
fn exposure_lines(report: &proto_ipc::ExposureReport) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(format!(
        "{} held the key of every epoch up to {}: every value below was readable to them. \
         Change all of these (* = the audit trail shows they decrypted it):",
        report.email, report.last_epoch
    ))];
    for secret in &report.secrets {
        let envs: Vec<&str> = secret
            .envs
            .iter()
            .map(|e| e.as_deref().unwrap_or("default"))
            .collect();
        let mark = if secret.decrypted { " *" } else { "" };
        let line = Line::from(format!("  {}  ({}){mark}", secret.name, envs.join(", ")));
        lines.push(if secret.decrypted { line.bold() } else { line });
    }
    for name in &report.decrypted_elsewhere {
        lines.push(Line::from(format!("  {name}  (in a file not here) *")).bold());
    }
    if report.secrets.is_empty() && report.decrypted_elsewhere.is_empty() {
        lines.push(Line::from("  no file here holds a secret sealed at an epoch they held").dim());
    }
    let looked: Vec<String> = report
        .projects
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    lines.push(
        Line::from(if looked.is_empty() {
            "No project of this team is known here: check its files elsewhere.".to_owned()
        } else {
            format!("Looked at: {}", looked.join(", "))
        })
        .dim(),
    );
    if !report.later.is_empty() {
        lines.push(
            Line::from(format!(
                "{} file(s) were re-sealed since at a later epoch; the values they held before were readable too.",
                report.later.len()
            ))
            .dim(),
        );
    }
    if let Some(why) = &report.trail_error {
        lines.push(Line::from(format!("The audit trail could not be read: {why}")).dim());
    }
    lines.push(keys_line("⏎ or esc closes"));
    lines
}
