//! `envv audit`: query, export and verify a team's audit trail.

use std::collections::HashMap;

use proto_ipc::{AuditFilter, AuditRow, Request, Response};
use uuid::Uuid;

use crate::cli::{AuditArgs, AuditCommand, AuditExport};
use crate::error::{Failure, exit};
use crate::out::outln;
use crate::team::{self, Prefer};
use crate::{ask, unexpected};

/// Shown without `--limit` (an export has no default limit).
const DEFAULT_LIMIT: usize = 100;
/// Events asked for per page.
const PAGE: usize = 500;

pub fn run(args: AuditArgs) -> Result<(), Failure> {
    if let Some(AuditCommand::Verify { team }) = &args.command {
        return verify(team::resolve(team, Prefer::Current)?);
    }
    let team = team::resolve(&args.team, Prefer::Current)?;
    // This machine's own recent events (an `exec` a moment ago) go first.
    if let Ok(Response::Synced { pending, .. }) = ask(&Request::SyncAudit)
        && pending > 0
    {
        eprintln!(
            "{pending} events from this machine are not shipped yet (control plane unreachable)"
        );
    }
    // An id, a member's email, or a former member's (the server knows
    // them by email once they are no longer members).
    let (actor, actor_email) = match &args.actor {
        None => (None, None),
        Some(given) => match given.parse::<Uuid>() {
            Ok(id) => (Some(id), None),
            Err(_) => match team::member(team, given) {
                Ok(member) => (Some(member.user_id), None),
                Err(_) if given.contains('@') => (None, Some(given.clone())),
                Err(e) => return Err(e),
            },
        },
    };
    let limit = match (args.limit, args.export) {
        (Some(n), _) => Some(n as usize),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_LIMIT),
    };
    let by_email = actor_email.clone();
    let filter = AuditFilter {
        actor,
        actor_email,
        action: args.action.clone(),
        secret: args.secret.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        cursor: None,
        limit: None,
        // A bounded listing shows the latest events; an export, all of them.
        newest_first: limit.is_some(),
    };
    let mut rows = fetch(team, filter, limit)?;
    if let Some(email) = by_email
        && rows.is_empty()
    {
        eprintln!("no matching events by {email}, who is not a member now: check the address");
    }
    if limit.is_some() {
        rows.reverse();
    }
    let text = match args.export {
        Some(AuditExport::Jsonl) => rows
            .iter()
            .map(|r| format!("{}\n", serde_json::to_string(r).unwrap_or_default()))
            .collect(),
        Some(AuditExport::Csv) => csv(&rows),
        None if args.json => {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&rows).unwrap_or_default()
            )
        }
        None => table(&rows, &names(team)),
    };
    crate::out::bytes(text.as_bytes())
}

/// Pages through `next_cursor` until the end or `limit` rows.
fn fetch(
    team: Uuid,
    mut filter: AuditFilter,
    limit: Option<usize>,
) -> Result<Vec<AuditRow>, Failure> {
    let mut rows = Vec::new();
    loop {
        if limit.is_some_and(|l| rows.len() >= l) {
            return Ok(rows);
        }
        let want = limit.map_or(PAGE, |l| (l - rows.len()).min(PAGE));
        filter.limit = Some(u32::try_from(want).unwrap_or(u32::MAX));
        let response = ask(&Request::Audit {
            team,
            filter: filter.clone(),
        })?;
        let Response::AuditPage {
            events,
            next_cursor,
        } = response
        else {
            return Err(unexpected("audit"));
        };
        rows.extend(events);
        if let Some(l) = limit {
            rows.truncate(l);
            if rows.len() >= l {
                return Ok(rows);
            }
        }
        match next_cursor {
            Some(cursor) => filter.cursor = Some(cursor),
            None => return Ok(rows),
        }
    }
}

/// Members' emails by user id, to show actors; ids where unknown.
fn names(team: Uuid) -> HashMap<Uuid, String> {
    team::members(team)
        .map(|all| all.into_iter().map(|m| (m.user_id, m.email)).collect())
        .unwrap_or_default()
}

