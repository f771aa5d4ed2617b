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
    /// With none, how to start (see [`crate::WELCOME`]).
    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// personal key on this machine.
    Init {
        #[command(flatten)]
        team: TeamArg,
    },
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
    /// Merge a dotenv (or JSON) file into the environment, all or nothing.
    ///
    /// Reads dotenv as python-dotenv, dotenv and dotenvx do where they agree
    /// (docs/dotenv.md). `$NAME` and `${NAME}` take earlier names of the
    /// file, then this shell's environment; an undefined one is kept as
    /// written and reported.
    Import(ImportArgs),
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
    },
    /// Query, export or verify the team's audit trail.
    Audit(AuditArgs),
    /// The team's plan, seats, limits, usage and invoice preview.
    Usage {
        #[command(flatten)]
        team: TeamArg,
        #[arg(long)]
        json: bool,
    },
    /// Set the team's plan and billing contact (owners).
    Billing {
        #[command(flatten)]
        team: TeamArg,
        /// design_partner, free, starter, pro or enterprise.
        #[arg(long, value_parser = plan)]
        plan: proto_ipc::Plan,
        /// Where invoices go.
        #[arg(long, value_name = "EMAIL")]
        email: String,
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
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The secret's name (`[A-Za-z0-9_][A-Za-z0-9_.-]*`).
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
    #[arg(long, value_name = "ID|NAME")]
    pub team: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServerArg {
    /// The control plane.
    #[arg(
        long,
        env = "ENVV_SERVER",
        default_value = "http://127.0.0.1:8420",
        value_name = "URL"
    )]
    pub server: String,
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
    /// End the session and forget the account on this machine.
    Logout,
    /// The account the agent holds.
    Whoami {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team with you as its owner, and make it the current team.
    Create { name: String },
    /// Your teams.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A team's members, roles, and who holds the key.
    Members {
        #[command(flatten)]
        team: TeamArg,
        #[arg(long)]
        json: bool,
    },
    /// Invite someone: prints only the invite code, to hand over out of band.
    Invite {
        /// Who to invite; only this address can accept.
        #[arg(required_unless_present = "revoke")]
        email: Option<String>,
        /// The role they get on joining.
        #[arg(long, value_enum, default_value_t = Role::Member)]
        role: Role,
        /// Withdraw the open invite with this id instead (`envv team invites` lists them).
        #[arg(long, value_name = "INVITE_ID", conflicts_with = "email")]
        revoke: Option<uuid::Uuid>,
        #[command(flatten)]
        team: TeamArg,
        /// `{"code": …, "invite_id": …}`.
        #[arg(long)]
        json: bool,
    },
    /// The team's invites: open ones, and why the others can admit no one.
    Invites {
        #[command(flatten)]
        team: TeamArg,
        #[arg(long)]
        json: bool,
    },
    /// Join a team with an invite code.
    Join {
        /// The code; prefer `--stdin` to keep it out of your shell history.
        #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
        code: Option<String>,
        /// Read the code from stdin.
        #[arg(long)]
        stdin: bool,
    },
    /// Grant the team key to newcomers now, after checking their proofs.
    Grant {
        #[command(flatten)]
        team: TeamArg,
    },
    /// Change a member's role.
    Role {
        #[arg(value_name = "USER_OR_EMAIL")]
        user: String,
        #[arg(value_enum)]
        role: Role,
        #[command(flatten)]
        team: TeamArg,
    },
    /// Remove a member (their key fetches stop at once); then run `envv rotate`.
    Remove {
        #[arg(value_name = "USER_OR_EMAIL")]
        user: String,
        /// Don't ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        team: TeamArg,
    },
    /// Make a team the default for team commands and `envv init`.
    Switch {
        #[arg(value_name = "ID|NAME")]
        team: String,
    },
    /// Show the team's settings; admins change them with the options.
    Settings {
        #[command(flatten)]
        team: TeamArg,
        /// How long members' agents keep reading from cached keys while the
        /// control plane is unreachable: `30m`, `72h`, `7d` (1s to 30d).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_offline: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

/// `90s`, `30m`, `72h`, `7d`, or plain seconds.
fn parse_duration(text: &str) -> Result<u32, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` is not a duration: use 90s, 30m, 72h or 7d"
            ));
        }
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|secs| (1..=30 * 86_400).contains(secs))
        .ok_or_else(|| format!("`{text}` must be between 1s and 30d"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl From<Role> for proto_ipc::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Member => proto_ipc::Role::Member,
            Role::Admin => proto_ipc::Role::Admin,
            Role::Owner => proto_ipc::Role::Owner,
        }
    }
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
    /// From this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Up to this time (RFC 3339).
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
    Jsonl,
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
        let Some(Command::Exec(args)) = cli.command else {
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
