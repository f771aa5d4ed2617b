//! The floor `envv exec` is measured against: the least a program can do to
//! run a command with a team's secrets from a warm agent — connect, say
//! hello, read the environment, `exec()`. No argument parsing, no project
//! discovery beyond the agent's, no error sentences.
//!
//! `exec_floor DIR CMD [ARGS…]`, built by `envv-cli/bench/exec.sh`.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use proto_ipc::{Client, EnvRef, ReadPurpose, Request, Response};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), Some(program)) = (args.next(), args.next()) else {
        eprintln!("usage: exec_floor DIR CMD [ARGS...]");
        std::process::exit(2);
    };
    let mut client = Client::connect_default("exec-floor").unwrap_or_else(|e| {
        eprintln!("exec_floor: {e}");
        std::process::exit(3)
    });
    let read = Request::Read {
        at: EnvRef {
            dir: PathBuf::from(dir),
            env: None,
        },
        only: Vec::new(),
        purpose: ReadPurpose::Exec,
    };
    let Ok(Response::Secrets { secrets }) = client.request(&read) else {
        eprintln!("exec_floor: the agent did not answer with secrets");
        std::process::exit(1);
    };
    let err = std::process::Command::new(program)
        .args(args)
        .envs(secrets.iter().map(|(name, value)| (name, value.expose())))
        .exec();
    eprintln!("exec_floor: {err}");
    std::process::exit(127);
}
