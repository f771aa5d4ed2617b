//! Key distribution: grants, the team's public key, pending grants, rotation.
//! The server relays what clients encrypted; it can open none of it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use envv_api::{
    EpochGrant, ErrorBody, PendingGrant, PostGrantRequest, RotateRequest, RotateResponse, TeamKeys,
    TeamPublicKey,
};
use envv_core::chain::Body;
use tracing::instrument;
use uuid::Uuid;

use crate::authz::Action;
use crate::chain::{self, differs, wrong_kind};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, AuthUser};
use crate::state::AppState;
use crate::store::{self, GrantRefusal, NewEpoch, RotateRefusal};
use crate::validate;

/// A rotation carries one grant per member; big teams need more than the
/// default body limit.
pub const MAX_ROTATE_BODY: usize = 8 * 1024 * 1024;

/// The caller's grants for every epoch they may read, newest first.
/// Membership is checked in the database on every call, and each fetch is
/// audited.
#[utoipa::path(get, path = "/teams/{team}/keys", tag = "keys",
    params(("team" = Uuid, Path)),
    responses((status = 200, body = TeamKeys), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn fetch(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
) -> ApiResult<Json<TeamKeys>> {
    let (record, grants) = state
        .store
        .fetch_keys(team, caller.id, store::now())
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    Ok(Json(TeamKeys {
        team_id: team,
        current_epoch: record.current_epoch,
        rekey_required: record.rekey_required,
        max_staleness_secs: record.max_staleness_secs,
        grants: grants
            .into_iter()
            .map(|g| EpochGrant {
                epoch: g.epoch,
                public_key: g.public_key,
                grant: g.grant,
                granted_by: g.granted_by,
                created_at: g.created_at,
            })
            .collect(),
    }))
}

/// The current epoch's recipient: enough to encrypt, not to decrypt.
#[utoipa::path(get, path = "/teams/{team}/keys/public", tag = "keys",
    params(("team" = Uuid, Path)),
    responses((status = 200, body = TeamPublicKey), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn public_key(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
) -> ApiResult<Json<TeamPublicKey>> {
    state.authorize(team, caller.id, Action::ReadKeys).await?;
    let (epoch, public_key) = state
        .store
        .public_key(team)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    Ok(Json(TeamPublicKey {
        team_id: team,
        epoch,
        public_key,
    }))
}

/// Newcomers who accepted an invite and wait to be admitted, with the
/// invite and their two signatures of the acceptance, for an admin's client
/// to check against the invite statement in the team chain.
#[utoipa::path(get, path = "/teams/{team}/grants/pending", tag = "keys",
    params(("team" = Uuid, Path)),
    responses((status = 200, body = Vec<PendingGrant>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn pending(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<PendingGrant>>> {
    state
        .authorize(team, caller.id, Action::ManageGrants)
        .await?;
    Ok(Json(state.store.pending_grants(team).await?))
}

/// Admits a newcomer: their `admit` statement (the admin's client checked
/// their acceptance against the invite statement) and the current epoch's
/// key wrapped for them, in one transaction.
#[utoipa::path(post, path = "/teams/{team}/grants", tag = "keys",
    params(("team" = Uuid, Path)),
    request_body = PostGrantRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn post_grant(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PostGrantRequest>,
) -> ApiResult<StatusCode> {
    state
        .authorize(team, caller.id, Action::ManageGrants)
        .await?;
    validate::opaque_blob("grant", &req.grant, validate::MAX_GRANT)?;
    let statement = chain::parse(&req.statement, team, caller.id)?;
    let Body::Admit { user, .. } = statement.body() else {
        return Err(wrong_kind(&statement, "admit"));
    };
    if *user != req.user_id {
        return Err(differs("user"));
    }
    let outcome = state
        .store
        .post_grant(
            team,
            caller.id,
            req.user_id,
            req.epoch,
            req.grant,
            store::now(),
            statement,
        )
        .await?;
    match outcome {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(GrantRefusal::NotMember) => Err(ApiError::NotFound("member")),
        Err(GrantRefusal::StaleEpoch { current }) => Err(ApiError::EpochConflict { current }),
        Err(GrantRefusal::AlreadyGranted) => Err(ApiError::Conflict(
            "this member was admitted already".into(),
        )),
    }
}

/// Moves the team to a new epoch: a new public key, a grant for exactly the
/// chain's members (admitted ones: a newcomer still pending gets theirs when
/// admitted) and the `rotate` statement, applied in one transaction if
/// `expected_epoch` is still current (409 otherwise: someone else rotated
/// first).
#[utoipa::path(post, path = "/teams/{team}/keys/rotate", tag = "keys",
    params(("team" = Uuid, Path)),
    request_body = RotateRequest,
    responses((status = 200, body = RotateResponse), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiJson(req): ApiJson<RotateRequest>,
) -> ApiResult<Json<RotateResponse>> {
    state.authorize(team, caller.id, Action::Rotate).await?;
    validate::age_recipient("public_key", &req.public_key)?;
    for grant in &req.grants {
        validate::opaque_blob("grants[].grant", &grant.grant, validate::MAX_GRANT)?;
    }
    let statement = chain::parse(&req.statement, team, caller.id)?;
    let Body::Rotate {
        epoch, epoch_key, ..
    } = statement.body()
    else {
        return Err(wrong_kind(&statement, "rotate"));
    };
    if *epoch != u64::from(req.expected_epoch) + 1 {
        return Err(differs("epoch"));
    }
    if epoch_key.as_str() != req.public_key {
        return Err(differs("epoch key"));
    }
    let next = NewEpoch {
        public_key: req.public_key,
        grants: req
            .grants
            .into_iter()
            .map(|g| (g.user_id, g.grant))
            .collect(),
    };
    let outcome = state
        .store
        .rotate(
            team,
            caller.id,
            req.expected_epoch,
            next,
            store::now(),
            statement,
        )
        .await?;
    match outcome {
        Ok(epoch) => Ok(Json(RotateResponse {
            team_id: team,
            epoch,
        })),
        Err(RotateRefusal::EpochConflict { current }) => Err(ApiError::EpochConflict { current }),
        Err(RotateRefusal::MemberSetChanged) => Err(ApiError::MemberSetChanged),
    }
}
