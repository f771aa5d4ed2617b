//! Round trips to a warm agent reading a 100-secret environment, the
//! agent's memory, the import of a 10,000-line dotenv file end to end, and
//! warm reads in account mode while the control plane hangs and while 100
//! clients read at once. Prints median, p99 and mean; run with
//! `cargo build --release -p control-plane -p envv-cli && cargo bench -p envvd --bench
//! agent` (the account-mode parts start the release control plane;
//! `-- import` runs only the import).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proto_ipc::{Client, EnvRef, ImportOptions, ReadPurpose, Request, Response, Secret};

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
    let only_import = std::env::args().skip(1).any(|a| a == "import");
    let home = tempfile::tempdir().expect("temp dir");
    let (mut agent, socket) = start_agent(home.path());
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
    let read = hundred_secrets(&mut client, &project);
    // Warm the cache.
    let Ok(Response::Secrets { secrets }) = client.request(&read) else {
        panic!("read failed");
    };
    assert_eq!(secrets.len(), 100);
    if only_import {
        import_ten_thousand_lines(&mut client, &project);
        let _ = client.request(&Request::Shutdown);
        let _ = agent.wait();
        return;
    }

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
    // After the round trips, so their figures compare with earlier runs'.
    import_ten_thousand_lines(&mut client, &project);
    let _ = client.request(&Request::Shutdown);
    let _ = agent.wait();
    ten_teams();
    account_reads_under_load();
}

/// A 10,000-line dotenv file as people write them: unquoted, quoted,
/// multi-word, escaped, commented and referencing earlier names.
pub fn ten_thousand_lines() -> String {
    let mut text = String::new();
    for i in 0..10_000 {
        let line = match i % 5 {
            0 => format!("SECRET_{i:05}=value-{i}-0123456789abcdef # a comment\n"),
            1 => format!("export SECRET_{i:05}=\"quoted {i} with \\\"escapes\\\" and \\n\"\n"),
            2 => format!("SECRET_{i:05}='single {i} $NOT_EXPANDED'\n"),
            3 => format!("SECRET_{i:05}=${{SECRET_{:05}}}/suffix-{i}\n", i - 3),
            _ => format!("SECRET_{i:05}=postgres://user:pa$$w0rd@host:{i}/db\n"),
        };
        text.push_str(&line);
    }
    text
}

/// A 10,000-line file into a fresh environment (every secret new), into
/// the same one again (every secret the same), and as a dry run.
fn import_ten_thousand_lines(client: &mut Client, project: &std::path::Path) {
    let text = ten_thousand_lines();
    let request = |env: &str, dry_run: bool| Request::Import {
        at: EnvRef {
            dir: project.to_path_buf(),
            env: Some(env.to_owned()),
        },
        dotenv: Secret::new(text.as_str()),
        env: vec![],
        options: ImportOptions {
            dry_run,
            ..ImportOptions::default()
        },
    };
    let mut fresh = Vec::new();
    let mut again = Vec::new();
    let mut dry = Vec::new();
    for run in 0..15 {
        let env = format!("bench-{run}");
        for (samples, dry_run) in [(&mut fresh, false), (&mut again, false), (&mut dry, true)] {
            let request = request(&env, dry_run);
            let start = Instant::now();
            let response = client.request(&request).expect("import");
            samples.push(start.elapsed());
            let Response::Imported { count, .. } = response else {
                panic!("import failed: {response:?}");
            };
            assert_eq!(count, 10_000);
        }
    }
    println!("import of a 10,000-line dotenv file through the agent (client to answer):");
    report("into a new environment (all new)", fresh);
    report("again into the same environment (all same)", again);
    report("dry run (all same)", dry);
}

/// Imports 100 secrets into `project`'s default environment; answers the
/// request that reads them all, as `envv exec` does.
fn hundred_secrets(client: &mut Client, project: &std::path::Path) -> Request {
    let dotenv: String = (0..100)
        .map(|i| format!("SECRET_{i:03}=value-{i}-{}\n", "x".repeat(40)))
        .collect();
    let at = EnvRef {
        dir: project.to_path_buf(),
        env: None,
    };
    client
        .request(&Request::Import {
            at: at.clone(),
            dotenv: Secret::new(dotenv),
            env: vec![],
            options: ImportOptions::default(),
        })
        .expect("import");
    Request::Read {
        at,
        only: vec![],
        purpose: ReadPurpose::Exec,
    }
}

/// A new team named `name`, `dir` bound to it with 100 secrets; answers
/// the request that reads them all.
fn team_project(client: &mut Client, name: &str, dir: &std::path::Path) -> Request {
    let Ok(Response::Team(team)) = client.request(&Request::CreateTeam {
        name: name.to_owned(),
    }) else {
        panic!("create team");
    };
    std::fs::create_dir_all(dir).expect("dir");
    client
        .request(&Request::Init {
            dir: dir.to_path_buf(),
            team: Some(team.id),
        })
        .expect("init");
    hundred_secrets(client, dir)
}

