//! `GET /console/teams`: every team, searchable and sortable through the
//! query string (`?q=acme&sort=seats&order=desc`), so a view can be
//! bookmarked and needs no script.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Failure, day, minute, page, plan_label};
use super::session::Operator;
use super::{Console, Page};
use crate::store::{self, TeamSummary};

/// The longest search the page takes.
const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

/// The columns a list sorts by: query name, heading.
const COLUMNS: [(&str, &str); 7] = [
    ("name", "Team"),
    ("plan", "Plan"),
    ("seats", "Seats"),
    ("secrets", "Secrets"),
    ("events", "Events 30d"),
    ("created", "Created"),
    ("activity", "Last activity"),
];

fn sort(teams: &mut [TeamSummary], by: &str) {
    match by {
        "name" => teams.sort_by_key(|t| t.name.to_lowercase()),
        "plan" => teams.sort_by_key(|t| t.plan.as_str()),
        "seats" => teams.sort_by_key(|t| t.seats),
        "secrets" => teams.sort_by_key(|t| t.secrets),
        "events" => teams.sort_by_key(|t| t.events_30d),
        "activity" => teams.sort_by_key(|t| t.last_activity),
        _ => teams.sort_by_key(|t| t.created_at),
    }
}

/// Whether the team matches a search: its name, id or billing email
/// contains the text, ignoring case.
fn matches(team: &TeamSummary, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    team.name.to_lowercase().contains(&needle)
        || team.id.to_string().contains(&needle)
        || team
            .billing_email
            .as_deref()
            .is_some_and(|e| e.to_lowercase().contains(&needle))
}

/// `?q=…&sort=…&order=…`, percent-encoded.
fn link(q: &str, sort: &str, order: &str) -> String {
    let mut out = String::from("/console/teams?");
    if !q.is_empty() {
        out.push_str("q=");
        out.extend(url_escape(q));
        out.push('&');
    }
    out.push_str(&format!("sort={sort}&order={order}"));
    out
}

fn url_escape(s: &str) -> impl Iterator<Item = String> + '_ {
    s.bytes().map(|b| match b {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
            (b as char).to_string()
        }
        _ => format!("%{b:02X}"),
    })
}

pub async fn list(
    State(console): State<Console>,
    operator: Operator,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let Query(query) = query.map_err(|_| Failure::BadRequest("malformed query string".into()))?;
    let q = query.q.unwrap_or_default();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Failure::BadRequest(format!(
            "a search is at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let q = q.trim().to_owned();
    let by = query
        .sort
        .filter(|s| COLUMNS.iter().any(|(c, _)| c == s))
        .unwrap_or_else(|| "created".into());
    let descending = query.order.as_deref() == Some("desc");
    let mut teams = console.app.store.team_summaries(store::now()).await?;
    let total = teams.len();
    teams.retain(|t| q.is_empty() || matches(t, &q));
    sort(&mut teams, &by);
    if descending {
        teams.reverse();
    }
    let body = html! {
        h1 { "Teams" }
        form.search method="get" action="/console/teams" {
            input type="search" name="q" value=(q) placeholder="Name, id or billing email" aria-label="Search teams";
            input type="hidden" name="sort" value=(by);
            input type="hidden" name="order" value=(if descending { "desc" } else { "asc" });
            button type="submit" { "Search" }
            @if !q.is_empty() { a.clear href="/console/teams" { "Clear" } }
        }
        p.count { (teams.len()) " of " (total) " teams" }
        (table(&teams, &q, &by, descending))
    };
    Ok(page("Teams", Some(&operator), body).into_response())
}

fn table(teams: &[TeamSummary], q: &str, by: &str, descending: bool) -> Markup {
    html! {
        table.teams {
            thead { tr {
                @for (key, heading) in COLUMNS {
                    @let active = key == by;
                    @let next = if active && !descending { "desc" } else { "asc" };
                    th.sorted[active] {
                        a href=(link(q, key, next)) {
                            (heading)
                            @if active { (if descending { " ▼" } else { " ▲" }) }
                        }
                    }
                }
            } }
            tbody {
                @for t in teams {
                    tr {
                        td { a href={ "/console/teams/" (t.id) } { (t.name) } }
                        td {
                            span.plan { (plan_label(t.plan)) }
                            @if let Some(deal) = t.deal {
                                br; small { "until " (day(deal.until)) ", then " (plan_label(deal.then)) }
                            }
                        }
                        td.num { (t.seats) }
                        td.num { (t.secrets) }
                        td.num { (t.events_30d) }
                        td { (day(t.created_at)) }
                        td { (t.last_activity.map_or_else(|| "—".into(), minute)) }
                    }
                }
                @if teams.is_empty() { tr { td.empty colspan="7" { "No team matches." } } }
            }
        }
    }
}
