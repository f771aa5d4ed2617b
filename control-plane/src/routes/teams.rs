//! Teams, members, roles, settings and the team chain (invites are in
//! `invites.rs`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use envv_api::{
    CHAIN_PAGE_LEN, ChangeRoleRequest, CreateTeamRequest, ErrorBody, Member, RenameTeamRequest,
    StatementRequest, Team, TeamChainPage, TeamSettings,
};
use envv_core::chain::{Body, TeamChain};
use envv_core::crypto::SignatureBytes;
use serde::Deserialize;
use tracing::instrument;
use uuid::Uuid;

use crate::authz::{Action, authorize};
use crate::chain::{self, differs, wrong_kind};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthUser};
use crate::state::AppState;
use crate::store::{self, MemberList, MembershipRefusal, NewEpoch, TeamRecord};
use crate::validate;

/// Checks one of the newcomer's signatures of their acceptance: base64url
/// of 64 bytes (what they sign is checked by the admin who admits them).
pub(super) fn signature(field: &str, value: &str) -> ApiResult<()> {
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
) -> ApiResult<MemberListJson> {
    // The membership check against the database on every request; the list
    // and its JSON are kept while the team's member version stays the same.
    let (role, list) = state
        .store
        .members_as(team, caller.id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    authorize(role, Action::ReadTeam)?;
    Ok(MemberListJson(list))
}

/// A member list answered as the JSON it keeps (`Vec<Member>`).
pub struct MemberListJson(Arc<MemberList>);

impl IntoResponse for MemberListJson {
    fn into_response(self) -> Response {
        let content_type = HeaderValue::from_static("application/json");
        ([(header::CONTENT_TYPE, content_type)], self.0.json()).into_response()
    }
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

pub(super) async fn chain_page(
    state: &AppState,
    team: Uuid,
    after: u64,
) -> ApiResult<TeamChainPage> {
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
