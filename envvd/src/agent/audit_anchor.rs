//! The audit trail, anchored outside the server (issue #17). An export
//! agreeing with itself proves nothing: whoever holds the database can
//! rewrite a suffix and re-hash it. So a trail is also checked against
//! - the last head this machine verified (`audit_heads/<team>.json`, 0600):
//!   the trail must still hold that event with that hash, and reach it;
//! - the newest `checkpoint` statement in the verified team chain, which an
//!   admin signed: a new device that never saw the trail still finds a
//!   rewrite before it.
//!
//! Admins' agents add a checkpoint of the head they verified on
//! `envv audit verify` and, in the background, once a day.

use std::path::{Path, PathBuf};

use chrono::Utc;
use envv_api::{AuditEntry, Role, StatementRequest};
use envv_core::chain::{AuditCheckpoint, Body, Hash, TeamChain};
use proto_ipc::{CheckpointInfo, ErrorCode, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cache::{read_json, write_private};
use super::state::{Agent, Failure, Outcome};

/// How often an admin's agent checkpoints a team's trail on its own.
pub(super) const CHECKPOINT_EVERY_SECS: i64 = 24 * 3600;
/// How long a background checkpoint that failed waits to be tried again.
const CHECKPOINT_RETRY_SECS: i64 = 3600;
/// The shortest audit retention of any plan: an event younger than this
/// can't have been removed by retention.
const MIN_RETENTION_SECS: i64 = 30 * 24 * 3600;

/// The newest audit event this machine verified for a team.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct VerifiedHead {
    pub seq: u64,
    pub hash: String,
    /// Unix seconds when it was verified.
    pub at: i64,
}

fn path(data_dir: &Path, team: Uuid) -> PathBuf {
    data_dir.join("audit_heads").join(format!("{team}.json"))
}

fn load(data_dir: &Path, team: Uuid) -> Option<VerifiedHead> {
    read_json(&path(data_dir, team), 4096)
}

fn save(data_dir: &Path, team: Uuid, head: &VerifiedHead) {
    let saved = serde_json::to_vec(head)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_private(&path(data_dir, team), &bytes));
    if let Err(e) = saved {
        tracing::warn!(team = %team, error = %e, "could not save the verified audit head");
    }
}

/// Whether `events` (a verified export) still hold event `seq` with
/// `hash`. `Err` says how not; `Ok(false)` means retention removed it
/// (it was before the export's first event).
fn holds(events: &[AuditEntry], seq: u64, hash: &str) -> Result<bool, String> {
    let Some(first) = events.first().and_then(|e| u64::try_from(e.chain_seq).ok()) else {
        return Err(format!("the trail is empty, but it held event {seq}"));
    };
    if seq < first {
        return Ok(false);
    }
    let index = usize::try_from(seq - first).map_err(|_| "out of range".to_owned())?;
    match events.get(index) {
        None => Err(format!(
            "the trail ends at event {}, before event {seq}: events were dropped",
            first + events.len() as u64 - 1
        )),
        Some(e) if e.hash == hash => Ok(true),
        Some(_) => Err(format!(
            "event {seq} differs from the one vouched for: the trail was rewritten"
        )),
    }
}

/// Whether a verified trail extends an anchor (event `seq` with `hash`,
/// vouched for at `at`): the problem if not. An anchor before the trail's
/// first event passes only if retention could have removed it by now.
fn against(events: &[AuditEntry], seq: u64, hash: &str, at: i64, now: i64) -> Option<String> {
    match holds(events, seq, hash) {
        Ok(true) => None,
        Ok(false) if now - at > MIN_RETENTION_SECS => None,
        Ok(false) => Some(
            "which the trail no longer holds although no plan's retention could have removed \
             it yet"
                .to_owned(),
        ),
        Err(why) => Some(format!("but {why}")),
    }
}

