//! Invoices: a team's month of seats and plans, prorated by the day. The
//! owners' preview (`GET /teams/{id}/usage`) and the operator's invoices
//! (`envv-control-plane admin invoices`) are both this one computation, so
//! they agree to the cent.
//!
//! Proration: a seat is billed for every day (UTC) it was held, even part
//! of it, at the price of the plan in force at that day's end; a day costs
//! one month's seat price divided by the month's days. The sum is rounded
//! to the cent once, at the end (half up). A month with the same seats and
//! plan throughout costs seats × price exactly. Days not yet over are
//! counted at today's seats and at the plan the schedule says (a deal
//! ending later in the month included): on the month's last day the
//! preview is the invoice.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use envv_api::Plan;
use uuid::Uuid;

use crate::store::{Store, StoreError};

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    pub fn of(day: NaiveDate) -> Month {
        Month {
            first: day.with_day(1).unwrap_or(day),
        }
    }

    pub fn first(self) -> NaiveDate {
        self.first
    }

    pub fn last(self) -> NaiveDate {
        self.first
            .checked_add_months(chrono::Months::new(1))
            .and_then(|d| d.pred_opt())
            .unwrap_or(self.first)
    }

    pub fn days(self) -> u32 {
        self.last().day()
    }
}

impl std::str::FromStr for Month {
    type Err = String;

    /// `YYYY-MM`, years 2000 to 9999.
    fn from_str(s: &str) -> Result<Month, String> {
        let bad = || format!("{s:?} is not a month: give YYYY-MM, e.g. 2027-01");
        if s.len() != 7 {
            return Err(bad());
        }
        let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").map_err(|_| bad())?;
        if !(2000..=9999).contains(&first.year()) {
            return Err(bad());
        }
        Ok(Month { first })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

/// One team's bill for one month.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invoice {
    pub team_id: Uuid,
    /// The plans billed in the month, in order (usually one).
    pub plans: Vec<Plan>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// The most seats held on one day of the month.
    pub peak_seats: u32,
    /// Seats held per day, summed over the month.
    pub seat_days: u64,
    /// US cents; `None` when a day of the month was on custom (enterprise)
    /// pricing.
    pub amount_cents: Option<u64>,
    pub currency: &'static str,
}

/// A day of the bill: the seats held and the plan in force at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillDay {
    pub seats: u32,
    pub plan: Plan,
}

/// The amount for a month of `days_in_month` days (see the module doc).
pub fn amount_cents(days: &[BillDay], days_in_month: u32) -> Option<u64> {
    let mut seat_day_cents: u64 = 0;
    for day in days {
        let price = day.plan.limits().price_per_seat_cents?;
        seat_day_cents += u64::from(day.seats) * u64::from(price);
    }
    let n = u64::from(days_in_month.max(1));
    Some((seat_day_cents + n / 2) / n)
}

/// The team's invoice for `month` as it stands at `now`.
pub async fn invoice(
    store: &dyn Store,
    team: Uuid,
    month: Month,
    now: DateTime<Utc>,
) -> Result<Invoice, StoreError> {
    let info = store.plan_info(team).await?.ok_or(StoreError::NotFound)?;
    let history = store.plan_changes(team).await?;
    let held = store
        .seat_days(team, month.first(), month.last(), now)
        .await?;
    let created = info.team_created.date_naive();
    let mut days = Vec::with_capacity(month.days() as usize);
    let mut day = month.first();
    while day <= month.last() {
        let seats = match held.iter().find(|(d, _)| *d == day) {
            // No seat before the team existed, whatever the counts say
            // (teams older than the counters have none for their start).
            _ if day < created => 0,
            Some((_, seats)) => *seats,
            // Not over yet: today's seats.
            None => info.seats,
        };
        days.push(BillDay {
            seats,
            plan: info.schedule.on(day, &history),
        });
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    let mut plans: Vec<Plan> = Vec::new();
    for d in days.iter().filter(|d| d.seats > 0) {
        if plans.last() != Some(&d.plan) {
            plans.push(d.plan);
        }
    }
    if plans.is_empty() {
        plans.push(info.schedule.on(month.last(), &history));
    }
    Ok(Invoice {
        team_id: team,
        plans,
        period_start: month.first(),
        period_end: month.last(),
        peak_seats: days.iter().map(|d| d.seats).max().unwrap_or(0),
        seat_days: days.iter().map(|d| u64::from(d.seats)).sum(),
        amount_cents: amount_cents(&days, month.days()),
        currency: "USD",
    })
}

/// Cents as `123.45`.
pub fn dollars(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(spec: &[(u32, Plan, usize)]) -> Vec<BillDay> {
        spec.iter()
            .flat_map(|&(seats, plan, n)| std::iter::repeat_n(BillDay { seats, plan }, n))
            .collect()
    }

    #[test]
    fn a_steady_month_costs_seats_times_price() {
        for n in [28, 30, 31] {
            assert_eq!(
                amount_cents(&days(&[(3, Plan::Pro, n as usize)]), n),
                Some(3 * 1900)
            );
        }
    }

    #[test]
    fn seats_and_plans_are_prorated_by_the_day_and_rounded_once() {
        // 30-day month: 10 days of 2 starter seats, 20 days of 3 pro seats.
        let bill = days(&[(2, Plan::Starter, 10), (3, Plan::Pro, 20)]);
        // (2*900*10 + 3*1900*20) / 30 = (18000 + 114000) / 30 = 4400.
        assert_eq!(amount_cents(&bill, 30), Some(4400));
        // One seat for one day of a 31-day month at 19 USD: 61.29 cents → 61.
        assert_eq!(amount_cents(&days(&[(1, Plan::Pro, 1)]), 31), Some(61));
        // Half a cent rounds up: 1 seat × 900 × 1 day / 8 days = 112.5.
        assert_eq!(amount_cents(&days(&[(1, Plan::Starter, 1)]), 8), Some(113));
        // A deal is free; a day on enterprise makes the month custom.
        assert_eq!(
            amount_cents(&days(&[(9, Plan::DesignPartner, 30)]), 30),
            Some(0)
        );
        assert_eq!(
            amount_cents(&days(&[(1, Plan::Pro, 29), (1, Plan::Enterprise, 1)]), 30),
            None
        );
    }

    #[test]
    fn months_parse_strictly() {
        let m: Month = "2027-02".parse().unwrap();
        assert_eq!(
            (m.first().to_string(), m.last().to_string(), m.days()),
            ("2027-02-01".into(), "2027-02-28".into(), 28)
        );
        assert_eq!("2028-02".parse::<Month>().unwrap().days(), 29);
        assert_eq!(m.to_string(), "2027-02");
        for bad in [
            "2027-13",
            "2027-2",
            "27-02",
            "2027-02-01",
            "",
            "1999-12",
            "abcd-ef",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}
