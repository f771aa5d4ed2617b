//! The operator's commands (`envv-control-plane admin …`): teams and their
//! use, plans and deals, accounts, invoices and weekly stats, read from and
//! written to the database `serve` uses. Each command returns its output as
//! text, so the format is tested as such; changes are audited with the
//! operator's name (see [`crate::store::OperatorStore`]).
//!
//! Team names and emails are users' input: control characters are shown as
//! `?` on a terminal, and CSV cells that a spreadsheet would run as a
//! formula are prefixed with `'`.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use envv_api::Plan;
use serde_json::json;
use uuid::Uuid;

use crate::invoice::{self, Month};
use crate::store::{AccountAction, AccountRefusal, Store, TeamSummary};

mod reports;
use reports::amount_text;
pub use reports::{invoice_lines, invoices, stats};

/// A failure the operator can act on; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Longest `--note` kept with a plan change.
pub const MAX_NOTE_CHARS: usize = 500;
/// Longest operator name.
pub const MAX_OPERATOR_CHARS: usize = 64;

/// The operator's name as given, or an error saying how to give one.
pub fn operator_name(given: Option<&str>) -> Result<String, AdminError> {
    let name = given
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::Usage(
            "who is the operator? pass --operator NAME (no USER in the environment)".into(),
        ));
    }
    if name.chars().count() > MAX_OPERATOR_CHARS || name.chars().any(char::is_control) {
        return Err(AdminError::Usage(format!(
            "--operator must be at most {MAX_OPERATOR_CHARS} characters, none of them control characters"
        )));
    }
    Ok(name.to_owned())
}

/// Users' text made safe for a terminal line.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// At most `max` characters, `…` marking a cut.
fn cut(s: &str, max: usize) -> String {
    let s = clean(s);
    if s.chars().count() <= max {
        s
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

fn minute(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

fn plan_text(team: &TeamSummary) -> String {
    match team.deal {
        Some(deal) => format!(
            "{} until {}, then {}",
            team.plan,
            day(deal.until),
            deal.then
        ),
        None => team.plan.to_string(),
    }
}

/// A table with a header row, columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let _ = write!(text, "{cell:<w$}");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn team_json(t: &TeamSummary) -> serde_json::Value {
    json!({
        "id": t.id,
        "name": t.name,
        "plan": t.plan,
        "deal": t.deal,
        "billing_email": t.billing_email,
        "seats": t.seats,
        "secrets": t.secrets,
        "events_30d": t.events_30d,
        "created_at": t.created_at,
        "last_activity": t.last_activity,
    })
}

/// `admin teams`: every team, oldest first.
pub async fn teams(
    store: &dyn Store,
    json: bool,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let teams = store.team_summaries(now).await?;
    if json {
        let list: Vec<_> = teams.iter().map(team_json).collect();
        return Ok(format!("{}\n", serde_json::Value::Array(list)));
    }
    let rows: Vec<Vec<String>> = teams
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                cut(&t.name, 24),
                plan_text(t),
                t.seats.to_string(),
                t.secrets.to_string(),
                t.events_30d.to_string(),
                day(t.created_at),
                t.last_activity.map_or_else(|| "-".into(), minute),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "TEAM",
            "NAME",
            "PLAN",
            "SEATS",
            "SECRETS",
            "EVENTS 30D",
            "CREATED",
            "LAST ACTIVITY",
        ],
        &rows,
    );
    let _ = writeln!(out, "{} teams", teams.len());
    Ok(out)
}

/// The team a command names: its id, or a name only one team has.
pub async fn find_team(
    store: &dyn Store,
    team: &str,
    now: DateTime<Utc>,
) -> Result<TeamSummary, AdminError> {
    let teams = store.team_summaries(now).await?;
    if let Ok(id) = team.parse::<Uuid>() {
        return teams
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| AdminError::NotFound(format!("no team has the id {id}")));
    }
    let mut named: Vec<TeamSummary> = teams.into_iter().filter(|t| t.name == team).collect();
    match named.len() {
        0 => Err(AdminError::NotFound(format!(
            "no team is named {:?}; `admin teams` lists them",
            clean(team)
        ))),
        1 => Ok(named.remove(0)),
        n => Err(AdminError::Usage(format!(
            "{n} teams are named {:?}; give the team's id (`admin teams` lists them)",
            clean(team)
        ))),
    }
}

