//! `GET /console/teams/{team}`: one team's plan and use, members by email
//! and role, plan history, a usage chart (inline SVG), this month's
//! invoice so far and the operator actions on it; with the forms that
//! lead to the plan and account confirmation pages.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use chrono::{Duration, NaiveDate};
use envv_api::{Plan, UsageDay};
use maud::{Markup, html};
use uuid::Uuid;

use super::layout::{Failure, day, minute, page, plan_label};
use super::session::Operator;
use super::{Console, Page};
use crate::admin;
use crate::invoice::{self, Month, dollars};
use crate::store::{self, AccountState};

/// Days the usage chart covers, up to today.
const CHART_DAYS: i64 = 30;

pub async fn show(
    State(console): State<Console>,
    operator: Operator,
    team: Result<Path<Uuid>, axum::extract::rejection::PathRejection>,
) -> Page {
    let Path(team) = team.map_err(|_| Failure::NotFound("team"))?;
    let store = console.app.store.as_ref();
    let now = store::now();
    let t = match admin::find_team(store, &team.to_string(), now).await {
        Ok(t) => t,
        Err(admin::AdminError::NotFound(_)) => return Err(Failure::NotFound("team")),
        Err(e) => return Err(e.into()),
    };
    let members = store.member_summaries(t.id).await?;
    let history = store.plan_changes(t.id).await?;
    let actions = store.operator_events(Some(t.id), 20).await?;
    let today = now.date_naive();
    let bill = invoice::invoice(store, t.id, Month::of(today), now).await?;
    let from = today - Duration::days(CHART_DAYS - 1);
    let usage = store.usage(t.id, from, today).await?;
    let body = html! {
        p.crumbs { a href="/console/teams" { "Teams" } " / " (t.name) }
        h1 { (t.name) }
        dl.facts {
            dt { "Plan" }
            dd {
                span.plan { (plan_label(t.plan)) }
                @if let Some(deal) = t.deal {
                    " until " (day(deal.until)) ", then " (plan_label(deal.then))
                }
            }
            dt { "Team id" } dd { code { (t.id) } }
            dt { "Billing email" } dd { (t.billing_email.as_deref().unwrap_or("—")) }
            dt { "Created" } dd { (minute(t.created_at)) }
            dt { "Use" } dd { (t.seats) " seats, " (t.secrets) " secrets, " (t.events_30d) " events in 30 days" }
            dt { "This month so far" } dd {
                (bill.amount_cents.map_or_else(|| "custom pricing".into(), |c| format!("{} {}", dollars(c), bill.currency)))
                " (" (bill.seat_days) " seat-days, " (bill.period_start) " to " (bill.period_end) ")"
            }
        }
        section {
            h2 { "Events per day, last " (CHART_DAYS) " days" }
            (chart(&usage, from, today))
        }
        section {
            h2 { "Change the plan" }
            form.inline method="get" action={ "/console/teams/" (t.id) "/plan" } {
                label { "Plan "
                    select name="plan" {
                        @for plan in Plan::ALL {
                            option value=(plan.as_str()) selected[plan == t.plan] { (plan_label(plan)) }
                        }
                    }
                }
                label { "Until " input type="date" name="until"; }
                label { "Note " input type="text" name="note" maxlength=(admin::MAX_NOTE_CHARS) placeholder="deal, contract…"; }
                button type="submit" { "Review the change…" }
            }
            p.hint { "Leave “until” empty for a plan that stays; with a date, the team moves back to the plan it chose (or free) that day. Design partner deals need a date." }
        }
        section {
            h2 { "Members" }
            table.members {
                thead { tr { th { "Email" } th { "Role" } th { "Joined" } th { "Account" } th {} } }
                tbody {
                    @for m in &members {
                        tr {
                            td { (m.email) }
                            td { (m.role.as_str()) }
                            td { (day(m.joined_at)) }
                            td { span class={ "state " (m.account.as_str()) } { (m.account.as_str()) } }
                            td {
                                @let action = match m.account {
                                    AccountState::Active => Some("lock"),
                                    AccountState::Locked => Some("unlock"),
                                    AccountState::Disabled => None,
                                };
                                @if let Some(action) = action {
                                    form.inline method="get" action={ "/console/accounts/" (action) } {
                                        input type="hidden" name="email" value=(m.email);
                                        input type="hidden" name="team" value=(t.id);
                                        button.small type="submit" { (action) "…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Plan history" }
            @if history.is_empty() { p.empty { "No change since the team was created." } }
            @else {
                table { thead { tr { th { "When" } th { "From" } th { "To" } th { "Until" } th { "By" } th { "Note" } } }
                    tbody { @for c in history.iter().rev() { tr {
                        td { (minute(c.changed_at)) } td { (plan_label(c.from)) } td { (plan_label(c.to)) }
                        td { (c.until.map_or_else(|| "—".into(), day)) } td { (c.changed_by) }
                        td { (c.note.as_deref().unwrap_or("")) }
                    } } }
                }
            }
        }
        section {
            h2 { "Operator actions" }
            @if actions.is_empty() { p.empty { "None." } }
            @else {
                table { thead { tr { th { "When" } th { "Action" } th { "Target" } th { "By" } } }
                    tbody { @for a in &actions { tr {
                        td { (minute(a.occurred_at)) } td { code { (a.action) } }
                        td { (a.target.as_deref().unwrap_or("")) }
                        td { (a.details["operator"].as_str().unwrap_or("(deal end)")) }
                    } } }
                }
            }
        }
    };
    Ok(page(&t.name, Some(&operator), body).into_response())
}

/// A bar per day of the team's audit events (every kind), `from` to `to`.
fn chart(usage: &[UsageDay], from: NaiveDate, to: NaiveDate) -> Markup {
    let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut d = from;
    while d <= to {
        per_day.insert(d, 0);
        d += Duration::days(1);
    }
    for u in usage {
        if let Some(n) = per_day.get_mut(&u.day) {
            *n += u.count;
        }
    }
    let max = per_day.values().copied().max().unwrap_or(0).max(1);
    let (left, top, width, height) = (44.0, 10.0, 600.0, 120.0);
    let slot = width / per_day.len().max(1) as f64;
    html! {
        svg.chart viewBox="0 0 660 160" role="img" aria-label="Events per day" {
            line.axis x1=(left) y1=(top + height) x2=(left + width) y2=(top + height) {}
            line.grid x1=(left) y1=(top) x2=(left + width) y2=(top) {}
            text.label x=(left - 6.0) y=(top + 4.0) text-anchor="end" { (max) }
            text.label x=(left - 6.0) y=(top + height) text-anchor="end" { "0" }
            @for (i, (day, n)) in per_day.iter().enumerate() {
                @let h = height * (*n as f64) / (max as f64);
                rect.bar x=(format!("{:.1}", left + slot * i as f64 + 2.0)) y=(format!("{:.1}", top + height - h))
                    width=(format!("{:.1}", (slot - 4.0).max(1.0))) height=(format!("{:.1}", h)) {
                    title { (day) ": " (n) " events" }
                }
            }
            text.label x=(left) y="152" { (from) }
            text.label x=(left + width) y="152" text-anchor="end" { (to) }
        }
    }
}
