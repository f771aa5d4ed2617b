//! `envv-load`: simulated agents against running control-plane replicas.
//!
//! ```text
//! envv-load --server http://127.0.0.1:8421,http://127.0.0.1:8422 --users 200 --duration 60
//! ```
//!
//! Seeds the teams, runs the agents, prints a Markdown table per operation,
//! checks every audit event reached the trail once, and exits non-zero on
//! any error. With `--seed-only` it makes one team of `--team-size` and
//! prints `TEAM_ID OWNER_TOKEN` (what `bench/control-plane.sh` and
//! `.ci/openapi` start from). The servers should run with `--trust-forwarded-for`: each
//! agent's requests carry an `X-Forwarded-For` address of its own, as a
//! load balancer in front of many agents would add.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use envv_load::{Cluster, figures, run, seed, verify_trails};

#[derive(Debug, Parser)]
#[command(
    name = "envv-load",
    about = "Load generator for the envv control plane"
)]
struct Args {
    /// The replicas' base URLs, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    server: Vec<String>,
    /// Simulated agents, each its own user.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Members per team (an owner and invited members).
    #[arg(long, default_value_t = 5)]
    team_size: usize,
    /// Pause between an agent's rounds, in milliseconds (0: none, each
    /// agent sends its next request as soon as the last is answered).
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Only make one team of `--team-size` and print `TEAM_ID OWNER_TOKEN`.
    #[arg(long)]
    seed_only: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.seed_only {
        let cluster = Cluster::new(&args.server, args.team_size)?;
        let team = seed::team(&cluster, args.team_size.max(1), 0)
            .await
            .context("seeding the team")?;
        let owner = &team[0];
        println!("{} {}", owner.team, owner.access);
        return Ok(());
    }
    let cluster = Arc::new(Cluster::new(&args.server, args.users)?);

    let seeding = Instant::now();
    let agents = seed(&cluster, args.users, args.team_size)
        .await
        .context("seeding the teams")?;
    eprintln!(
        "seeded {} agents in teams of {} in {:.1} s; running for {} s",
        agents.len(),
        args.team_size,
        seeding.elapsed().as_secs_f64(),
        args.duration
    );

    let (agents, report) = run(
        agents,
        Duration::from_secs(args.duration),
        Duration::from_millis(args.think_ms),
        Arc::new(AtomicBool::new(false)),
        Duration::from_secs(30),
    )
    .await?;
    println!("{}", report.table());
    println!(
        "{} requests in {:.1} s: {:.0} req/s, {} errors; {} agents on {} replica(s)",
        report.requests(),
        report.elapsed.as_secs_f64(),
        report.requests() as f64 / report.elapsed.as_secs_f64().max(1e-9),
        report.errors(),
        agents.len(),
        args.server.len(),
    );
    let events = verify_trails(&cluster, &agents)
        .await
        .context("checking the audit trails")?;
    println!("audit: all {events} events in their teams' trails, each once");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&figures(&report))?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if report.errors() > 0 {
        bail!("{} requests failed", report.errors());
    }
    Ok(())
}
