//! The `envv-control-plane` command line: configuration from flags and
//! environment variables, key files, logging and signals around [`crate::serve`].

use std::fs;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand, ValueEnum};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use zeroize::Zeroizing;

use crate::state::{AppState, Config};
use crate::tokens::SigningKey;

#[derive(Debug, Parser)]
#[command(
    name = "envv-control-plane",
    version,
    about = "The envv control plane (HTTP API)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGTERM or ctrl-c.
    Serve(ServeArgs),
    /// The operator's console: teams, plans and deals, accounts, invoices
    /// and stats, on the database `serve` uses.
    Admin(AdminArgs),
}

#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// The database `serve` uses (same flag, variable and default).
    #[arg(long, env = "ENVV_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Who is acting, for the audit trail. Default: the OS user (`$USER`).
    #[arg(long, env = "ENVV_OPERATOR", global = true)]
    pub operator: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Every team: plan, seats, secrets, events in 30 days, created, last activity.
    Teams {
        #[arg(long)]
        json: bool,
    },
    /// One team: members, plan history, use, this month's invoice so far,
    /// operator actions.
    Team {
        /// The team's id, or a name only one team has.
        team: String,
        #[arg(long)]
        json: bool,
    },
    /// Sets a team's plan; with `--until`, a deal that ends by itself.
    Plan {
        team: String,
        #[arg(value_parser = parse_plan)]
        plan: envv_api::Plan,
        /// The day (YYYY-MM-DD, UTC) the team moves back to the plan it
        /// chose, or free.
        #[arg(long)]
        until: Option<String>,
        /// Why, for the plan history (the deal, the contract).
        #[arg(long)]
        note: Option<String>,
    },
    /// Locks, unlocks or disables (for good) an account; lock and disable
    /// revoke its sessions.
    Account {
        email: String,
        #[arg(value_enum)]
        action: AccountActionArg,
    },
    /// One invoice line per team for a month: plan, billable seats, amount, period.
    Invoices {
        /// YYYY-MM.
        #[arg(long)]
        month: String,
        #[arg(long)]
        csv: bool,
    },
    /// The web console's operator tokens (see `serve --admin-listen`).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Signups, active teams and decrypts per week.
    Stats {
        /// How many weeks, up to this one.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=520))]
        weeks: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Makes a token and prints it, once; the console audits what is done
    /// with it under NAME.
    Create {
        #[arg(long)]
        name: String,
    },
    /// Every token: name, creation, last use, state (never the token).
    List,
    /// Revokes a token; its console sessions end at once.
    Revoke { name: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AccountActionArg {
    Lock,
    Unlock,
    Disable,
}

fn parse_plan(s: &str) -> Result<envv_api::Plan, String> {
    s.parse().map_err(|()| {
        let names: Vec<&str> = envv_api::Plan::ALL.iter().map(|p| p.as_str()).collect();
        format!("one of {}", names.join(", "))
    })
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ENVV_LISTEN", default_value = "127.0.0.1:8420")]
    pub listen: SocketAddr,
    /// `postgres://…` for PostgreSQL, `sqlite:PATH` for SQLite. Default: a
    /// SQLite file under the XDG data directory, created on first run.
    #[arg(long, env = "ENVV_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Database connections this replica keeps at most (2 or more).
    /// Default: 8 for SQLite; for PostgreSQL, 16.
    #[arg(long, env = "ENVV_DB_POOL_SIZE", value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub db_pool_size: Option<u32>,
    /// File holding the token signing secret (base64, 32+ bytes). Generated
    /// (mode 0600) on first run if absent. Replicas must share it.
    #[arg(long, env = "ENVV_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Older signing keys whose tokens are still accepted (key rotation).
    #[arg(long, env = "ENVV_PREVIOUS_SIGNING_KEY_FILES", value_delimiter = ',')]
    pub previous_signing_key_file: Vec<PathBuf>,
    /// Take the client address from `X-Forwarded-For` (behind a proxy only).
    #[arg(long, env = "ENVV_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// PEM certificate chain: serve HTTPS (needs `--tls-key`).
    #[arg(long, env = "ENVV_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "ENVV_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Also serve the operator's web console on this address (its own
    /// listener, never the API's; keep it private). Off by default; log in
    /// with a token from `admin token create`.
    #[arg(long, env = "ENVV_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Log format; the level comes from `RUST_LOG` (default `info`).
    #[arg(long, env = "ENVV_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(serve(args))
        }
        Command::Admin(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let out = runtime.block_on(admin(args))?;
            std::io::stdout()
                .write_all(out.as_bytes())
                .context("writing the output")?;
            Ok(())
        }
    }
}

