//! The team's plan: seats and secrets against its limits, the last 30
//! days of use, the invoice preview, and a deal's end with its warning
//! from 14 days before.

use std::collections::BTreeMap;

use envv_api::UsageReport;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, LineGauge, Paragraph, Sparkline, Wrap};

use super::{no_team, not_ready};
use crate::app::{App, Loadable};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    if no_team(frame, app, area, "Plan") || not_ready(frame, area, "Plan", &app.usage) {
        return;
    }
    let Loadable::Ready(report) = &app.usage else {
        return;
    };
    // Three lines and the borders, and the deal's line and its warning
    // (wrapped) if any.
    let width = usize::from(area.width.saturating_sub(2).max(1));
    let warning_lines = report
        .deal_warning()
        .map_or(0, |w| w.chars().count().div_ceil(width) + 1);
    let deal_lines =
        u16::from(report.deal.is_some()) + u16::try_from(warning_lines).unwrap_or(u16::MAX).min(6);
    let [plan, gauges, usage] = Layout::vertical([
        Constraint::Length(5 + deal_lines),
        Constraint::Length(4),
        Constraint::Min(4),
    ])
    .areas(area);
    draw_plan(frame, report, plan);
    draw_gauges(frame, report, gauges);
    draw_usage(frame, report, usage);
}

fn money(cents: u64, currency: &str) -> String {
    let symbol = if currency.eq_ignore_ascii_case("usd") {
        "$"
    } else {
        ""
    };
    format!("{symbol}{}.{:02}", cents / 100, cents % 100)
}

fn draw_plan(frame: &mut Frame, report: &UsageReport, area: Rect) {
    let invoice = &report.invoice_preview;
    let price = match (invoice.price_per_seat_cents, invoice.monthly_total_cents) {
        (Some(seat), Some(total)) => format!(
            "{} seats × {}; this month {} ({}, prorated by the day)",
            invoice.seats,
            money(u64::from(seat), &invoice.currency),
            money(total, &invoice.currency),
            invoice.currency.to_uppercase()
        ),
        _ => format!("{} seats, custom pricing", invoice.seats),
    };
    let field = |name: &str, value: Span<'static>| {
        Line::from(vec![Span::raw(format!("{name:<10}")).dim(), value])
    };
    let mut lines = vec![
        field(
            "plan",
            Span::raw(report.plan.as_str().replace('_', " ")).bold(),
        ),
        field(
            "billing",
            Span::raw(
                report
                    .billing_email
                    .clone()
                    .unwrap_or_else(|| "no billing contact (owners: envv billing)".into()),
            ),
        ),
        field("invoice", Span::raw(price)),
    ];
    if let Some(deal) = report.deal {
        lines.push(field(
            "deal",
            Span::raw(format!(
                "until {}, then {}",
                deal.until.format("%Y-%m-%d"),
                deal.then.as_str().replace('_', " ")
            )),
        ));
    }
    if let Some(warning) = report.deal_warning() {
        lines.push(Line::from(Span::raw(warning).fg(Color::Yellow)));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Plan ")),
        area,
    );
}

fn draw_gauges(frame: &mut Frame, report: &UsageReport, area: Rect) {
    let block = Block::bordered().title(" Limits ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [seats, secrets] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(inner);
    let limits = &report.limits;
    for (area, name, used, limit) in [
        (seats, "seats", report.seats, limits.max_members),
        (secrets, "secrets", report.secrets, limits.max_secrets),
    ] {
        let (ratio, label) = match limit {
            Some(max) if max > 0 => (
                (f64::from(used) / f64::from(max)).min(1.0),
                format!("{name:<8}{used} of {max}"),
            ),
            _ => (0.0, format!("{name:<8}{used}, no limit")),
        };
        let colour = if ratio >= 1.0 {
            Color::Red
        } else if ratio >= 0.8 {
            Color::Yellow
        } else {
            Color::Green
        };
        frame.render_widget(
            LineGauge::default()
                .ratio(ratio)
                .label(format!("{label:<24}"))
                .filled_style(Style::new().fg(colour)),
            area,
        );
    }
}

fn draw_usage(frame: &mut Frame, report: &UsageReport, area: Rect) {
    let mut per_day: BTreeMap<_, u64> = BTreeMap::new();
    let mut per_action: BTreeMap<&str, u64> = BTreeMap::new();
    for day in &report.usage {
        *per_day.entry(day.day).or_default() += day.count;
        *per_action.entry(day.action.as_str()).or_default() += day.count;
    }
    let totals = per_action
        .iter()
        .map(|(action, n)| format!("{action} {n}"))
        .collect::<Vec<_>>()
        .join(" · ");
    let title = format!(
        " Use, last 30 days: {} ",
        if totals.is_empty() { "none" } else { &totals }
    );
    let block = Block::bordered().title(title);
    if per_day.is_empty() {
        frame.render_widget(
            Paragraph::new("No use recorded in the last 30 days.")
                .dim()
                .block(block),
            area,
        );
        return;
    }
    let data: Vec<u64> = per_day.values().copied().collect();
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .style(Style::new().fg(Color::Cyan))
            .block(block),
        area,
    );
}
