//! Shared by the agent's integration tests: the real `envvd` and
//! `envv-control-plane` binaries, started and stopped per test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use envv_testkit::{ControlPlane, Proxy, count_actions, wait_for};
use proto_ipc::{Client, EnvRef, IpcError, ReadPurpose, Request, Response, Secret};

pub struct Process(pub Child);

/// An agent with its own data and socket under `home`, named by `user`.
pub fn start_agent(
    home: &Path,
    user: &str,
    extra: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> (Process, PathBuf) {
    let socket = home.join(format!("run{user}/envv/agent.sock"));
    let child = Command::new(envv_testkit::bin("envvd"))
        .arg("--socket")
        .arg(&socket)
        .args(["--kdf-memory-kib", "8192", "--kdf-iterations", "1"])
        .args(extra)
        .env("XDG_DATA_HOME", home.join(format!("data{user}")))
        .env_remove("ENVV_SERVER_CA")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the agent", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    (Process(child), socket)
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct World {
    pub home: tempfile::TempDir,
    pub server: String,
    pub port: u16,
    pub control_plane: ControlPlane,
    pub agent: Option<Process>,
}

impl World {
    pub fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        let port = envv_testkit::free_port();
        let control_plane = ControlPlane::start(home.path(), port);
        let mut world = World {
            home,
            server: format!("http://127.0.0.1:{port}"),
            port,
            control_plane,
            agent: None,
        };
        world.start_agent();
        world
    }

    pub fn stop_control_plane(&mut self) {
        self.control_plane.stop();
    }

    pub fn restart_control_plane(&mut self) {
        self.control_plane.restart();
    }

    pub fn socket(&self) -> PathBuf {
        self.home.path().join("run/envv/agent.sock")
    }

    pub fn start_agent(&mut self) {
        let (agent, _) = self.agent_for("", &["--admit-interval", "1"]);
        self.agent = Some(agent);
    }

    /// Another user's agent on this machine: its own data and socket.
    pub fn agent_for(&self, user: &str, extra: &[&str]) -> (Process, PathBuf) {
        start_agent(self.home.path(), user, extra, &[])
    }

    pub fn restart_agent(&mut self) {
        self.client().request(&Request::Shutdown).unwrap();
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.0.wait();
        }
        self.start_agent();
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket(), "test").unwrap()
    }

    pub fn project(&self) -> PathBuf {
        let dir = self.home.path().join("project");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

pub fn at(dir: &Path) -> EnvRef {
    EnvRef {
        dir: dir.to_path_buf(),
        env: None,
    }
}

/// Sets `name` to `value` in the project's default environment.
pub fn set(client: &mut Client, dir: &Path, name: &str, value: &str) -> Result<Response, IpcError> {
    client.request(&Request::Set {
        at: at(dir),
        name: name.into(),
        value: Secret::new(value),
    })
}

pub fn read(client: &mut Client, dir: &Path) -> Result<Vec<(String, String)>, IpcError> {
    match client.request(&Request::Read {
        at: at(dir),
        only: vec![],
        purpose: ReadPurpose::Exec,
    })? {
        Response::Secrets { secrets } => Ok(secrets
            .into_iter()
            .map(|(n, v)| (n, v.expose().to_owned()))
            .collect()),
        other => panic!("expected secrets, got {other:?}"),
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// `email` signs up and creates a team; a project bound to it holds
/// `KEY=v`.
pub fn team_project(world: &World, client: &mut Client, email: &str) -> (uuid::Uuid, PathBuf) {
    team_project_on(world, client, &world.server.clone(), email)
}

/// [`team_project`] with the agent talking to the control plane at `server`
/// (a proxy in front of it, say).
pub fn team_project_on(
    world: &World,
    client: &mut Client,
    server: &str,
    email: &str,
) -> (uuid::Uuid, PathBuf) {
    team_project_in(world.home.path(), client, server, email)
}

/// [`team_project_on`] for an agent and control plane a test started
/// itself, the project in `home`.
pub fn team_project_in(
    home: &Path,
    client: &mut Client,
    server: &str,
    email: &str,
) -> (uuid::Uuid, PathBuf) {
    signup(client, server, email);
    let Response::Team(team) = client
        .request(&Request::CreateTeam { name: "T".into() })
        .unwrap()
    else {
        panic!("team");
    };
    let project = home.join("project");
    std::fs::create_dir_all(&project).unwrap();
    client
        .request(&Request::Init {
            dir: project.clone(),
            team: Some(team.id),
        })
        .unwrap();
    set(client, &project, "KEY", "v").unwrap();
    (team.id, project)
}

/// Unlocks with [`PASSWORD`].
pub fn unlock(client: &mut Client) {
    client
        .request(&Request::Unlock {
            password: Some(Secret::new(PASSWORD)),
        })
        .unwrap();
}

pub fn signup(client: &mut Client, server: &str, email: &str) {
    client
        .request(&Request::Signup {
            server: server.to_owned(),
            email: email.into(),
            name: email.into(),
            password: Secret::new(PASSWORD),
            allow_weak_password: false,
        })
        .unwrap();
}

pub fn status(client: &mut Client) -> proto_ipc::AgentStatus {
    match client.request(&Request::Status).unwrap() {
        Response::Status(status) => status,
        other => panic!("expected a status, got {other:?}"),
    }
}
