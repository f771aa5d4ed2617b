//! Editing files on disk: set, unset, rename, list, re-encryption, locking.

use crate::common::{any_epoch, env, keyring, name, truncated_ring};
use envv_core::crypto::EpochIdentity;
use envv_core::envfile::{EnvFileError, ReadOptions, dotenv, edit};

#[test]
fn set_unset_rename_and_list_persist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = keyring(1);
    let e = env("default");
    let path = edit::env_path(dir.path(), &e);
    assert!(path.ends_with(".env.enc"));
    edit::set(&path, &e, &ring, name("B"), "two".into()).expect("set B");
    edit::set(&path, &e, &ring, name("A"), "one".into()).expect("set A");
    edit::rename(&path, &e, &ring, "B", name("C")).expect("rename");
    let names: Vec<String> = edit::list(&path, &ring, &any_epoch("default"))
        .expect("list")
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["A", "C"]);
    edit::unset(&path, &e, &ring, "A").expect("unset");
    assert!(matches!(
        edit::unset(&path, &e, &ring, "A"),
        Err(EnvFileError::NotFound { .. })
    ));
    let all = edit::read_all(&path, &ring, &any_epoch("default")).expect("read");
    assert_eq!(all.len(), 1);
    assert_eq!(all.get("C").map(|v| v.expose()), Some("two"));
    let file = edit::read(&path, &ring, &any_epoch("default")).expect("read");
    assert_eq!(file.generation(), 4, "one generation per successful write");
}

#[test]
fn unchanged_secrets_keep_identical_lines_so_diffs_stay_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = keyring(1);
    let e = env("default");
    let path = edit::env_path(dir.path(), &e);
    for (k, v) in [("A", "1"), ("B", "2"), ("C", "3")] {
        edit::set(&path, &e, &ring, name(k), v.into()).expect("set");
    }
    let before = std::fs::read_to_string(&path).expect("read");
    edit::set(&path, &e, &ring, name("B"), "changed".into()).expect("set");
    let after = std::fs::read_to_string(&path).expect("read");
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    let labels: Vec<&str> = changed
        .iter()
        .map(|(a, _)| a.split([' ', '=']).next().unwrap_or(""))
        .collect();
    assert_eq!(labels, ["generation", "header-mac", "B", "file-mac"]);
}

#[test]
fn writes_move_old_files_to_the_current_epoch_with_a_fresh_data_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring2 = keyring(2);
    let ring1 = truncated_ring(&ring2, 1);
    let e = env("staging");
    let path = edit::env_path(dir.path(), &e);
    assert!(path.ends_with(".env.staging.enc"));
    edit::set(&path, &e, &ring1, name("K"), "v".into()).expect("set at epoch 1");
    let strict = ReadOptions::current(e.clone(), &ring2);
    assert!(matches!(
        edit::read(&path, &ring2, &strict),
        Err(EnvFileError::StaleEpoch { .. })
    ));
    edit::reencrypt(&path, &e, &ring2).expect("re-encrypt");
    let file = edit::read(&path, &ring2, &strict).expect("current now");
    assert_eq!(file.epoch(), 2);
    assert_eq!(file.get("K").map(|v| v.expose()), Some("v"));
    // A member who only held epoch 1 (removed before rotation) is shut out.
    assert!(edit::read(&path, &ring1, &any_epoch("staging")).is_err());
    // Any write at epoch 2 also refuses to go back to epoch 1.
    let mut ring3 = ring2.clone();
    ring3
        .insert(EpochIdentity::generate(ring2.team(), 3))
        .expect("insert");
    edit::set(&path, &e, &ring3, name("L"), "w".into()).expect("set");
    assert_eq!(
        edit::read(&path, &ring3, &any_epoch("staging"))
            .expect("read")
            .epoch(),
        3
    );
}

