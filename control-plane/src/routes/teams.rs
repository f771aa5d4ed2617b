//! Teams, members, roles and invites.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envv_api::{
    AcceptInviteRequest, ChangeRoleRequest, CreateInviteRequest, CreateTeamRequest, ErrorBody,
    Invite, InvitePreview, Member, Team, TeamSettings,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::instrument;
use uuid::Uuid;

use crate::authz::{Action, authorize};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, AuthUser};
use crate::state::AppState;
use crate::store::{self, InviteRecord, MembershipRefusal, NewEpoch, NewInvite, TeamRecord};
use crate::validate;

/// Largest invite secret blob (sealed to the team key) a client may store.
const MAX_SEALED_SECRET: usize = 4 * 1024;
/// Largest invitee proof a client may store.
const MAX_PROOF: usize = 1024;

pub(crate) fn team_view(team: TeamRecord, role: envv_api::Role) -> Team {
    Team {
        id: team.id,
        name: team.name,
        role,
        current_epoch: team.current_epoch,
        rekey_required: team.rekey_required,
        max_staleness_secs: team.max_staleness_secs,
        created_at: team.created_at,
    }
}

#[utoipa::path(get, path = "/teams", tag = "teams",
    responses((status = 200, body = Vec<Team>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn list(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Vec<Team>>> {
    let teams = state.store.teams_of(caller.id).await?;
    Ok(Json(
        teams.into_iter().map(|(t, r)| team_view(t, r)).collect(),
    ))
}

/// Creates a team with the caller as its owner, at key epoch 1: the
/// creator's client made the epoch key and sends its public half and the
/// creator's grant.
#[utoipa::path(post, path = "/teams", tag = "teams",
    request_body = CreateTeamRequest,
    responses((status = 201, body = Team), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(req): ApiJson<CreateTeamRequest>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    let name = validate::display_name("name", &req.name)?;
    validate::age_recipient("epoch_public_key", &req.epoch_public_key)?;
    validate::opaque_blob("creator_grant", &req.creator_grant, validate::MAX_GRANT)?;
    if state
        .store
        .user_by_id(caller.id)
        .await?
        .is_none_or(|u| u.disabled)
    {
        return Err(ApiError::Unauthorized);
    }
    let team = TeamRecord {
        id: req.id,
        name,
        current_epoch: 1,
        rekey_required: false,
        max_staleness_secs: envv_api::DEFAULT_MAX_STALENESS_SECS,
        created_at: store::now(),
    };
    let first_epoch = NewEpoch {
        public_key: req.epoch_public_key,
        grants: vec![(caller.id, req.creator_grant)],
    };
    match state
        .store
        .create_team(team.clone(), caller.id, first_epoch)
        .await
    {
        Ok(()) => {}
        Err(store::StoreError::Conflict) => {
            return Err(ApiError::Conflict("a team with this id exists".into()));
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::CREATED,
        Json(team_view(team, envv_api::Role::Owner)),
    ))
}

#[utoipa::path(get, path = "/teams/{team}", tag = "teams",
    params(("team" = Uuid, Path)),
    responses((status = 200, body = Team), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
) -> ApiResult<Json<Team>> {
    let (team, role) = state.authorize(team, caller.id, Action::ReadTeam).await?;
    Ok(Json(team_view(team, role)))
}

#[utoipa::path(get, path = "/teams/{team}/members", tag = "teams",
    params(("team" = Uuid, Path)),
    responses((status = 200, body = Vec<Member>), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn members(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<Member>>> {
    // The membership check and the listing in one statement: still checked
    // in the database on every request, with the same 404 for a non-member.
    let (role, members) = state
        .store
        .members_as(team, caller.id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    authorize(role, Action::ReadTeam)?;
    Ok(Json(members))
}

/// Invites an email with a role. Single use, expiring; the invitee proves
/// the invite secret (which the server never sees) by its accept token.
#[utoipa::path(post, path = "/teams/{team}/invite", tag = "teams",
    params(("team" = Uuid, Path)),
    request_body = CreateInviteRequest,
    responses((status = 201, body = Invite), (status = 400, body = ErrorBody),
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
    if let Some(sealed) = &req.sealed_secret {
        validate::opaque_blob("sealed_secret", sealed, MAX_SEALED_SECRET)?;
    }
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
        sealed_secret: req.sealed_secret,
        invited_by: caller.id,
        created_at: now,
        expires_at: now + state.config.invite_ttl,
    };
    match state.store.create_invite(invite.clone()).await {
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

#[utoipa::path(delete, path = "/teams/{team}/invites/{invite}", tag = "teams",
    params(("team" = Uuid, Path), ("invite" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn revoke_invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((team, invite)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    state
        .authorize(team, caller.id, Action::ManageInvites)
        .await?;
    if state
        .store
        .revoke_invite(team, invite, caller.id, store::now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("invite"))
    }
}

/// The invite, for its addressee only: which team, which role. Anyone else
/// (and a spent, revoked or expired invite) gets 404.
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
    let invite = open_invite_for(&state, caller, invite_id).await?;
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

/// A pending invite addressed to the caller, or the one 404 for every other case.
async fn open_invite_for(
    state: &AppState,
    caller: AuthUser,
    invite_id: Uuid,
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
    let pending =
        invite.accepted_by.is_none() && !invite.revoked && invite.expires_at > store::now();
    if !pending || validate::normalise_email(&user.email)? != invite.email_norm {
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
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn accept_invite(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(invite_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<AcceptInviteRequest>,
) -> ApiResult<Json<Team>> {
    if let Some(proof) = &req.proof {
        validate::opaque_blob("proof", proof, MAX_PROOF)?;
    }
    let not_found = ApiError::NotFound("invite");
    let invite = open_invite_for(&state, caller, invite_id).await?;
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
        .accept_invite(invite_id, caller.id, req.proof, store::now())
        .await?
    {
        return Err(not_found);
    }
    let (team, role) = state.team_role(invite.team_id, caller.id).await?;
    Ok(Json(team_view(team, role)))
}

#[utoipa::path(put, path = "/teams/{team}/members/{user}/role", tag = "teams",
    params(("team" = Uuid, Path), ("user" = Uuid, Path)),
    request_body = ChangeRoleRequest,
    responses((status = 200, body = Member), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn change_role(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((team, target)): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<ChangeRoleRequest>,
) -> ApiResult<Json<Member>> {
    let authorised_on = state
        .authorize_on_member(team, caller.id, target, |current| Action::ChangeRole {
            from: current,
            to: req.role,
        })
        .await?;
    state
        .store
        .set_role(
            team,
            caller.id,
            target,
            authorised_on,
            req.role,
            store::now(),
        )
        .await?
        .map_err(refusal)?;
    let member = state
        .store
        .members(team)
        .await?
        .into_iter()
        .find(|m| m.user_id == target)
        .ok_or(ApiError::NotFound("member"))?;
    Ok(Json(member))
}

/// Removes a member; a member removing themself leaves the team.
#[utoipa::path(delete, path = "/teams/{team}/members/{user}", tag = "teams",
    params(("team" = Uuid, Path), ("user" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((team, target)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let authorised_on = state
        .authorize_on_member(team, caller.id, target, |current| Action::Remove {
            target: current,
            is_self: target == caller.id,
        })
        .await?;
    state
        .store
        .remove_member(team, caller.id, target, authorised_on, store::now())
        .await?
        .map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT)
}

fn refusal(refusal: MembershipRefusal) -> ApiError {
    match refusal {
        MembershipRefusal::LastOwner => ApiError::LastOwner,
        MembershipRefusal::NotMember => ApiError::NotFound("member"),
        MembershipRefusal::Changed => ApiError::MemberSetChanged,
    }
}

/// Sets the team's settings (admins): how long members' agents may read
/// from cached keys while the control plane is unreachable.
#[utoipa::path(put, path = "/teams/{team}/settings", tag = "teams",
    params(("team" = Uuid, Path)),
    request_body = TeamSettings,
    responses((status = 200, body = Team), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn set_settings(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiJson(req): ApiJson<TeamSettings>,
) -> ApiResult<Json<Team>> {
    state
        .authorize(team, caller.id, Action::ManageSettings)
        .await?;
    if !envv_api::MAX_STALENESS_RANGE.contains(&req.max_staleness_secs) {
        return Err(ApiError::BadRequest(
            "`max_staleness_secs` must be 1 to 2592000 (30 days)".into(),
        ));
    }
    state
        .store
        .set_team_settings(team, caller.id, req.max_staleness_secs, store::now())
        .await?;
    let (record, role) = state.team_role(team, caller.id).await?;
    Ok(Json(team_view(record, role)))
}
