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

/// The team's plan, seats, limits, usage per day and event type, the deal
/// in force if any, and this month's invoice as it stands (prorated by the
/// day, the same computation as the operator's invoices).
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
    let limits = info.plan.limits();
    let month = crate::invoice::Month::of(now.date_naive());
    let bill = crate::invoice::invoice(state.store.as_ref(), team, month, now).await?;
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
            monthly_total_cents: bill.amount_cents,
            currency: bill.currency.into(),
            period_start: Some(bill.period_start),
            period_end: Some(bill.period_end),
            seat_days: Some(bill.seat_days),
        },
        deal: info.schedule.running(now),
    }))
}

/// Sets the plan and billing contact (owners only), audited as `plan.change`.
/// Owners pick free, starter or pro; enterprise and design partner deals
/// are the operator's (403). A plan whose member limit the team is already
/// over is refused. During the operator's deal the plan picked follows it.
#[utoipa::path(post, path = "/teams/{team}/billing", tag = "billing",
    params(("team" = Uuid, Path)),
    request_body = BillingRequest,
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody),
        (status = 402, body = ErrorBody),
        (status = 403, description = "not an owner, or a plan only the operator sets", body = ErrorBody),
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
    if !req.plan.owner_may_choose() {
        return Err(ApiError::OperatorPlan(req.plan));
    }
    validate::normalise_email(&req.billing_email)
        .map_err(|_| ApiError::BadRequest("`billing_email` is not a valid email address".into()))?;
    let now = store::now();
    let info = state
        .store
        .plan_info(team)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    if let Some(max) = req.plan.limits().max_members
        && !(info.schedule.operator_deal && info.schedule.running(now).is_some())
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
