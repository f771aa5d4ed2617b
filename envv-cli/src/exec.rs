//! `envv exec`: one round trip to the warm agent, then `exec()`.
//!
//! envv replaces itself with the command rather than running it as a child:
//! the command keeps envv's pid, so signals sent to it (a terminal's Ctrl-C,
//! a supervisor's SIGTERM) reach it directly, stdio is simply inherited, and
//! whatever waits on envv gets the command's own exit status, including
//! death by a signal (a shell shows 128+signal). Nothing is decrypted here:
//! the agent holds the keys and the decrypted files.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use proto_ipc::ReadPurpose;

use crate::Context;
use crate::cli::ExecArgs;
use crate::error::{Failure, exit};

/// envv's own credentials, which stay with envv: a deploy script run by
/// `envv exec` must not get the password that unlocks every team. (A
/// secret stored under one of these names is still passed: it is the
/// project's, not envv's.)
const CREDENTIALS: &[&str] = &["ENVV_PASSWORD", "ENVV_NEW_PASSWORD"];

/// Only returns on failure: on success the process is the command.
pub fn exec(ctx: &Context, args: ExecArgs) -> Failure {
    let secrets = match ctx.read(args.only.clone(), ReadPurpose::Exec) {
        Ok(secrets) => secrets,
        Err(failure) => {
            return match args.only.as_slice() {
                [one] => ctx.or_not_found(failure, one),
                _ => failure,
            };
        }
    };
    if let Some(missing) = args
        .only
        .iter()
        .find(|name| !secrets.iter().any(|(n, _)| n == *name))
    {
        return ctx.not_found(missing);
    }
    let Some((program, rest)) = args.command.split_first() else {
        return Failure::usage("give a command: `envv exec CMD ARGS...`");
    };
    // Names only, never values: someone with write access to the project's
    // files may have planted one to run their code here.
    let loaders = envv_core::loader::loader_names(secrets.iter().map(|(n, _)| n.as_str()));
    if !loaders.is_empty() {
        eprintln!(
            "envv: warning: the secrets passed to this command set {}, which change which code \
             it loads; check who set them (`envv audit --secret NAME`)",
            loaders.join(", ")
        );
    }
    let mut command = Command::new(program);
    command.args(rest);
    for name in CREDENTIALS {
        command.env_remove(name);
    }
    for (name, value) in &secrets {
        command.env(name, value.expose());
    }
    let error = command.exec();
    let shown = program.to_string_lossy();
    match error.kind() {
        io::ErrorKind::NotFound => Failure::new(
            exit::COMMAND_NOT_FOUND,
            format!("cannot run `{shown}`: command not found"),
        ),
        _ => Failure::new(
            exit::CANNOT_EXECUTE,
            format!("cannot run `{shown}`: {error}"),
        ),
    }
}
