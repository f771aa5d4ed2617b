//! Import through the agent: expansion from the client's environment only,
//! dry runs, refusals that write nothing.

use super::*;

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
