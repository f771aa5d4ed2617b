//! Invites: issued with the inviter's signed statement, listed, revoked,
//! previewed and accepted by the invitee's proof, and the chain a joiner
//! checks the invite against.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envv_api::{
    AcceptInviteRequest, CreateInviteRequest, ErrorBody, Invite, InvitePreview, StatementRequest,
    Team, TeamChainPage,
};
use envv_core::chain::Body;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::instrument;
use uuid::Uuid;

use super::teams::{ChainQuery, chain_page, signature, team_view};
use crate::authz::Action;
use crate::chain::{self, differs, wrong_kind};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthUser};
use crate::state::AppState;
use crate::store::{self, InviteRecord, NewInvite};
use crate::validate;

/// Invites an email with a role, with the inviter's `invite` statement.
/// Single use, expiring when the statement says; the invitee proves the
/// invite secret (which the server never sees) by its accept token.
#[utoipa::path(post, path = "/teams/{team}/invite", tag = "teams",
    params(("team" = Uuid, Path)),
    request_body = CreateInviteRequest,
    responses((status = 201, body = Invite), (status = 400, body = ErrorBody),
        (status = 402, description = "The team's plan has no seat left.", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiJson(req): ApiJson<CreateInviteRequest>,
) -> ApiResult<(StatusCode, Json<Invite>)> {
    state
        .authorize(team, caller.id, Action::Invite { role: req.role })
        .await?;
    let email_norm = validate::normalise_email(&req.email)?;
    let accept_token_hash = hex::decode(&req.accept_token_hash)
        .ok()
        .filter(|h| h.len() == 32)
        .ok_or_else(|| ApiError::BadRequest("`accept_token_hash` must be 64 hex digits".into()))?;
    let statement = chain::parse(&req.statement, team, caller.id)?;
    let Body::Invite {
        invite,
        email,
        role,
        accept,
        expires,
        ..
    } = statement.body()
    else {
        return Err(wrong_kind(&statement, "invite"));
    };
    if *invite != req.id {
        return Err(differs("invite id"));
    }
    if email.as_str() != req.email.trim() {
        return Err(differs("email"));
    }
    if *role != req.role {
        return Err(differs("role"));
    }
    if accept.0[..] != accept_token_hash[..] {
        return Err(differs("accept token hash"));
    }
    let expires_at = chrono::DateTime::from_timestamp(*expires, 0)
        .filter(|at| *at > store::now())
        .ok_or_else(|| ApiError::InvalidStatement("the invite's expiry has passed".into()))?;
    if let Some(user) = state.store.user_by_email(&email_norm).await?
        && state.store.membership(team, user.id).await?.is_some()
    {
        return Err(ApiError::Conflict("this person is already a member".into()));
    }
    let now = store::now();
    // Checked again, under the team's lock, when the invite is accepted.
    let plan = state
        .store
        .plan_info(team)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    if let Some(max) = plan.plan.limits().max_members
        && plan.seats >= max
    {
        return Err(ApiError::PlanLimit(store::member_limit_message(
            plan.plan, max,
        )));
    }
    let invite = NewInvite {
        id: req.id,
        team_id: team,
        email: req.email.trim().to_owned(),
        email_norm,
        role: req.role,
        accept_token_hash,
        invited_by: caller.id,
        created_at: now,
        expires_at,
    };
    match state.store.create_invite(invite.clone(), statement).await {
        Ok(()) => {}
        Err(store::StoreError::Conflict) => {
            return Err(ApiError::Conflict("an invite with this id exists".into()));
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::CREATED,
        Json(Invite {
            id: invite.id,
            team_id: team,
            email: invite.email,
            role: invite.role,
            invited_by: caller.id,
            created_at: invite.created_at,
            expires_at: invite.expires_at,
        }),
    ))
}

#[utoipa::path(get, path = "/teams/{team}/invites", tag = "teams",
    params(("team" = Uuid, Path)),
    responses((status = 200, body = Vec<Invite>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn invites(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Invite>>> {
    state
        .authorize(team, caller.id, Action::ManageInvites)
        .await?;
    let pending = state.store.pending_invites(team, store::now()).await?;
    Ok(Json(pending.iter().map(|i| i.to_api()).collect()))
}

/// Revokes an invite, with its `revoke-invite` statement: one not yet
/// accepted, or accepted by a newcomer not yet admitted (who then leaves
/// the team's pending list).
#[utoipa::path(delete, path = "/teams/{team}/invites/{invite}", tag = "teams",
    params(("team" = Uuid, Path), ("invite" = Uuid, Path)),
    request_body = StatementRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn revoke_invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((team, invite)): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<StatementRequest>,
) -> ApiResult<StatusCode> {
    state
        .authorize(team, caller.id, Action::ManageInvites)
        .await?;
    let statement = chain::parse(&req.statement, team, caller.id)?;
    let Body::RevokeInvite { invite: revokes } = statement.body() else {
        return Err(wrong_kind(&statement, "revoke-invite"));
    };
    if *revokes != invite {
        return Err(differs("invite id"));
    }
    if state
        .store
        .revoke_invite(team, invite, caller.id, store::now(), statement)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("invite"))
    }
}

/// The invite, for its addressee only: which team, which role. Anyone else
/// gets 404. A spent, revoked or expired invite is shown too, so the
/// invitee's client can say which from the team chain; accepting it fails.
#[utoipa::path(get, path = "/invites/{invite}", tag = "teams",
    params(("invite" = Uuid, Path)),
    responses((status = 200, body = InvitePreview), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn preview_invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(invite_id): ApiPath<Uuid>,
) -> ApiResult<Json<InvitePreview>> {
    let invite = invite_for(&state, caller, invite_id, Pending::Any).await?;
    let team = state
        .store
        .team(invite.team_id)
        .await?
        .ok_or(ApiError::NotFound("invite"))?;
    Ok(Json(InvitePreview {
        id: invite.id,
        team_id: invite.team_id,
        team_name: team.name,
        role: invite.role,
        invited_by: invite.invited_by,
        expires_at: invite.expires_at,
    }))
}

/// Whether an invite must still be usable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    Required,
    Any,
}

