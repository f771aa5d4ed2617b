//! The CLI-only demo and the secret commands, against a real agent.

use std::collections::BTreeMap;

use crate::common::{Sandbox, code, stderr, stdout};

#[test]
fn cli_only_demo_runs_with_no_server() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "KEY", "value"]);
    assert_eq!(s.ok(["exec", "--", "printenv", "KEY"]), "value\n");
    assert!(s.project.join(".env.enc").exists());
}

#[test]
fn get_ls_and_unset() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "B_KEY", "bee"]);
    s.ok(["set", "A_KEY", "a value with spaces"]);
    assert_eq!(s.ok(["get", "A_KEY"]), "a value with spaces\n");
    assert_eq!(s.ok(["get", "-n", "B_KEY"]), "bee");
    let names: Vec<String> = serde_json::from_str(&s.ok(["ls", "--json"])).expect("json");
    assert_eq!(names, ["A_KEY", "B_KEY"]);
    assert_eq!(s.ok(["ls"]), "A_KEY\nB_KEY\n");

    s.ok(["unset", "A_KEY"]);
    let out = s.run(["get", "A_KEY"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("A_KEY"), "{}", stderr(&out));
    assert_eq!(s.ok(["ls"]), "B_KEY\n");
}

#[test]
fn a_subdirectory_uses_the_project_and_dash_c_works() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "K", "v"]);
    let sub = s.project.join("src/deep");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let out = s
        .envv(["get", "K"])
        .current_dir(&sub)
        .output()
        .expect("run");
    assert_eq!(stdout(&out), "v\n", "{}", stderr(&out));
    let out = s
        .envv(["-C", s.project.to_str().expect("utf-8"), "get", "K"])
        .current_dir(s.root())
        .output()
        .expect("run");
    assert_eq!(stdout(&out), "v\n", "{}", stderr(&out));
}

