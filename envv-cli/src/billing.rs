//! `envv usage` and `envv billing`: the team's plan, limits, consumption and
//! invoice preview, and setting the plan (owners).

use proto_ipc::{Request, Response};
use serde_json::Value;

use crate::error::Failure;
use crate::team::{self, Prefer};
use crate::{ask, cli::TeamArg, unexpected};

pub fn usage(team: &TeamArg, json: bool) -> Result<(), Failure> {
    let team = team::resolve(team, Prefer::Current)?;
    print_report(ask(&Request::Usage { team })?, json)
}

pub fn set(team: &TeamArg, plan: String, billing_email: String, json: bool) -> Result<(), Failure> {
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
    let Response::Report { json: text } = response else {
        return Err(unexpected("usage"));
    };
    let report: Value = serde_json::from_str(&text).map_err(|_| unexpected("usage"))?;
    if json {
        println!("{report}");
        return Ok(());
    }
    let limit = |key: &str| match &report["limits"][key] {
        Value::Null => "unlimited".to_owned(),
        v => v.to_string(),
    };
    let invoice = &report["invoice_preview"];
    let total = match invoice["monthly_total_cents"].as_u64() {
        Some(cents) => format!(
            "{}.{:02} {} a month",
            cents / 100,
            cents % 100,
            invoice["currency"].as_str().unwrap_or("USD")
        ),
        None => "custom pricing".to_owned(),
    };
    println!("plan:     {}", report["plan"].as_str().unwrap_or("?"));
    if let Some(email) = report["billing_email"].as_str() {
        println!("billing:  {email}");
    }
    println!(
        "seats:    {} (limit {})",
        report["seats"],
        limit("max_members")
    );
    println!(
        "secrets:  {} (limit {})",
        report["secrets"],
        limit("max_secrets")
    );
    println!("invoice:  {} seats, {total}", invoice["seats"]);
    if let Some(days) = report["usage"].as_array().filter(|d| !d.is_empty()) {
        println!("usage (last 30 days):");
        for day in days {
            println!(
                "  {}  {:<10} {}",
                day["day"].as_str().unwrap_or("?"),
                day["action"].as_str().unwrap_or("?"),
                day["count"]
            );
        }
    }
    Ok(())
}
