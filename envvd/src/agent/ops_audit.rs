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
                    v.parse::<DateTime<Utc>>().map_err(|_| {
                        Failure(
                            ErrorCode::Invalid,
                            format!(
                                "--{what} takes an RFC 3339 time, such as 2026-12-05T09:00:00Z"
                            ),
                        )
                    })
                })
                .transpose()
        };
        let query = AuditQuery {
            actor: filter.actor,
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
        Ok(Response::AuditPage {
            events: page.events.iter().map(row).collect(),
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

    pub(super) async fn audit_verify(&self, team: Uuid) -> Outcome {
        self.ship_spool().await;
        let at = self.session().await?;
        let text = self.reached(self.api.audit_export(&at, team).await)?;
        let events = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str::<AuditEntry>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                Failure(
                    ErrorCode::Server,
                    "the audit export is not well-formed".into(),
                )
            })?;
        let problem = envv_api::verify_chain(&events).err().map(|b| b.to_string());
        Ok(Response::AuditVerified {
            events: events.len(),
            problem,
        })
    }
}

fn row(e: &AuditEntry) -> AuditRow {
    AuditRow {
        seq: e.chain_seq,
        event_id: e.event_id,
        at: e.occurred_at.to_rfc3339(),
        actor: e.actor_id,
        action: e.action.clone(),
        target: e.target.clone(),
        details: e.details.to_string(),
    }
}
