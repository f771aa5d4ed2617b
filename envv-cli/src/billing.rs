//! `envv usage` and `envv billing`: the team's plan, limits, consumption and
//! invoice preview, and setting the plan (owners).

use std::io::{self, BufRead, IsTerminal, Read};

use proto_ipc::{Plan, Request, Response};

use crate::error::{Failure, exit};
use crate::out::outln;
use crate::team::{self, Prefer};
use crate::{ask, cli::TeamArg, unexpected};

pub fn usage(team: &TeamArg, json: bool) -> Result<(), Failure> {
    let team = team::resolve(team, Prefer::Current)?;
    print_report(ask(&Request::Usage { team })?, json)
}

/// Changes what the team pays, so it asks first (`--yes` for scripts).
pub fn set(
    team: &TeamArg,
    plan: Plan,
    billing_email: String,
    yes: bool,
    json: bool,
) -> Result<(), Failure> {
    let team = team::resolve(team, Prefer::Current)?;
    if !yes {
        let Response::Usage(now) = ask(&Request::Usage { team })? else {
            return Err(unexpected("usage"));
        };
        let name = team::name_of(team);
        let question = if now.plan == plan {
            format!(
                "keep team {name} on the {} plan and send its invoices to {billing_email}?",
                plan.as_str()
            )
        } else {
            format!(
                "move team {name} from the {} plan to the {} plan, invoices to {billing_email}?",
                now.plan.as_str(),
                plan.as_str()
            )
        };
        confirm(&question)?;
    }
    print_report(
        ask(&Request::SetBilling {
            team,
            plan,
            billing_email,
        })?,
        json,
    )
}

fn confirm(question: &str) -> Result<(), Failure> {
    if !io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{question} Not a terminal, so nothing changed: pass `--yes` to confirm"
        )));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    io::stdin()
        .lock()
        .take(1024)
        .read_line(&mut answer)
        .map_err(|e| Failure::new(exit::ERROR, format!("could not read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::new(exit::ERROR, "nothing changed"))
    }
}

fn print_report(response: Response, json: bool) -> Result<(), Failure> {
    let Response::Usage(report) = response else {
        return Err(unexpected("usage"));
    };
    if json {
        outln!("{}", serde_json::to_string(&report).unwrap_or_default());
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
        Some(deal) => outln!(
            "plan:     {} until {}, then {}",
            report.plan.as_str(),
            deal.until.format("%Y-%m-%d"),
            deal.then.as_str()
        ),
        None => outln!("plan:     {}", report.plan.as_str()),
    }
    if let Some(warning) = report.deal_warning() {
        outln!("warning:  {warning}");
    }
    if let Some(email) = &report.billing_email {
        outln!("billing:  {email}");
    }
    outln!(
        "seats:    {} (limit {})",
        report.seats,
        limit(report.limits.max_members)
    );
    outln!(
        "secrets:  {} (limit {})",
        report.secrets,
        limit(report.limits.max_secrets)
    );
    outln!(
        "invoice:  {} seats, this month {total}{period}",
        invoice.seats
    );
    if !report.usage.is_empty() {
        outln!("usage (last 30 days):");
        for day in &report.usage {
            outln!("  {}  {:<10} {}", day.day, day.action, day.count);
        }
    }
    Ok(())
}
