//! Runs the "first hour" walkthrough of docs/cli.md as written: each
//! ```sh block, in order, as the person its first line names, every
//! command through the real `envv` against a real control plane. A
//! command that fails fails the test, so the walkthrough stays true.

use std::path::Path;

use crate::common::*;

/// The walkthrough's blocks: (who, commands), in order.
fn walkthrough() -> Vec<(String, Vec<String>)> {
    let docs = std::fs::read_to_string(format!(
        "{}/../docs/cli.md",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
    ))
    .expect("docs/cli.md");
    let start = docs
        .find("## The first hour")
        .expect("a first-hour section");
    let end = docs[start + 3..]
        .find("\n## ")
        .map_or(docs.len(), |i| start + 3 + i);
    let mut blocks = Vec::new();
    let mut lines = docs[start..end].lines();
    while let Some(line) = lines.next() {
        if line != "```sh" {
            continue;
        }
        let who = lines
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .expect("a block starts with `# who`")
            .to_owned();
        let commands = lines
            .by_ref()
            .take_while(|l| *l != "```")
            .map(|l| match l.find("  #") {
                Some(i) => l[..i].trim_end().to_owned(),
                None => l.to_owned(),
            })
            .filter(|l| !l.is_empty())
            .collect();
        blocks.push((who, commands));
    }
    blocks
}

#[test]
fn the_first_hour_in_the_docs_runs_as_written() {
    let blocks = walkthrough();
    assert!(blocks.len() >= 5, "{blocks:?}");
    let cp = ControlPlane::start();
    let mut ada = Sandbox::new();
    ada.server = Some(cp.url.clone());
    let mut ben = Sandbox::new();
    ben.server = Some(cp.url.clone());
    let bin_dir = Path::new(ENVV).parent().expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut code = String::new();
    let mut ben_cloned = false;
    let mut ran = 0;
    for (who, commands) in blocks {
        let sandbox = match who.as_str() {
            "ada" => &ada,
            "ben" => &ben,
            other => panic!("who is {other}?"),
        };
        if who == "ben" && !ben_cloned {
            // Ben's clone of Ada's repository.
            for file in [".envv.json", ".env.enc"] {
                std::fs::copy(ada.project.join(file), ben.project.join(file)).expect("clone");
            }
            ben_cloned = true;
        }
        for command in commands {
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c").arg(&command);
            sandbox.isolate(&mut cmd);
            let out = cmd
                .env("PATH", &path)
                .env("ENVV_PASSWORD", PASSWORD)
                .env("CODE", &code)
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "{who}: `{command}` failed ({:?}):\n{}{}",
                out.status.code(),
                stdout(&out),
                stderr(&out)
            );
            if command.starts_with("envv team invite ") {
                code = stdout(&out).trim().to_owned();
            }
            ran += 1;
        }
    }
    assert!(ran >= 25, "only {ran} commands");
    // And the story ends as it should: Ben reads nothing new.
    for file in [".envv.json", ".env.enc"] {
        std::fs::copy(ada.project.join(file), ben.project.join(file)).expect("pull");
    }
    let out = ben.run(["get", "STRIPE_KEY"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(!stdout(&out).contains("sk_test_51NewKeyAfterBen"));
}
