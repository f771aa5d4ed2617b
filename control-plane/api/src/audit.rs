//! The audit trail's wire types, and the hash chain's canonical encoding and
//! verification. Verification lives here, with no server code, so a client
//! (`envv audit verify`) checks an export itself: a server that edited its
//! own rows can't vouch for them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Events a client reports (the server can't see them happen).
pub const CLIENT_ACTIONS: [&str; 6] = ["decrypt", "exec", "set", "unset", "import", "reseal"];
/// Most events in one ingestion batch.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// Most secret names one client event may list.
pub const MAX_EVENT_SECRETS: usize = 1000;
/// Longest secret or environment name.
pub const MAX_NAME_LEN: usize = 256;
/// How far in the future a client's clock may put an event.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;
/// Most rows one query page returns.
pub const MAX_PAGE: u32 = 1000;
/// The previous hash of a chain's first event.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// One event a client observed, as its agent spooled it. The `id` is made by
/// the client, so a batch retried after a crash or an outage counts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientEvent {
    pub id: Uuid,
    /// One of [`CLIENT_ACTIONS`].
    pub action: String,
    pub occurred_at: DateTime<Utc>,
    /// Names of the secrets touched; never values.
    #[serde(default)]
    pub secret_names: Vec<String>,
    /// The environment (`.env.NAME.enc`), absent for the default file.
    #[serde(default)]
    pub env: Option<String>,
    /// SHA-256 (hex) of the file's repository-relative path.
    #[serde(default)]
    pub path_hash: Option<String>,
    /// After a `set`, `unset` or `import`: how many secrets the file holds.
    #[serde(default)]
    pub secret_count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestRequest {
    pub events: Vec<ClientEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestResponse {
    /// Events stored by this call.
    pub accepted: u32,
    /// Events already stored (by an earlier try of the same batch).
    pub duplicate: u32,
    /// Set when a reported `secret_count` is over the plan's limit: the
    /// events are kept (they happened) and flagged, and this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_warning: Option<String>,
}

/// One row of a team's audit trail, with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub team_id: Uuid,
    /// 1, 2, 3… per team, with no gaps.
    pub chain_seq: i64,
    pub event_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target: Option<String>,
    /// An object of strings, integers, booleans, arrays and objects (never
    /// floating-point numbers).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    /// Hex SHA-256: the previous event's `hash` (zeros for the first).
    pub prev_hash: String,
    /// Hex `SHA-256(prev_hash bytes || canonical_bytes(self))`.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Who the page's user ids are (actors, and targets that are user ids),
    /// members or not any more: an audit outlives memberships.
    #[serde(default)]
    pub people: Vec<AuditPerson>,
}

/// A user named in an audit page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPerson {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
}

/// Filters of `GET /teams/{id}/audit` (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    pub actor: Option<Uuid>,
    /// The actor by email, former members included (an unknown email
    /// matches nothing).
    pub actor_email: Option<String>,
    pub action: Option<String>,
    /// Events listing this secret name.
    pub secret: Option<String>,
    /// Inclusive lower bound on `occurred_at`.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `occurred_at`.
    pub until: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    /// 1 to [`MAX_PAGE`]; 100 when absent.
    pub limit: Option<u32>,
    /// `oldest` first (the default) or `newest` first; a cursor continues
    /// in the direction of the page that gave it.
    #[cfg_attr(feature = "openapi", param(inline))]
    pub order: Option<AuditOrder>,
}

/// Which end of the chain an audit page starts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuditOrder {
    #[default]
    Oldest,
    Newest,
}

/// What a member decrypted: for `envv team remove`, which values to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exposure {
    pub user_id: Uuid,
    pub secrets: Vec<ExposedSecret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExposedSecret {
    pub name: String,
    pub env: Option<String>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    /// How many decrypt and exec events listed it.
    pub count: u64,
}

/// The canonical encoding the chain hashes: a JSON array, no whitespace,
/// object keys sorted by their UTF-8 bytes, strings escaped as
/// `serde_json` does, times RFC 3339 in UTC with exactly six fractional
/// digits and `Z`:
/// `[1, team_id, chain_seq, event_id, actor_id|null, action, target|null, details, occurred_at]`.
pub fn canonical_bytes(e: &AuditEntry) -> Vec<u8> {
    let head = serde_json::json!([
        1,
        e.team_id,
        e.chain_seq,
        e.event_id,
        e.actor_id,
        e.action,
        e.target
    ]);
    let mut out = Vec::with_capacity(256);
    let mut text = String::new();
    write_canonical(&head, &mut text);
    // Splice details and time into the array: `[..., details, time]`.
    text.pop();
    text.push(',');
    write_canonical(&e.details, &mut text);
    text.push(',');
    write_canonical(
        &serde_json::Value::String(e.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
        &mut text,
    );
    text.push(']');
    out.extend_from_slice(text.as_bytes());
    out
}

/// `details` as the chain hashes it: keys sorted, no whitespace.
pub fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `SHA-256(prev_hash || canonical_bytes(entry))`.
pub fn chain_hash(prev_hash: &[u8; 32], e: &AuditEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(canonical_bytes(e));
    h.finalize().into()
}

/// How the chain was broken at [`ChainBreak::chain_seq`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The row's contents no longer match its hash (or the row was replaced).
    Edited,
    /// One or more rows from here on are missing.
    Deleted,
    /// The row is not part of the chain: its neighbours link past it.
    Inserted,
}