fn table(rows: &[AuditRow], names: &HashMap<Uuid, String>) -> String {
    // Emails: the page's (former members too), else the members'.
    let email = |id: Uuid, given: &Option<String>| {
        given
            .clone()
            .or_else(|| names.get(&id).cloned())
            .unwrap_or_else(|| id.to_string())
    };
    let actors: Vec<String> = rows
        .iter()
        .map(|row| {
            row.actor
                .map_or_else(|| "-".to_owned(), |id| email(id, &row.actor_email))
        })
        .collect();
    let width = actors
        .iter()
        .map(|a| a.chars().count())
        .max()
        .unwrap_or(0)
        .max("ACTOR".len());
    let mut out = format!(
        "{:<19}  {:<width$}  {:<18}  TARGET / DETAILS\n",
        "TIME (UTC)", "ACTOR", "ACTION"
    );
    for (row, actor) in rows.iter().zip(actors) {
        let target = row.target.as_ref().map(|t| match t.parse::<Uuid>() {
            Ok(id) => email(id, &row.target_email),
            Err(_) => t.clone(),
        });
        let what: Vec<String> = target.into_iter().chain(details(&row.details)).collect();
        let line = format!(
            "{:<19}  {:<width$}  {:<18}  {}",
            time(&row.at),
            actor,
            row.action,
            what.join(" ")
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `2026-11-28T05:45:23.512+00:00` as `2026-11-28 05:45:23`: whole
/// seconds, and the offset dropped when it is UTC (the server's).
fn time(at: &str) -> String {
    let (main, offset) = match at
        .find(['+', 'Z'])
        .or_else(|| at.rfind('-').filter(|i| *i > 10))
    {
        Some(i) => at.split_at(i),
        None => (at, ""),
    };
    let main = main.split('.').next().unwrap_or(main).replacen('T', " ", 1);
    match offset {
        "" | "Z" | "+00:00" => main,
        offset => format!("{main}{offset}"),
    }
}

/// An event's details for a person: secret names listed, hashes left out
/// (`--json` and `--export` keep everything).
fn details(text: &str) -> Vec<String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) else {
        return if matches!(text, "" | "null") {
            Vec::new()
        } else {
            vec![text.to_owned()]
        };
    };
    map.iter()
        .filter(|(k, _)| !k.ends_with("_hash"))
        .map(|(k, v)| match (k.as_str(), v) {
            ("secret_names", serde_json::Value::Array(names)) => names
                .iter()
                .map(|n| n.as_str().map_or_else(|| n.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
            (k, serde_json::Value::String(v)) => format!("{k}={v}"),
            (k, v) => format!("{k}={v}"),
        })
        .collect()
}

fn csv(rows: &[AuditRow]) -> String {
    let mut out = String::from("seq,at,actor,action,target,details\n");
    for r in rows {
        let actor = r.actor.map(|a| a.to_string()).unwrap_or_default();
        let fields = [
            r.seq.to_string(),
            r.at.clone(),
            actor,
            r.action.clone(),
            r.target.clone().unwrap_or_default(),
            r.details.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180: quoted when it holds a comma, a quote or a line break.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn verify(team: Uuid) -> Result<(), Failure> {
    let Response::AuditVerified {
        events,
        problem,
        checkpoint,
        remembered,
        checkpointed,
    } = ask(&Request::AuditVerify { team })?
    else {
        return Err(unexpected("audit_verify"));
    };
    if let Some(problem) = problem {
        return Err(Failure::new(
            exit::VERIFY,
            format!("the audit trail is broken after {events} events checked: {problem}"),
        ));
    }
    outln!("OK: {events} events checked, the hash chain is intact");
    match &checkpoint {
        Some(c) => outln!(
            "verified against checkpoint: statement {} of the team chain, audit event {}, by {} at {}",
            c.statement,
            c.audit_seq,
            c.by_email,
            time(&c.at)
        ),
        None => outln!(
            "the team chain holds no audit checkpoint yet (an admin's `envv audit verify` adds one)"
        ),
    }
    if let Some(seq) = remembered {
        outln!("extends event {seq}, the head this machine verified before");
    }
    match checkpointed {
        Some(Ok(c)) => outln!(
            "checkpointed: statement {} of the team chain now vouches for audit event {}",
            c.statement,
            c.audit_seq
        ),
        Some(Err(why)) => eprintln!("could not add a checkpoint to the team chain: {why}"),
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_whole_seconds_in_utc() {
        assert_eq!(
            time("2026-11-28T05:45:23.512678+00:00"),
            "2026-11-28 05:45:23"
        );
        assert_eq!(time("2026-11-28T05:45:23Z"), "2026-11-28 05:45:23");
        assert_eq!(
            time("2026-11-28T05:45:23-05:00"),
            "2026-11-28 05:45:23-05:00"
        );
    }

    #[test]
    fn details_name_secrets_and_skip_hashes() {
        let text = r#"{"path_hash":"ab","secret_count":2,"secret_names":["A","B"]}"#;
        assert_eq!(details(text), ["secret_count=2", "A,B"]);
        assert!(details("{}").is_empty());
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(r#"{"a":1,"b":2}"#), r#""{""a"":1,""b"":2}""#);
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
