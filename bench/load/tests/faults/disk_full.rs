//! The SQLite database's file system full: the database on a small tmpfs
//! the test mounts (as root, or through `sudo -n`), filled by another file.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use envv_load::{Cluster, seed};
use envv_testkit::{ControlPlane, free_port};
use reqwest::{Method, StatusCode};

use crate::common::*;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let status = privileged("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (or sudo without a password)"
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = privileged("umount").arg("-l").arg(&self.0).status();
    }
}

/// `program`, through `sudo -n` unless we are root.
fn privileged(program: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        Command::new(program)
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", program]);
        c
    }
}

/// Writes zeros to `path` until the file system has no space left.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Smaller writes until not even a byte fits.
    for size in [4096, 512, 1] {
        while file.write(&block[..size]).is_ok_and(|n| n > 0) {}
    }
}

#[test]
fn a_full_disk_refuses_writes_clearly_keeps_reads_and_corrupts_nothing() {
    let home = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&home.path().join("disk"), "8m");
    let db = disk.0.join("cp.db");
    let log = home.path().join("control-plane.log");
    let mut cp = ControlPlane::start_at(
        &format!("sqlite:{}", db.display()),
        home.path(),
        free_port(),
        &[OsStr::new("--trust-forwarded-for")],
        Some(&log),
    );
    let server = cp.url();
    let rt = runtime();
    let cluster = Cluster::new(std::slice::from_ref(&server), 5).unwrap();
    let members = rt.block_on(seed(&Arc::new(cluster), 5, 5)).unwrap();
    let team = members[0].member.team;
    let token = members[0].member.access.clone();
    let audit = format!("{server}/teams/{team}/audit");

    // Writes until one fails: the database fills what space the WAL and
    // the file already hold. Every failure is the clear one.
    fill(&disk.0.join("filler"));
    let mut refused = None;
    for _ in 0..500 {
        let answer = rt.block_on(request(Method::POST, &audit, &token, Some(one_event())));
        if answer.status.is_success() {
            continue;
        }
        refused = Some(answer);
        break;
    }
    let refused = refused.expect("a write failed once the disk was full");
    assert_eq!(
        refused.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"]["code"], "storage_full");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("storage is full")),
        "{}",
        refused.body
    );
    // Other writes too: a signup.
    let keys = envv_core::crypto::UserIdentity::generate();
    let signup = rt.block_on(request(
        Method::POST,
        &format!("{server}/auth/signup"),
        "-",
        Some(serde_json::json!({
            "email": "late@example.com",
            "name": "Late",
            "auth_key": seed::AUTH_KEY,
            "identity_public_key": keys.public_key().as_str(),
            "signing_public_key": keys.verifying_key().to_hex(),
            "wrapped_identity": "d3JhcHBlZA==",
            "kdf": {
                "algorithm": "argon2id", "memory_kib": 65536, "iterations": 3,
                "parallelism": 1, "salt": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            },
        })),
    ));
    assert_eq!(
        signup.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        signup.body
    );

    // A key fetch is audited (docs/audit.md): with no room for its event it
    // is refused too, rather than handing out keys unrecorded.
    let keys = rt.block_on(request(
        Method::GET,
        &format!("{server}/teams/{team}/keys"),
        &token,
        None,
    ));
    assert_eq!(
        keys.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        keys.body
    );
    // Reads keep working.
    for path in ["members", "chain?after=0", "audit?limit=10", "usage"] {
        let answer = rt.block_on(request(
            Method::GET,
            &format!("{server}/teams/{team}/{path}"),
            &token,
            None,
        ));
        assert!(
            answer.status.is_success(),
            "GET {path}: {} {}",
            answer.status,
            answer.body
        );
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("storage full"), "{logged}");

    // Space freed: the same server writes again, soon.
    std::fs::remove_file(disk.0.join("filler")).unwrap();
    let freed = Instant::now();
    loop {
        let answer = rt.block_on(request(Method::POST, &audit, &token, Some(one_event())));
        if answer.status.is_success() {
            break;
        }
        assert!(
            freed.elapsed() < Duration::from_secs(10),
            "no write 10 s after space was freed: {} {}\n{}",
            answer.status,
            answer.body,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Nothing corrupted: SQLite's own check, with the server stopped, then
    // the server again on the same file.
    cp.stop();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    cp.restart();
    let answer = rt.block_on(request(Method::GET, &audit, &token, None));
    assert!(answer.status.is_success(), "{}", answer.body);
    let events = answer.body["events"].as_array().unwrap();
    assert!(!events.is_empty());
}