/// The first place a chain fails to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("audit chain broken at event {chain_seq} (row {index} of the export): {kind:?}")]
pub struct ChainBreak {
    /// Position in the slice given to [`verify_chain`].
    pub index: usize,
    /// The chain position: of the bad row, or the first missing one.
    pub chain_seq: i64,
    pub kind: BreakKind,
}

fn decode_hash(hex_str: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_str).ok()?;
    bytes.try_into().ok()
}

/// Verifies a team's events, in chain order. The first row's `prev_hash` is
/// the anchor: zeros when the export starts at `chain_seq` 1; after a
/// retention purge (which deletes a prefix) it is trusted as given, so
/// compare it with a head you saw earlier if you kept one.
pub fn verify_chain(events: &[AuditEntry]) -> Result<(), ChainBreak> {
    let brk = |index: usize, chain_seq: i64, kind| ChainBreak {
        index,
        chain_seq,
        kind,
    };
    let mut prev: Option<(i64, [u8; 32])> = None;
    for (i, e) in events.iter().enumerate() {
        let (Some(prev_hash), Some(hash)) = (decode_hash(&e.prev_hash), decode_hash(&e.hash))
        else {
            return Err(brk(i, e.chain_seq, BreakKind::Edited));
        };
        let self_ok = chain_hash(&prev_hash, e) == hash;
        match prev {
            None => {
                if e.chain_seq < 1 || (e.chain_seq == 1 && prev_hash != GENESIS_HASH) {
                    return Err(brk(i, e.chain_seq, BreakKind::Edited));
                }
            }
            Some((prev_seq, prev_link)) => {
                let linked = prev_hash == prev_link && e.chain_seq == prev_seq + 1;
                // A bad row the next row links past is extra.
                let skipped = events
                    .get(i + 1)
                    .is_some_and(|next| decode_hash(&next.prev_hash) == Some(prev_link));
                if !(linked && self_ok) && skipped {
                    return Err(brk(i, e.chain_seq, BreakKind::Inserted));
                }
                let linked = prev_hash == prev_link && e.chain_seq == prev_seq + 1;
                if !linked {
                    if e.chain_seq <= prev_seq {
                        return Err(brk(i, e.chain_seq, BreakKind::Inserted));
                    }
                    if e.chain_seq > prev_seq + 1 {
                        return Err(brk(i, prev_seq + 1, BreakKind::Deleted));
                    }
                    // In sequence but not linked: this row was replaced, or
                    // the one before was edited and re-hashed.
                    return Err(if self_ok {
                        brk(i - 1, prev_seq, BreakKind::Edited)
                    } else {
                        brk(i, e.chain_seq, BreakKind::Edited)
                    });
                }
            }
        }
        if !self_ok {
            return Err(brk(i, e.chain_seq, BreakKind::Edited));
        }
        prev = Some((e.chain_seq, hash));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let team = Uuid::from_u128(7);
        let mut prev = GENESIS_HASH;
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    team_id: team,
                    chain_seq: seq,
                    event_id: Uuid::from_u128(seq as u128),
                    actor_id: Some(Uuid::from_u128(1)),
                    action: "decrypt".into(),
                    target: None,
                    details: serde_json::json!({"secret_names": ["B", "A"], "env": null}),
                    occurred_at: DateTime::from_timestamp(1_800_000_000 + seq, 1000).unwrap(),
                    prev_hash: hex::encode(prev),
                    hash: String::new(),
                };
                let h = chain_hash(&prev, &e);
                e.hash = hex::encode(h);
                prev = h;
                e
            })
            .collect()
    }

    #[test]
    fn canonical_encoding_is_fixed() {
        let e = &chain(1)[0];
        assert_eq!(
            String::from_utf8(canonical_bytes(e)).unwrap(),
            "[1,\"00000000-0000-0000-0000-000000000007\",1,\
             \"00000000-0000-0000-0000-000000000001\",\"00000000-0000-0000-0000-000000000001\",\
             \"decrypt\",null,{\"env\":null,\"secret_names\":[\"B\",\"A\"]},\
             \"2027-01-15T08:00:01.000001Z\"]"
        );
    }

    #[test]
    fn untouched_chain_and_suffix_verify() {
        let c = chain(5);
        assert_eq!(verify_chain(&c), Ok(()));
        assert_eq!(verify_chain(&c[2..]), Ok(()));
        assert_eq!(verify_chain(&[]), Ok(()));
    }

    #[test]
    fn tampering_names_the_first_bad_row() {
        let mut edited = chain(5);
        edited[2].action = "exec".into();
        assert_eq!(
            verify_chain(&edited).unwrap_err(),
            ChainBreak {
                index: 2,
                chain_seq: 3,
                kind: BreakKind::Edited
            }
        );

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(
            verify_chain(&deleted).unwrap_err(),
            ChainBreak {
                index: 1,
                chain_seq: 2,
                kind: BreakKind::Deleted
            }
        );

        let mut inserted = chain(5);
        let mut extra = inserted[1].clone();
        extra.event_id = Uuid::from_u128(99);
        inserted.insert(2, extra);
        assert_eq!(
            verify_chain(&inserted).unwrap_err(),
            ChainBreak {
                index: 2,
                chain_seq: 2,
                kind: BreakKind::Inserted
            }
        );

        let mut forged_start = chain(3);
        forged_start[0].prev_hash = hex::encode([1u8; 32]);
        assert_eq!(
            verify_chain(&forged_start).unwrap_err().kind,
            BreakKind::Edited
        );
    }
}
