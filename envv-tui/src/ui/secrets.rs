//! Projects and environments on the left, names with masked values on the
//! right.

use std::path::Path;

use envv_core::project::env_file_name;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, List, ListItem, ListState, Row, Table, TableState};
use zeroize::Zeroizing;

use super::{not_ready, notice};
use crate::app::{App, Loadable};
use crate::secrets::Pane;

const MASK: &str = "••••••••";

pub fn draw(frame: &mut Frame, app: &mut App, area: Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(area);
    let s = &app.secrets;
    if not_ready(frame, area, "Projects", &s.projects) {
        return;
    }
    if s.envs().is_empty() {
        notice(
            frame,
            area,
            "Projects",
            "No projects yet. Run `envv init` in a project's directory, then `envv set KEY value`; it shows here.",
            false,
        );
        return;
    }
    draw_envs(frame, app, left);
    draw_names(frame, app, right);
}

fn shorten(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

fn draw_envs(frame: &mut Frame, app: &App, area: Rect) {
    let s = &app.secrets;
    let Loadable::Ready(projects) = &s.projects else {
        return;
    };
    let mut items = Vec::new();
    let mut selected_line = None;
    let mut index = 0;
    for project in projects {
        items.push(ListItem::new(
            Line::from(shorten(&project.root, app.home.as_deref())).bold(),
        ));
        for env in &project.envs {
            if index == s.env_selected {
                selected_line = Some(items.len());
            }
            items.push(ListItem::new(format!(
                "  {}",
                env_file_name(env.as_deref())
            )));
            index += 1;
        }
    }
    let focused = s.focus == Pane::Envs;
    let list = List::new(items)
        .block(block("Projects", focused))
        .highlight_style(if focused {
            Style::new().reversed()
        } else {
            Style::new().bold().underlined()
        });
    let mut state = ListState::default().with_selected(selected_line);
    frame.render_stateful_widget(list, area, &mut state);
}

fn block(title: &str, focused: bool) -> Block<'static> {
    let block = Block::bordered().title(format!(" {title} "));
    if focused {
        block.border_style(Style::new().fg(Color::Cyan))
    } else {
        block
    }
}

fn draw_names(frame: &mut Frame, app: &App, area: Rect) {
    let s = &app.secrets;
    let focused = s.focus == Pane::Names;
    let env = s
        .selected_env()
        .map(|at| env_file_name(at.env.as_deref()))
        .unwrap_or_default();
    let mut title = format!("Secrets · {env}");
    if !s.search.is_empty() {
        title.push_str(&format!(" · /{}", s.search));
    }
    if not_ready(frame, area, &title, &s.names) {
        return;
    }
    let names = s.visible_names();
    if names.is_empty() {
        let text = if s.search.is_empty() {
            "No secrets in this environment yet. Add one with `envv set KEY` in the project."
        } else {
            "No name matches the search; press / to change it."
        };
        notice(frame, area, &title, text, false);
        return;
    }
    // The value as shown: control characters (a multi-line value) would
    // break the row. Wiped once this frame is drawn.
    let shown = s.revealed.as_ref().map(|(name, value)| {
        let text: String = value
            .expose()
            .chars()
            .map(|c| if c.is_control() { '·' } else { c })
            .collect();
        (name.as_str(), Zeroizing::new(text))
    });
    let rows = names.iter().map(|name| {
        let value = match &shown {
            Some((shown, text)) if shown == name => Line::from(text.as_str()).fg(Color::Yellow),
            _ => Line::from(MASK).dim(),
        };
        Row::new([Line::from(*name), value])
    });
    let table = Table::new(
        rows,
        [Constraint::Percentage(45), Constraint::Percentage(55)],
    )
    .header(Row::new(["NAME", "VALUE"]).bold())
    .block(block(&format!("{title} ({})", names.len()), focused))
    .row_highlight_style(if focused {
        Style::new().reversed()
    } else {
        Style::new().bold()
    });
    let mut state = TableState::default().with_selected(Some(s.name_selected));
    frame.render_stateful_widget(table, area, &mut state);
}
