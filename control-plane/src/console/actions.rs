//! The console's only changes, each a confirmation page (GET, changes
//! nothing) and then a form post (same-origin, CSRF token, live session):
//! a team's plan (`/console/teams/{team}/plan`) and an account's lock or
//! unlock (`/console/accounts/{lock|unlock}`). Both run the `admin` CLI's
//! own functions, audited with the operator token's name.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use envv_api::Plan;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{Failure, day, page, plan_label};
use super::session::{ConsoleForm, Operator, SameOrigin};
use super::{Console, Page};
use crate::admin::{self, AdminError};
use crate::store::{self, AccountAction};

#[derive(Debug, Deserialize)]
pub struct PlanForm {
    csrf: Option<String>,
    plan: Option<String>,
    until: Option<String>,
    note: Option<String>,
}

fn plan_of(form: &PlanForm) -> Result<Plan, Failure> {
    form.plan
        .as_deref()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Failure::BadRequest("pick one of the plans".into()))
}

fn until_of(form: &PlanForm) -> Option<&str> {
    form.until
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
}

async fn team_of(
    console: &Console,
    team: Result<Path<Uuid>, PathRejection>,
) -> Result<store::TeamSummary, Failure> {
    let Path(team) = team.map_err(|_| Failure::NotFound("team"))?;
    match admin::find_team(console.app.store.as_ref(), &team.to_string(), store::now()).await {
        Ok(t) => Ok(t),
        Err(AdminError::NotFound(_)) => Err(Failure::NotFound("team")),
        Err(e) => Err(e.into()),
    }
}

/// `GET /console/teams/{team}/plan?plan=…&until=…&note=…`: what will
/// change, and the button that does it.
pub async fn confirm_plan(
    State(console): State<Console>,
    operator: Operator,
    team: Result<Path<Uuid>, PathRejection>,
    form: Result<Query<PlanForm>, QueryRejection>,
) -> Page {
    let Query(form) = form.map_err(|_| Failure::BadRequest("malformed query string".into()))?;
    let t = team_of(&console, team).await?;
    let plan = plan_of(&form)?;
    let (until, note) =
        admin::check_plan_change(plan, until_of(&form), form.note.as_deref(), store::now())?;
    let body = html! {
        section.confirm {
            h1 { "Change the plan of " (t.name) "?" }
            p { "From " strong { (plan_label(t.plan)) } " to " strong { (plan_label(plan)) }
                @if let Some(until) = until { " until " strong { (day(until)) } ", then the plan the team chose (or free)" }
                "." }
            @if let Some(note) = note { p { "Note: " em { (note) } } }
            p.hint { "This is audited under your name, " strong { (operator.name) } ", and takes effect at once." }
            form method="post" action={ "/console/teams/" (t.id) "/plan" } {
                input type="hidden" name="csrf" value=(operator.csrf);
                input type="hidden" name="plan" value=(plan.as_str());
                input type="hidden" name="until" value=(until_of(&form).unwrap_or(""));
                input type="hidden" name="note" value=(note.unwrap_or(""));
                button.danger #confirm type="submit" { "Change the plan" }
                a.cancel href={ "/console/teams/" (t.id) } { "Cancel" }
            }
        }
    };
    Ok(page("Confirm the plan change", Some(&operator), body).into_response())
}

/// `POST /console/teams/{team}/plan`: `admin plan`, as this operator.
pub async fn set_plan(
    State(console): State<Console>,
    _: SameOrigin,
    operator: Operator,
    team: Result<Path<Uuid>, PathRejection>,
    ConsoleForm(form): ConsoleForm<PlanForm>,
) -> Page {
    operator.check_csrf(form.csrf.as_deref())?;
    let t = team_of(&console, team).await?;
    let plan = plan_of(&form)?;
    let out = admin::set_plan(
        console.app.store.as_ref(),
        &t.id.to_string(),
        plan,
        until_of(&form),
        form.note.as_deref(),
        &operator.name,
        store::now(),
    )
    .await?;
    tracing::info!(operator = %operator.name, team = %t.id, plan = plan.as_str(), "console: plan changed");
    Ok(done(&operator, "Plan changed", &out, &t.id.to_string()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
    csrf: Option<String>,
    email: Option<String>,
    /// The team page to go back to.
    team: Option<Uuid>,
}

fn action_of(action: &str) -> Result<AccountAction, Failure> {
    match action {
        "lock" => Ok(AccountAction::Lock),
        "unlock" => Ok(AccountAction::Unlock),
        _ => Err(Failure::NotFound("account action")),
    }
}

fn email_of(form: &AccountForm) -> Result<&str, Failure> {
    form.email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty() && e.len() <= 320)
        .ok_or_else(|| Failure::BadRequest("name the account by its email".into()))
}

/// `GET /console/accounts/{lock|unlock}?email=…`: the confirmation.
pub async fn confirm_account(
    State(_): State<Console>,
    operator: Operator,
    Path(action): Path<String>,
    form: Result<Query<AccountForm>, QueryRejection>,
) -> Page {
    let Query(form) = form.map_err(|_| Failure::BadRequest("malformed query string".into()))?;
    let act = action_of(&action)?;
    let email = email_of(&form)?;
    let body = html! {
        section.confirm {
            h1 { (if act == AccountAction::Lock { "Lock " } else { "Unlock " }) (email) "?" }
            p { @if act == AccountAction::Lock {
                "They can no longer log in, and every session they have is revoked at once."
            } @else {
                "They can log in again; their failed-login count starts afresh."
            } }
            p.hint { "This is audited under your name, " strong { (operator.name) } "." }
            form method="post" action={ "/console/accounts/" (act.as_str()) } {
                input type="hidden" name="csrf" value=(operator.csrf);
                input type="hidden" name="email" value=(email);
                @if let Some(team) = form.team { input type="hidden" name="team" value=(team); }
                button.danger #confirm type="submit" { (if act == AccountAction::Lock { "Lock the account" } else { "Unlock the account" }) }
                @match form.team {
                    Some(team) => a.cancel href={ "/console/teams/" (team) } { "Cancel" },
                    None => a.cancel href="/console/teams" { "Cancel" },
                }
            }
        }
    };
    Ok(page("Confirm the account change", Some(&operator), body).into_response())
}

/// `POST /console/accounts/{lock|unlock}`: `admin account`, as this operator.
pub async fn account(
    State(console): State<Console>,
    _: SameOrigin,
    operator: Operator,
    Path(action): Path<String>,
    ConsoleForm(form): ConsoleForm<AccountForm>,
) -> Page {
    operator.check_csrf(form.csrf.as_deref())?;
    let act = action_of(&action)?;
    let email = email_of(&form)?;
    let out = admin::account(
        console.app.store.as_ref(),
        email,
        act,
        &operator.name,
        store::now(),
    )
    .await?;
    tracing::info!(operator = %operator.name, action = act.as_str(), "console: account changed");
    let back = form.team.map(|t| t.to_string()).unwrap_or_default();
    Ok(done(&operator, "Account changed", &out, &back).into_response())
}

/// The outcome of a change: the CLI's own words, and the way back.
fn done(operator: &Operator, title: &str, out: &str, team: &str) -> Markup {
    page(
        title,
        Some(operator),
        html! {
            section.done {
                h1 { (title) }
                @for line in out.lines() { p.result { (line) } }
                p { @if team.is_empty() { a href="/console/teams" { "Back to the teams" } }
                    @else { a href={ "/console/teams/" (team) } { "Back to the team" } } }
            }
        },
    )
}
