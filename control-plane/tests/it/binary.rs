//! The `envv-control-plane` binary: first run, key file and folder modes,
//! configuration from the environment, SIGTERM and ctrl-c.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::Signal;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary with the default data directory under `home`; `setup`
/// adds the listen address as a flag or an environment variable.
fn start(home: &Path, setup: impl FnOnce(&mut Command)) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"));
    command
        .arg("serve")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("ENVV_LISTEN")
        .env_remove("ENVV_DATABASE_URL")
        .env_remove("ENVV_SIGNING_KEY_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    setup(&mut command);
    command.spawn().unwrap()
}

fn wait_listening(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` and expects a graceful stop with exit status 0.
fn stop_with(mut child: Child, signal: Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server ignored {signal:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{signal:?}: exit status {status}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_run_creates_private_files_and_signals_stop_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("data").join("envv");

    // First run, configured by flags: a private directory, key and database.
    let port = free_port();
    let mut child = start(home.path(), |c| {
        c.args(["--listen", &format!("127.0.0.1:{port}")]);
    });
    wait_listening(&mut child, port);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("signing-key")), 0o600);
    assert_eq!(mode(&dir.join("control-plane.db")), 0o600);
    stop_with(child, Signal::TERM);
    let key = std::fs::read(dir.join("signing-key")).unwrap();

    // Second run, configured by the environment, after someone opened the
    // directory to other users: made private again, the same key kept, and
    // ctrl-c stops it as SIGTERM does.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let mut child = start(home.path(), |c| {
        c.env("ENVV_LISTEN", format!("127.0.0.1:{port}"));
    });
    wait_listening(&mut child, port);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(std::fs::read(dir.join("signing-key")).unwrap(), key);
    stop_with(child, Signal::INT);
}

#[test]
fn a_world_readable_key_file_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("key");
    std::fs::write(&key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
        .args(["serve", "--listen", "127.0.0.1:0", "--signing-key-file"])
        .arg(&key)
        .arg("--database-url")
        .arg(format!("sqlite:{}", home.path().join("db").display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains("AAAAAAAA"), "the key must not be printed");
}
