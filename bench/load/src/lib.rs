//! A load generator for the envv control plane: simulated agents, each
//! signed up and in a team made as clients make them, driving the real API
//! as `envvd` does (`agent.rs`) across one or more replicas behind a
//! modelled load balancer (`cluster.rs`), with throughput, p50, p99 and
//! errors per operation (`report.rs`).
//!
//! `bench/load.sh` starts the servers and runs the `envv-load` binary; the
//! fault tests (`tests/faults`) drive the same agents while they restart the
//! database, kill a replica or fill the disk.

pub mod agent;
pub mod cluster;
pub mod report;
pub mod seed;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

pub use agent::Agent;
pub use cluster::{Cluster, Outcome, Retry};
pub use report::{Op, Report};

/// Teams seeded at once: each signup is an argon2id hash on the server.
const SEEDING_AT_ONCE: usize = 8;

/// `users` agents in teams of `team_size` (the last team may be smaller).
pub async fn seed(cluster: &Arc<Cluster>, users: usize, team_size: usize) -> Result<Vec<Agent>> {
    let team_size = team_size.max(1);
    let sizes: Vec<(usize, usize)> = (0..users)
        .step_by(team_size)
        .map(|first| (first, team_size.min(users - first)))
        .collect();
    let mut agents = Vec::with_capacity(users);
    for chunk in sizes.chunks(SEEDING_AT_ONCE) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&(first, size)| {
                let cluster = cluster.clone();
                tokio::spawn(async move { seed::team(&cluster, size, first).await })
            })
            .collect();
        for task in tasks {
            for member in task.await.context("a seeding task")?? {
                agents.push(Agent::new(member, cluster.clone()));
            }
        }
    }
    Ok(agents)
}

/// Runs every agent at once for `duration` (or until `stop`), then flushes
/// their spools for up to `flush_for`. The report covers this run only
/// (not the flush), and the agents come back for another.
pub async fn run(
    agents: Vec<Agent>,
    duration: Duration,
    think: Duration,
    stop: Arc<AtomicBool>,
    flush_for: Duration,
) -> Result<(Vec<Agent>, Report)> {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = agents
        .into_iter()
        .map(|mut agent| {
            let stop = stop.clone();
            agent.report = Report::default();
            tokio::spawn(async move {
                agent.run(deadline, think, &stop).await;
                let ran = started.elapsed();
                agent.flush(flush_for).await;
                (agent, ran)
            })
        })
        .collect();
    let mut agents = Vec::with_capacity(tasks.len());
    let mut report = Report::default();
    for task in tasks {
        let (agent, ran) = task.await.context("an agent task")?;
        report.merge(&agent.report);
        report.elapsed = report.elapsed.max(ran);
        agents.push(agent);
    }
    Ok((agents, report))
}

/// Every event id in `team`'s audit trail, read through the API with
/// `token` (a member's).
pub async fn trail(cluster: &Cluster, team: Uuid, token: &str) -> Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/teams/{team}/audit?limit=1000");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = match cluster
            .send(
                Method::GET,
                &path,
                Some(token),
                None,
                Retry::Safe,
                seed::address(0),
            )
            .await
        {
            Outcome::Answer { status, body, .. } if status.is_success() => body,
            other => bail!("reading the audit trail: {other:?}"),
        };
        for event in page["events"].as_array().context("events")? {
            ids.push(event["event_id"].as_str().context("event id")?.parse()?);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(ids),
        }
    }
}

/// Checks that every event the agents produced is in its team's trail
/// exactly once, and that none is left in a spool.
pub async fn verify_trails(cluster: &Cluster, agents: &[Agent]) -> Result<usize> {
    let unshipped: usize = agents.iter().map(Agent::unshipped).sum();
    if unshipped > 0 {
        bail!("{unshipped} events were never shipped");
    }
    let mut produced: HashMap<Uuid, (String, Vec<Uuid>)> = HashMap::new();
    for agent in agents {
        let entry = produced
            .entry(agent.member.team)
            .or_insert_with(|| (agent.member.access.clone(), Vec::new()));
        entry.1.extend(&agent.produced);
    }
    let mut total = 0;
    for (team, (token, ids)) in produced {
        let mut seen: HashMap<Uuid, usize> = HashMap::new();
        for id in trail(cluster, team, &token).await? {
            *seen.entry(id).or_default() += 1;
        }
        for id in &ids {
            match seen.get(id) {
                Some(1) => {}
                Some(n) => bail!("event {id} of team {team} is in its trail {n} times"),
                None => bail!("event {id} of team {team} is missing from its trail"),
            }
        }
        total += ids.len();
    }
    Ok(total)
}

/// For JSON output: the figures of one operation.
pub fn figures(report: &Report) -> serde_json::Value {
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let ops: serde_json::Map<String, serde_json::Value> = report
        .ops
        .iter()
        .map(|(op, s)| {
            (
                op.name().to_owned(),
                json!({
                    "ok": s.ok(),
                    "per_second": s.ok() as f64 / secs,
                    "p50_us": s.latency.value_at_quantile(0.5),
                    "p99_us": s.latency.value_at_quantile(0.99),
                    "max_us": s.latency.max(),
                    "errors": s.errors,
                }),
            )
        })
        .collect();
    json!({ "seconds": secs, "requests": report.requests(), "errors": report.errors(), "ops": ops })
}
