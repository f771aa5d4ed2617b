//! The `envv-control-plane` binary: first run, key file modes, SIGTERM.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn first_run_creates_private_files_and_sigterm_stops_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_envv-control-plane"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", &data)
        .env_remove("ENVV_DATABASE_URL")
        .env_remove("ENVV_SIGNING_KEY_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(50));
    }

    let dir = data.join("envv");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("signing-key")), 0o600);
    assert_eq!(mode(&dir.join("control-plane.db")), 0o600);

    // SIGTERM: graceful stop, exit status 0.
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
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