async fn admin(args: AdminArgs) -> anyhow::Result<String> {
    use crate::admin;
    use crate::store::AccountAction;
    let database_url = match args.database_url {
        Some(url) => url,
        None => {
            let path = data_dir()?.join("control-plane.db");
            if !path.exists() {
                bail!(
                    "no database at {}: pass the one `serve` uses with --database-url",
                    path.display()
                );
            }
            format!("sqlite:{}", path.display())
        }
    };
    let store = crate::store::connect_with(&database_url, Some(2))
        .await
        .context("opening the database (is the URL right and the server up?)")?;
    let store = store.as_ref();
    let now = crate::store::now();
    let operator = || admin::operator_name(args.operator.as_deref());
    let out = match args.command {
        AdminCommand::Teams { json } => admin::teams(store, json, now).await,
        AdminCommand::Team { team, json } => admin::team(store, &team, json, now).await,
        AdminCommand::Plan {
            team,
            plan,
            until,
            note,
        } => {
            admin::set_plan(
                store,
                &team,
                plan,
                until.as_deref(),
                note.as_deref(),
                &operator()?,
                now,
            )
            .await
        }
        AdminCommand::Account { email, action } => {
            let action = match action {
                AccountActionArg::Lock => AccountAction::Lock,
                AccountActionArg::Unlock => AccountAction::Unlock,
                AccountActionArg::Disable => AccountAction::Disable,
            };
            admin::account(store, &email, action, &operator()?, now).await
        }
        AdminCommand::Invoices { month, csv } => admin::invoices(store, &month, csv, now).await,
        AdminCommand::Stats { weeks, json } => admin::stats(store, weeks, json, now).await,
        AdminCommand::Token { command } => {
            use crate::console::tokens;
            match command {
                TokenCommand::Create { name } => {
                    // Straight to stdout: the token is not kept in a String
                    // that outlives this call.
                    let out = tokens::create(store, &name, &operator()?, now).await?;
                    std::io::stdout()
                        .write_all(out.as_bytes())
                        .context("writing the token")?;
                    Ok(String::new())
                }
                TokenCommand::List => tokens::list(store).await,
                TokenCommand::Revoke { name } => {
                    tokens::revoke(store, &name, &operator()?, now).await
                }
            }
        }
    };
    Ok(out?)
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours for a person at a terminal, not in a service's log files.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn data_dir() -> anyhow::Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "envv")
        .context("finding your home directory for the default data directory")?;
    Ok(dirs.data_dir().to_path_buf())
}

