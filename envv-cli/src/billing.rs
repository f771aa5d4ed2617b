//! `envv usage` and `envv billing`: the team's plan, limits, consumption and
//! invoice preview, and setting the plan (owners).

use proto_ipc::{Plan, Request, Response};

use crate::error::Failure;
use crate::team::{self, Prefer};
use crate::{ask, cli::TeamArg, unexpected};

pub fn usage(team: &TeamArg, json: bool) -> Result<(), Failure> {
    let team = team::resolve(team, Prefer::Current)?;
    print_report(ask(&Request::Usage { team })?, json)
}

pub fn set(team: &TeamArg, plan: Plan, billing_email: String, json: bool) -> Result<(), Failure> {
    let team = team::resolve(team, Prefer::Current)?;
    print_report(
        ask(&Request::SetBilling {
            team,
            plan,
            billing_email,
        })?,
        json,
    )
}

fn print_report(response: Response, json: bool) -> Result<(), Failure> {
    let Response::Usage(report) = response else {
        return Err(unexpected("usage"));
    };
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        return Ok(());
    }
    let limit = |max: Option<u32>| max.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    let invoice = &report.invoice_preview;
    let total = match invoice.monthly_total_cents {
        Some(cents) => format!("{}.{:02} {}", cents / 100, cents % 100, invoice.currency),
        None => "custom pricing".to_owned(),
    };
    let period = match (invoice.period_start, invoice.period_end) {
        (Some(start), Some(end)) => format!(" ({start} to {end}, prorated by the day)"),
        _ => String::new(),
    };
    match &report.deal {
        Some(deal) => println!(
            "plan:     {} until {}, then {}",
            report.plan.as_str(),
            deal.until.format("%Y-%m-%d"),
            deal.then.as_str()
        ),
        None => println!("plan:     {}", report.plan.as_str()),
    }
    if let Some(warning) = report.deal_warning() {
        println!("warning:  {warning}");
    }
    if let Some(email) = &report.billing_email {
        println!("billing:  {email}");
    }
    println!(
        "seats:    {} (limit {})",
        report.seats,
        limit(report.limits.max_members)
    );
    println!(
        "secrets:  {} (limit {})",
        report.secrets,
        limit(report.limits.max_secrets)
    );
    println!(
        "invoice:  {} seats, this month {total}{period}",
        invoice.seats
    );
    if !report.usage.is_empty() {
        println!("usage (last 30 days):");
        for day in &report.usage {
            println!("  {}  {:<10} {}", day.day, day.action, day.count);
        }
    }
    Ok(())
}
