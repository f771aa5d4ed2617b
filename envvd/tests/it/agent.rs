//! The real `envvd` binary on a real socket, driven with the real client.

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
        let child = Command::new(env!("CARGO_BIN_EXE_envvd"))
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

#[test]
fn local_mode_sets_reads_and_imports_without_a_server() {
    let agent = Agent::start(&[]);
    let project = agent.project();
    let mut client = agent.client();
    let Response::Project { root, .. } = client
        .request(&Request::Init {
            dir: project.clone(),
            team: None,
        })
        .unwrap()
    else {
        panic!("init answers the project");
    };
    assert_eq!(root, project);
    assert!(project.join(".envv.json").exists());

    // From a subdirectory: the agent walks up to the project.
    let sub = project.join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    set(&mut client, &sub, "KEY", "value");
    set(&mut client, &project, "OTHER", "x=y \"quoted\"\nnewline");
    assert_eq!(
        read(&mut client, &sub),
        [
            ("KEY".into(), "value".into()),
            ("OTHER".into(), "x=y \"quoted\"\nnewline".into())
        ]
    );
    let text = std::fs::read_to_string(project.join(".env.enc")).unwrap();
    assert!(
        text.contains("KEY") && !text.contains("value"),
        "names in clear, values sealed"
    );

    let only = client
        .request(&Request::Read {
            at: at(&project, None),
            only: vec!["KEY".into()],
            purpose: ReadPurpose::Get,
        })
        .unwrap();
    assert_eq!(secrets(only), [("KEY".into(), "value".into())]);
    let missing = client.request(&Request::Read {
        at: at(&project, None),
        only: vec!["NOPE".into()],
        purpose: ReadPurpose::Get,
    });
    assert!(matches!(
        missing,
        Err(IpcError::Agent {
            code: ErrorCode::NotFound,
            ..
        })
    ));

    // Environments are separate files.
    client
        .request(&Request::Set {
            at: at(&project, Some("staging")),
            name: "KEY".into(),
            value: Secret::new("staging-value"),
        })
        .unwrap();
    assert!(project.join(".env.staging.enc").exists());
    assert_eq!(read(&mut client, &project)[0].1, "value");

    let imported = client
        .request(&Request::Import {
            at: at(&project, None),
            dotenv: Secret::new("export A=1\nB=\"two words\"\n# comment\nC='multi\nline'\n"),
            env: vec![],
            options: ImportOptions::default(),
        })
        .unwrap();
    let Response::Imported {
        count, warnings, ..
    } = imported
    else {
        panic!("import: {imported:?}");
    };
    assert_eq!((count, warnings.len()), (3, 0));
    let Response::Names { names } = client
        .request(&Request::Names {
            at: at(&project, None),
        })
        .unwrap()
    else {
        panic!("names");
    };
    assert_eq!(names, ["A", "B", "C", "KEY", "OTHER"]);

    client
        .request(&Request::Unset {
            at: at(&project, None),
            name: "OTHER".into(),
        })
        .unwrap();
    let unset_again = client.request(&Request::Unset {
        at: at(&project, None),
        name: "OTHER".into(),
    });
    assert!(matches!(
        unset_again,
        Err(IpcError::Agent {
            code: ErrorCode::NotFound,
            ..
        })
    ));
}

fn import(
    client: &mut Client,
    dir: &Path,
    text: &str,
    env: &[(&str, &str)],
    options: ImportOptions,
) -> Result<(Vec<ImportChange>, Vec<String>), IpcError> {
    let response = client.request(&Request::Import {
        at: at(dir, None),
        dotenv: Secret::new(text),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Secret::new(*v)))
            .collect(),
        options,
    })?;
    let Response::Imported {
        changes, warnings, ..
    } = response
    else {
        panic!("import: {response:?}");
    };
    Ok((changes, warnings))
}