#[test]
fn concurrent_writers_lose_no_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = keyring(1);
    let e = env("default");
    let path = edit::env_path(dir.path(), &e);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (path, ring, e) = (&path, &ring, &e);
            s.spawn(move || {
                for i in 0..8 {
                    edit::set(path, e, ring, name(&format!("T{t}_{i}")), "x".into()).expect("set");
                }
            });
        }
    });
    let all = edit::read_all(&path, &ring, &any_epoch("default")).expect("read");
    assert_eq!(all.len(), 32);
}

#[test]
fn import_and_export_through_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = keyring(1);
    let e = env("default");
    let path = edit::env_path(dir.path(), &e);
    let n =
        dotenv::import(&path, &e, &ring, b"export A=1\nB=\"two\\nlines\"\n# c\n").expect("import");
    assert_eq!(n, 2);
    let file = edit::read(&path, &ring, &any_epoch("default")).expect("read");
    let out = dotenv::export_file(&file, dotenv::ExportFormat::Dotenv).expect("export");
    assert_eq!(out.as_str(), "A=\"1\"\nB=\"two\\nlines\"\n");
    let shell = dotenv::export_file(&file, dotenv::ExportFormat::Shell).expect("export");
    assert_eq!(shell.as_str(), "export A='1'\nexport B='two\nlines'\n");
    // `A.B` is a name dotenv loaders read; one starting with `.` is not.
    assert!(matches!(
        dotenv::import(&path, &e, &ring, b".BAD=1\n"),
        Err(EnvFileError::Dotenv(ref err)) if matches!(err.problem, dotenv::Problem::InvalidName { .. })
    ));
}

#[test]
fn writes_wait_for_the_current_epoch_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ring = keyring(1);
    let e = env("default");
    let path = edit::env_path(dir.path(), &e);
    edit::set(&path, &e, &ring, name("A"), "1".into()).expect("set");
    // The control plane says the team rotated; this member's grant is pending.
    ring.note_team_epoch(2);
    assert!(matches!(
        edit::set(&path, &e, &ring, name("A"), "2".into()),
        Err(EnvFileError::CurrentKeyMissing {
            team_epoch: 2,
            held: 1
        })
    ));
    // Reading still works, and the file was not touched.
    let all = edit::read_all(&path, &ring, &any_epoch("default")).expect("read");
    assert_eq!(all.get("A").map(|v| v.expose()), Some("1"));
}

#[test]
fn a_file_moves_to_another_teams_key_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let personal = keyring(1);
    let team = keyring(2);
    let e = env("production");
    let path = edit::env_path(dir.path(), &e);
    edit::set(&path, &e, &personal, name("B"), "two".into()).expect("set");
    edit::set(&path, &e, &personal, name("A"), "one".into()).expect("set");
    let moved = edit::move_to(&path, &e, &personal, &team).expect("move");
    let moved: Vec<String> = moved
        .expect("moved")
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(moved, ["A", "B"]);
    // The team's current key opens it, at its current epoch; the old key
    // no longer does.
    let file = edit::read(&path, &team, &ReadOptions::current(e.clone(), &team)).expect("read");
    assert_eq!(file.team(), team.team());
    assert_eq!(file.epoch(), 2);
    assert_eq!(file.get("A").map(|v| v.expose()), Some("one"));
    assert!(edit::read(&path, &personal, &any_epoch("production")).is_err());
    // Run again (an interrupted move): verified, left as is.
    let before = std::fs::read(&path).expect("read");
    assert!(
        edit::move_to(&path, &e, &personal, &team)
            .expect("again")
            .is_none()
    );
    assert_eq!(std::fs::read(&path).expect("read"), before);
    // A third team's file is neither's: refused, untouched.
    let other = keyring(1);
    let path3 = edit::env_path(dir.path(), &env("default"));
    edit::set(&path3, &env("default"), &other, name("X"), "x".into()).expect("set");
    assert!(matches!(
        edit::move_to(&path3, &env("default"), &personal, &team),
        Err(EnvFileError::WrongTeam { .. })
    ));
}
