//! Plans, their limits and the usage report.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Pro features, free for six months from the team's creation; then
    /// the free plan's limits until an owner picks a plan.
    DesignPartner,
    Free,
    Starter,
    Pro,
    Enterprise,
}

/// How long a design partner team gets Pro features for free.
pub const DESIGN_PARTNER_DAYS: i64 = 183;

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

    /// The limits in force for a team on this plan, created at `team_created`.
    pub fn limits(self, team_created: DateTime<Utc>, now: DateTime<Utc>) -> PlanLimits {
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
            Plan::DesignPartner => {
                if now < team_created + chrono::Duration::days(DESIGN_PARTNER_DAYS) {
                    PlanLimits {
                        price_per_seat_cents: Some(0),
                        ..Plan::Pro.limits(team_created, now)
                    }
                } else {
                    Plan::Free.limits(team_created, now)
                }
            }
        }
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
    pub monthly_total_cents: Option<u64>,
    pub currency: String,
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
}

/// `GET /teams/{id}/usage` date range (inclusive days, UTC); the last 30
/// days when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct UsageQuery {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}
