//! Round trips to a warm agent reading a 100-secret environment, and the
//! agent's memory. Prints median, p99 and mean; run with
//! `cargo bench -p envvd --bench agent`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proto_ipc::{Client, EnvRef, ReadPurpose, Request, Response, Secret};

const ITERATIONS: usize = 5_000;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{what:<48} median {:>8.1} µs   p99 {:>8.1} µs   mean {:>8.1} µs   (n={})",
        pick(0.5).as_secs_f64() * 1e6,
        pick(0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
        samples.len()
    );
}

fn main() {
    let home = tempfile::tempdir().expect("temp dir");
    let socket = home.path().join("run/envv/agent.sock");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_envvd"))
        .arg("--socket")
        .arg(&socket)
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start envvd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "envvd did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let idle_rss = rss_kib(agent.id());

    let project = home.path().join("project");
    std::fs::create_dir_all(&project).expect("project dir");
    let mut client = Client::connect(&socket, "bench").expect("connect");
    client
        .request(&Request::Init {
            dir: project.clone(),
            team: None,
        })
        .expect("init");
    let dotenv: String = (0..100)
        .map(|i| format!("SECRET_{i:03}=value-{i}-{}\n", "x".repeat(40)))
        .collect();
    let at = EnvRef {
        dir: project.clone(),
        env: None,
    };
    client
        .request(&Request::Import {
            at: at.clone(),
            dotenv: Secret::new(dotenv),
        })
        .expect("import");
    let read = Request::Read {
        at,
        only: vec![],
        purpose: ReadPurpose::Exec,
    };
    // Warm the cache.
    let Ok(Response::Secrets { secrets }) = client.request(&read) else {
        panic!("read failed");
    };
    assert_eq!(secrets.len(), 100);

    let mut warm = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        let response = client.request(&read).expect("read");
        warm.push(start.elapsed());
        drop(response);
    }
    let mut cold_connection = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        let mut fresh = Client::connect(&socket, "bench").expect("connect");
        let response = fresh.request(&read).expect("read");
        cold_connection.push(start.elapsed());
        drop(response);
    }
    let warm_rss = rss_kib(agent.id());

    println!("agent round trips, 100 secrets, warm cache:");
    report("request on an open connection", warm);
    report(
        "connect + handshake + request (what exec does)",
        cold_connection,
    );
    println!("agent RSS: idle {idle_rss} KiB, unlocked with one environment cached {warm_rss} KiB");
    let _ = client.request(&Request::Shutdown);
    let _ = agent.wait();
}
