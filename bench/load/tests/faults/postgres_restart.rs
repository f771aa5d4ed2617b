//! PostgreSQL stopped and started again while agents work: a server of the
//! test's own (`PgCluster`), never the shared one at 5432.

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use envv_load::{Cluster, Op, run, seed, verify_trails};
use envv_testkit::{ControlPlane, PgCluster, free_port};
use reqwest::{Method, StatusCode};

use crate::common::*;

/// The longest a request may take while the database is down: the pool's
/// 3 s acquire timeout, and room for a loaded machine.
const DOWN_BOUND: Duration = Duration::from_secs(5);
/// Full service this soon after the database is back.
const BACK_WITHIN: Duration = Duration::from_secs(5);

#[test]
fn postgres_restarted_under_load_answers_503_then_recovers_losing_no_audit_event() {
    let pg = PgCluster::start();
    pg.create_database("envv");
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("control-plane.log");
    let cp = ControlPlane::start_at(
        &pg.url("envv"),
        home.path(),
        free_port(),
        &[OsStr::new("--trust-forwarded-for")],
        Some(&log),
    );
    let server = cp.url();

    // A real agent whose reads are recorded in its spool.
    let envvd = Envvd::start(home.path());
    let project = home.path().join("project");
    let agent_team = envvd.team_project(&server, "restart@example.com", &project);

    // Simulated agents, working throughout.
    let rt = runtime();
    let cluster = Arc::new(Cluster::new(std::slice::from_ref(&server), 10).unwrap());
    let agents = rt.block_on(seed(&cluster, 10, 5)).unwrap();
    let team = agents[0].member.team;
    let token = agents[0].member.access.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let load = rt.spawn(run(
        agents,
        Duration::from_secs(40),
        Duration::from_millis(20),
        stop.clone(),
        Duration::from_secs(20),
    ));
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let reading = reading.clone();
        let mut client = envvd.client();
        let project = project.clone();
        std::thread::spawn(move || {
            let (mut reads, mut failed) = (0usize, 0usize);
            while reading.load(Ordering::Relaxed) {
                if read(&mut client, &project) {
                    reads += 1;
                } else {
                    failed += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (reads, failed)
        })
    };
    std::thread::sleep(Duration::from_secs(2));

    pg.stop();
    // Down: reads and writes are answered 503 with Retry-After, in bounded
    // time, never hung.
    let members = format!("{server}/teams/{team}/members");
    let audit = format!("{server}/teams/{team}/audit");
    let down = Instant::now();
    let (mut probes, mut slowest) = (0, Duration::ZERO);
    while down.elapsed() < Duration::from_secs(3) || probes < 2 {
        for (method, url, body) in [
            (Method::GET, &members, None),
            (Method::POST, &audit, Some(one_event())),
        ] {
            let answer = rt.block_on(request(method.clone(), url, &token, body));
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {url} with the database down: {}",
                answer.body
            );
            assert_eq!(answer.body["error"]["code"], "unavailable");
            assert_eq!(answer.retry_after.as_deref(), Some("1"));
            slowest = slowest.max(answer.took);
            assert!(
                answer.took < DOWN_BOUND,
                "{method} {url} took {:?} with the database down",
                answer.took
            );
        }
        probes += 1;
    }

    pg.start_again();
    // Back: full service (a read and a write) within BACK_WITHIN.
    let back = Instant::now();
    loop {
        let read = rt.block_on(request(Method::GET, &members, &token, None));
        let write = rt.block_on(request(Method::POST, &audit, &token, Some(one_event())));
        if read.status.is_success() && write.status.is_success() {
            // For the record (`--no-capture`): what the bounds left.
            eprintln!(
                "database down: slowest answer {slowest:?}; back: full service after {:?}",
                back.elapsed()
            );
            break;
        }
        assert!(
            back.elapsed() < BACK_WITHIN,
            "no full service {BACK_WITHIN:?} after the database came back: {} {}",
            read.status,
            write.status
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    reading.store(false, Ordering::Relaxed);
    let (agents, report) = rt.block_on(load).unwrap().unwrap();
    let (reads, failed) = reader.join().unwrap();
    // The real agent served every read throughout, from its cache while the
    // server could not reach its database (as when the server is down).
    assert_eq!(failed, 0, "reads failed during the outage");

    // The only failures the agents saw were the outage's 503s.
    for (op, stats) in &report.ops {
        for kind in stats.errors.keys() {
            assert_eq!(kind, "503 unavailable", "{op:?}: {}", report.table());
        }
    }
    assert!(report.ops[&Op::Keys].ok() > 0, "{}", report.table());
    // Every event the simulated agents produced is stored once, those
    // refused during the outage delivered from their spools afterwards.
    let events = rt.block_on(verify_trails(&cluster, &agents)).unwrap();
    assert!(events > 0);
    // So are the real agent's: one `exec` per read it answered.
    let mut client = envvd.client();
    drain_spool(&mut client);
    assert!(reads > 0);
    assert_eq!(
        count_actions(&mut client, agent_team, "exec"),
        reads,
        "each read's event exactly once"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("database unavailable"), "{logged}");
}

#[test]
fn a_replica_started_while_postgres_is_down_comes_up_with_it() {
    let pg = PgCluster::start();
    pg.create_database("envv");
    pg.stop();
    let home = tempfile::tempdir().unwrap();
    let url = pg.url("envv");
    let dir = home.path().to_path_buf();
    // `start_at` returns once the server listens, which it does only once
    // it has reached the database and migrated it.
    let starting =
        std::thread::spawn(move || ControlPlane::start_at(&url, &dir, free_port(), &[], None));
    // Longer than a request waits for a connection (3 s): the start waits
    // on its own terms.
    std::thread::sleep(Duration::from_secs(5));
    assert!(!starting.is_finished(), "it listened with no database");
    pg.start_again();
    let cp = starting.join().unwrap();
    let rt = runtime();
    let ready = rt.block_on(request(
        Method::GET,
        &format!("{}/readyz", cp.url()),
        "-",
        None,
    ));
    assert!(ready.status.is_success(), "{}", ready.status);
}
