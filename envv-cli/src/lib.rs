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
mod config;
mod connect;
mod doctor;
pub mod error;
mod exec;
mod secrets;
mod team;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use proto_ipc::{Client, EnvRef, ReadPurpose, Request, Response, Secret};

use crate::cli::{AgentCommand, Cli, Command, Global};
use crate::error::{Failure, exit, from_ipc};

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
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
    // Only commands about a project look for one.
    let ctx = || Context::new(&global);
    match command {
        Command::Doctor { server } => ctx().and_then(|ctx| doctor::doctor(&ctx.dir, server)),
        Command::Init { team } => secrets::init(&ctx()?, &team),
        Command::Set(args) => secrets::set(&ctx()?, args),
        Command::Get(args) => secrets::get(&ctx()?, args),
        Command::Unset { name } => secrets::unset(&ctx()?, name),
        Command::Ls { json } => secrets::ls(&ctx()?, json),
        Command::Import(args) => secrets::import(&ctx()?, &args),
        Command::Export { format } => secrets::export(&ctx()?, format),
        Command::Exec(args) => Err(exec::exec(&ctx()?, args)),
        Command::Agent(AgentCommand::Start) => agent::start(),
        Command::Agent(AgentCommand::Stop) => agent::stop(),
        Command::Agent(AgentCommand::Status { json }) => agent::status(json),
        Command::Lock => agent::lock(),
        Command::Unlock(password) => agent::unlock(&password),
        Command::Auth(command) => account::run(command),
        // These default `--team` to the project around the directory, so
        // `-C DIR` is honoured first.
        Command::Team(command) => ctx().and_then(|_| team::run(command)),
        Command::Rotate { team } => ctx().and_then(|_| team::rotate(&team)),
        Command::Audit(args) => ctx().and_then(|_| audit::run(args)),
        Command::Usage { team, json } => ctx().and_then(|_| billing::usage(&team, json)),
        Command::Billing {
            team,
            plan,
            email,
            json,
        } => ctx().and_then(|_| billing::set(&team, plan, email, json)),
        Command::Ui { team } => ctx().and_then(|ctx| ui(&ctx, &team)),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "envv", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => man(),
    }
}

/// Starts the agent if needed, then hands the terminal to the dashboard.
fn ui(ctx: &Context, team: &cli::TeamArg) -> Result<(), Failure> {
    connect::connect()?;
    let team = team::preferred(team)?;
    envv_tui::run(envv_tui::Options {
        socket: proto_ipc::socket::socket_path(),
        team,
        here: Some(ctx.dir.clone()),
    })
    .map_err(|e| Failure::new(exit::ERROR, format!("the dashboard failed: {e:#}")))
}

fn man() -> Result<(), Failure> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Failure::new(exit::ERROR, format!("could not render the man page: {e}")))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&page)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(exit::ERROR, format!("could not write to stdout: {e}")))
}

/// Where a command acts: the directory (the agent walks up to the project
/// root) and the environment.
pub(crate) struct Context {
    dir: PathBuf,
    env: Option<String>,
}

impl Context {
    fn new(global: &Global) -> Result<Self, Failure> {
        // `-C DIR` as git does it: everything, the exec'd command and
        // relative file names included, runs from DIR.
        if let Some(dir) = &global.dir {
            std::env::set_current_dir(dir)
                .map_err(|e| Failure::usage(format!("cannot change to {}: {e}", dir.display())))?;
        }
        let dir = std::env::current_dir().map_err(|e| {
            Failure::new(
                exit::ERROR,
                format!("cannot read the current directory: {e}"),
            )
        })?;
        Ok(Context {
            dir,
            env: global.env.clone(),
        })
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

    fn not_found(&self, name: &str) -> Failure {
        Failure::new(
            exit::NOT_FOUND,
            format!(
                "no secret named {name} in {}; run `envv ls` to see the names",
                self.file_name()
            ),
        )
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

/// One request to the agent (started if needed).
pub(crate) fn ask(request: &Request) -> Result<Response, Failure> {
    connect::connect()?.request(request).map_err(from_ipc)
}

pub(crate) fn unexpected(request: &'static str) -> Failure {
    from_ipc(proto_ipc::IpcError::Unexpected { request })
}
