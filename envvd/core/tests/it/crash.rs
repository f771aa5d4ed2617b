//! A writer killed at random moments leaves the old file or the new one,
//! never a torn one.
//!
//! The test re-runs its own binary as the writer (selected by an
//! environment variable), SIGKILLs it after a random delay, and checks the
//! file each time.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{any_epoch, env, name};
use envv_core::crypto::{EpochIdentity, TeamKeyring};
use envv_core::envfile::edit;
use rand::Rng;
use uuid::Uuid;

const CHILD_ENV: &str = "ENVV_CRASH_CHILD_DIR";
const PADDING: usize = 300;

fn load_ring(dir: &Path) -> TeamKeyring {
    let text = std::fs::read_to_string(dir.join("key")).expect("key file");
    let (team, secret) = text.split_once(' ').expect("team and key");
    let team = Uuid::parse_str(team).expect("team id");
    let key = EpochIdentity::from_secret_str(team, 1, secret).expect("key");
    let mut ring = TeamKeyring::new(key.clone());
    ring.set_signer(envv_core::crypto::FileSigner {
        user: team,
        key: key.signing_key(),
    });
    ring
}

/// The writer. A no-op unless started by the parent test.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let ring = load_ring(dir);
    let e = env("default");
    let path = edit::env_path(dir, &e);
    for i in 1u64.. {
        edit::set(&path, &e, &ring, name("COUNTER"), i.to_string().into()).expect("set");
    }
}

#[test]
fn writer_killed_mid_write_leaves_old_or_new_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Any age X25519 secret can serve as an epoch key; the child rebuilds it.
    let secret = envv_core::crypto::UserIdentity::generate().to_secret_string();
    std::fs::write(
        dir.path().join("key"),
        format!("{} {}", Uuid::new_v4(), secret.as_str()),
    )
    .expect("write key");
    let ring = load_ring(dir.path());
    let e = env("default");
    let path = edit::env_path(dir.path(), &e);
    // A file big enough that a write takes a while.
    edit::update(&path, &e, &ring, |f| {
        for i in 0..PADDING {
            f.set(
                name(&format!("PAD_{i:05}")),
                format!("padding value {i}").into(),
            )?;
        }
        f.set(name("COUNTER"), "0".into())
    })
    .expect("seed");

    let exe = std::env::current_exe().expect("test binary");
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let mut kills = 0;
    let mut max_counter = 0;
    // Keep killing until enough kills landed inside a write (each leaves its
    // temporary file behind), within a time budget.
    let mut torn_writes = 0;
    while (kills < 30 || torn_writes < 5) && started.elapsed() < Duration::from_secs(90) {
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        std::thread::sleep(Duration::from_millis(rng.gen_range(10..120)));
        child.kill().expect("SIGKILL writer");
        child.wait().expect("reap writer");
        kills += 1;

        let file = edit::read(&path, &ring, &any_epoch("default"))
            .unwrap_or_else(|err| panic!("after kill {kills}: torn file: {err}"));
        assert_eq!(file.len(), PADDING + 1, "after kill {kills}: secrets lost");
        assert_eq!(
            file.get("PAD_00299").map(|v| v.expose().to_owned()),
            Some("padding value 299".to_owned())
        );
        // The writer starts again from 1 each time, so any counter value it
        // could have written is "old or new"; it must parse and be sane.
        let counter: u64 = file
            .get("COUNTER")
            .expect("counter")
            .expose()
            .parse()
            .expect("number");
        assert!(counter < 1_000_000);
        max_counter = max_counter.max(counter);
        torn_writes = interrupted_writes(dir.path());
    }
    assert!(kills >= 10, "only {kills} kills in the time budget");
    assert!(
        max_counter > 0,
        "the writer never completed a write; the test proved nothing"
    );
    eprintln!("{kills} kills, {torn_writes} interrupted writes, highest counter {max_counter}");
    assert!(torn_writes > 0, "no kill landed during a write");
}

/// Temporary files left behind by writers killed mid-write.
fn interrupted_writes(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("list")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("..env.enc.tmp"))
        })
        .count()
}