#[test]
fn import_expands_from_the_clients_environment_never_the_agents() {
    let agent = Agent::start(&[]);
    let (mut client, project) = agent.local_project();
    // The agent runs with HOME set to its temp dir; only what the client
    // sends may be used.
    let text = "FROM_CLIENT=${CLIENT_VAR}/x\nNOT_SENT=${HOME}\nLITERAL='${CLIENT_VAR}'\n";
    let (_, warnings) = import(
        &mut client,
        &project,
        text,
        &[("CLIENT_VAR", "sent")],
        ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(
        read(&mut client, &project),
        [
            ("FROM_CLIENT".to_owned(), "sent/x".to_owned()),
            ("LITERAL".to_owned(), "${CLIENT_VAR}".to_owned()),
            ("NOT_SENT".to_owned(), "${HOME}".to_owned()),
        ]
    );
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("`FROM_CLIENT` takes a variable from your environment"),
        "{warnings:?}"
    );
    assert!(warnings[1].contains("`NOT_SENT`"), "{warnings:?}");

    // `--strict`: the undefined reference is an error and nothing is written.
    let strict = ImportOptions {
        strict: true,
        ..ImportOptions::default()
    };
    let err = import(&mut client, &project, "NEW=1\nX=$HOME\n", &[], strict).unwrap_err();
    let IpcError::Agent { code, message } = err else {
        panic!("{err:?}");
    };
    assert_eq!(code, ErrorCode::Invalid);
    assert!(message.contains("line 2, column 3"), "{message}");
    assert_eq!(read(&mut client, &project).len(), 3);

    // `--no-expand` stores what is written.
    let literal = ImportOptions {
        expand: false,
        ..ImportOptions::default()
    };
    import(
        &mut client,
        &project,
        "RAW=$CLIENT_VAR\n",
        &[("CLIENT_VAR", "sent")],
        literal,
    )
    .unwrap();
    assert!(read(&mut client, &project).contains(&("RAW".to_owned(), "$CLIENT_VAR".to_owned())));
}

