//! The `envvd` program: its command line, logging and runtime around
//! [`crate::agent::serve`]. The binary itself is built by the `envv-cli`
//! package, so that one `cargo install --path envv-cli` installs everything
//! a user runs; `envv` starts it on demand.

use std::path::PathBuf;
use std::time::Duration;

use crate::agent::{AgentConfig, bind, harden_process, serve};
use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "envvd",
    version,
    about = "The envv agent: holds unlocked keys behind a Unix socket",
    // A later flag wins (tests and wrappers append to a base command line).
    args_override_self = true
)]
struct Args {
    /// Socket path (default: $ENVV_AGENT_SOCK, else $XDG_RUNTIME_DIR/envv/agent.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Forget keys after this many seconds in which nobody used them
    /// (reads, writes, admin actions; time asleep counts).
    #[arg(long, env = "ENVV_IDLE_LOCK", default_value_t = 600)]
    idle_lock: u64,
    /// Forget keys after this many seconds unlocked, whatever the use.
    #[arg(long, env = "ENVV_MAX_UNLOCK", default_value_t = 8 * 3600)]
    max_unlock: u64,
    /// argon2id memory (KiB) for new accounts' password derivation.
    #[arg(long, env = "ENVV_KDF_MEMORY_KIB", default_value_t = 64 * 1024, hide = true)]
    kdf_memory_kib: u32,
    /// argon2id passes for new accounts.
    #[arg(long, env = "ENVV_KDF_ITERATIONS", default_value_t = 3, hide = true)]
    kdf_iterations: u32,
    /// Seconds between an unlocked admin's checks for newcomers to admit.
    #[arg(long, env = "ENVV_ADMIT_INTERVAL", default_value_t = 15)]
    admit_interval: u64,
    /// Seconds cached team keys stay usable while the control plane is
    /// unreachable, at most: a team's own setting applies if stricter.
    #[arg(long, env = "ENVV_MAX_STALENESS", default_value_t = 72 * 3600)]
    max_staleness: u64,
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Err(e) = harden_process() {
        eprintln!("envvd: warning: could not make the process undumpable: {e}");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let socket = args.socket.unwrap_or_else(proto_ipc::socket::socket_path);
    let data_dir = directories::ProjectDirs::from("", "", "envv")
        .context("finding your home directory")?
        .data_dir()
        .to_path_buf();
    let mut config = AgentConfig::new(data_dir);
    config.idle_lock = Duration::from_secs(args.idle_lock);
    config.max_unlock = Duration::from_secs(args.max_unlock);
    config.kdf_memory_kib = args.kdf_memory_kib;
    config.kdf_iterations = args.kdf_iterations;
    config.admit_interval = Duration::from_secs(args.admit_interval.max(1));
    config.max_staleness = Duration::from_secs(args.max_staleness);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        // Handlers first, so a SIGTERM right after the socket appears is caught.
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("watching SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("watching SIGINT")?;
        let (listener, _lock) = bind(&socket)?;
        tracing::info!(socket = %socket.display(), pid = std::process::id(), "envvd listening");
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        let served = serve(listener, config, shutdown).await;
        let _ = std::fs::remove_file(&socket);
        tracing::info!("envvd stopped; keys forgotten");
        served.context("serving the socket")
    })
}
