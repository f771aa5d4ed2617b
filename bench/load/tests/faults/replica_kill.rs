//! One of three replicas SIGKILLed while agents work through the balancer
//! (`envv_load::cluster`): the others keep serving, and requests go to them.

use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use envv_load::{Cluster, run, seed, verify_trails};
use envv_testkit::{ControlPlane, Postgres, free_port};
use reqwest::Method;

use crate::common::*;

const AGENTS: usize = 15;

#[test]
fn a_replica_killed_under_load_leaves_the_others_serving() {
    let db = Postgres::create();
    let dir = tempfile::tempdir().unwrap();
    let mut replicas: Vec<ControlPlane> = (0..3)
        .map(|_| {
            ControlPlane::start_at(
                &db.url(),
                dir.path(),
                free_port(),
                &[OsStr::new("--trust-forwarded-for")],
                None,
            )
        })
        .collect();
    let urls: Vec<String> = replicas.iter().map(ControlPlane::url).collect();

    let rt = runtime();
    let cluster = Arc::new(Cluster::new(&urls, AGENTS).unwrap());
    let agents = rt.block_on(seed(&cluster, AGENTS, 5)).unwrap();
    let never = Arc::new(AtomicBool::new(false));
    let load = rt.spawn(run(
        agents,
        Duration::from_secs(6),
        Duration::from_millis(10),
        never.clone(),
        Duration::from_secs(10),
    ));
    std::thread::sleep(Duration::from_secs(3));
    replicas[1].stop();
    let (agents, report) = rt.block_on(load).unwrap().unwrap();

    // Requests in flight on the killed replica were re-sent elsewhere when
    // safe; a refresh or login can't be, and its agent logged in again.
    // Nothing else failed.
    let mut interrupted = 0;
    for (op, stats) in &report.ops {
        for (kind, n) in &stats.errors {
            assert_eq!(kind, "interrupted", "{op:?}: {}", report.table());
            interrupted += n;
        }
    }
    assert!(
        interrupted <= AGENTS as u64,
        "more interrupted requests than agents: {}",
        report.table()
    );

    // The survivors are ready, and serve everything while the dead one
    // stays in the balancer's list.
    for (i, url) in urls.iter().enumerate().filter(|(i, _)| *i != 1) {
        let answer = rt.block_on(request(Method::GET, &format!("{url}/readyz"), "-", None));
        assert!(answer.status.is_success(), "replica {i}: {}", answer.status);
    }
    let (agents, after) = rt
        .block_on(run(
            agents,
            Duration::from_secs(2),
            Duration::from_millis(10),
            never,
            Duration::from_secs(10),
        ))
        .unwrap();
    assert_eq!(after.errors(), 0, "{}", after.table());
    assert!(after.requests() > 0);
    // Audit batches re-sent to another replica were stored once.
    rt.block_on(verify_trails(&cluster, &agents)).unwrap();
}
