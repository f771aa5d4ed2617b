//! Reading the command line. `envv … exec …` runs often, in scripts and
//! process supervisors, and should cost little more than the exec() it
//! ends in; building every command's arguments (the whole [`Cli`]) is most
//! of what envv itself spends on it, so an `exec` line is read by a parser
//! of `exec` alone first.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::cli::{Cli, Command, ExecArgs, Global};

/// The command line as [`Cli`] reads it. `envv … exec …`, the hot path,
/// first goes through [`ExecCli`], which builds the arguments of `exec`
/// alone rather than every command's; whatever that doesn't take (help,
/// a mistake, another command) gets the whole [`Cli`], its help and its
/// errors.
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    parse_exec(&args).unwrap_or_else(|| Cli::parse_from(args))
}

/// `args` read by [`ExecCli`], when it takes them.
pub fn parse_exec(args: &[OsString]) -> Option<Cli> {
    if !args.iter().any(|arg| arg == "exec") {
        return None;
    }
    let ExecCli {
        global,
        command: ExecOnly::Exec(exec),
    } = ExecCli::try_parse_from(args).ok()?;
    Some(Cli {
        global,
        command: Some(Command::Exec(exec)),
    })
}

/// `envv [-e NAME] [-C DIR] exec …` and nothing else: [`Cli`] with one
/// command, sharing its [`Global`] and [`ExecArgs`], so that the two read
/// an `exec` line the same way (tested).
#[derive(Debug, Parser)]
#[command(name = "envv", version, propagate_version = true)]
pub struct ExecCli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: ExecOnly,
}

/// [`ExecCli`]'s one command.
#[derive(Debug, Subcommand)]
pub enum ExecOnly {
    Exec(ExecArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    /// The hot path reads every `exec` line it takes exactly as the whole
    /// command line does, and leaves the rest (help, version, mistakes,
    /// other commands) to it.
    #[test]
    fn the_exec_parser_agrees_with_the_whole_command_line() {
        let taken = [
            "envv exec -- true",
            "envv exec true",
            "envv exec node server.js --port 3000",
            "envv exec -- node --help",
            "envv exec -- envv --version",
            "envv -C /tmp exec -- true",
            "envv -C/tmp -e prod exec true",
            "envv --env prod exec -- true",
            "envv --env=prod exec --only A,B -- printenv A",
            "envv exec --only A --only B,C true",
            "envv exec -e staging -- sh -c exec",
            "envv exec -- exec",
            // Like the whole line: an unknown option starts the command.
            "envv exec --bogus true",
        ];
        for line in taken {
            let fast = parse_exec(&args(line)).unwrap_or_else(|| panic!("{line}: not taken"));
            let whole = Cli::try_parse_from(args(line)).expect(line);
            assert_eq!(format!("{fast:?}"), format!("{whole:?}"), "{line}");
        }
        let left = [
            "envv exec",
            "envv exec --help",
            "envv exec -h",
            "envv exec --version",
            "envv --version exec",
            "envv help exec",
            "envv exec --only",
            "envv set KEY exec",
            "envv get exec",
            "envv -e",
            "envv ls",
        ];
        for line in left {
            assert!(parse_exec(&args(line)).is_none(), "{line}: taken");
        }
    }
}
