//! Audit: recording client-side events in the spool, shipping them, and
//! reading the team's trail (verified here, not by the server).

use chrono::Utc;
use envv_api::{
    AuditEntry, AuditPage, ClientEvent, IngestRequest, IngestResponse, MAX_BATCH_EVENTS,
};
use proto_ipc::{AuditFilter, AuditRow, EnvRef, ErrorCode, Response};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ops_account::block_on;
use super::project::{self, Binding};
use super::state::{Agent, Failure, Outcome};

impl Agent {
    /// Spools one client event for a team project (local projects have no
    /// server and no trail). Called before the request is answered.
    pub(super) fn record(
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
        let env_file = match &at.env {
            Some(env) => format!(".env.{env}.enc"),
            None => ".env.enc".to_owned(),
        };
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
            .append(file.team, &event)
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
    pub(super) fn ship_spool(&self) -> (usize, usize) {
        let mut shipped = 0;
        let mut pending = 0;
        for team in self.spool.teams() {
            loop {
                let batch = match self.spool.peek(team, MAX_BATCH_EVENTS) {
                    Ok(batch) if !batch.is_empty() => batch,
                    _ => break,
                };
                let body = IngestRequest { events: batch };
                let sent: Result<IngestResponse, Failure> =
                    self.with_session(|account, token, _| {
                        block_on(self.api.post(
                            &account.server,
                            &format!("/teams/{team}/audit"),
                            Some(token),
                            &body,
                        ))
                    });
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

    pub(super) fn sync_audit(&self) -> Outcome {
        let (shipped, pending) = self.ship_spool();
        Ok(Response::Synced { shipped, pending })
    }

    pub(super) fn audit(&self, team: Uuid, filter: &AuditFilter) -> Outcome {
        // Our own events first, so the page includes what just happened.
        self.ship_spool();
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(actor) = filter.actor {
            query.push(("actor", actor.to_string()));
        }
        for (key, value) in [
            ("action", &filter.action),
            ("secret", &filter.secret),
            ("since", &filter.since),
            ("until", &filter.until),
            ("cursor", &filter.cursor),
        ] {
            if let Some(value) = value {
                query.push((key, value.clone()));
            }
        }
        if let Some(limit) = filter.limit {
            query.push(("limit", limit.to_string()));
        }
        if filter.newest_first {
            query.push(("order", "newest".to_owned()));
        }
        let encoded: String = query
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let path = format!("/teams/{team}/audit?{encoded}");
        let page: AuditPage = self.with_session(|account, token, _| {
            block_on(self.api.get(&account.server, &path, token))
        })?;
        Ok(Response::AuditPage {
            events: page.events.iter().map(row).collect(),
            next_cursor: page.next_cursor,
        })
    }

    pub(super) fn usage(&self, team: Uuid) -> Outcome {
        let report: serde_json::Value = self.with_session(|account, token, _| {
            block_on(
                self.api
                    .get(&account.server, &format!("/teams/{team}/usage"), token),
            )
        })?;
        Ok(Response::Report {
            json: report.to_string(),
        })
    }

    pub(super) fn set_billing(&self, team: Uuid, plan: String, billing_email: String) -> Outcome {
        let body = serde_json::json!({ "plan": plan, "billing_email": billing_email });
        let report: serde_json::Value = self.with_session(|account, token, _| {
            block_on(self.api.post(
                &account.server,
                &format!("/teams/{team}/billing"),
                Some(token),
                &body,
            ))
        })?;
        Ok(Response::Report {
            json: report.to_string(),
        })
    }

    pub(super) fn audit_verify(&self, team: Uuid) -> Outcome {
        self.ship_spool();
        let path = format!("/teams/{team}/audit/export?format=jsonl");
        let text: String = self.with_session(|account, token, _| {
            block_on(self.api.get_text(&account.server, &path, token))
        })?;
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

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
