//! Reconnecting by itself: an agent unlocked while the control plane was
//! unreachable (or that lost it since) tries again with back-off, logs in
//! with what the unlock derived if it has no session, and ships the audit
//! events that waited on disk. Like every request, it holds the state only
//! for work in memory (see `state.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::state::Agent;

/// The first retry, doubled after each failure up to [`MAX_WAIT`].
const MIN_WAIT: Duration = Duration::from_secs(1);
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Runs for the agent's life.
pub(super) async fn reconnect_loop(agent: Arc<Agent>) {
    let mut wait = MIN_WAIT;
    loop {
        tokio::time::sleep(wait).await;
        wait = match agent.reconnect().await {
            Some(false) => (wait * 2).min(MAX_WAIT),
            Some(true) | None => MIN_WAIT,
        };
    }
}

impl Agent {
    /// One try: `None` if nothing needed doing, else whether the control
    /// plane answered.
    pub(super) async fn reconnect(&self) -> Option<bool> {
        let owed = {
            let inner = self.inner();
            let keys = inner.keys.as_ref()?;
            inner.account.as_ref()?;
            keys.login.is_some() && inner.session.is_none()
        };
        if !owed && self.online.load(Ordering::Relaxed) {
            return None;
        }
        let probe = match self.session().await {
            Ok(at) => self.reached(self.api.teams(&at).await).map(drop),
            Err(e) => Err(e),
        };
        if let Err(super::state::Failure(code, why)) = probe {
            tracing::debug!(
                ?code,
                reason = why,
                "the control plane is still out of reach"
            );
            return Some(false);
        }
        let (shipped, pending) = self.ship_spool().await;
        tracing::info!(
            shipped,
            pending,
            "reconnected to the control plane; shipped the audit events that waited"
        );
        Some(true)
    }
}
