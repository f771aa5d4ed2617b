//! Teams, members, roles and invites.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envv_api::{
    AcceptInviteRequest, CHAIN_PAGE_LEN, ChangeRoleRequest, CreateInviteRequest, CreateTeamRequest,
    ErrorBody, Invite, InvitePreview, Member, RenameTeamRequest, StatementRequest, Team,
    TeamChainPage, TeamSettings,
};
use envv_core::chain::{Body, TeamChain};
use envv_core::crypto::SignatureBytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::instrument;
use uuid::Uuid;

use crate::authz::{Action, authorize};
use crate::chain::{self, differs, wrong_kind};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthUser};
use crate::state::AppState;
use crate::store::{self, InviteRecord, MembershipRefusal, NewEpoch, NewInvite, TeamRecord};
use crate::validate;

/// Checks one of the newcomer's signatures of their acceptance: base64url
/// of 64 bytes (what they sign is checked by the admin who admits them).
fn signature(field: &str, value: &str) -> ApiResult<()> {
    SignatureBytes::from_base64(value).map(|_| ()).map_err(|_| {
        ApiError::BadRequest(format!(
            "`{field}` must be an Ed25519 signature (base64url)"
        ))
    })
}

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
/// creator's client made the epoch key and sends its public half, the
/// creator's grant and the team chain's first statement, which names the
/// creator's registered keys and the epoch key.
#[utoipa::path(post, path = "/teams", tag = "teams",
    request_body = CreateTeamRequest,
    responses((status = 201, body = Team), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "A team with this id exists.", body = ErrorBody)),
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
    let user = state
        .store
        .user_by_id(caller.id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(ApiError::Unauthorized)?;
    let genesis = chain::parse(&req.statement, req.id, caller.id)?;
    let Body::Create {
        email,
        age,
        signing,
        epoch_key,
    } = genesis.body()
    else {
        return Err(wrong_kind(&genesis, "create"));
    };
    if validate::normalise_email(email).ok() != Some(validate::normalise_email(&user.email)?) {
        return Err(differs("email"));
    }
    if age.as_str() != user.identity_public_key || signing.to_hex() != user.signing_public_key {
        return Err(ApiError::InvalidStatement(
            "the statement names other keys than the caller registered".into(),
        ));
    }
    if epoch_key.as_str() != req.epoch_public_key {
        return Err(differs("epoch key"));
    }
    TeamChain::genesis(&genesis).map_err(|e| ApiError::InvalidStatement(e.to_string()))?;
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
        .create_team(team.clone(), caller.id, first_epoch, genesis)
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
    let statement = chain::parse(&req.statement, team, caller.id)?;
    let Body::Role { user, role } = statement.body() else {
        return Err(wrong_kind(&statement, "role"));
    };
    if *user != target {
        return Err(differs("user"));
    }
    if *role != req.role {
        return Err(differs("role"));
    }
    state
        .store
        .set_role(
            team,
            caller.id,
            target,
            authorised_on,
            req.role,
            store::now(),
            statement,
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

/// Removes a member, with the `remove` statement; a member removing
/// themself leaves the team.
#[utoipa::path(delete, path = "/teams/{team}/members/{user}", tag = "teams",
    params(("team" = Uuid, Path), ("user" = Uuid, Path)),
    request_body = StatementRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((team, target)): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<StatementRequest>,
) -> ApiResult<StatusCode> {
    let authorised_on = state
        .authorize_on_member(team, caller.id, target, |current| Action::Remove {
            target: current,
            is_self: target == caller.id,
        })
        .await?;
    let statement = chain::parse(&req.statement, team, caller.id)?;
    let Body::Remove { user } = statement.body() else {
        return Err(wrong_kind(&statement, "remove"));
    };
    if *user != target {
        return Err(differs("user"));
    }
    state
        .store
        .remove_member(
            team,
            caller.id,
            target,
            authorised_on,
            store::now(),
            statement,
        )
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

/// Renames the team (admins). Names are for people: they are not in the
/// team chain, and two teams may share one.
#[utoipa::path(put, path = "/teams/{team}/name", tag = "teams",
    params(("team" = Uuid, Path)),
    request_body = RenameTeamRequest,
    responses((status = 200, body = Team), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn rename(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiJson(req): ApiJson<RenameTeamRequest>,
) -> ApiResult<Json<Team>> {
    state.authorize(team, caller.id, Action::RenameTeam).await?;
    let name = validate::display_name("name", &req.name)?;
    state
        .store
        .rename_team(team, caller.id, &name, store::now())
        .await?;
    let (record, role) = state.team_role(team, caller.id).await?;
    Ok(Json(team_view(record, role)))
}

/// Deletes the team (owners): members, invites, keys, grants and chain go;
/// the audit trail keeps its events and records the deletion.
#[utoipa::path(delete, path = "/teams/{team}", tag = "teams",
    params(("team" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    state.authorize(team, caller.id, Action::DeleteTeam).await?;
    state
        .store
        .delete_team(team, caller.id, store::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the team's settings (admins): how long members' agents may read
/// from cached keys while the control plane is unreachable.
#[utoipa::path(put, path = "/teams/{team}/settings", tag = "teams",
    params(("team" = Uuid, Path)),
    request_body = TeamSettings,
    responses((status = 200, body = Team), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
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
    let statement = chain::parse(&req.statement, team, caller.id)?;
    let Body::Settings { max_staleness_secs } = statement.body() else {
        return Err(wrong_kind(&statement, "settings"));
    };
    if *max_staleness_secs != req.max_staleness_secs {
        return Err(differs("max-staleness"));
    }
    state
        .store
        .set_team_settings(
            team,
            caller.id,
            req.max_staleness_secs,
            store::now(),
            statement,
        )
        .await?;
    let (record, role) = state.team_role(team, caller.id).await?;
    Ok(Json(team_view(record, role)))
}

/// `?after=N`: the statements after the `N`th (0: from the first).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChainQuery {
    /// Return statements with a position above this one.
    pub after: Option<u64>,
}

async fn chain_page(state: &AppState, team: Uuid, after: u64) -> ApiResult<TeamChainPage> {
    let (statements, head_seq) = state.store.chain_page(team, after, CHAIN_PAGE_LEN).await?;
    Ok(TeamChainPage {
        team_id: team,
        head_seq,
        statements,
    })
}

/// The team chain, for members to verify: the statements after `after`,
/// oldest first, at most `CHAIN_PAGE_LEN` a page, and the chain's length.
/// The server stores and orders them; it can sign none.
#[utoipa::path(get, path = "/teams/{team}/chain", tag = "teams",
    params(("team" = Uuid, Path), ChainQuery),
    responses((status = 200, body = TeamChainPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn team_chain(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ChainQuery>,
) -> ApiResult<Json<TeamChainPage>> {
    state.authorize(team, caller.id, Action::ReadTeam).await?;
    Ok(Json(chain_page(&state, team, q.after.unwrap_or(0)).await?))
}

/// Appends a statement that changes nothing but the chain: an admin's
/// `checkpoint` of the audit trail, which must name an event of this
/// server's trail with its hash. Every other kind comes with the request
/// that makes its change.
#[utoipa::path(post, path = "/teams/{team}/chain", tag = "teams",
    params(("team" = Uuid, Path)),
    request_body = StatementRequest,
    responses((status = 204, description = "Appended"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn append_statement(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiJson(req): ApiJson<StatementRequest>,
) -> ApiResult<StatusCode> {
    state
        .authorize(team, caller.id, Action::CheckpointAudit)
        .await?;
    let statement = chain::parse(&req.statement, team, caller.id)?;
    if !matches!(statement.body(), Body::Checkpoint { .. }) {
        return Err(wrong_kind(&statement, "checkpoint"));
    }
    state
        .store
        .append_statement(team, store::now(), statement)
        .await?;
    Ok(StatusCode::NO_CONTENT)
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
