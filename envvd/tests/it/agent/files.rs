//! Projects and their files: set, read, cache, tamper, list.

use super::*;

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