/// A 0700 directory, created if missing.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// The default data directory, ours alone: created 0700, and made 0700
/// again if it was opened to other users since, because it holds the
/// signing key and the database.
fn data_dir_private() -> anyhow::Result<PathBuf> {
    let dir = data_dir()?;
    private_dir(&dir)?;
    let mode = fs::metadata(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (chmod 700)", dir.display()))?;
        tracing::warn!(path = %dir.display(), was = format!("{:o}", mode & 0o777),
            "the data directory was open to other users; made it 0700");
    }
    Ok(dir)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let database_url = match args.database_url {
        Some(url) => url,
        None => format!(
            "sqlite:{}",
            data_dir_private()?.join("control-plane.db").display()
        ),
    };
    let key_file = match args.signing_key_file {
        Some(path) => path,
        None => data_dir_private()?.join("signing-key"),
    };
    let signing_key = load_or_create_key(&key_file)?;
    let previous = args
        .previous_signing_key_file
        .iter()
        .map(|path| load_key(path))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let store = connect_waiting(&database_url, args.db_pool_size).await?;
    let mut config = Config::new(signing_key);
    config.previous_signing_keys = previous;
    config.trust_forwarded_for = args.trust_forwarded_for;
    let retention = crate::retention::spawn(store.clone(), crate::retention::RETENTION_INTERVAL);
    let state = AppState::new(store, config);

    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
        _ => None,
    };
    if args.admin_listen == Some(args.listen) {
        bail!(
            "--admin-listen must differ from --listen: the operator's console never shares the \
             public API's port"
        );
    }
    let shutdown = futures_util::FutureExt::shared(shutdown_signal()?);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let console = match args.admin_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} (--admin-listen)"))?;
            tracing::info!(address = %listener.local_addr()?, tls = tls.is_some(),
                "operator console listening");
            let console = crate::console::Console::new(state.clone(), tls.is_some());
            let stop = shutdown.clone();
            Some(match &tls {
                Some(config) => {
                    let listener = crate::tls::TlsListener::new(listener, config.clone())?;
                    tokio::spawn(crate::console::serve_tls(listener, console, stop))
                }
                None => tokio::spawn(crate::console::serve(listener, console, stop)),
            })
        }
        None => None,
    };
    tracing::info!(
        address = %listener.local_addr()?,
        tls = tls.is_some(),
        backend = if database_url.starts_with("postgres") { "postgres" } else { "sqlite" },
        "envv control plane listening"
    );
    match tls {
        Some(config) => {
            let listener = crate::tls::TlsListener::new(listener, config)?;
            crate::serve_tls(listener, state, shutdown).await?;
        }
        None => crate::serve(listener, state, shutdown).await?,
    }
    if let Some(console) = console {
        console
            .await
            .context("the console's server task")?
            .context("serving the console")?;
    }
    retention.abort();
    tracing::info!("stopped");
    Ok(())
}

/// How long `serve` waits at start for a database that is out of reach
/// (starting, restarting, failing over) before it gives up.
const STARTUP_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Opens the store, retrying while the database is out of reach, so
/// replicas started with (or just before) their database come up with it.
async fn connect_waiting(
    url: &str,
    pool_size: Option<u32>,
) -> anyhow::Result<std::sync::Arc<dyn crate::store::Store>> {
    use crate::store::Outage;
    let deadline = tokio::time::Instant::now() + STARTUP_WAIT;
    loop {
        let e = match crate::store::connect_with(url, pool_size).await {
            Ok(store) => return Ok(store),
            Err(e) => e,
        };
        if Outage::of(&e) != Some(Outage::Unavailable) || tokio::time::Instant::now() >= deadline {
            return Err(e).context("opening the database (is the URL right and the server up?)");
        }
        tracing::warn!(error = %e, "the database is out of reach; retrying");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Resolves on SIGTERM or ctrl-c. The handlers are installed here, before
/// the listener is bound, so a signal that arrives as soon as the port
/// answers is caught rather than killing the process.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("watching SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down; finishing requests in flight");
    })
}

fn load_key(path: &Path) -> anyhow::Result<SigningKey> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text = Zeroizing::new(
        fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let secret = STANDARD
        .decode(text.trim())
        .with_context(|| format!("{} does not hold base64", path.display()))?;
    SigningKey::new(secret)
        .with_context(|| format!("{} must hold at least 32 bytes of key", path.display()))
}

fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    if path.exists() {
        return load_key(path);
    }
    if let Some(dir) = path.parent() {
        private_dir(dir)?;
    }
    let key = SigningKey::generate();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    let encoded = Zeroizing::new(STANDARD.encode(key.secret()));
    writeln!(file, "{}", encoded.as_str())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), kid = key.kid(), "generated a new signing key");
    Ok(key)
}
