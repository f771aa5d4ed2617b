//! The `envv-tui [--team ID]` program: the dashboard on this user's running
//! agent. `envv ui` starts the agent when needed, then runs this program;
//! the binary is built by the `envv-cli` package, so one `cargo install`
//! installs it with `envv`.

use std::process::ExitCode;

use proto_ipc::{Client, IpcError, socket::socket_path};

/// Parses the command line, checks the agent answers, runs the dashboard.
pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("envv-tui: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut team = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--team" => {
                let id = args.next().unwrap_or_default();
                team = Some(
                    id.parse()
                        .map_err(|_| anyhow::anyhow!("--team takes a team id"))?,
                );
            }
            "--version" => {
                println!("envv-tui {}", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            _ => {
                println!(
                    "usage: envv-tui [--team ID]\n\nThe envv dashboard; `envv ui` also starts the agent."
                );
                return Ok(());
            }
        }
    }
    let socket = socket_path();
    match Client::connect(&socket, "envv-tui") {
        Err(IpcError::AgentNotRunning { .. }) => {
            anyhow::bail!(
                "the envv agent is not running; start it with `envv agent start`, or run `envv ui`"
            )
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    crate::run(crate::Options {
        socket,
        team,
        here: std::env::current_dir().ok(),
    })
}