#[test]
fn environments_are_isolated() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "K", "prod"]);
    s.ok(["--env", "staging", "set", "K", "stg"]);
    s.ok(["set", "ONLY_PROD", "x"]);
    assert_eq!(s.ok(["get", "K"]), "prod\n");
    assert_eq!(s.ok(["get", "K", "--env", "staging"]), "stg\n");
    assert_eq!(s.ok(["--env", "staging", "ls"]), "K\n");
    assert_eq!(
        s.ok(["--env", "staging", "exec", "--", "printenv", "K"]),
        "stg\n"
    );
    let out = s.run(["--env", "staging", "get", "ONLY_PROD"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(s.project.join(".env.enc").exists());
    assert!(s.project.join(".env.staging.enc").exists());
}

const DOTENV: &str = r#"# a comment
export EXPORTED=plain
SINGLE='single $NOT "x"'
DOUBLE="dq \"esc\" tab"
MULTI="line one
line two"
EMPTY=
TRAILING=v # trailing comment
"#;

fn expected() -> BTreeMap<String, String> {
    [
        ("DOUBLE", "dq \"esc\" tab"),
        ("EMPTY", ""),
        ("EXPORTED", "plain"),
        ("MULTI", "line one\nline two"),
        ("SINGLE", "single $NOT \"x\""),
        ("TRAILING", "v"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn import_understands_real_dotenv() {
    let s = Sandbox::new();
    s.init();
    let file = s.project.join(".env");
    std::fs::write(&file, DOTENV).expect("write");
    let out = s.envv(["import", ".env"]).output().expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("imported 6 secrets"),
        "{}",
        stderr(&out)
    );
    let json: BTreeMap<String, String> =
        serde_json::from_str(&s.ok(["export", "--format", "json"])).expect("json");
    assert_eq!(json, expected());
    assert_eq!(
        s.ok(["exec", "--", "printenv", "MULTI"]),
        "line one\nline two\n"
    );

    // From stdin too.
    s.envv(["--env", "piped", "import", "-"])
        .write_stdin(DOTENV)
        .assert()
        .success();
    let json: BTreeMap<String, String> =
        serde_json::from_str(&s.ok(["--env", "piped", "export", "-f", "json"])).expect("json");
    assert_eq!(json, expected());
}

#[test]
fn export_formats_reproduce_the_values() {
    let s = Sandbox::new();
    s.init();
    std::fs::write(s.project.join(".env"), DOTENV).expect("write");
    s.ok(["import", ".env"]);
    s.ok(["set", "TRICKY", "it's a \\ \"$HOME\" ${X}\nnext"]);

    // dotenv re-imports to the same values.
    let dotenv = s.ok(["export"]);
    assert_eq!(dotenv, s.ok(["export", "--format", "dotenv"]));
    s.envv(["--env", "copy", "import"])
        .write_stdin(dotenv)
        .assert()
        .success();
    assert_eq!(
        s.ok(["--env", "copy", "export", "--format", "json"]),
        s.ok(["export", "--format", "json"])
    );

    // shell: a POSIX shell that sources it sees the same values.
    let shell = s.ok(["export", "--format", "shell"]);
    assert!(shell.starts_with("export "), "{shell}");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{shell}\nprintf '%s' \"$TRICKY\""))
        .env_clear()
        .output()
        .expect("sh");
    assert_eq!(stdout(&out), "it's a \\ \"$HOME\" ${X}\nnext");

    // Every format imports back to the same values, `\r` included.
    s.ok(["set", "CR", "a\r\nb\r"]);
    let all = s.ok(["export", "--format", "json"]);
    for format in ["dotenv", "json", "shell"] {
        let env = format!("from-{format}");
        let text = s.ok(["export", "--format", format]);
        s.envv(["--env", &env, "import", "--strict"])
            .write_stdin(text)
            .assert()
            .success();
        assert_eq!(
            s.ok(["--env", &env, "export", "--format", "json"]),
            all,
            "{format}"
        );
    }
}

#[test]
fn import_expands_from_the_shell_and_a_dry_run_lists_names_only() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "SAME", "1"]);
    s.ok(["set", "CHANGED", "old"]);
    let file = s.project.join(".env");
    std::fs::write(
        &file,
        "SAME=1\nCHANGED=${FROM_SHELL}\nNEW=$UNSET_IN_SHELL # c\nRAW='$FROM_SHELL'\n",
    )
    .expect("write");
    let out = s
        .envv(["import", ".env", "--dry-run", "--json"])
        .env("FROM_SHELL", "shell-value")
        .env_remove("UNSET_IN_SHELL")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Vec<BTreeMap<String, String>> = serde_json::from_str(&stdout(&out)).expect("json");
    let listed: Vec<(&str, &str)> = listed
        .iter()
        .map(|c| (c["name"].as_str(), c["status"].as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("CHANGED", "changed"),
            ("NEW", "new"),
            ("RAW", "new"),
            ("SAME", "same")
        ]
    );
    assert!(!stdout(&out).contains("shell-value"));
    // The warning names the key, never the reference (it may be part of a
    // value).
    assert!(
        stderr(&out).contains("`NEW` has 1 `$` reference"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("UNSET_IN_SHELL"), "{}", stderr(&out));
    assert_eq!(
        s.ok(["get", "CHANGED"]),
        "old\n",
        "a dry run writes nothing"
    );

    let out = s
        .envv(["import", ".env", "--dry-run"])
        .env("FROM_SHELL", "shell-value")
        .output()
        .expect("run");
    assert!(
        stdout(&out).contains("changed  CHANGED\n"),
        "{}",
        stdout(&out)
    );

    // `--strict` refuses the undefined reference and writes nothing.
    let out = s
        .envv(["import", ".env", "--strict"])
        .env("FROM_SHELL", "shell-value")
        .env_remove("UNSET_IN_SHELL")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("line 3, column 5"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.ok(["get", "CHANGED"]), "old\n");

    let out = s
        .envv(["import", ".env"])
        .env("FROM_SHELL", "shell-value")
        .env_remove("UNSET_IN_SHELL")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.ok(["get", "CHANGED"]), "shell-value\n");
    assert_eq!(s.ok(["get", "NEW"]), "$UNSET_IN_SHELL\n");
    assert_eq!(s.ok(["get", "RAW"]), "$FROM_SHELL\n");
    s.envv(["import", ".env", "--no-expand"])
        .env("FROM_SHELL", "shell-value")
        .assert()
        .success();
    assert_eq!(s.ok(["get", "CHANGED"]), "${FROM_SHELL}\n");
}

#[test]
fn outside_a_project_says_to_run_init() {
    let s = Sandbox::new();
    let out = s.run(["get", "K"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("envv init"), "{}", stderr(&out));
    let out = s.run(["exec", "--", "true"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
}

#[test]
fn set_needs_a_value_from_somewhere() {
    let s = Sandbox::new();
    s.init();
    let out = s.run(["set", "K"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--stdin"), "{}", stderr(&out));
    let out = s.run(["set", "not a name", "v"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("v\n"));
}

#[test]
fn completions_and_man_page_are_generated() {
    let s = Sandbox::new();
    let bash = s.ok(["completions", "bash"]);
    assert!(bash.contains("envv") && bash.contains("complete"), "{bash}");
    assert!(!s.ok(["completions", "zsh"]).is_empty());
    let man = s.ok(["man"]);
    assert!(man.contains(".TH ENVV 1"), "{}", &man[..man.len().min(200)]);
    assert!(man.contains("exec"));
}
