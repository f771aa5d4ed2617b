//! Audit load generator: batch ingestion rate, then the p99 of filtered
//! queries over a seeded trail (default 1,000,000 events in 100 teams).
//!
//! ```text
//! cargo bench -p control-plane --bench audit                      # SQLite in a temp dir
//! ENVV_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/envv_bench \
//!     cargo bench -p control-plane --bench audit                  # PostgreSQL (empty db)
//! ENVV_BENCH_EVENTS=100000 cargo bench ...                         # a smaller trail
//! ```
//! Seeding goes through the real ingestion path (chain hashes, secret
//! index, usage counters), so its rate is the store's ingestion figure.
//! Last, the same through HTTP: `POST /teams/{id}/audit` on an in-process
//! server (JSON parsing, validation, authentication included).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use control_plane::store::{self, AuditFilter, ChainItem, Page, Store};
use uuid::Uuid;

mod common;

const TEAMS: usize = 100;
const BATCH: usize = 1000;
const QUERIES: usize = 400;

type MakeFilter = fn(&[Uuid], usize) -> AuditFilter;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ACTIONS: [&str; 5] = ["decrypt", "exec", "set", "unset", "import"];

fn batch(actors: &[Uuid], n: usize, start: usize, per_team: usize) -> Vec<ChainItem> {
    // A team's events spread over the last 20 days.
    let step_ms = (20 * 86_400_000 / per_team.max(1)) as i64;
    let base = Utc::now() - chrono::Duration::days(20);
    (0..n)
        .map(|k| {
            let i = start + k;
            let names = vec![
                format!("SECRET_{}", i % 50),
                format!("SECRET_{}", (i * 7) % 50),
            ];
            ChainItem {
                event_id: Uuid::new_v4(),
                actor_id: Some(actors[i % actors.len()]),
                action: ACTIONS[i % ACTIONS.len()].to_owned(),
                target: None,
                details: serde_json::json!({ "secret_names": names, "env": "prod" }),
                occurred_at: store::now()
                    .min(base + chrono::Duration::milliseconds(step_ms * i as i64)),
                secret_names: names,
                env: Some("prod".into()),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

async fn run(url: &str) {
    let total = env_usize("ENVV_BENCH_EVENTS", 1_000_000);
    let store: Arc<dyn Store> = store::connect(url).await.expect("open store");
    let mut teams = Vec::new();
    let mut owners = Vec::new();
    for t in 0..TEAMS {
        let owner = common::user(&*store, t).await;
        let (team, _) = common::team(&*store, format!("Team {t}"), &owner).await;
        let owner = owner.id;
        owners.push(owner);
        let mut actors = vec![owner];
        for _ in 0..4 {
            actors.push(Uuid::new_v4());
        }
        teams.push((team, actors));
    }

    // Ingestion: 1000-event batches, two writers on different teams.
    let per_team = total / TEAMS;
    let started = Instant::now();
    let mut writers = Vec::new();
    for half in 0..2 {
        let store = store.clone();
        let mine: Vec<_> = teams.iter().skip(half).step_by(2).cloned().collect();
        writers.push(tokio::spawn(async move {
            for (team, actors) in mine {
                let mut done = 0;
                while done < per_team {
                    let n = BATCH.min(per_team - done);
                    let out = store
                        .ingest(
                            team,
                            batch(&actors, n, done, per_team),
                            Vec::new(),
                            store::now(),
                        )
                        .await
                        .expect("ingest");
                    assert_eq!(out.accepted as usize, n);
                    done += n;
                }
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let elapsed = started.elapsed();
    let stored = per_team * TEAMS;
    println!(
        "ingest: {stored} events in {:.1} s = {:.0} events/s (batches of {BATCH}, 2 writers)",
        elapsed.as_secs_f64(),
        stored as f64 / elapsed.as_secs_f64()
    );

    // Filtered queries, each a first page of 100, on random teams.
    let cases: [(&str, MakeFilter); 4] = [
        ("actor", |a, i| AuditFilter {
            actor: Some(a[i % a.len()]),
            ..Default::default()
        }),
        ("action", |_, i| AuditFilter {
            action: Some(ACTIONS[i % ACTIONS.len()].into()),
            ..Default::default()
        }),
        ("secret", |_, i| AuditFilter {
            secret: Some(format!("SECRET_{}", i % 50)),
            ..Default::default()
        }),
        ("actor+action+time", |a, i| AuditFilter {
            actor: Some(a[i % a.len()]),
            action: Some("decrypt".into()),
            since: Some(Utc::now() - chrono::Duration::days(15)),
            until: Some(Utc::now() - chrono::Duration::days(10)),
            ..Default::default()
        }),
    ];
    for (name, make) in cases {
        let mut times = Vec::with_capacity(QUERIES);
        for i in 0..QUERIES {
            let (team, actors) = &teams[(i * 37) % TEAMS];
            let filter = make(actors, i);
            let t = Instant::now();
            let page = store
                .audit_page(*team, &filter, Page::After(0), 100)
                .await
                .expect("query");
            times.push(t.elapsed());
            std::hint::black_box(page);
        }
        times.sort();
        println!(
            "query {name:<18} p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}  ({QUERIES} queries, page of 100)",
            percentile(&times, 0.50),
            percentile(&times, 0.99),
            times[times.len() - 1]
        );
    }
    http_ingest(store, &teams, &owners).await;
}

/// Batches of 1000 client events as JSON, two clients on different teams.
async fn http_ingest(store: Arc<dyn Store>, teams: &[(Uuid, Vec<Uuid>)], owners: &[Uuid]) {
    let http_events = env_usize("ENVV_BENCH_HTTP_EVENTS", 100_000);
    let state = control_plane::AppState::new(
        store,
        control_plane::Config::new(control_plane::tokens::SigningKey::generate()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(control_plane::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    // reqwest is built with rustls and no default provider (the agent's choice).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let batches = http_events / BATCH;
    let started = Instant::now();
    let mut clients = Vec::new();
    for half in 0..2 {
        let (http, base, state) = (http.clone(), base.clone(), state.clone());
        let mine: Vec<(Uuid, Uuid)> = teams
            .iter()
            .zip(owners)
            .map(|((team, _), owner)| (*team, *owner))
            .skip(half)
            .step_by(2)
            .collect();
        clients.push(tokio::spawn(async move {
            for b in (half..batches).step_by(2) {
                let (team, owner) = mine[(b / 2) % mine.len()];
                let token = state
                    .keys
                    .issue_access(owner, Uuid::new_v4())
                    .expect("token");
                let events: Vec<serde_json::Value> = (0..BATCH)
                    .map(|i| {
                        serde_json::json!({
                            "id": Uuid::new_v4(),
                            "action": ACTIONS[i % ACTIONS.len()],
                            "occurred_at": Utc::now(),
                            "secret_names": [format!("SECRET_{}", i % 50), "API_KEY"],
                            "env": "prod",
                        })
                    })
                    .collect();
                let status = http
                    .post(format!("{base}/teams/{team}/audit"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({ "events": events }))
                    .send()
                    .await
                    .expect("request")
                    .status();
                assert_eq!(status, 200);
            }
        }));
    }
    for c in clients {
        c.await.expect("client");
    }
    let elapsed = started.elapsed();
    println!(
        "http ingest: {} events in {:.1} s = {:.0} events/s (POST /teams/{{id}}/audit, batches of {BATCH}, 2 clients)",
        batches * BATCH,
        elapsed.as_secs_f64(),
        (batches * BATCH) as f64 / elapsed.as_secs_f64()
    );
    let _ = stop.send(());
    let _ = server.await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and only checks that this builds and starts.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("ENVV_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite:{}", dir.path().join("bench.db").display()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "backend: {}",
        if url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        }
    );
    rt.block_on(run(&url));
}
