//! The audit trail: client event ingestion, queries, export, exposure.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::SubsecRound;
use envv_api::{
    AuditEntry, AuditOrder, AuditPage, AuditPerson, AuditQuery, CLIENT_ACTIONS, ClientEvent,
    ErrorBody, Exposure, IngestRequest, IngestResponse, MAX_BATCH_EVENTS, MAX_CLOCK_SKEW_SECS,
    MAX_EVENT_SECRETS, MAX_PAGE,
};
use serde::Deserialize;
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use crate::authz::Action;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthUser};
use crate::state::AppState;
use crate::store::{self, AuditFilter, ChainItem, Page};
use crate::validate;

/// A full batch of events with many secret names each is larger than the
/// default body limit.
pub const MAX_INGEST_BODY: usize = 4 * 1024 * 1024;
/// Most secret names in one batch, over all its events.
const MAX_BATCH_NAMES: usize = 100_000;
/// Rows per page of an export stream.
const EXPORT_PAGE: i64 = 1000;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Checks one client event and turns it into a chain row of `actor`.
fn client_item(
    i: usize,
    e: ClientEvent,
    actor: Uuid,
    now: chrono::DateTime<chrono::Utc>,
    over_limit: bool,
) -> ApiResult<ChainItem> {
    let Some(action) = CLIENT_ACTIONS.iter().find(|a| **a == e.action) else {
        return Err(bad(format!(
            "`events[{i}].action` must be one of {}",
            CLIENT_ACTIONS.join(", ")
        )));
    };
    if e.occurred_at > now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
        return Err(bad(format!(
            "`events[{i}].occurred_at` is in the future; check the client's clock"
        )));
    }
    validate::plausible_time(&format!("events[{i}].occurred_at"), e.occurred_at)?;
    if e.secret_names.len() > MAX_EVENT_SECRETS {
        return Err(bad(format!(
            "`events[{i}].secret_names` lists more than {MAX_EVENT_SECRETS} names"
        )));
    }
    for name in &e.secret_names {
        validate::secret_name(&format!("events[{i}].secret_names"), name)?;
    }
    if let Some(env) = &e.env {
        validate::secret_name(&format!("events[{i}].env"), env)?;
    }
    if let Some(hash) = &e.path_hash
        && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(bad(format!(
            "`events[{i}].path_hash` must be 64 hex digits"
        )));
    }
    let mut names = e.secret_names;
    names.sort();
    names.dedup();
    let mut details = serde_json::Map::new();
    details.insert("secret_names".into(), json!(names));
    if let Some(env) = &e.env {
        details.insert("env".into(), json!(env));
    }
    if let Some(hash) = e.path_hash {
        details.insert("path_hash".into(), json!(hash.to_ascii_lowercase()));
    }
    if let Some(count) = e.secret_count {
        details.insert("secret_count".into(), json!(count));
    }
    if over_limit {
        details.insert("over_plan_limit".into(), json!(true));
    }
    Ok(ChainItem {
        event_id: e.id,
        actor_id: Some(actor),
        action: (*action).to_owned(),
        target: None,
        details: serde_json::Value::Object(details),
        occurred_at: e.occurred_at.trunc_subsecs(6),
        secret_names: names,
        env: e.env,
    })
}

