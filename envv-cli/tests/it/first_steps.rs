//! What a newcomer meets in the first hour (issue 21): the messages and the
//! exit codes of typos, of moving a local project to a team, of refused
//! passwords and memberships, of billing, and of the help and man page.
//! The real `envv`, agents and control plane.

use std::process::{Command, Stdio};

use crate::common::{ControlPlane, ENVV, PASSWORD, Sandbox, code, stderr, stdout};

/// Point 7: a mistyped environment is an error that lists the ones there
/// are, before anything runs; a mistyped name gets a suggestion.
#[test]
fn a_missing_environment_or_secret_names_what_exists() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "DATABASE_URL", "postgres://dev"]);
    s.ok(["-e", "staging", "set", "DATABASE_URL", "postgres://stg"]);
    s.ok(["-e", "production", "set", "DATABASE_URL", "postgres://prod"]);

    let out = s.run(["-e", "stagng", "ls"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no environment stagng")
            && err.contains("staging (.env.staging.enc)")
            && err.contains("production (.env.production.enc)")
            && err.contains("the default (.env.enc)")
            && err.contains("`envv -e stagng set KEY` creates it"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");

    // The command never runs without its secrets.
    let out = s.run(["-e", "stagng", "exec", "--", "sh", "-c", "echo ran"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("no environment stagng"));
    assert_eq!(stdout(&out), "", "the command ran");
    for args in [
        &["-e", "stagng", "get", "DATABASE_URL"][..],
        &["-e", "stagng", "export"],
        &["-e", "stagng", "unset", "DATABASE_URL"],
        &["get", "DATABASE_URL", "-e", "stagng"],
    ] {
        let out = s.run(args);
        assert_eq!(code(&out), Some(5), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("no environment stagng"), "{args:?}");
    }
    // `$ENVV_ENV` is checked the same way.
    let out = s
        .envv(["ls"])
        .env("ENVV_ENV", "prod")
        .output()
        .expect("run");
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));

    // Writing creates an environment; a dry run of an import into a new
    // one says what it would create, and creates nothing.
    let dry = s
        .envv(["-e", "preview", "import", "--dry-run"])
        .write_stdin("K=v\n")
        .output()
        .expect("run");
    assert_eq!(code(&dry), Some(0), "{}", stderr(&dry));
    assert_eq!(stdout(&dry), "new      K\n");
    assert!(!s.project.join(".env.preview.enc").exists());
    s.ok(["-e", "preview", "set", "K", "v"]);
    assert_eq!(s.ok(["-e", "preview", "ls"]), "K\n");

    // A typo in a name: the nearest name, never a value.
    let out = s.run(["get", "DATABSE_URL"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("no secret named DATABSE_URL in .env.enc; did you mean DATABASE_URL?"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("postgres"), "{}", stderr(&out));
    let out = s.run(["get", "database_url"]);
    assert!(stderr(&out).contains("did you mean DATABASE_URL?"));
    let out = s.run(["exec", "--only", "DATABSE_URL", "--", "true"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("did you mean DATABASE_URL?"));
    // Nothing near: no guess.
    let out = s.run(["get", "SMTP_PASSWORD"]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(!stderr(&out).contains("did you mean"), "{}", stderr(&out));
    assert!(stderr(&out).contains("envv ls"), "{}", stderr(&out));
}

/// Point 10: `envv exec node server.js`, as `op run` and `doppler run` take
/// it: everything from the command on is the command's.
#[test]
fn exec_takes_a_command_without_the_separator() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "K", "v"]);
    s.ok(["set", "OTHER", "o"]);
    assert_eq!(s.ok(["exec", "printenv", "K"]), "v\n");
    // The command's own options, even those envv has, stay the command's.
    assert_eq!(
        s.ok(["exec", "sh", "-c", "echo $K $1", "-e", "--only"]),
        "v --only\n"
    );
    assert_eq!(
        s.ok([
            "exec",
            "--only",
            "K",
            "env",
            "-u",
            "PATH",
            "sh",
            "-c",
            "echo $K$OTHER"
        ]),
        "v\n"
    );
    assert_eq!(s.ok(["exec", "--", "printenv", "K"]), "v\n");
    let out = s.run(["exec"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
}

/// Point 2: a project made in local mode, then an account: a true message,
/// and the move to a team.
#[test]
fn a_local_project_moves_to_a_team() {
    let cp = ControlPlane::start();
    let mut s = Sandbox::new();
    s.init();
    s.ok(["set", "K", "local value"]);
    s.ok(["-e", "production", "set", "DB", "prod value"]);
    s.ok(["-e", "production", "set", "API", "prod api"]);
    s.server = Some(cp.url.clone());
    s.envv(["auth", "signup", "--email", "mover@example.com"])
        .env("ENVV_PASSWORD", PASSWORD)
        .assert()
        .success();

    // Not "not a member of team <the personal key's id>".
    let out = s.run(["ls"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is a local-mode project")
            && err.contains("`envv init --team NAME --move`")
            && !err.contains("not a member"),
        "{err}"
    );

    s.ok(["team", "create", "Acme"]);
    let out = s.run(["init", "--team", "Acme"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is already a local-mode project")
            && err.contains("run `envv init --team Acme --move`"),
        "{err}"
    );

    let out = s.run(["init", "--team", "Acme", "--move"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("to team Acme: 2 files re-encrypted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(s.ok(["get", "K"]), "local value\n");
    assert_eq!(s.ok(["-e", "production", "get", "DB"]), "prod value\n");
    let project: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.project.join(".envv.json")).expect("project file"))
            .expect("json");
    assert!(project["binding"]["team"].is_object(), "{project}");
    // Again: nothing left to move, nothing rewritten.
    let out = s.run(["init", "--team", "Acme", "--move"]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 files"), "{}", stderr(&out));
    // The team's trail shows what came in.
    let imports: Vec<serde_json::Value> =
        serde_json::from_str(&s.ok(["audit", "--action", "import", "--json"])).expect("json");
    assert_eq!(imports.len(), 2, "{imports:?}");
    // And usage counts the moved secrets: 1 + 2.
    let usage = s.ok(["usage"]);
    assert!(usage.contains("secrets:  3 "), "{usage}");
}

/// Point 11: the exit codes docs/cli.md gives for a refused password, a
/// member removed or never added, no account, and a rate limit.
#[test]
fn refusals_exit_with_the_documented_codes() {
    let cp = ControlPlane::start();
    let owner = Sandbox::signed_up(&cp, "owner11@example.com");
    owner.ok(["team", "create", "T"]);
    owner.init();
    owner.ok(["set", "K", "v"]);

    // A wrong unlock password: 8, and not "run envv auth login".
    owner.ok(["lock"]);
    let out = owner
        .envv(["unlock"])
        .env("ENVV_PASSWORD", "not it")
        .output()
        .expect("run");
    assert_eq!(code(&out), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("envv auth login"),
        "{}",
        stderr(&out)
    );

    // Someone else's account, in a clone of the project: not a member, 9.
    let other = Sandbox::signed_up(&cp, "stranger@example.com");
    let nobody = Sandbox::new();
    for who in [&other, &nobody] {
        for file in [".envv.json", ".env.enc"] {
            std::fs::copy(owner.project.join(file), who.project.join(file)).expect("copy");
        }
    }
    let out = other.run(["ls"]);
    assert_eq!(code(&out), Some(9), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("you are not a member of this team: removed from it, or never added"),
        "{}",
        stderr(&out)
    );
    // The team's own commands say the same (the project names the team).
    let out = other.run(["team", "members"]);
    assert_eq!(code(&out), Some(9), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("you are not a member of this team"),
        "{}",
        stderr(&out)
    );
    // No account at all: 8, and how to log in.
    let out = nobody.run(["get", "K"]);
    assert_eq!(code(&out), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("envv auth login"), "{}", stderr(&out));

    // Five wrong logins for an address, then the control plane waits: 10.
    let mut guesser = Sandbox::new();
    guesser.server = Some(cp.url.clone());
    let mut codes = Vec::new();
    let mut last = String::new();
    for _ in 0..6 {
        let out = guesser
            .envv(["auth", "login", "--email", "owner11@example.com"])
            .env("ENVV_PASSWORD", "a guess")
            .output()
            .expect("run");
        codes.push(code(&out));
        last = stderr(&out);
    }
    assert_eq!(codes[..5], [Some(8); 5], "{last}");
    assert_eq!(codes[5], Some(10), "{last}");
    assert!(last.contains("too many attempts"), "{last}");
}

/// Point 13: usage counts every file's secrets; billing asks first; a
/// duration needs its unit.
#[test]
fn usage_counts_every_file_and_billing_asks_first() {
    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "payer@example.com");
    s.ok(["team", "create", "Acme"]);
    s.init();
    s.ok(["set", "DEV_ONLY", "d"]);
    for name in ["DATABASE_URL", "API_KEY", "SMTP_URL"] {
        s.ok(["-e", "production", "set", name, "p"]);
    }
    // The last write was production's; the default file still counts.
    s.ok(["audit"]);
    let usage = s.ok(["usage"]);
    assert!(usage.contains("secrets:  4 "), "{usage}");

    // No terminal and no --yes: nothing changes.
    let out = s.run(["billing", "--plan", "pro", "--email", "billing@example.com"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("move team Acme from the design_partner plan to the pro plan")
            && err.contains("`--yes`")
            && err.contains("nothing changed"),
        "{err}"
    );
    assert!(s.ok(["usage"]).contains("plan:     design_partner"));
    let changed = s.ok([
        "billing",
        "--plan",
        "pro",
        "--email",
        "billing@example.com",
        "--yes",
    ]);
    assert!(changed.contains("plan:     pro"), "{changed}");

    let out = s.run(["team", "settings", "--max-offline", "3"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`3` has no unit: write 3s, 3m, 3h or 3d"),
        "{}",
        stderr(&out)
    );
    assert!(s.ok(["team", "settings"]).contains("max offline: 72h"));
}

/// Point 14: every argument described, global options only where they mean
/// something, a man page with no missing pages.
#[test]
fn help_and_man_describe_everything() {
    let s = Sandbox::new();
    let help = s.ok(["team", "invite", "--help"]);
    for text in [
        "The address of the person invited",
        "The role they get on joining",
        "The team, by id or name",
        "Reads and writes the team's secrets",
    ] {
        assert!(help.contains(text), "no {text:?} in:\n{help}");
    }
    assert!(
        !help.contains("--env") && !help.contains("-C <DIR>"),
        "{help}"
    );
    let ls = s.ok(["ls", "--help"]);
    assert!(ls.contains("--env <NAME>"), "{ls}");
    let out = s.run(["team", "list", "--env", "staging"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let top = s.ok(["--help"]);
    assert!(
        top.contains("-C <DIR>") && top.contains("--env <NAME>"),
        "{top}"
    );

    let man = s.ok(["man"]);
    for text in [
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH EXAMPLES",
        ".SS \"envv team invite\"",
        "\\fB\\-C\\fR \\fIDIR\\fR",
        "ENVV_PASSWORD",
    ] {
        assert!(man.contains(text), "no {text:?} in the man page");
    }
    assert!(!man.contains("envv\\-init(1)") && !man.contains("envv-init(1)"));
    assert!(!man.contains("[\\fB\\-C\\fR ]"));
}

/// Point 14: output into a closed pipe (`envv completions bash | head`)
/// ends quietly, with 141, never a panic (101).
#[test]
fn a_closed_stdout_ends_quietly() {
    let s = Sandbox::new();
    s.init();
    s.ok(["set", "K", "v"]);
    for args in [
        &["completions", "bash"][..],
        &["man"],
        &["ls"],
        &["export"],
        &["--help"],
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = Command::new(ENVV);
        cmd.args(args);
        s.isolate(&mut cmd);
        let out = cmd
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
        if args != ["--help"] {
            assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
            assert_eq!(err, "", "{args:?}");
        }
    }
}

/// Point 14: dynamic completion asks the running agent for secret and team
/// names (fish's protocol: one candidate a line); it never starts an agent.
#[test]
fn completion_offers_secret_and_team_names() {
    let complete = |s: &Sandbox, line: &[&str]| {
        let mut args = vec!["--", "envv"];
        args.extend_from_slice(line);
        let out = s
            .envv(args)
            .env("ENVV_COMPLETE", "fish")
            .output()
            .expect("run");
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let idle = Sandbox::new();
    assert_eq!(complete(&idle, &["get", "D"]), "");
    let out = idle.run(["agent", "status"]);
    assert_eq!(code(&out), Some(3), "completion started an agent");

    let cp = ControlPlane::start();
    let s = Sandbox::signed_up(&cp, "tab@example.com");
    s.ok(["team", "create", "Acme"]);
    s.ok(["team", "create", "Beta"]);
    s.init();
    for name in ["DATABASE_URL", "DEBUG", "API_KEY"] {
        s.ok(["set", name, "value"]);
    }
    assert_eq!(complete(&s, &["get", "D"]), "DATABASE_URL\nDEBUG\n");
    assert_eq!(complete(&s, &["exec", "--only", "A"]), "API_KEY\n");
    assert_eq!(complete(&s, &["team", "switch", "A"]), "Acme\n");
    assert_eq!(complete(&s, &["usage", "--team", "B"]), "Beta\n");
    // The registration script for the shell.
    let script = s
        .envv(Vec::<&str>::new())
        .env("ENVV_COMPLETE", "bash")
        .output()
        .expect("run");
    assert!(stdout(&script).contains("complete"), "{}", stdout(&script));
}