/// `admin team TEAM`: one team's members, plan history, use, this month's
/// invoice so far and the operator's actions on it.
pub async fn team(
    store: &dyn Store,
    team: &str,
    json: bool,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let t = find_team(store, team, now).await?;
    let members = store.member_summaries(t.id).await?;
    let history = store.plan_changes(t.id).await?;
    let actions = store.operator_events(Some(t.id), 20).await?;
    let bill = invoice::invoice(store, t.id, Month::of(now.date_naive()), now).await?;
    if json {
        let value = json!({
            "team": team_json(&t),
            "members": members.iter().map(|m| json!({
                "email": m.email, "role": m.role, "joined_at": m.joined_at,
                "account": m.account.as_str(),
            })).collect::<Vec<_>>(),
            "plan_history": history.iter().map(|c| json!({
                "changed_at": c.changed_at, "from": c.from, "to": c.to, "until": c.until,
                "note": c.note, "changed_by": c.changed_by,
            })).collect::<Vec<_>>(),
            "invoice": bill,
            "operator_actions": actions.iter().map(|a| json!({
                "occurred_at": a.occurred_at, "action": a.action, "details": a.details,
            })).collect::<Vec<_>>(),
        });
        return Ok(format!("{value}\n"));
    }
    let mut out = String::new();
    let _ = writeln!(out, "team:          {} ({})", clean(&t.name), t.id);
    let _ = writeln!(out, "plan:          {}", plan_text(&t));
    let _ = writeln!(
        out,
        "billing email: {}",
        t.billing_email.as_deref().map_or_else(|| "-".into(), clean)
    );
    let _ = writeln!(out, "created:       {}", minute(t.created_at));
    let _ = writeln!(
        out,
        "use:           {} seats, {} secrets, {} events in 30 days, last activity {}",
        t.seats,
        t.secrets,
        t.events_30d,
        t.last_activity.map_or_else(|| "-".into(), minute)
    );
    let _ = writeln!(
        out,
        "this month:    {} ({} seat-days, {} to {})",
        amount_text(&bill),
        bill.seat_days,
        bill.period_start,
        bill.period_end
    );
    let _ = writeln!(out, "\nmembers:");
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                format!("  {}", m.role.as_str()),
                clean(&m.email),
                format!("joined {}", day(m.joined_at)),
                m.account.as_str().to_owned(),
            ]
        })
        .collect();
    out.push_str(&table(&["  ROLE", "EMAIL", "JOINED", "ACCOUNT"], &rows));
    let _ = writeln!(out, "\nplan history:");
    if history.is_empty() {
        let _ = writeln!(out, "  (no change since the team was created)");
    }
    for c in &history {
        let until = c
            .until
            .map(|u| format!(" until {}", day(u)))
            .unwrap_or_default();
        let note = c
            .note
            .as_deref()
            .map(|n| format!(" — {}", clean(n)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {} -> {}{until}  by {}{note}",
            minute(c.changed_at),
            c.from,
            c.to,
            clean(&c.changed_by)
        );
    }
    let _ = writeln!(out, "\noperator actions:");
    if actions.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for a in &actions {
        let operator = a.details["operator"].as_str().unwrap_or("(deal end)");
        let _ = writeln!(
            out,
            "  {}  {}  {}  by {}",
            minute(a.occurred_at),
            a.action,
            a.target.as_deref().map_or_else(String::new, clean),
            clean(operator)
        );
    }
    Ok(out)
}

/// A `--until` date: the deal ends at the start of that day, UTC, which
/// must be after today.
pub fn parse_until(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, AdminError> {
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        AdminError::Usage(format!(
            "--until {:?} is not a date: give YYYY-MM-DD",
            clean(s)
        ))
    })?;
    if date <= now.date_naive() {
        return Err(AdminError::Usage(format!(
            "--until {date} is not after today ({}): a deal ends on a later day",
            now.date_naive()
        )));
    }
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .ok_or_else(|| AdminError::Usage("--until is out of range".into()))
}