fn email_of(chain: &TeamChain, user: Uuid) -> String {
    chain
        .member(user)
        .map(|m| m.email.clone())
        .or_else(|| chain.former(user).map(|f| f.email.clone()))
        .unwrap_or_else(|| user.to_string())
}

pub(super) fn checkpoint_info(chain: &TeamChain, c: &AuditCheckpoint) -> CheckpointInfo {
    CheckpointInfo {
        statement: c.seq,
        audit_seq: c.audit_seq,
        by: c.by,
        by_email: email_of(chain, c.by),
        at: chrono::DateTime::from_timestamp(c.at, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| c.at.to_string()),
    }
}

/// What a verification found: the trail's problem, if any, against its
/// own hashes, the remembered head and the chain's checkpoint.
fn check(
    events: &[AuditEntry],
    remembered: Option<&VerifiedHead>,
    chain: &TeamChain,
    now: i64,
) -> Option<String> {
    if let Err(e) = envv_api::verify_chain(events) {
        return Some(e.to_string());
    }
    if let Some(c) = chain.audit_checkpoint() {
        let info = checkpoint_info(chain, c);
        let named = format!(
            "the team chain's checkpoint (statement {} by {} at {}) vouches for audit event {}",
            info.statement,
            info.by_email,
            time(c.at),
            c.audit_seq
        );
        if let Some(problem) = against(events, c.audit_seq, &c.audit_head.to_hex(), c.at, now) {
            return Some(format!("{named}, {problem}"));
        }
    }
    if let Some(head) = remembered {
        let named = format!(
            "this machine verified the trail up to event {} at {}",
            head.seq,
            time(head.at)
        );
        if let Some(problem) = against(events, head.seq, &head.hash, head.at, now) {
            return Some(format!("{named}, {problem}"));
        }
    }
    None
}

fn time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| at.to_string())
}

impl Agent {
    pub(super) async fn audit_verify(&self, team: Uuid) -> Outcome {
        self.ship_spool().await;
        let chain = self.sync_chain(team).await?;
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
        let data_dir = &self.config.data_dir;
        let remembered = load(data_dir, team);
        let now = Utc::now().timestamp();
        let problem = check(&events, remembered.as_ref(), &chain, now);
        let checkpoint = chain.audit_checkpoint().map(|c| checkpoint_info(&chain, c));
        let mut checkpointed = None;
        if problem.is_none()
            && let Some(last) = events.last()
            && let Ok(seq) = u64::try_from(last.chain_seq)
        {
            save(
                data_dir,
                team,
                &VerifiedHead {
                    seq,
                    hash: last.hash.clone(),
                    at: now,
                },
            );
            let mine = self
                .inner()
                .account
                .as_ref()
                .and_then(|a| chain.member(a.user_id))
                .is_some_and(|m| m.role >= Role::Admin);
            let newer = chain.audit_checkpoint().is_none_or(|c| c.audit_seq < seq);
            if mine && newer {
                checkpointed = Some(
                    self.add_checkpoint(team, seq, &last.hash)
                        .await
                        .map_err(|Failure(_, why)| why),
                );
            }
        }
        Ok(Response::AuditVerified {
            events: events.len(),
            problem,
            checkpoint,
            remembered: remembered.map(|h| h.seq),
            checkpointed,
        })
    }

    /// Signs and appends a `checkpoint` of audit event `seq` with `hash`.
    async fn add_checkpoint(
        &self,
        team: Uuid,
        seq: u64,
        hash: &str,
    ) -> Result<CheckpointInfo, Failure> {
        let head = Hash::from_hex(hash)
            .ok_or_else(|| Failure(ErrorCode::Server, "an audit hash is not a hash".into()))?;
        let at = self.session().await?;
        let at = &at;
        let (_, chain) = self
            .append(
                team,
                |_| {
                    Ok(Body::Checkpoint {
                        audit_seq: seq,
                        audit_head: head,
                    })
                },
                move |statement| {
                    Box::pin(async move {
                        let body = StatementRequest {
                            statement: statement.as_str().to_owned(),
                        };
                        self.reached(self.api.append_statement(at, team, &body).await)
                    })
                },
            )
            .await?;
        chain
            .audit_checkpoint()
            .map(|c| checkpoint_info(&chain, c))
            .ok_or_else(|| Failure(ErrorCode::Internal, "no checkpoint was made".into()))
    }

