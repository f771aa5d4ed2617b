//! The command line's shape. Kept apart from the commands so `envv man` and
//! `envv completions` can render it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::ArgValueCompleter;

use crate::complete::{secret_names, team_names};

mod team;
pub use team::{Role, TeamCommand};

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
    /// With none, how to start (see [`crate::WELCOME`]).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The environment for the commands that read or write secrets: the file
    /// `.env.NAME.enc` instead of `.env.enc`.
    #[arg(long, short = 'e', env = "ENVV_ENV", value_name = "NAME")]
    pub env: Option<String>,
    /// Run as if envv was started in DIR (give it before the command, as
    /// with `git -C`).
    #[arg(short = 'C', value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `-e NAME` after a command that reads or writes an environment; the
/// same as `envv -e NAME COMMAND` (and `$ENVV_ENV`).
#[derive(Debug, Args, Default)]
pub struct EnvArg {
    /// The environment: the file `.env.NAME.enc` instead of `.env.enc`.
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: Option<String>,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Check this machine's set-up and say what to fix: the agent, its
    /// socket's permissions, the server (reachable, TLS trusted), the
    /// project file and git.
    Doctor {
        /// The control plane to check when no account names one.
        #[arg(long, env = "ENVV_SERVER", value_name = "URL")]
        server: Option<String>,
    },
    /// Make this directory an envv project.
    ///
    /// Logged in, its files are encrypted to a team (`--team`, else the
    /// current team, else your only team); with no account, to your
    /// personal key on this machine. `--move` moves an existing project
    /// (a local one after `envv auth signup`) to the team: its files are
    /// re-encrypted to the team's key.
    Init(InitArgs),
    /// Set a secret.
    ///
    /// Without VALUE, prompts for it (no echo) or reads `--stdin`, so the
    /// value stays out of your shell history. Writing to an environment
    /// that has no file yet creates it.
    Set(SetArgs),
    /// Print one secret's value.
    Get(GetArgs),
    /// Remove a secret.
    Unset {
        /// The secret's name.
        #[arg(add = ArgValueCompleter::new(secret_names))]
        name: String,
        #[command(flatten)]
        env: EnvArg,
    },
    /// Re-seal a file envv refuses for its signer (a removed member's, say),
    /// after you have looked at its values: shows why it is refused and how
    /// each value compares with the version this machine last accepted,
    /// then re-encrypts it at the current key, signed by you.
    Reseal {
        /// Don't ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        env: EnvArg,
    },
    /// List the secrets' names (never their values).
    #[command(visible_alias = "list")]
    Ls {
        /// A JSON array of names.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        env: EnvArg,
    },
    /// Merge a dotenv (or JSON) file into the environment, all or nothing.
    ///
    /// Reads dotenv as python-dotenv, dotenv and dotenvx do where they agree
    /// (docs/dotenv.md). `$NAME` and `${NAME}` take earlier names of the
    /// file, then this shell's environment; an undefined one is kept as
    /// written and reported.
    Import(ImportArgs),
    /// Print every secret of the environment, with values.
    Export {
        /// dotenv (`KEY="value"`), json (one object) or shell (`export
        /// KEY='value'`).
        #[arg(long, short, value_enum, default_value_t = ExportFormat::Dotenv)]
        format: ExportFormat,
        #[command(flatten)]
        env: EnvArg,
    },
    /// Run a command with the secrets in its environment.
    ///
    /// `envv exec node server.js` and `envv exec -- node server.js` are the
    /// same: everything from the command on is the command's. envv replaces
    /// itself with the command: signals and stdio go straight to it, and
    /// envv's exit status is the command's.
    Exec(ExecArgs),
    /// Start, stop or inspect the agent.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Make the agent forget its keys and decrypted values.
    Lock,
    /// Load the keys into the agent again (with an account, your password).
    Unlock(PasswordArgs),
    /// Sign up, log in, log out, show who you are.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Create teams, invite, grant, change roles, remove members.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Move the team to a new key and re-encrypt this project's files.
    ///
    /// Run it after removing a member: the removed member's key opens none
    /// of the re-encrypted files.
    Rotate {
        #[command(flatten)]
        team: TeamArg,
        /// Don't ask for confirmation outside a project of the team (where
        /// nothing is re-encrypted).
        #[arg(long, short)]
        yes: bool,
    },
    /// Query, export or verify the team's audit trail.
    Audit(AuditArgs),
    /// The team's plan, seats, limits, usage and invoice preview.
    ///
    /// Secrets are counted per file: a name in `.env.enc` and the same name
    /// in `.env.production.enc` are two secrets.
    Usage {
        #[command(flatten)]
        team: TeamArg,
        /// The report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Set the team's plan and billing contact (owners).
    ///
    /// Asks for confirmation first; `--yes` for scripts (without a
    /// terminal it is required).
    Billing {
        #[command(flatten)]
        team: TeamArg,
        /// design_partner, free, starter, pro or enterprise.
        #[arg(long, value_parser = plan)]
        plan: proto_ipc::Plan,
        /// Where invoices go.
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// Don't ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        /// The new report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The dashboard: secrets, team, audit and plan in the terminal.
    Ui {
        #[command(flatten)]
        team: TeamArg,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell the script is for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub team: TeamArg,
    /// Move a project already bound to another key (your personal key, or
    /// another team) to this team: re-encrypt its files and rewrite
    /// `.envv.json`.
    #[arg(long = "move")]
    pub move_files: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The secret's name (`[A-Za-z0-9_][A-Za-z0-9_.-]*`).
    #[arg(add = ArgValueCompleter::new(secret_names))]
    pub name: String,
    /// The value. Visible in your shell history and the process list: prefer
    /// the prompt or `--stdin`.
    #[arg(conflicts_with = "stdin")]
    pub value: Option<String>,
    /// Read the value from stdin (one trailing newline is dropped).
    #[arg(long)]
    pub stdin: bool,
    /// Allow a name that changes which code programs load (`LD_PRELOAD`,
    /// `NODE_OPTIONS`, …; see `envv help set`).
    #[arg(long)]
    pub allow_loader_var: bool,
    #[command(flatten)]
    pub env: EnvArg,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The dotenv file; `-` (the default) reads stdin. A file starting with
    /// `{` is read as a JSON object of strings (`envv export -f json`).
    #[arg(value_name = "FILE|-", default_value = "-")]
    pub file: String,
    /// Store every value as written: no `$NAME` expansion.
    #[arg(long)]
    pub no_expand: bool,
    /// Refuse the file if a reference is undefined or a line has no `=`.
    #[arg(long)]
    pub strict: bool,
    /// List each name as new, changed or same, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the names and their status as JSON.
    #[arg(long)]
    pub json: bool,
    /// Allow names that change which code programs load (`LD_PRELOAD`,
    /// `NODE_OPTIONS`, …).
    #[arg(long)]
    pub allow_loader_var: bool,
    #[command(flatten)]
    pub env: EnvArg,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The secret's name.
    #[arg(add = ArgValueCompleter::new(secret_names))]
    pub name: String,
    /// Don't print a newline after the value.
    #[arg(long, short = 'n')]
    pub no_newline: bool,
    #[command(flatten)]
    pub env: EnvArg,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Pass only these secrets (comma-separated names).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "K1,K2",
        add = ArgValueCompleter::new(secret_names)
    )]
    pub only: Vec<String>,
    #[command(flatten)]
    pub env: EnvArg,
    /// The command and its arguments (after `--`, or from the first word
    /// that isn't an option of `envv exec`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
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
        /// The status as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Where a password comes from: `$ENVV_PASSWORD`, else `--password-stdin`,
/// else a prompt without echo. Never from the command line.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `--team`: a team's id or name. Defaults to the current team (`envv team
/// switch`), else the project's team, else your only team.
#[derive(Debug, Args)]
pub struct TeamArg {
    /// The team, by id or name (default: the current team, else the
    /// project's, else your only team).
    #[arg(long, value_name = "ID|NAME", add = ArgValueCompleter::new(team_names))]
    pub team: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServerArg {
    /// The control plane. Default: the one the project here names in
    /// `.envv.json`, else http://127.0.0.1:8420.
    #[arg(long, env = "ENVV_SERVER", value_name = "URL")]
    pub server: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Create an account (a key pair is made on this machine) and unlock.
    Signup {
        /// Your email (prompted for on a terminal when absent).
        #[arg(long, env = "ENVV_EMAIL")]
        email: Option<String>,
        /// Your name, as your team sees it (default: the email's user part).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        server: ServerArg,
        #[command(flatten)]
        password: PasswordArgs,
        /// Accept a password the strength check finds easy to guess (for
        /// scripts that must use a given one).
        #[arg(long)]
        allow_weak_password: bool,
    },
    /// Log in on this machine and unlock.
    Login {
        /// Your email (prompted for on a terminal when absent).
        #[arg(long, env = "ENVV_EMAIL")]
        email: Option<String>,
        #[command(flatten)]
        server: ServerArg,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Change your password: your key is re-wrapped on this machine, and
    /// every other session of the account ends.
    ///
    /// The current password comes from `$ENVV_PASSWORD` or a prompt, the
    /// new one from `$ENVV_NEW_PASSWORD` or a prompt (asked twice).
    Passwd,
    /// End the session and forget the account on this machine.
    Logout,
    /// The account the agent holds.
    Whoami {
        /// The account as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `--plan`: one of the control plane's plans, by the name it uses.
fn plan(text: &str) -> Result<proto_ipc::Plan, String> {
    text.parse().map_err(|()| {
        let known: Vec<&str> = proto_ipc::Plan::ALL.iter().map(|p| p.as_str()).collect();
        format!("unknown plan; use one of {}", known.join(", "))
    })
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub team: TeamArg,
    /// Only this action (`set`, `exec`, `team.create`, …).
    #[arg(long)]
    pub action: Option<String>,
    /// Only this actor (user id or a member's email).
    #[arg(long, value_name = "ID|EMAIL")]
    pub actor: Option<String>,
    /// Only events about this secret name.
    #[arg(long, value_name = "NAME")]
    pub secret: Option<String>,
    /// From this time: an age (`1h`, `7d`), a date (`2026-12-05`) or RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Up to this time: an age, a date or RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The latest N events, oldest of them first (default 100; with
    /// `--export`, all).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// One JSON array of events.
    #[arg(long, conflicts_with = "export")]
    pub json: bool,
    /// Print every matching event as JSON lines or CSV.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub export: Option<AuditExport>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the trail's hash chain on this machine.
    Verify {
        #[command(flatten)]
        team: TeamArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditExport {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header line.
    Csv,
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
    use super::team::parse_duration;
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
    fn exec_takes_the_command_with_or_without_the_separator() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).expect("parse");
            let Some(Command::Exec(args)) = cli.command else {
                panic!("not exec")
            };
            args
        };
        let args = parse(&["envv", "exec", "--only", "A,B", "--", "env", "-0"]);
        assert_eq!(args.only, ["A", "B"]);
        assert_eq!(args.command, ["env", "-0"]);
        // Everything from the first word on is the command's, its options
        // (even ones envv also has) included.
        let args = parse(&[
            "envv",
            "exec",
            "-e",
            "staging",
            "node",
            "server.js",
            "--only",
            "x",
            "-e",
            "y",
        ]);
        assert_eq!(args.env.env.as_deref(), Some("staging"));
        assert!(args.only.is_empty());
        assert_eq!(
            args.command,
            ["node", "server.js", "--only", "x", "-e", "y"]
        );
        assert!(Cli::try_parse_from(["envv", "exec"]).is_err());
        assert!(Cli::try_parse_from(["envv", "exec", "--only", "A"]).is_err());
    }

    #[test]
    fn env_goes_before_or_after_an_environment_command_only() {
        let cli = Cli::try_parse_from(["envv", "ls", "--env", "staging"]).expect("parse");
        let Some(Command::Ls { env, .. }) = cli.command else {
            panic!("not ls")
        };
        assert_eq!(env.env.as_deref(), Some("staging"));
        let cli =
            Cli::try_parse_from(["envv", "-e", "staging", "-C", "/tmp", "ls"]).expect("parse");
        assert_eq!(cli.global.env.as_deref(), Some("staging"));
        assert_eq!(
            cli.global.dir.as_deref(),
            Some(std::path::Path::new("/tmp"))
        );
        // Where they would mean nothing, they are refused.
        assert!(Cli::try_parse_from(["envv", "team", "list", "-e", "staging"]).is_err());
        assert!(Cli::try_parse_from(["envv", "agent", "status", "-C", "/tmp"]).is_err());
        assert!(Cli::try_parse_from(["envv", "ls", "-C", "/tmp"]).is_err());
    }

    /// Every argument of every command says what it is for.
    #[test]
    fn every_argument_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && path != " envv" {
                missing.push(path.clone());
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path}: {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = Cli::command();
        cmd.build();
        walk(&cmd, "", &mut missing);
        assert!(missing.is_empty(), "undescribed: {missing:#?}");
    }

    #[test]
    fn a_duration_needs_its_unit() {
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        let bare = parse_duration("3").expect_err("no unit");
        assert!(bare.contains("no unit") && bare.contains("3h"), "{bare}");
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("31d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