/// Stores a batch of events the caller's client observed. Idempotent by
/// event id: a retried batch stores nothing twice and says how many were
/// already there. The actor is always the caller.
#[utoipa::path(post, path = "/teams/{team}/audit", tag = "audit",
    params(("team" = Uuid, Path)),
    request_body = IngestRequest,
    responses((status = 200, body = IngestResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn ingest(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiJson(req): ApiJson<IngestRequest>,
) -> ApiResult<Json<IngestResponse>> {
    state
        .authorize(team, caller.id, Action::ReportAudit)
        .await?;
    if req.events.len() > MAX_BATCH_EVENTS {
        return Err(bad(format!(
            "`events` holds more than {MAX_BATCH_EVENTS} events; send smaller batches"
        )));
    }
    if req
        .events
        .iter()
        .map(|e| e.secret_names.len())
        .sum::<usize>()
        > MAX_BATCH_NAMES
    {
        return Err(bad(format!(
            "the batch lists more than {MAX_BATCH_NAMES} secret names; send smaller batches"
        )));
    }
    let now = store::now();
    // Clients report a file's secret count after writing it. The write
    // already happened, so an over-limit event is kept and flagged, and the
    // answer says why; clients check the limit before writing.
    let plan = state
        .store
        .plan_info(team)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    let max_secrets = plan.plan.limits().max_secrets;
    // Each written file's latest count: the team's count is their sum.
    let mut latest: std::collections::BTreeMap<String, store::FileCount> =
        std::collections::BTreeMap::new();
    for e in &req.events {
        let (true, Some(count)) = (
            matches!(e.action.as_str(), "set" | "unset" | "import" | "reseal"),
            e.secret_count,
        ) else {
            continue;
        };
        let path_hash = e.path_hash.clone().unwrap_or_default().to_ascii_lowercase();
        let at = e.occurred_at.trunc_subsecs(6);
        let file = latest.entry(path_hash.clone()).or_insert(store::FileCount {
            path_hash,
            count,
            at,
        });
        if at >= file.at {
            file.count = count;
            file.at = at;
        }
    }
    let reported: Vec<store::FileCount> = latest.into_values().collect();
    let mut warning = None;
    let mut items = Vec::with_capacity(req.events.len());
    for (i, e) in req.events.into_iter().enumerate() {
        let over = matches!(
            (e.secret_count, max_secrets),
            (Some(n), Some(max)) if n > max
        );
        if over && let Some(max) = max_secrets {
            warning = Some(format!(
                "The {} plan allows {max} secrets per team; upgrade the team's plan to keep more",
                plan.plan
            ));
        }
        items.push(client_item(i, e, caller.id, now, over)?);
    }
    let outcome = state.store.ingest(team, items, reported, now).await?;
    Ok(Json(IngestResponse {
        accepted: outcome.accepted,
        duplicate: outcome.duplicate,
        plan_warning: warning,
    }))
}

/// A cursor names the last position and the direction it was read in, so
/// it can't silently continue the other way.
fn cursor_prefix(order: AuditOrder) -> &'static str {
    match order {
        AuditOrder::Oldest => "v1:",
        AuditOrder::Newest => "n1:",
    }
}

fn encode_cursor(order: AuditOrder, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}{seq}", cursor_prefix(order)))
}

fn decode_cursor(cursor: &str, order: AuditOrder) -> ApiResult<i64> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .ok_or_else(|| bad("`cursor` is not one this server gave out"))?;
    let other = match order {
        AuditOrder::Oldest => AuditOrder::Newest,
        AuditOrder::Newest => AuditOrder::Oldest,
    };
    if text.starts_with(cursor_prefix(other)) {
        return Err(bad(
            "this `cursor` continues the other `order`; pass the same `order` as the page that gave it",
        ));
    }
    text.strip_prefix(cursor_prefix(order))
        .and_then(|n| n.parse().ok())
        .filter(|n: &i64| *n >= 0)
        .ok_or_else(|| bad("`cursor` is not one this server gave out"))
}

/// The team's events in chain order (oldest first, or with `order=newest`
/// newest first), filtered, a page at a time.
#[utoipa::path(get, path = "/teams/{team}/audit", tag = "audit",
    params(("team" = Uuid, Path), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn query(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    state.authorize(team, caller.id, Action::ReadAudit).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad(format!("`limit` must be 1 to {MAX_PAGE}")));
    }
    if let Some(action) = &q.action {
        validate::secret_name("action", action)?;
    }
    if let Some(secret) = &q.secret {
        validate::secret_name("secret", secret)?;
    }
    if let Some(since) = q.since {
        validate::plausible_time("since", since)?;
    }
    if let Some(until) = q.until {
        validate::plausible_time("until", until)?;
    }
    let order = q.order.unwrap_or_default();
    let from = q
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, order))
        .transpose()?;
    let page = match order {
        AuditOrder::Oldest => Page::After(from.unwrap_or(0)),
        AuditOrder::Newest => Page::Before(from.unwrap_or(i64::MAX)),
    };
    // By email: whoever has that address now, member or not any more (the
    // question after an offboarding). Nobody with it matches nothing.
    let mut actor = q.actor;
    if let Some(email) = &q.actor_email {
        let email = validate::normalise_email(email)?;
        let found = state.store.user_by_email(&email).await?.map(|u| u.id);
        match (found, actor) {
            (Some(id), None) => actor = Some(id),
            (Some(id), Some(given)) if id == given => {}
            _ => {
                return Ok(Json(AuditPage {
                    events: Vec::new(),
                    next_cursor: None,
                    people: Vec::new(),
                }));
            }
        }
    }
    let filter = AuditFilter {
        actor,
        action: q.action,
        secret: q.secret,
        since: q.since,
        until: q.until,
    };
    let events = state
        .store
        .audit_page(team, &filter, page, i64::from(limit))
        .await?;
    let next_cursor = (events.len() == limit as usize)
        .then(|| events.last().map(|e| encode_cursor(order, e.chain_seq)))
        .flatten();
    let people = people(&state, &events).await?;
    Ok(Json(AuditPage {
        events,
        next_cursor,
        people,
    }))
}