    /// An admin's agent, in the background: verifies and checkpoints the
    /// trail of each team whose newest checkpoint (or, with none, whose
    /// creation) is a day old or more.
    pub(super) async fn checkpoint_due(&self, team: Uuid) {
        let chain = match self.known_chain(team) {
            Some(known) => known.chain,
            None => match self.sync_chain(team).await {
                Ok(chain) => chain,
                Err(_) => return,
            },
        };
        // A day after the last checkpoint, or after the team's creation.
        let since = chain
            .audit_checkpoint()
            .map_or(chain.created_at(), |c| c.at);
        let now = Utc::now().timestamp();
        if now - since < CHECKPOINT_EVERY_SECS {
            return;
        }
        {
            let mut tried = self
                .checkpoint_tried
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if tried
                .get(&team)
                .is_some_and(|at| now - at < CHECKPOINT_RETRY_SECS)
            {
                return;
            }
            tried.insert(team, now);
        }
        match self.audit_verify(team).await {
            Ok(Response::AuditVerified {
                problem: Some(problem),
                ..
            }) => {
                tracing::warn!(team = %team, problem, "the audit trail does not verify; no checkpoint made");
            }
            Ok(_) => {}
            Err(Failure(_, why)) => {
                tracing::debug!(team = %team, reason = why, "no audit checkpoint made");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-linked trail of events `first..=last`.
    fn trail(first: i64, last: i64) -> Vec<AuditEntry> {
        let team = Uuid::from_u128(7);
        let mut prev = [first as u8; 32];
        (first..=last)
            .map(|seq| {
                let mut e = AuditEntry {
                    team_id: team,
                    chain_seq: seq,
                    event_id: Uuid::from_u128(seq as u128),
                    actor_id: None,
                    action: "decrypt".into(),
                    target: None,
                    details: serde_json::json!({ "secret_names": ["A"] }),
                    occurred_at: chrono::DateTime::from_timestamp(1_800_000_000 + seq, 0).unwrap(),
                    prev_hash: hex::encode(prev),
                    hash: String::new(),
                };
                let hash = envv_api::chain_hash(&prev, &e);
                e.hash = hex::encode(hash);
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn a_trail_must_extend_its_anchor() {
        let now = 1_900_000_000;
        let events = trail(1, 10);
        let hash_of = |seq: usize| events[seq - 1].hash.clone();
        assert_eq!(against(&events, 4, &hash_of(4), now - 60, now), None);
        assert_eq!(against(&events, 10, &hash_of(10), now - 60, now), None);
        // Rewritten: the event is there with another hash.
        let why = against(&events, 4, &hex::encode([9u8; 32]), now - 60, now).unwrap();
        assert!(
            why.contains("event 4 differs") && why.contains("rewritten"),
            "{why}"
        );
        // Truncated: the trail stops before the anchor.
        let why = against(&events[..6], 10, &hash_of(10), now - 60, now).unwrap();
        assert!(why.contains("ends at event 6, before event 10"), "{why}");
        assert!(against(&[], 1, &hash_of(1), now - 60, now).is_some());
        // A prefix removed: only retention could have, and only once the
        // anchor is older than the shortest retention.
        let pruned = trail(5, 12);
        let why = against(&pruned, 3, &hash_of(3), now - 60, now).unwrap();
        assert!(why.contains("retention"), "{why}");
        assert_eq!(
            against(&pruned, 3, &hash_of(3), now - MIN_RETENTION_SECS - 1, now),
            None
        );
    }
}
