//! A value given on stdin stays out of argv, logs and the disk.

mod common;

use std::path::Path;

use common::Sandbox;

const VALUE: &str = "pl41ntext-c4n4ry-5f0c2e9b";

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn set_from_stdin_keeps_the_value_off_argv_and_disk() {
    let s = Sandbox::new();
    s.init();
    s.envv(["set", "TOKEN", "--stdin"])
        .write_stdin(format!("{VALUE}\n"))
        .assert()
        .success()
        .stdout("");
    assert_eq!(s.ok(["get", "TOKEN"]), format!("{VALUE}\n"));
    assert_eq!(
        s.ok(["exec", "--", "printenv", "TOKEN"]),
        format!("{VALUE}\n")
    );

    let pid = s.agent_pid().expect("agent running");
    for what in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{what}")).expect("proc");
        assert!(
            !contains(&bytes, VALUE.as_bytes()),
            "value in the agent's {what}"
        );
    }

    let mut all = Vec::new();
    files(s.root(), &mut all);
    assert!(all.iter().any(|p| p.ends_with(".env.enc")), "{all:?}");
    for path in &all {
        let bytes = std::fs::read(path).expect("read");
        assert!(
            !contains(&bytes, VALUE.as_bytes()),
            "plaintext value found in {}",
            path.display()
        );
    }
}
