//! Audit: recording client-side events in the spool, shipping them, and
//! reading the team's trail (verified here, not by the server).

use chrono::{DateTime, Utc};
use envv_api::{
    AuditEntry, AuditOrder, AuditQuery, BillingRequest, ClientEvent, IngestRequest,
    MAX_BATCH_EVENTS, Plan,
};
use proto_ipc::{AuditFilter, AuditRow, EnvRef, ErrorCode, Response};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::state::{Agent, Failure, Outcome};
use envv_core::project::{self, Binding};

impl Agent {
    /// Spools one client event for a team project (local projects have no
    /// server and no trail). Called before the request is answered.
    pub(super) async fn record(
        &self,
        at: &EnvRef,
        action: &str,
        secret_names: Vec<String>,
        secret_count: Option<u32>,
    ) -> Result<(), Failure> {
        let Some((root, file)) = project::find_root(&at.dir) else {
            return Ok(());
        };
        if !matches!(file.binding, Binding::Team { .. }) {
            return Ok(());
        }
        let env_file = project::env_file_name(at.env.as_deref());
        let path_hash = hex::encode(Sha256::digest(
            root.join(&env_file).to_string_lossy().as_bytes(),
        ));
        let event = ClientEvent {
            id: Uuid::new_v4(),
            action: action.to_owned(),
            occurred_at: Utc::now(),
            secret_names,
            env: at.env.clone(),
            path_hash: Some(path_hash),
            secret_count,
        };
        self.spool
            .record(file.team, &event)
            .await
            .map(|()| {
                self.emit(proto_ipc::Event::Audit {
                    id: event.id,
                    team: file.team,
                    action: event.action.clone(),
                    names: event.secret_names.clone(),
                    at: event.occurred_at.to_rfc3339(),
                });
            })
            .map_err(|e| {
                Failure(
                    ErrorCode::Io,
                    format!("could not record the audit event ({e}); nothing was done"),
                )
            })
    }

    /// Sends waiting events in batches; returns (shipped, still pending).
    /// Background work as much as a request: it never counts as use.
    pub(super) async fn ship_spool(&self) -> (usize, usize) {
        let mut shipped = 0;
        let mut pending = 0;
        for team in self.spool.teams() {
            loop {
                let batch = match self.spool.peek(team, MAX_BATCH_EVENTS) {
                    Ok(batch) if !batch.is_empty() => batch,
                    _ => break,
                };
                let body = IngestRequest { events: batch };
                let sent = match self.session().await {
                    Ok(at) => self.reached(self.api.ingest_audit(&at, team, &body).await),
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(_) => {
                        let ids: Vec<Uuid> = body.events.iter().map(|e| e.id).collect();
                        if self.spool.remove(team, &ids).is_err() {
                            break;
                        }
                        shipped += ids.len();
                    }
                    Err(Failure(code, why)) => {
                        tracing::debug!(team = %team, ?code, reason = why, "audit spool not shipped");
                        break;
                    }
                }
            }
            pending += self.spool.pending(team);
        }
        (shipped, pending)
    }

    pub(super) async fn sync_audit(&self) -> Response {
        let (shipped, pending) = self.ship_spool().await;
        Response::Synced { shipped, pending }
    }

    pub(super) async fn audit(&self, team: Uuid, filter: &AuditFilter) -> Outcome {
        let time = |what: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    parse_time(v, Utc::now()).ok_or_else(|| {
                        Failure(
                            ErrorCode::Invalid,
                            format!(
                                "--{what} takes an age (30m, 12h, 7d), a date (2026-12-05, \
                                 midnight UTC) or an RFC 3339 time (2026-12-05T09:00:00Z)"
                            ),
                        )
                    })
                })
                .transpose()
        };
        let query = AuditQuery {
            actor: filter.actor,
            actor_email: filter.actor_email.clone(),
            action: filter.action.clone(),
            secret: filter.secret.clone(),
            since: time("since", &filter.since)?,
            until: time("until", &filter.until)?,
            cursor: filter.cursor.clone(),
            limit: filter.limit,
            order: filter.newest_first.then_some(AuditOrder::Newest),
        };
        // Our own events first, so the page includes what just happened.
        self.ship_spool().await;
        let at = self.session().await?;
        let page = self.reached(self.api.audit(&at, team, &query).await)?;
        let email = |id: Option<Uuid>| {
            let id = id?;
            page.people
                .iter()
                .find(|p| p.user_id == id)
                .map(|p| p.email.clone())
        };
        Ok(Response::AuditPage {
            events: page
                .events
                .iter()
                .map(|e| AuditRow {
                    actor_email: email(e.actor_id),
                    target_email: email(e.target.as_deref().and_then(|t| t.parse().ok())),
                    ..row(e)
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    pub(super) async fn usage(&self, team: Uuid) -> Outcome {
        let at = self.session().await?;
        let report = self.reached(self.api.usage(&at, team).await)?;
        Ok(Response::Usage(report))
    }

    pub(super) async fn set_billing(
        &self,
        team: Uuid,
        plan: Plan,
        billing_email: String,
    ) -> Outcome {
        let body = BillingRequest {
            plan,
            billing_email,
        };
        let at = self.session().await?;
        let report = self.reached(self.api.set_billing(&at, team, &body).await)?;
        Ok(Response::Usage(report))
    }
}

/// `--since`/`--until`: an RFC 3339 time, a date (midnight UTC), or an age
/// before `now` (`30m`, `12h`, `7d`), as the dashboard's filter takes them.
fn parse_time(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if value.len() > 64 {
        return None;
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Some(day.and_hms_opt(0, 0, 0)?.and_utc());
    }
    let split = value.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = value.split_at(split);
    let n: i64 = n.parse().ok()?;
    let age = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        "w" => chrono::Duration::try_weeks(n),
        _ => None,
    }?;
    now.checked_sub_signed(age)
}

fn row(e: &AuditEntry) -> AuditRow {
    AuditRow {
        seq: e.chain_seq,
        event_id: e.event_id,
        at: e.occurred_at.to_rfc3339(),
        actor: e.actor_id,
        actor_email: None,
        action: e.action.clone(),
        target: e.target.clone(),
        target_email: None,
        details: e.details.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_ages_dates_or_rfc3339() {
        let now: DateTime<Utc> = "2026-12-05T12:00:00Z".parse().unwrap();
        let at = |v: &str| parse_time(v, now).map(|t| t.to_rfc3339());
        assert_eq!(at("1h").as_deref(), Some("2026-12-05T11:00:00+00:00"));
        assert_eq!(at("2d").as_deref(), Some("2026-12-03T12:00:00+00:00"));
        assert_eq!(
            at("2026-12-01").as_deref(),
            Some("2026-12-01T00:00:00+00:00")
        );
        assert_eq!(
            at("2026-12-05T09:00:00+01:00").as_deref(),
            Some("2026-12-05T08:00:00+00:00")
        );
        for bad in [
            "",
            "h",
            "1y",
            "-1h",
            "soon",
            "99999999999999999999d",
            "2026-13-01",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