/// An invite addressed to the caller (and, if `pending` says so, neither
/// spent, revoked nor expired), or the one 404 for every other case.
async fn invite_for(
    state: &AppState,
    caller: AuthUser,
    invite_id: Uuid,
    pending: Pending,
) -> ApiResult<InviteRecord> {
    let user = state
        .store
        .user_by_id(caller.id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(ApiError::Unauthorized)?;
    let invite = state
        .store
        .invite(invite_id)
        .await?
        .ok_or(ApiError::NotFound("invite"))?;
    let usable =
        invite.accepted_by.is_none() && !invite.revoked && invite.expires_at > store::now();
    if (pending == Pending::Required && !usable)
        || validate::normalise_email(&user.email)? != invite.email_norm
    {
        return Err(ApiError::NotFound("invite"));
    }
    Ok(invite)
}

/// Joins the team an invite is for. The invite must be addressed to the
/// caller's email and the accept token must match; any failure is the same 404.
#[utoipa::path(post, path = "/invites/{invite}/accept", tag = "teams",
    params(("invite" = Uuid, Path)),
    request_body = AcceptInviteRequest,
    responses((status = 200, body = Team), (status = 401, body = ErrorBody),
        (status = 402, description = "The team's plan has no seat left.", body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn accept_invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(invite_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<AcceptInviteRequest>,
) -> ApiResult<Json<Team>> {
    signature("proof", &req.proof)?;
    signature("consent", &req.consent)?;
    let not_found = ApiError::NotFound("invite");
    let invite = invite_for(&state, caller, invite_id, Pending::Required).await?;
    // The token is 32 bytes, base64url; the invite stores their SHA-256.
    let token_ok = URL_SAFE_NO_PAD
        .decode(req.accept_token.expose().trim())
        .ok()
        .filter(|raw| raw.len() == 32)
        .is_some_and(|raw| bool::from(Sha256::digest(&raw)[..].ct_eq(&invite.accept_token_hash)));
    if !token_ok {
        return Err(not_found);
    }
    if !state
        .store
        .accept_invite(invite_id, caller.id, req.proof, req.consent, store::now())
        .await?
    {
        return Err(not_found);
    }
    let (team, role) = state.team_role(invite.team_id, caller.id).await?;
    Ok(Json(team_view(team, role)))
}

/// The chain of the team an invite is for, for its addressee before they
/// accept (to check the invite statement their code names, or to learn why
/// it can no longer be used): authorised as the invite's preview, with the
/// same 404 for everyone else.
#[utoipa::path(get, path = "/invites/{invite}/chain", tag = "teams",
    params(("invite" = Uuid, Path), ChainQuery),
    responses((status = 200, body = TeamChainPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn invite_chain(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(invite_id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ChainQuery>,
) -> ApiResult<Json<TeamChainPage>> {
    let invite = invite_for(&state, caller, invite_id, Pending::Any).await?;
    Ok(Json(
        chain_page(&state, invite.team_id, q.after.unwrap_or(0)).await?,
    ))
}
