//! The `envv` command line: parse, reach the agent, do one thing.
//!
//! Every command is a request or two to the agent over its socket
//! (`proto-ipc`'s blocking client). The CLI holds no keys and decrypts
//! nothing; `envv exec` asks the warm agent for the secrets and replaces
//! itself with the command.

mod account;
mod agent;
mod audit;
mod billing;
pub mod cli;
mod complete;
mod config;
mod connect;
mod doctor;
pub mod error;
mod exec;
mod man;
mod out;
mod parse;
mod secrets;
mod team;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use proto_ipc::{Client, EnvRef, ReadPurpose, Request, Response, Secret};

use crate::cli::{AgentCommand, Cli, Command, EnvArg};
use crate::error::{Failure, exit, from_ipc};

/// The binary's entry point.
pub fn main() -> ExitCode {
    // `ENVV_COMPLETE=bash envv`: the shell's completion asking; answers
    // and exits. (Not `COMPLETE`, which a CI environment might well set.)
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var("ENVV_COMPLETE")
        .complete();
    match run(parse::parse()) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("envv: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// What `envv` with no command prints: the two ways to start, each with
/// its next commands.
pub const WELCOME: &str = "\
envv keeps a project's secrets encrypted in .env.enc files next to its code.

Two ways to start:

  With a team account, to share secrets with your team through a control
  plane (ENVV_SERVER or --server; default http://127.0.0.1:8420):
    envv auth signup --email you@example.com
    envv team create \"My team\"      (or `envv team join CODE` with an invite)
    envv init                        (in your project's directory)

  Locally, with no account: a personal key on this machine, no server:
    envv init                        (in your project's directory)
    envv set KEY value
    envv exec -- printenv KEY

`envv --help` lists every command; `envv doctor` checks this machine's set-up.
";

pub fn run(cli: Cli) -> Result<(), Failure> {
    let Cli { global, command } = cli;
    let Some(command) = command else {
        print!("{WELCOME}");
        return Ok(());
    };
    // Only commands about a project look for one; `-e` after the command
    // wins over `-e` before it (and `$ENVV_ENV`).
    let ctx = |env: Option<&EnvArg>| {
        let env = env
            .and_then(|e| e.env.clone())
            .or_else(|| global.env.clone());
        Context::new(global.dir.as_deref(), env)
    };
    match command {
        Command::Doctor { server } => ctx(None).and_then(|ctx| doctor::doctor(&ctx.dir, server)),
        Command::Init(args) => secrets::init(&ctx(None)?, &args),
        Command::Set(args) => secrets::set(&ctx(Some(&args.env))?, args),
        Command::Get(args) => secrets::get(&ctx(Some(&args.env))?, args),
        Command::Unset { name, env } => secrets::unset(&ctx(Some(&env))?, name),
        Command::Reseal { yes, env } => secrets::reseal(&ctx(Some(&env))?, yes),
        Command::Ls { json, env } => secrets::ls(&ctx(Some(&env))?, json),
        Command::Import(args) => secrets::import(&ctx(Some(&args.env))?, &args),
        Command::Export { format, env } => secrets::export(&ctx(Some(&env))?, format),
        Command::Exec(args) => Err(exec::exec(&ctx(Some(&args.env))?, args)),
        Command::Agent(AgentCommand::Start) => agent::start(),
        Command::Agent(AgentCommand::Stop) => agent::stop(),
        Command::Agent(AgentCommand::Status { json }) => agent::status(json),
        Command::Lock => agent::lock(),
        Command::Unlock(password) => agent::unlock(&password),
        // Signup and login look for the project's control plane.
        Command::Auth(command) => ctx(None).and_then(|_| account::run(command)),
        // These default `--team` to the project around the directory, so
        // `-C DIR` is honoured first.
        Command::Team(command) => ctx(None).and_then(|_| team::run(command)),
        Command::Rotate { team, yes } => ctx(None).and_then(|_| team::rotate(&team, yes)),
        Command::Audit(args) => ctx(None).and_then(|_| audit::run(args)),
        Command::Usage { team, json } => ctx(None).and_then(|_| billing::usage(&team, json)),
        Command::Billing {
            team,
            plan,
            email,
            yes,
            json,
        } => ctx(None).and_then(|_| billing::set(&team, plan, email, yes, json)),
        Command::Ui { team } => ctx(None).and_then(|_| ui(&team)),
        Command::Completions { shell } => {
            // Into memory first: the generator panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "envv", &mut script);
            out::bytes(&script)
        }
        Command::Man => out::bytes(&man::page()),
    }
}

/// Starts the agent if needed, then becomes the dashboard (`envv-tui`, its
/// own program: `envv` doesn't link it), in the directory `-C` chose.
fn ui(team: &cli::TeamArg) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;

    connect::connect()?;
    let team = team::preferred(team)?;
    let dashboard = connect::find_dashboard()?;
    let mut command = std::process::Command::new(&dashboard);
    if let Some(team) = team {
        command.arg("--team").arg(team.to_string());
    }
    let error = command.exec();
    Err(Failure::new(
        exit::ERROR,
        format!("cannot run the dashboard, {}: {error}", dashboard.display()),
    ))
}

/// Where a command acts: the directory (the agent walks up to the project
/// root) and the environment.
pub(crate) struct Context {
    dir: PathBuf,
    env: Option<String>,
}

impl Context {
    fn new(dir: Option<&Path>, env: Option<String>) -> Result<Self, Failure> {
        // `-C DIR` as git does it: everything, the exec'd command and
        // relative file names included, runs from DIR.
        if let Some(dir) = dir {
            std::env::set_current_dir(dir)
                .map_err(|e| Failure::usage(format!("cannot change to {}: {e}", dir.display())))?;
        }
        let dir = std::env::current_dir().map_err(|e| {
            Failure::new(
                exit::ERROR,
                format!("cannot read the current directory: {e}"),
            )
        })?;
        Ok(Context { dir, env })
    }

    fn at(&self) -> EnvRef {
        EnvRef {
            dir: self.dir.clone(),
            env: self.env.clone(),
        }
    }

    /// `.env.enc` or `.env.NAME.enc`, for messages.
    fn file_name(&self) -> String {
        envv_core::project::env_file_name(self.env.as_deref())
    }

    /// No secret `name` here: says which name was probably meant.
    fn not_found(&self, name: &str) -> Failure {
        let names = match self.request(&Request::Names { at: self.at() }) {
            Ok(Response::Names { names }) => names,
            _ => Vec::new(),
        };
        let hint = match closest(name, &names) {
            Some(near) => format!("did you mean {near}? (`envv ls` lists the names)"),
            None => "run `envv ls` to see the names".to_owned(),
        };
        Failure::new(
            exit::NOT_FOUND,
            format!("no secret named {name} in {}; {hint}", self.file_name()),
        )
    }

    /// The agent's "no secret named …" for `name`, with a suggestion; any
    /// other failure as it is.
    fn or_not_found(&self, failure: Failure, name: &str) -> Failure {
        if failure.code == exit::NOT_FOUND && failure.message.starts_with("no secret named") {
            return self.not_found(name);
        }
        failure
    }

    fn client(&self) -> Result<Client, Failure> {
        connect::connect()
    }

    fn request(&self, request: &Request) -> Result<Response, Failure> {
        self.client()?.request(request).map_err(from_ipc)
    }

    fn read(
        &self,
        only: Vec<String>,
        purpose: ReadPurpose,
    ) -> Result<Vec<(String, Secret)>, Failure> {
        match self.request(&Request::Read {
            at: self.at(),
            only,
            purpose,
        })? {
            Response::Secrets { secrets } => Ok(secrets),
            _ => Err(unexpected("read")),
        }
    }
}

/// The name in `names` nearest to `typed`, if near enough to be a typo:
/// a small edit distance for its length, case aside.
fn closest<'a>(typed: &str, names: &'a [String]) -> Option<&'a str> {
    let typed_upper = typed.to_ascii_uppercase();
    let allowed = match typed.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    names
        .iter()
        .map(|n| {
            let distance = strsim::damerau_levenshtein(&typed_upper, &n.to_ascii_uppercase());
            (distance, n)
        })
        .filter(|(d, n)| *d <= allowed && n.as_str() != typed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

/// One request to the agent (started if needed).
pub(crate) fn ask(request: &Request) -> Result<Response, Failure> {
    connect::connect()?.request(request).map_err(from_ipc)
}

pub(crate) fn unexpected(request: &'static str) -> Failure {
    from_ipc(proto_ipc::IpcError::Unexpected { request })
}
