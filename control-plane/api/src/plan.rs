//! Plans, their limits and the usage report.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Pro features, free, for a limited time: until the date of the
    /// operator's deal, or six months from the team's creation when the
    /// team started on it. Then the plan the team chose, or free.
    DesignPartner,
    Free,
    Starter,
    Pro,
    Enterprise,
}

/// How long a team that starts on the design partner plan keeps it, when
/// the operator set no end date.
pub const DESIGN_PARTNER_DAYS: i64 = 183;

/// How many days before a deal ends `envv usage` and the dashboard warn.
pub const DEAL_WARNING_DAYS: i64 = 14;

/// A plan's limits; `None` is unlimited (or, for prices, custom).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanLimits {
    pub max_members: Option<u32>,
    pub max_secrets: Option<u32>,
    pub audit_retention_days: Option<u32>,
    /// US cents per seat per month.
    pub price_per_seat_cents: Option<u32>,
}

impl Plan {
    pub const ALL: [Plan; 5] = [
        Plan::DesignPartner,
        Plan::Free,
        Plan::Starter,
        Plan::Pro,
        Plan::Enterprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::DesignPartner => "design_partner",
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The plan's limits. A design partner deal is Pro at no charge; when
    /// it ends is the deal's business ([`Deal`]).
    pub fn limits(self) -> PlanLimits {
        match self {
            Plan::Free => PlanLimits {
                max_members: Some(5),
                max_secrets: Some(50),
                audit_retention_days: Some(30),
                price_per_seat_cents: Some(0),
            },
            Plan::Starter => PlanLimits {
                max_members: Some(20),
                max_secrets: None,
                audit_retention_days: Some(90),
                price_per_seat_cents: Some(900),
            },
            Plan::Pro => PlanLimits {
                max_members: None,
                max_secrets: None,
                audit_retention_days: Some(365),
                price_per_seat_cents: Some(1900),
            },
            Plan::Enterprise => PlanLimits {
                max_members: None,
                max_secrets: None,
                audit_retention_days: None,
                price_per_seat_cents: None,
            },
            Plan::DesignPartner => PlanLimits {
                price_per_seat_cents: Some(0),
                ..Plan::Pro.limits()
            },
        }
    }

    /// Plans an owner may pick for their team; the others are set by the
    /// service's operator.
    pub fn owner_may_choose(self) -> bool {
        matches!(self, Plan::Free | Plan::Starter | Plan::Pro)
    }
}

/// A plan that ends by itself: at `until` the team moves to `then`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deal {
    pub until: DateTime<Utc>,
    pub then: Plan,
}

impl Deal {
    /// The warning shown from [`DEAL_WARNING_DAYS`] before the deal ends,
    /// naming the date, the plan that follows and its limits.
    pub fn warning(&self, plan: Plan, now: DateTime<Utc>) -> Option<String> {
        if now >= self.until || self.until - now > chrono::Duration::days(DEAL_WARNING_DAYS) {
            return None;
        }
        // Calendar days: a deal ending at tomorrow's midnight ends "in 1 day".
        let days = (self.until.date_naive() - now.date_naive()).num_days();
        let when = match days {
            0 => "today".to_owned(),
            1 => "in 1 day".to_owned(),
            n => format!("in {n} days"),
        };
        let limits = self.then.limits();
        let mut what = Vec::new();
        if let Some(n) = limits.max_members {
            what.push(format!("{n} members"));
        }
        if let Some(n) = limits.max_secrets {
            what.push(format!("{n} secrets"));
        }
        let limits = if what.is_empty() {
            String::new()
        } else {
            format!(" ({})", what.join(", "))
        };
        Some(format!(
            "The {plan} plan ends on {} ({when}); the team then moves to {}{limits}. \
             Nothing is deleted; over a limit, no new members or secrets can be added.",
            self.until.format("%Y-%m-%d"),
            self.then
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_deal_warns_from_fourteen_days_before_its_end() {
        let deal = Deal {
            until: at("2027-06-01T00:00:00Z"),
            then: Plan::Free,
        };
        assert_eq!(
            deal.warning(Plan::DesignPartner, at("2027-05-17T23:00:00Z")),
            None
        );
        assert_eq!(
            deal.warning(Plan::DesignPartner, at("2027-05-18T00:00:00Z"))
                .unwrap(),
            "The design_partner plan ends on 2027-06-01 (in 14 days); the team then moves to \
             free (5 members, 50 secrets). Nothing is deleted; over a limit, no new members or \
             secrets can be added."
        );
        let soon = deal
            .warning(Plan::DesignPartner, at("2027-05-31T18:00:00Z"))
            .unwrap();
        assert!(soon.contains("(in 1 day)"), "{soon}");
        assert_eq!(
            deal.warning(Plan::DesignPartner, at("2027-06-01T00:00:00Z")),
            None
        );
        let to_pro = Deal {
            then: Plan::Pro,
            ..deal
        };
        let text = to_pro
            .warning(Plan::Enterprise, at("2027-05-31T00:00:00Z"))
            .unwrap();
        assert!(text.contains("moves to pro. Nothing"), "{text}");
    }

    #[test]
    fn owners_choose_free_starter_or_pro() {
        let chosen: Vec<Plan> = Plan::ALL
            .into_iter()
            .filter(|p| p.owner_may_choose())
            .collect();
        assert_eq!(chosen, [Plan::Free, Plan::Starter, Plan::Pro]);
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Plan {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Plan::ALL.into_iter().find(|p| p.as_str() == s).ok_or(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingRequest {
    pub plan: Plan,
    pub billing_email: String,
}

/// Events of one type on one day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageDay {
    pub day: NaiveDate,
    pub action: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoicePreview {
    pub seats: u32,
    /// US cents; absent for custom (enterprise) pricing.
    pub price_per_seat_cents: Option<u32>,
    /// This month's invoice as it stands: the days so far as they were, the
    /// rest at today's seats and plan (see `docs/operations.md`,
    /// proration). The operator's invoice for the month is the same sum.
    pub monthly_total_cents: Option<u64>,
    pub currency: String,
    /// The month billed (first and last day, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_start: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<NaiveDate>,
    /// Seats held per day, summed over the month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat_days: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    pub plan: Plan,
    pub billing_email: Option<String>,
    /// Members now.
    pub seats: u32,
    pub limits: PlanLimits,
    /// The largest secret count a client last reported for a file.
    pub secrets: u32,
    pub usage: Vec<UsageDay>,
    pub invoice_preview: InvoicePreview,
    /// The deal in force, if the plan ends by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<Deal>,
}

impl UsageReport {
    /// The deal's warning, if it ends within [`DEAL_WARNING_DAYS`] of now.
    pub fn deal_warning(&self) -> Option<String> {
        self.deal?.warning(self.plan, Utc::now())
    }
}

/// `GET /teams/{id}/usage` date range (inclusive days, UTC); the last 30
/// days when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct UsageQuery {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}
