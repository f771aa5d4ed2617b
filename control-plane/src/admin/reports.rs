//! The operator's reports: a month's invoices (a table, or CSV that the
//! console downloads as is) and weekly stats.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use envv_api::Plan;
use serde_json::json;

use super::{AdminError, cut, table};
use crate::invoice::{self, Invoice, Month, dollars};
use crate::store::{Store, TeamSummary};

pub(super) fn amount_text(bill: &Invoice) -> String {
    bill.amount_cents.map_or_else(
        || "custom".into(),
        |c| format!("{} {}", dollars(c), bill.currency),
    )
}

fn plans_text(plans: &[Plan]) -> String {
    plans
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// RFC 4180 quoting, and a `'` before what a spreadsheet would run as a
/// formula.
pub(super) fn csv_field(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}")
    } else {
        field.to_owned()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// The CSV header of `admin invoices --csv`.
pub const INVOICE_CSV_HEADER: &str = "team_id,team,billing_email,plan,billable_seats,seat_days,\
amount,amount_cents,currency,period_start,period_end";

/// One invoice per team that existed in the month, oldest team first:
/// the lines of `admin invoices` and of the console's invoices page.
pub async fn invoice_lines(
    store: &dyn Store,
    month: Month,
    now: DateTime<Utc>,
) -> Result<Vec<(TeamSummary, Invoice)>, AdminError> {
    let teams = store.team_summaries(now).await?;
    let mut lines = Vec::new();
    for t in teams
        .into_iter()
        .filter(|t| t.created_at.date_naive() <= month.last())
    {
        let bill = invoice::invoice(store, t.id, month, now).await?;
        lines.push((t, bill));
    }
    Ok(lines)
}

/// `admin invoices --month YYYY-MM [--csv]`: one line per team that
/// existed in the month.
pub async fn invoices(
    store: &dyn Store,
    month: &str,
    csv: bool,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let month: Month = month.parse().map_err(AdminError::Usage)?;
    let lines = invoice_lines(store, month, now).await?;
    if csv {
        let mut out = format!("{INVOICE_CSV_HEADER}\n");
        for (t, bill) in &lines {
            let fields = [
                t.id.to_string(),
                t.name.clone(),
                t.billing_email.clone().unwrap_or_default(),
                plans_text(&bill.plans),
                bill.peak_seats.to_string(),
                bill.seat_days.to_string(),
                bill.amount_cents.map_or_else(|| "custom".into(), dollars),
                bill.amount_cents
                    .map_or_else(String::new, |c| c.to_string()),
                bill.currency.to_owned(),
                bill.period_start.to_string(),
                bill.period_end.to_string(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        return Ok(out);
    }
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|(t, bill)| {
            vec![
                t.id.to_string(),
                cut(&t.name, 24),
                plans_text(&bill.plans),
                bill.peak_seats.to_string(),
                bill.seat_days.to_string(),
                amount_text(bill),
                format!("{} to {}", bill.period_start, bill.period_end),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "TEAM",
            "NAME",
            "PLAN",
            "SEATS",
            "SEAT-DAYS",
            "AMOUNT",
            "PERIOD",
        ],
        &rows,
    );
    let total: u64 = lines.iter().filter_map(|(_, b)| b.amount_cents).sum();
    let custom = lines
        .iter()
        .filter(|(_, b)| b.amount_cents.is_none())
        .count();
    let _ = write!(out, "{} invoices, {} USD", lines.len(), dollars(total));
    if custom > 0 {
        let _ = write!(out, " and {custom} on custom pricing");
    }
    if month.last() >= now.date_naive() {
        let _ = write!(
            out,
            " (the month is not over: the rest of it at today's seats)"
        );
    }
    out.push('\n');
    Ok(out)
}

/// `admin stats [--weeks N]`: signups, active teams and decrypts per week.
pub async fn stats(
    store: &dyn Store,
    weeks: u32,
    json: bool,
    now: DateTime<Utc>,
) -> Result<String, AdminError> {
    let weeks = store.weekly_stats(weeks, now).await?;
    if json {
        let list: Vec<_> = weeks
            .iter()
            .map(|w| {
                json!({
                    "week_start": w.week_start, "signups": w.signups,
                    "active_teams": w.active_teams, "decrypts": w.decrypts,
                })
            })
            .collect();
        return Ok(format!("{}\n", serde_json::Value::Array(list)));
    }
    let rows: Vec<Vec<String>> = weeks
        .iter()
        .map(|w| {
            vec![
                w.week_start.to_string(),
                w.signups.to_string(),
                w.active_teams.to_string(),
                w.decrypts.to_string(),
            ]
        })
        .collect();
    Ok(table(
        &["WEEK OF", "SIGNUPS", "ACTIVE TEAMS", "DECRYPTS"],
        &rows,
    ))
}