/// The release agent on a socket under `home`, its data there too.
fn start_agent(home: &std::path::Path) -> (std::process::Child, std::path::PathBuf) {
    let socket = home.join("run/envv/agent.sock");
    let agent = Command::new(envv_testkit::bin("envvd"))
        .arg("--socket")
        .arg(&socket)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start envvd");
    envv_testkit::wait_for("the agent to listen", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    (agent, socket)
}

/// Account mode: 10 teams unlocked, each with a 100-secret environment read.
fn ten_teams() {
    let home = tempfile::tempdir().expect("temp dir");
    let server = envv_testkit::ControlPlane::start(home.path(), envv_testkit::free_port());
    let port = server.port;
    let (mut agent, socket) = start_agent(home.path());
    let mut client = Client::connect(&socket, "bench").expect("connect");
    client
        .request(&Request::Signup {
            server: format!("http://127.0.0.1:{port}"),
            email: "bench@example.com".into(),
            name: "Bench".into(),
            password: Secret::new("a bench password"),
            allow_weak_password: false,
        })
        .expect("signup");
    let mut dirs = Vec::new();
    for t in 0..10 {
        let dir = home.path().join(format!("project-{t}"));
        team_project(&mut client, &format!("team {t}"), &dir);
        dirs.push(dir);
    }
    // Forget and reopen every team from its grant, as after a restart.
    client.request(&Request::Lock).expect("lock");
    client
        .request(&Request::Unlock {
            password: Some(Secret::new("a bench password")),
        })
        .expect("unlock");
    for dir in &dirs {
        let read = Request::Read {
            at: EnvRef {
                dir: dir.clone(),
                env: None,
            },
            only: vec![],
            purpose: ReadPurpose::Exec,
        };
        let Ok(Response::Secrets { secrets }) = client.request(&read) else {
            panic!("read")
        };
        assert_eq!(secrets.len(), 100);
    }
    println!(
        "agent RSS, account mode, 10 teams unlocked with a 100-secret environment each cached: {} KiB",
        rss_kib(agent.id())
    );
    let _ = client.request(&Request::Shutdown);
    let _ = agent.wait();
    drop(server);
}

/// Account mode, one team, a 100-secret environment: warm reads (each one
/// spooled as an audit event) on a quiet agent, then while a call to the
/// control plane hangs, then from 100 clients at once while the spool is
/// shipped over and over.
fn account_reads_under_load() {
    let home = tempfile::tempdir().expect("temp dir");
    let server = envv_testkit::ControlPlane::start(home.path(), envv_testkit::free_port());
    let proxy = envv_testkit::Proxy::start(server.port);
    let (mut agent, socket) = start_agent(home.path());
    let mut client = Client::connect(&socket, "bench").expect("connect");
    client
        .request(&Request::Signup {
            server: proxy.url(),
            email: "load@example.com".into(),
            name: "Load".into(),
            password: Secret::new("a bench password"),
            allow_weak_password: false,
        })
        .expect("signup");
    let read = team_project(&mut client, "load", &home.path().join("project"));
    client.request(&read).expect("warm the cache");
    let timed = |client: &mut Client, n: usize| -> Vec<Duration> {
        (0..n)
            .map(|_| {
                let start = Instant::now();
                let response = client.request(&read).expect("read");
                let took = start.elapsed();
                drop(response);
                took
            })
            .collect()
    };

    println!("account mode, 100 secrets, warm cache (each read spooled for audit):");
    report("quiet agent", timed(&mut client, 2_000));

    proxy.hang(true);
    let hung = {
        let socket = socket.clone();
        std::thread::spawn(move || {
            let _ = Client::connect(&socket, "bench").map(|mut c| c.request(&Request::SyncAudit));
        })
    };
    envv_testkit::wait_for("a call held by the hung server", || proxy.held() > 0);
    report(
        "while a call to the control plane hangs",
        timed(&mut client, 2_000),
    );
    assert!(
        !hung.is_finished(),
        "the hung call ended during the measurement"
    );
    proxy.hang(false);
    let _ = hung.join();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shipper = {
        let socket = socket.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut client = Client::connect(&socket, "bench").expect("connect");
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                client.request(&Request::SyncAudit).expect("ship");
            }
        })
    };
    let started = Instant::now();
    let readers: Vec<_> = (0..100)
        .map(|_| {
            let socket = socket.clone();
            let read = read.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(&socket, "bench").expect("connect");
                (0..100)
                    .map(|_| {
                        let start = Instant::now();
                        let response = client.request(&read).expect("read");
                        let took = start.elapsed();
                        drop(response);
                        took
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let samples: Vec<Duration> = readers
        .into_iter()
        .flat_map(|r| r.join().expect("reader"))
        .collect();
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = shipper.join();
    println!(
        "100 clients x 100 reads while the spool ships: {:.0} reads/s",
        samples.len() as f64 / elapsed.as_secs_f64()
    );
    report("one read among 100 concurrent clients", samples);

    let _ = client.request(&Request::Shutdown);
    let _ = agent.wait();
    drop(server);
}
