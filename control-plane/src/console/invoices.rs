//! `GET /console/invoices?month=YYYY-MM`: one invoice line per team, and
//! `GET /console/invoices.csv?month=YYYY-MM`, byte for byte the output of
//! `admin invoices --month YYYY-MM --csv` (the same function makes both).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use maud::html;
use serde::Deserialize;

use super::layout::{Failure, page, plan_label};
use super::session::Operator;
use super::{Console, Page};
use crate::admin;
use crate::invoice::{Month, dollars};
use crate::store;

#[derive(Debug, Default, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// The month asked for (at most `YYYY-MM`'s length), else this one.
fn month(query: Result<Query<MonthQuery>, impl Sized>) -> Result<Month, Failure> {
    let Query(query) = query.map_err(|_| Failure::BadRequest("malformed query string".into()))?;
    match query
        .month
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        None => Ok(Month::of(store::now().date_naive())),
        Some(m) if m.len() > 7 => Err(Failure::BadRequest("give the month as YYYY-MM".into())),
        Some(m) => m.parse().map_err(Failure::BadRequest),
    }
}

pub async fn show(
    State(console): State<Console>,
    operator: Operator,
    query: Result<Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let month = month(query)?;
    let store = console.app.store.as_ref();
    let now = store::now();
    let lines = admin::invoice_lines(store, month, now).await?;
    let total: u64 = lines.iter().filter_map(|(_, b)| b.amount_cents).sum();
    let custom = lines
        .iter()
        .filter(|(_, b)| b.amount_cents.is_none())
        .count();
    let prev = month.first().pred_opt().map(Month::of);
    let next = month.last().succ_opt().map(Month::of);
    let body = html! {
        h1 { "Invoices for " (month) }
        div.toolbar {
            form.inline method="get" action="/console/invoices" {
                label { "Month " input type="month" name="month" value=(month.to_string()); }
                button type="submit" { "Show" }
            }
            @if let Some(prev) = prev { a href={ "/console/invoices?month=" (prev) } { "← " (prev) } }
            @if let Some(next) = next { a href={ "/console/invoices?month=" (next) } { (next) " →" } }
            a.button #csv href={ "/console/invoices.csv?month=" (month) } download={ "envv-invoices-" (month) ".csv" } { "Download CSV" }
        }
        @if month.last() >= now.date_naive() {
            p.hint { "The month is not over: the rest of it is counted at today's seats." }
        }
        table.invoices {
            thead { tr { th { "Team" } th { "Plan" } th { "Billable seats" } th { "Seat-days" } th { "Amount" } th { "Period" } } }
            tbody {
                @for (t, bill) in &lines {
                    tr {
                        td { a href={ "/console/teams/" (t.id) } { (t.name) } }
                        td { @for (i, p) in bill.plans.iter().enumerate() { @if i > 0 { " + " } (plan_label(*p)) } }
                        td.num { (bill.peak_seats) }
                        td.num { (bill.seat_days) }
                        td.num { (bill.amount_cents.map_or_else(|| "custom".into(), |c| format!("{} {}", dollars(c), bill.currency))) }
                        td { (bill.period_start) " to " (bill.period_end) }
                    }
                }
                @if lines.is_empty() { tr { td.empty colspan="6" { "No team existed in " (month) "." } } }
            }
            tfoot { tr {
                th colspan="4" { (lines.len()) " invoices" @if custom > 0 { ", " (custom) " on custom pricing" } }
                th.num { (dollars(total)) " USD" }
                th {}
            } }
        }
    };
    Ok(page(&format!("Invoices {month}"), Some(&operator), body).into_response())
}

/// The CSV of `admin invoices --csv`, as a download.
pub async fn csv(
    State(console): State<Console>,
    _: Operator,
    query: Result<Query<MonthQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let month = month(query)?;
    let text = admin::invoices(
        console.app.store.as_ref(),
        &month.to_string(),
        true,
        store::now(),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"envv-invoices-{month}.csv\""),
            ),
        ],
        text,
    )
        .into_response())
}
