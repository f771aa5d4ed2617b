//! The real `envvd` binary on a real socket, driven with the real client:
//! the harness here, the tests by area in `files`, `import` and `process`.

mod files;
mod import;
mod process;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proto_ipc::{
    Client, EnvRef, ErrorCode, ImportChange, ImportOptions, ImportStatus, IpcError, ReadPurpose,
    Request, Response, Secret,
};

struct Agent {
    child: Child,
    socket: PathBuf,
    home: tempfile::TempDir,
}

impl Agent {
    fn start(extra: &[&str]) -> Agent {
        let home = tempfile::tempdir().unwrap();
        Agent::start_in(home, extra)
    }

    fn start_in(home: tempfile::TempDir, extra: &[&str]) -> Agent {
        let socket = home.path().join("run/envv/agent.sock");
        let child = Command::new(envv_testkit::bin("envvd"))
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env_remove("ENVV_AGENT_SOCK")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut agent = Agent {
            child,
            socket,
            home,
        };
        agent.wait_for_socket();
        agent
    }

    fn wait_for_socket(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("envvd exited with {status}: {err}");
            }
            assert!(Instant::now() < deadline, "envvd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self) -> Client {
        Client::connect(&self.socket, "test").unwrap()
    }

    fn project(&self) -> PathBuf {
        let dir = self.home.path().join("project");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A client and a project bound to this user's personal key.
    fn local_project(&self) -> (Client, PathBuf) {
        let project = self.project();
        let mut client = self.client();
        client
            .request(&Request::Init {
                dir: project.clone(),
                team: None,
            })
            .unwrap();
        (client, project)
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, signal: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_raw(self.pid()).unwrap(), signal)
            .unwrap();
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "envvd did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn at(dir: &Path, env: Option<&str>) -> EnvRef {
    EnvRef {
        dir: dir.to_path_buf(),
        env: env.map(str::to_owned),
    }
}

fn secrets(response: Response) -> Vec<(String, String)> {
    match response {
        Response::Secrets { secrets } => secrets
            .into_iter()
            .map(|(n, v)| (n, v.expose().to_owned()))
            .collect(),
        other => panic!("expected secrets, got {other:?}"),
    }
}

fn read(client: &mut Client, dir: &Path) -> Vec<(String, String)> {
    secrets(
        client
            .request(&Request::Read {
                at: at(dir, None),
                only: vec![],
                purpose: ReadPurpose::Exec,
            })
            .unwrap(),
    )
}

fn set(client: &mut Client, dir: &Path, name: &str, value: &str) {
    let done = client
        .request(&Request::Set {
            at: at(dir, None),
            name: name.into(),
            value: Secret::new(value),
        })
        .unwrap();
    assert_eq!(done, Response::Done);
}
