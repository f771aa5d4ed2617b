//! What the fault tests share: a runtime for the load generator, raw
//! requests that keep the status and `Retry-After`, and a real `envvd`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use envv_testkit::count_actions;
use envv_testkit::{bin, wait_for};
use proto_ipc::{Client, EnvRef, ReadPurpose, Request, Response, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One request's answer: status, `Retry-After`, body, and how long it took.
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: Value,
    pub took: Duration,
}

/// A request straight to one server (no balancer, no retry), waiting at
/// most 30 s so a hang fails the test rather than stalling it.
pub async fn request(method: Method, url: &str, token: &str, body: Option<Value>) -> Answer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let started = Instant::now();
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
        took: started.elapsed(),
    }
}

/// A batch of one `exec` event, for `POST /teams/{id}/audit`.
pub fn one_event() -> Value {
    json!({ "events": [{
        "id": Uuid::new_v4(),
        "action": "exec",
        "occurred_at": chrono::Utc::now(),
        "secret_names": ["KEY"],
    }]})
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The real agent, with its data and socket under a directory; killed when
/// dropped.
pub struct Envvd {
    child: Child,
    pub socket: PathBuf,
}

impl Envvd {
    pub fn start(home: &Path) -> Envvd {
        let socket = home.join("run/envv/agent.sock");
        let child = Command::new(bin("envvd"))
            .arg("--socket")
            .arg(&socket)
            .args(["--kdf-memory-kib", "8192", "--kdf-iterations", "1"])
            .env("XDG_DATA_HOME", home.join("data"))
            .env_remove("ENVV_SERVER_CA")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start envvd");
        wait_for("the agent", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        Envvd { child, socket }
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket, "faults").unwrap()
    }

    /// Signs up at `server`, creates a team and a project in `dir` holding
    /// `KEY=v`: the team's id.
    pub fn team_project(&self, server: &str, email: &str, dir: &Path) -> Uuid {
        let mut client = self.client();
        client
            .request(&Request::Signup {
                server: server.to_owned(),
                email: email.into(),
                name: email.into(),
                password: Secret::new(PASSWORD),
                allow_weak_password: false,
            })
            .unwrap();
        let Response::Team(team) = client
            .request(&Request::CreateTeam { name: "T".into() })
            .unwrap()
        else {
            panic!("a team");
        };
        std::fs::create_dir_all(dir).unwrap();
        client
            .request(&Request::Init {
                dir: dir.to_path_buf(),
                team: Some(team.id),
            })
            .unwrap();
        client
            .request(&Request::Set {
                at: at(dir),
                name: "KEY".into(),
                value: Secret::new("v"),
            })
            .unwrap();
        team.id
    }
}

impl Drop for Envvd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn at(dir: &Path) -> EnvRef {
    EnvRef {
        dir: dir.to_path_buf(),
        env: None,
    }
}

/// Decrypts the project for a process, as `envv exec` does: the agent
/// records an `exec` event in its spool before it answers.
pub fn read(client: &mut Client, dir: &Path) -> bool {
    matches!(
        client.request(&Request::Read {
            at: at(dir),
            only: vec![],
            purpose: ReadPurpose::Exec,
        }),
        Ok(Response::Secrets { .. })
    )
}

/// Asks the agent to ship its spool until it reports nothing pending, for
/// up to 20 s.
pub fn drain_spool(client: &mut Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Response::Synced { pending: 0, .. }) = client.request(&Request::SyncAudit) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's spool did not drain in 20 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
