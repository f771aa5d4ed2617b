//! The command line's shape. Kept apart from the commands so `envv man` and
//! `envv completions` can render it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Encrypted team secrets, next to your code.
///
/// Secrets live in `.env.enc` files in your project (`.env.NAME.enc` with
/// `--env NAME`); the agent, `envvd`, holds the keys and is started on
/// demand.
#[derive(Debug, Parser)]
#[command(name = "envv", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The environment: `.env.NAME.enc` instead of `.env.enc`.
    #[arg(
        long,
        short = 'e',
        global = true,
        env = "ENVV_ENV",
        value_name = "NAME"
    )]
    pub env: Option<String>,
    /// Run as if envv was started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make this directory an envv project, encrypted to your personal key.
    Init,
    /// Set a secret.
    ///
    /// Without VALUE, prompts for it (no echo) or reads `--stdin`, so the
    /// value stays out of your shell history.
    Set(SetArgs),
    /// Print one secret's value.
    Get(GetArgs),
    /// Remove a secret.
    Unset {
        /// The secret's name.
        name: String,
    },
    /// List the secrets' names (never their values).
    #[command(visible_alias = "list")]
    Ls {
        /// A JSON array of names.
        #[arg(long)]
        json: bool,
    },
    /// Merge a dotenv file into the environment.
    Import {
        /// The dotenv file; `-` (the default) reads stdin.
        #[arg(value_name = "FILE|-", default_value = "-")]
        file: String,
    },
    /// Print every secret of the environment, with values.
    Export {
        #[arg(long, short, value_enum, default_value_t = ExportFormat::Dotenv)]
        format: ExportFormat,
    },
    /// Run a command with the secrets in its environment.
    ///
    /// envv replaces itself with the command: signals and stdio go straight
    /// to it, and envv's exit status is the command's.
    Exec(ExecArgs),
    /// Start, stop or inspect the agent.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Make the agent forget its keys and decrypted values.
    Lock,
    /// Load the keys into the agent again.
    Unlock,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The secret's name (`[A-Za-z_][A-Za-z0-9_]*`).
    pub name: String,
    /// The value. Visible in your shell history and the process list: prefer
    /// the prompt or `--stdin`.
    #[arg(conflicts_with = "stdin")]
    pub value: Option<String>,
    /// Read the value from stdin (one trailing newline is dropped).
    #[arg(long)]
    pub stdin: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The secret's name.
    pub name: String,
    /// Don't print a newline after the value.
    #[arg(long, short = 'n')]
    pub no_newline: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Pass only these secrets (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "K1,K2")]
    pub only: Vec<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Start the agent if it isn't running (restart it if it speaks another
    /// protocol version).
    Start,
    /// Stop the agent: it locks, removes its socket and exits.
    Stop,
    /// The agent's pid, version, lock state and timers.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// `KEY="value"` lines that re-import to the same values.
    Dotenv,
    /// One JSON object, keys sorted.
    Json,
    /// `export KEY='value'` lines for POSIX shells.
    Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn set_takes_a_value_or_stdin_not_both() {
        assert!(Cli::try_parse_from(["envv", "set", "K", "v"]).is_ok());
        assert!(Cli::try_parse_from(["envv", "set", "K", "--stdin"]).is_ok());
        assert!(Cli::try_parse_from(["envv", "set", "K", "v", "--stdin"]).is_err());
    }

    #[test]
    fn exec_needs_a_command_after_the_separator() {
        let cli = Cli::try_parse_from(["envv", "exec", "--only", "A,B", "--", "env", "-0"])
            .expect("parse");
        let Command::Exec(args) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.only, ["A", "B"]);
        assert_eq!(args.command, ["env", "-0"]);
        assert!(Cli::try_parse_from(["envv", "exec"]).is_err());
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli =
            Cli::try_parse_from(["envv", "ls", "--env", "staging", "-C", "/tmp"]).expect("parse");
        assert_eq!(cli.global.env.as_deref(), Some("staging"));
        assert_eq!(
            cli.global.dir.as_deref(),
            Some(std::path::Path::new("/tmp"))
        );
    }
}