/// A plan change's end date and note, checked: a design partner deal
/// needs an end, a note is one short line (empty: none). The console's
/// confirmation page checks with this before it asks.
pub fn check_plan_change<'a>(
    plan: Plan,
    until: Option<&str>,
    note: Option<&'a str>,
    now: DateTime<Utc>,
) -> Result<(Option<DateTime<Utc>>, Option<&'a str>), AdminError> {
    let until = until.map(|u| parse_until(u, now)).transpose()?;
    if plan == Plan::DesignPartner && until.is_none() {
        return Err(AdminError::Usage(
            "a design partner deal needs an end: add --until YYYY-MM-DD".into(),
        ));
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = note
        && (note.chars().count() > MAX_NOTE_CHARS || note.chars().any(char::is_control))
    {
        return Err(AdminError::Usage(format!(
            "--note must be one line of at most {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok((until, note))
}

/// `admin plan TEAM PLAN [--until DATE] [--note TEXT]`.
pub async fn set_plan(
    store: &dyn Store,
    team: &str,
    plan: Plan,
    until: Option<&str>,
    note: Option<&str>,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let (until, note) = check_plan_change(plan, until, note, now)?;
    let t = find_team(store, team, now).await?;
    let change = store
        .operator_set_plan(t.id, plan, until, note.map(str::to_owned), operator, now)
        .await?;
    let after = store
        .team_summaries(now)
        .await?
        .into_iter()
        .find(|x| x.id == t.id)
        .ok_or_else(|| AdminError::NotFound(format!("team {} vanished", t.id)))?;
    let mut out = format!(
        "{} ({}): {} -> {}",
        clean(&t.name),
        t.id,
        change.from,
        plan_text(&after)
    );
    if let Some(max) = plan_limit_note(&after) {
        let _ = write!(out, "\n{max}");
    }
    out.push('\n');
    Ok(out)
}

/// A warning when the team is over the plan's member or secret limit.
fn plan_limit_note(t: &TeamSummary) -> Option<String> {
    let limits = t.plan.limits();
    let over_members = limits.max_members.is_some_and(|m| t.seats > m);
    let over_secrets = limits.max_secrets.is_some_and(|m| t.secrets > m);
    (over_members || over_secrets).then(|| {
        format!(
            "note: the team is over the {} plan's limits ({} seats, {} secrets): nothing is \
             deleted, but no member or secret can be added until it is back under them",
            t.plan, t.seats, t.secrets
        )
    })
}

/// `admin account EMAIL lock|unlock|disable`.
pub async fn account(
    store: &dyn Store,
    email: &str,
    action: AccountAction,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let email_norm = crate::validate::normalise_email(email)
        .map_err(|_| AdminError::Usage(format!("{:?} is not an email address", clean(email))))?;
    let change = match store
        .set_account_state(&email_norm, action, operator, now)
        .await?
    {
        Ok(change) => change,
        Err(AccountRefusal::NoSuchAccount) => {
            return Err(AdminError::NotFound(format!(
                "no account has the email {}",
                clean(&email_norm)
            )));
        }
        Err(AccountRefusal::Disabled) => {
            return Err(AdminError::Usage(format!(
                "{} is disabled for good; unlock does not undo disable",
                clean(&email_norm)
            )));
        }
    };
    let mut out = format!(
        "{}: {} -> {}",
        clean(&change.email),
        change.before.as_str(),
        change.after.as_str()
    );
    if action != AccountAction::Unlock {
        let _ = write!(out, "; {} sessions revoked", change.sessions_revoked);
    }
    out.push('\n');
    if action == AccountAction::Disable && !change.teams.is_empty() {
        let teams: Vec<String> = change.teams.iter().map(|t| clean(t)).collect();
        let _ = writeln!(
            out,
            "still a member of: {}; their owners should remove this person and rotate the team key",
            teams.join(", ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::reports::csv_field;
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn terminal_text_loses_control_characters() {
        assert_eq!(clean("a\x1b[31mb\n"), "a?[31mb?");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }

    #[test]
    fn until_is_a_later_day() {
        let now = "2027-01-10T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_until("2027-07-01", now).unwrap().to_rfc3339(),
            "2027-07-01T00:00:00+00:00"
        );
        for bad in ["2027-01-10", "2026-12-31", "tomorrow", "2027-02-30"] {
            assert!(parse_until(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn operator_names_are_one_short_line() {
        assert_eq!(operator_name(Some(" ops ")).unwrap(), "ops");
        assert!(operator_name(Some("a\nb")).is_err());
        assert!(operator_name(Some(&"x".repeat(65))).is_err());
    }
}
