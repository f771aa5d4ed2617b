//! Audit retention by plan, and the end of deals whose date has come, as a
//! background task. Every replica may run it: each team's purge is one
//! transaction deleting a prefix of its chain, and a second replica purging
//! the same team finds nothing left to delete; a deal's end is re-read
//! under the team row's lock, so it is recorded once.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{self, Store};

/// How often the purge (and the deals' ends) run.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Runs [`Store::apply_retention`] now and then every `interval`, until the
/// returned task is aborted (or the runtime stops).
pub fn spawn(store: Arc<dyn Store>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Limits follow a deal's end at once (the plan in force is
            // read from the schedule); this records it and its audit event.
            match store.end_deals(store::now()).await {
                Ok(ended) => {
                    for (team, change) in ended {
                        tracing::info!(%team, from = %change.from, to = %change.to, "a deal ended");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "ending deals failed; retrying later"),
            }
            match store.apply_retention(store::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "audit retention purged old events"),
                Err(e) => tracing::warn!(error = %e, "audit retention failed; retrying later"),
            }
        }
    })
}