/// The users a page names, by id: its actors and the targets that are user
/// ids (role changes, removals, grants). Looked up as users, not members,
/// so former members keep their names. A page names at most a few hundred.
async fn people(state: &AppState, events: &[AuditEntry]) -> ApiResult<Vec<AuditPerson>> {
    let ids: std::collections::BTreeSet<Uuid> = events
        .iter()
        .flat_map(|e| {
            let target = e.target.as_deref().and_then(|t| t.parse::<Uuid>().ok());
            e.actor_id.into_iter().chain(target)
        })
        .collect();
    let mut people = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(user) = state.store.user_by_id(id).await? {
            people.push(AuditPerson {
                user_id: user.id,
                email: user.email,
                name: user.name,
            });
        }
    }
    Ok(people)
}

#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `jsonl` (default) or `csv`.
    #[param(value_type = Option<String>)]
    format: Option<ExportFormat>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ExportFormat {
    #[default]
    Jsonl,
    Csv,
}

const CSV_HEADER: &str =
    "team_id,chain_seq,event_id,actor_id,action,target,details,occurred_at,prev_hash,hash\n";

fn csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

fn csv_row(e: &AuditEntry, out: &mut String) {
    let fields = [
        e.team_id.to_string(),
        e.chain_seq.to_string(),
        e.event_id.to_string(),
        e.actor_id.map(|a| a.to_string()).unwrap_or_default(),
        e.action.clone(),
        e.target.clone().unwrap_or_default(),
        envv_api::canonical_json(&e.details),
        e.occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        e.prev_hash.clone(),
        e.hash.clone(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push('\n');
}

/// The whole chain as it stands, streamed page by page (never held in
/// memory), with the chain fields: `envv audit verify` checks it.
#[utoipa::path(get, path = "/teams/{team}/audit/export", tag = "audit",
    params(("team" = Uuid, Path), ExportQuery),
    responses((status = 200, description = "JSON lines or CSV, one event per line, in chain order",
            content((String = "application/x-ndjson"), (String = "text/csv")),
            headers(("Content-Disposition" = String, description = "`attachment` and a file name"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn export(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(team): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    state.authorize(team, caller.id, Action::ReadAudit).await?;
    let format = q.format.unwrap_or_default();
    let store = state.store.clone();
    let first = (format == ExportFormat::Csv).then(|| Bytes::from_static(CSV_HEADER.as_bytes()));
    let pages = futures_util::stream::unfold(Some(0i64), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            let page = store
                .audit_page(
                    team,
                    &AuditFilter::default(),
                    Page::After(after),
                    EXPORT_PAGE,
                )
                .await;
            match page {
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed mid-stream");
                    Some((Err(std::io::Error::other("audit export failed")), None))
                }
                Ok(events) if events.is_empty() => None,
                Ok(events) => {
                    let next = (events.len() as i64 == EXPORT_PAGE)
                        .then(|| events.last().map(|e| e.chain_seq))
                        .flatten();
                    let mut out = String::with_capacity(events.len() * 400);
                    for e in &events {
                        match format {
                            ExportFormat::Jsonl => {
                                out.push_str(&serde_json::to_string(e).unwrap_or_default());
                                out.push('\n');
                            }
                            ExportFormat::Csv => csv_row(e, &mut out),
                        }
                    }
                    Some((Ok(Bytes::from(out)), next))
                }
            }
        }
    });
    let head = futures_util::stream::iter(first.map(Ok));
    let body = Body::from_stream(futures_util::StreamExt::chain(head, pages));
    let (content_type, name) = match format {
        ExportFormat::Jsonl => ("application/x-ndjson", "audit.jsonl"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "audit.csv"),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The secrets a member (present or past) decrypted or ran a command with,
/// and when: after removing them, the values to change.
#[utoipa::path(get, path = "/teams/{team}/members/{user}/exposure", tag = "audit",
    params(("team" = Uuid, Path), ("user" = Uuid, Path)),
    responses((status = 200, body = Exposure), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
#[instrument(level = "debug", skip_all)]
pub async fn exposure(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath((team, user)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<Exposure>> {
    state
        .authorize(team, caller.id, Action::ReadExposure)
        .await?;
    let secrets = state.store.exposure(team, user).await?;
    Ok(Json(Exposure {
        user_id: user,
        secrets,
    }))
}
