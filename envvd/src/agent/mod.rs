//! The daemon: holds unlocked keys and decrypted environments in memory and
//! answers the CLI and the dashboard over a Unix socket.
//!
//! [`serve`] takes an already-bound listener (see [`bind`]) and a shutdown
//! future; `main.rs` adds flags, logging and signals. One [`state::Agent`]
//! owns every key: connections hand it requests, and the lock timer is a
//! small task that clears it when idle. How the agent stays responsive
//! while the control plane is slow is in `state.rs`.

mod account;
mod audit_anchor;
mod cache;
mod chain;
mod clock;
mod conn;
mod control_plane;
mod exposure;
mod failure;
mod harden;
mod known;
mod local;
mod ops_account;
mod ops_audit;
mod ops_files;
mod ops_invites;
mod ops_keys;
mod ops_password;
mod ops_project;
mod ops_seal;
mod ops_team;
mod reconnect;
mod socket;
mod spool;
mod state;
mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use clock::{Clock, ManualClock};
pub use harden::harden_process;
pub use socket::{AgentLock, BindError, bind};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where personal keys live (`$XDG_DATA_HOME/envv`).
    pub data_dir: PathBuf,
    /// Keys are forgotten after this long without a person using them.
    pub idle_lock: Duration,
    /// ... and after this long unlocked, whatever the use.
    pub max_unlock: Duration,
    /// argon2id memory for new accounts' password derivation, in KiB.
    pub kdf_memory_kib: u32,
    /// argon2id passes for new accounts.
    pub kdf_iterations: u32,
    /// How often an unlocked admin's agent grants the team key to newcomers
    /// whose invite proof verifies.
    pub admit_interval: Duration,
    /// With the control plane unreachable, cached team keys are used for
    /// this long after they were last fetched, then refused.
    pub max_staleness: Duration,
    /// What the lock deadlines are measured on: time since boot, which
    /// counts suspend.
    pub clock: Clock,
}

impl AgentConfig {
    /// The defaults: 10 minutes idle, 8 hours absolute.
    pub fn new(data_dir: PathBuf) -> Self {
        AgentConfig {
            data_dir,
            idle_lock: Duration::from_secs(10 * 60),
            max_unlock: Duration::from_secs(8 * 3600),
            kdf_memory_kib: 64 * 1024,
            kdf_iterations: 3,
            admit_interval: Duration::from_secs(15),
            max_staleness: Duration::from_secs(72 * 3600),
            clock: Clock::boot(),
        }
    }
}

/// Serves `listener` until `shutdown` resolves or a client asks the agent
/// to stop; then locks (zeroising every key) and returns. The caller
/// removes the socket file.
pub async fn serve(
    listener: tokio::net::UnixListener,
    config: AgentConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (changed, changes) = std::sync::mpsc::channel();
    let agent = Arc::new(state::Agent::new(config, changed));
    // Ends when the agent (holding the watcher, hence the sender) is gone.
    let weak = Arc::downgrade(&agent);
    std::thread::spawn(move || {
        for path in changes {
            let Some(agent) = weak.upgrade() else {
                return;
            };
            agent.forget_file(&path);
        }
    });
    let timer = tokio::spawn(state::lock_timer(agent.clone()));
    let admitter = tokio::spawn(admit_loop(agent.clone()));
    let shipper = tokio::spawn(ship_loop(agent.clone()));
    let reconnecter = tokio::spawn(reconnect::reconnect_loop(agent.clone()));
    let stop = agent.stopped();
    tokio::pin!(shutdown);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(conn::handle(stream, agent.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
            () = &mut stop => break,
        }
    }
    timer.abort();
    admitter.abort();
    shipper.abort();
    reconnecter.abort();
    agent.lock();
    Ok(())
}

/// An admin's unlocked agent admits newcomers on its own.
async fn admit_loop(agent: Arc<state::Agent>) {
    let mut tick = tokio::time::interval(agent.config.admit_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        agent.admit_everywhere().await;
    }
}

/// Ships the audit spool every few seconds; events wait on disk while the
/// control plane is unreachable.
async fn ship_loop(agent: Arc<state::Agent>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        agent.ship_spool().await;
    }
}

#[cfg(test)]
mod tests {
    use proto_ipc::{Client, EnvRef, ReadPurpose, Request, Response, Secret};

    use super::*;

    /// The real agent on a socket in `home`, in this process, on `clock`.
    async fn start(home: &std::path::Path, clock: Clock) -> PathBuf {
        let socket = home.join("run/agent.sock");
        let (listener, lock) = bind(&socket).expect("bind");
        let mut config = AgentConfig::new(home.join("data"));
        config.idle_lock = Duration::from_secs(600);
        config.max_unlock = Duration::from_secs(8 * 3600);
        config.clock = clock;
        tokio::spawn(async move {
            let _lock = lock;
            serve(listener, config, std::future::pending()).await
        });
        socket
    }

    fn status(client: &mut Client) -> proto_ipc::AgentStatus {
        match client.request(&Request::Status).expect("status") {
            Response::Status(status) => status,
            other => panic!("{other:?}"),
        }
    }

    /// A night with the lid closed: the clock the deadlines are measured on
    /// jumps past them at once (no sleep), and the very next request finds
    /// the keys and decrypted values gone. Local mode, so nothing else is
    /// needed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lock_fires_on_the_first_request_after_a_suspend() {
        let home = tempfile::tempdir().expect("temp dir");
        let (clock, hand) = Clock::manual();
        let socket = start(home.path(), clock).await;
        let project = home.path().join("project");
        std::fs::create_dir_all(&project).expect("project");
        tokio::task::spawn_blocking(move || {
            let mut client = Client::connect(&socket, "test").expect("connect");
            client
                .request(&Request::Init {
                    dir: project.clone(),
                    team: None,
                })
                .expect("init");
            let at = EnvRef {
                dir: project,
                env: None,
            };
            client
                .request(&Request::Set {
                    at: at.clone(),
                    name: "KEY".into(),
                    value: Secret::new("v"),
                })
                .expect("set");
            let read = Request::Read {
                at,
                only: vec![],
                purpose: ReadPurpose::Exec,
            };
            client.request(&read).expect("read");
            let before = status(&mut client);
            assert!(!before.locked && before.cached_files == 1);

            // Just short of the idle lock: still unlocked, nine minutes
            // later, and reading pushes the idle lock back.
            hand.advance(Duration::from_secs(9 * 60));
            let awake = status(&mut client);
            assert!(!awake.locked);
            assert_eq!(awake.idle_lock_in, Some(60));
            client.request(&read).expect("read");
            assert_eq!(status(&mut client).idle_lock_in, Some(600));

            // Status is not use: it never pushes the idle lock back.
            hand.advance(Duration::from_secs(5 * 60));
            assert_eq!(status(&mut client).idle_lock_in, Some(300));

            // The lid closes for the night.
            hand.advance(Duration::from_secs(8 * 3600));
            let after = status(&mut client);
            assert!(
                after.locked,
                "the first request after the suspend finds it locked"
            );
            assert_eq!(after.cached_files, 0);
        })
        .await
        .expect("the client's checks");
    }
}