#[test]
fn a_dry_run_reports_new_changed_and_same_and_writes_nothing() {
    let agent = Agent::start(&[]);
    let (mut client, project) = agent.local_project();
    set(&mut client, &project, "SAME", "v");
    set(&mut client, &project, "CHANGED", "old");
    let before = std::fs::read(project.join(".env.enc")).unwrap();
    let dry = ImportOptions {
        dry_run: true,
        ..ImportOptions::default()
    };
    let (changes, _) = import(
        &mut client,
        &project,
        "SAME=v\nCHANGED=new\nNEW=n\n",
        &[],
        dry,
    )
    .unwrap();
    let status = |name: &str| changes.iter().find(|c| c.name == name).map(|c| c.status);
    assert_eq!(status("SAME"), Some(ImportStatus::Same));
    assert_eq!(status("CHANGED"), Some(ImportStatus::Changed));
    assert_eq!(status("NEW"), Some(ImportStatus::New));
    assert_eq!(std::fs::read(project.join(".env.enc")).unwrap(), before);

    // The real import reports the same, and then writes.
    let (written, _) = import(
        &mut client,
        &project,
        "SAME=v\nCHANGED=new\nNEW=n\n",
        &[],
        ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(written, changes);
    assert_eq!(read(&mut client, &project).len(), 3);
}

#[test]
fn a_refused_import_writes_nothing_and_masks_the_line() {
    let agent = Agent::start(&[]);
    let (mut client, project) = agent.local_project();
    set(&mut client, &project, "KEEP", "v");
    let err = import(
        &mut client,
        &project,
        "A=1\nAPI_KEY=\"s3cr3t-value\n",
        &[],
        ImportOptions::default(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("line 2, column 9"), "{message}");
    assert!(message.contains("API_KEY=\"••••"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    assert_eq!(
        read(&mut client, &project),
        [("KEEP".to_owned(), "v".to_owned())]
    );
}

#[test]
fn outside_a_project_the_error_says_to_init() {
    let agent = Agent::start(&[]);
    let mut client = agent.client();
    let err = client
        .request(&Request::Read {
            at: at(agent.home.path(), None),
            only: vec![],
            purpose: ReadPurpose::Exec,
        })
        .unwrap_err();
    assert!(err.to_string().contains("envv init"), "{err}");
}

#[test]
fn a_file_changed_on_disk_is_read_again() {
    let agent = Agent::start(&[]);
    let (mut client, project) = agent.local_project();
    set(&mut client, &project, "KEY", "first");
    let first = std::fs::read(project.join(".env.enc")).unwrap();
    set(&mut client, &project, "KEY", "second");
    assert_eq!(read(&mut client, &project)[0].1, "second");
    // Someone else (git checkout, say) puts the older file back.
    let tmp = project.join(".env.enc.restore");
    std::fs::write(&tmp, &first).unwrap();
    std::fs::rename(&tmp, project.join(".env.enc")).unwrap();
    assert_eq!(read(&mut client, &project)[0].1, "first");
}

/// The values of a file that changed leave the agent's memory at once, not
/// at the next read.
#[test]
fn a_changed_file_leaves_memory_without_a_read() {
    let agent = Agent::start(&[]);
    let (mut client, project) = agent.local_project();
    set(&mut client, &project, "KEY", "value");
    read(&mut client, &project);
    let cached = |client: &mut Client| match client.request(&Request::Status).unwrap() {
        Response::Status(status) => status.cached_files,
        other => panic!("status answered {other:?}"),
    };
    assert_eq!(cached(&mut client), 1);

    // A checkout puts another copy of the file in place.
    let file = project.join(".env.enc");
    let copy = project.join(".env.enc.checkout");
    std::fs::copy(&file, &copy).unwrap();
    std::fs::rename(&copy, &file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cached(&mut client) != 0 {
        assert!(
            Instant::now() < deadline,
            "the decrypted copy stayed in memory"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        read(&mut client, &project),
        [("KEY".into(), "value".into())]
    );
}

#[test]
fn a_tampered_file_fails_closed() {
    let agent = Agent::start(&[]);
    let (mut client, project) = agent.local_project();
    set(&mut client, &project, "A", "1");
    set(&mut client, &project, "B", "2");
    let text = std::fs::read_to_string(project.join(".env.enc")).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("B=")).collect();
    std::fs::write(project.join(".env.enc"), kept.join("\n") + "\n").unwrap();
    let err = client
        .request(&Request::Read {
            at: at(&project, None),
            only: vec![],
            purpose: ReadPurpose::Exec,
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            IpcError::Agent {
                code: ErrorCode::Crypto,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn the_idle_lock_fires() {
    let agent = Agent::start(&["--idle-lock", "1"]);
    let (mut client, project) = agent.local_project();
    set(&mut client, &project, "KEY", "value");
    read(&mut client, &project);
    let Response::Status(status) = client.request(&Request::Status).unwrap() else {
        panic!()
    };
    assert!(!status.locked && status.cached_files == 1);
    std::thread::sleep(Duration::from_millis(2500));
    let Response::Status(status) = client.request(&Request::Status).unwrap() else {
        panic!()
    };
    assert!(status.locked, "idle lock");
    assert_eq!(
        status.cached_files, 0,
        "decrypted values are dropped with the keys"
    );
    client.request(&Request::Lock).unwrap();
}

#[test]
fn a_live_socket_is_never_stolen_and_a_stale_one_is_replaced() {
    let mut first = Agent::start(&[]);
    let home = first.home.path().to_path_buf();
    let second = Command::new(env!("CARGO_BIN_EXE_envvd"))
        .arg("--socket")
        .arg(&first.socket)
        .env("XDG_DATA_HOME", home.join("data"))
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));
    assert!(
        first.client().request(&Request::Status).is_ok(),
        "the first agent still serves"
    );

    // Killed without cleaning up: the socket file stays behind, dead.
    first.child.kill().unwrap();
    first.wait();
    assert!(first.socket.exists());
    let home_dir = std::mem::replace(&mut first.home, tempfile::tempdir().unwrap());
    let third = Agent::start_in(home_dir, &[]);
    assert!(third.client().request(&Request::Status).is_ok());
}

#[test]
fn sigterm_locks_removes_the_socket_and_exits() {
    let mut agent = Agent::start(&[]);
    agent.signal(rustix::process::Signal::TERM);
    assert!(agent.wait().success());
    assert!(!agent.socket.exists());
}

#[test]
fn the_agent_makes_no_core_files() {
    let agent = Agent::start(&[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", agent.pid())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}

#[test]
fn shutdown_over_the_socket() {
    let mut agent = Agent::start(&[]);
    assert_eq!(
        agent.client().request(&Request::Shutdown).unwrap(),
        Response::Done
    );
    assert!(agent.wait().success());
    assert!(!agent.socket.exists());
}

#[test]
fn another_user_gets_no_answer() {
    use std::os::unix::fs::PermissionsExt;
    // Dropping to another uid needs root (CI runs as root), util-linux's
    // setpriv and a client another user can run: Debian's python3.
    let python = Path::new("/usr/bin/python3");
    if rustix::process::getuid().as_raw() != 0 || !python.exists() {
        eprintln!("skipping: needs root and /usr/bin/python3");
        return;
    }
    let agent = Agent::start(&[]);
    // Open the way to the socket, so only the agent's own check stands.
    let mut dir = agent.socket.parent().unwrap().to_path_buf();
    loop {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        if dir == agent.home.path() {
            break;
        }
        dir.pop();
    }
    std::fs::set_permissions(&agent.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let hello = r#"{"version":1,"client":"intruder"}"#;
    // Connects, says hello, and reports whether any answer came back; a
    // reset or broken pipe is the agent hanging up.
    let script = format!(
        "import socket,struct,sys\nd=b''\ntry:\n  s=socket.socket(socket.AF_UNIX)\n  s.connect(sys.argv[1])\n  b=b'{hello}'\n  s.sendall(struct.pack('>I',len(b))+b)\n  d=s.recv(4)\nexcept OSError:\n  pass\nprint('answered' if d else 'closed')"
    );
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(python)
        .args(["-c", &script])
        .arg(&agent.socket)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("closed"),
        "stdout {stdout} stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // We ourselves still get an answer (our client insists on a private directory).
    let socket_dir = agent.socket.parent().unwrap();
    std::fs::set_permissions(socket_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(agent.client().request(&Request::Status).is_ok());
}

#[test]
fn agents_racing_for_one_socket_leave_exactly_one() {
    let home = tempfile::tempdir().unwrap();
    let socket = home.path().join("run/envv/agent.sock");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_envvd"))
            .arg("--socket")
            .arg(&socket)
            .env("XDG_DATA_HOME", home.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    for round in 0..3 {
        let mut racers: Vec<Child> = (0..8).map(|_| start()).collect();
        std::thread::sleep(Duration::from_millis(1500));
        let running = racers
            .iter_mut()
            .filter_map(|c| c.try_wait().unwrap().is_none().then_some(()))
            .count();
        assert_eq!(
            running, 1,
            "round {round}: exactly one agent keeps the socket"
        );
        let mut client = Client::connect(&socket, "test").unwrap();
        assert!(client.request(&Request::Status).is_ok());
        // Die without cleaning up, leaving a stale socket for the next round.
        for racer in &mut racers {
            let _ = racer.kill();
            let _ = racer.wait();
        }
    }
}

#[test]
fn projects_are_listed_with_their_environments_and_remembered() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let projects = |client: &mut Client, here: Option<&Path>| match client
        .request(&Request::Projects {
            here: here.map(Path::to_path_buf),
        })
        .unwrap()
    {
        Response::Projects { projects } => projects
            .into_iter()
            .map(|p| (p.root, p.envs))
            .collect::<Vec<_>>(),
        other => panic!("projects answered {other:?}"),
    };
    let mut agent = Agent::start_in(home, &[]);
    let mut client = agent.client();
    assert_eq!(projects(&mut client, None), []);
    for dir in [&project, &elsewhere] {
        client
            .request(&Request::Init {
                dir: dir.clone(),
                team: None,
            })
            .unwrap();
    }
    set(&mut client, &project, "KEY", "value");
    client
        .request(&Request::Set {
            at: at(&project, Some("staging")),
            name: "KEY".into(),
            value: Secret::new("staged"),
        })
        .unwrap();
    // The project around `here` comes first; one with no file yet shows
    // its default environment.
    assert_eq!(
        projects(&mut client, Some(&elsewhere.join("sub"))),
        [
            (elsewhere.clone(), vec![None]),
            (project.clone(), vec![None, Some("staging".into())]),
        ]
    );
    let file = agent.home.path().join("data/envv/projects.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    client.request(&Request::Shutdown).unwrap();
    agent.wait();

    // A restarted agent remembers; a project no longer bound drops out.
    std::fs::remove_file(elsewhere.join(".envv.json")).unwrap();
    let home = std::mem::replace(&mut agent.home, tempfile::tempdir().unwrap());
    let agent = Agent::start_in(home, &[]);
    assert_eq!(
        projects(&mut agent.client(), None),
        [(project, vec![None, Some("staging".into())])]
    );
}
