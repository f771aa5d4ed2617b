//! Plans, usage and the (manual) billing contact.

use axum::Json;
use axum::extract::State;
use chrono::Duration;
use envv_api::{BillingRequest, ErrorBody, InvoicePreview, UsageQuery, UsageReport};
use tracing::instrument;
use uuid::Uuid;

use crate::authz::Action;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthUser};
use crate::state::AppState;
use crate::store::{self, member_limit_message};
use crate::validate;

/// Longest date range one usage query covers.
const MAX_USAGE_DAYS: i64 = 366;

/// The team's plan, seats, limits, usage per day and event type, and what
/// this month's invoice would be (seats × price).
#[utoipa::path(get, path = "/teams/{team}/usage", tag = "billing",
    params(("team" = Uuid, Path), UsageQuery),
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn usage(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsageReport>> {
    state.authorize(team, caller.id, Action::ReadUsage).await?;
    let now = store::now();
    if let Some(from) = q.from {
        validate::plausible_date("from", from)?;
    }
    if let Some(to) = q.to {
        validate::plausible_date("to", to)?;
    }
    let to = q.to.unwrap_or(now.date_naive());
    let from = q.from.unwrap_or(to - Duration::days(29));
    if from > to || (to - from).num_days() >= MAX_USAGE_DAYS {
        return Err(ApiError::BadRequest(format!(
            "`from` must be on or before `to`, at most {MAX_USAGE_DAYS} days apart"
        )));
    }
    let info = state
        .store
        .plan_info(team)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    let usage = state.store.usage(team, from, to).await?;
    let limits = info.plan.limits(info.team_created, now);
    Ok(Json(UsageReport {
        plan: info.plan,
        billing_email: info.billing_email,
        seats: info.seats,
        limits,
        secrets: info.secret_count,
        usage,
        invoice_preview: InvoicePreview {
            seats: info.seats,
            price_per_seat_cents: limits.price_per_seat_cents,
            monthly_total_cents: limits
                .price_per_seat_cents
                .map(|p| u64::from(p) * u64::from(info.seats)),
            currency: "USD".into(),
        },
    }))
}

/// Sets the plan and billing contact (owners only), audited as `plan.change`.
/// A plan whose member limit the team is already over is refused.
#[utoipa::path(post, path = "/teams/{team}/billing", tag = "billing",
    params(("team" = Uuid, Path)),
    request_body = BillingRequest,
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody),
        (status = 402, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn set_billing(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiJson(req): ApiJson<BillingRequest>,
) -> ApiResult<Json<UsageReport>> {
    state
        .authorize(team, caller.id, Action::ManageBilling)
        .await?;
    validate::normalise_email(&req.billing_email)
        .map_err(|_| ApiError::BadRequest("`billing_email` is not a valid email address".into()))?;
    let now = store::now();
    let info = state
        .store
        .plan_info(team)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    if let Some(max) = req.plan.limits(info.team_created, now).max_members
        && info.seats > max
    {
        return Err(ApiError::PlanLimit(format!(
            "{}, and the team has {}; remove members first",
            member_limit_message(req.plan, max)
                .replace("; upgrade the team's plan to add more", ""),
            info.seats
        )));
    }
    state
        .store
        .set_plan(
            team,
            caller.id,
            req.plan,
            req.billing_email.trim().to_owned(),
            now,
        )
        .await?;
    usage(
        State(state),
        caller,
        ApiPath(team),
        ApiQuery(UsageQuery::default()),
    )
    .await
}
