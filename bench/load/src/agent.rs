//! One simulated agent: what `envvd` asks of the control plane while its
//! user works, in a loop.
//!
//! Each round, like an agent syncing before it decrypts: the team's keys,
//! the chain after the head it knows, a batch of audit events from its
//! spool (the events of the reads it just served), the member list. Every
//! 5th round an owner reads the usage report; every 10th the agent
//! refreshes its tokens and every 50th logs in again (prelogin, login).
//! An audit batch that fails stays in the spool and goes with the next one,
//! as the agent's spool does; after the run the spool is flushed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use envv_api::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cluster::{Cluster, Outcome, Retry};
use crate::report::{Op, Report};
use crate::seed::{AUTH_KEY, Member};

/// Audit events a round produces (the reads the agent served).
const EVENTS_PER_ROUND: usize = 5;
/// Most events shipped in one batch.
const MAX_BATCH: usize = 200;

pub struct Agent {
    pub member: Member,
    cluster: Arc<Cluster>,
    /// The chain statements seen so far.
    head: u64,
    /// Events not yet stored by the server.
    spool: Vec<Value>,
    /// Every event this agent produced, by id.
    pub produced: Vec<Uuid>,
    pub report: Report,
}

impl Agent {
    pub fn new(member: Member, cluster: Arc<Cluster>) -> Agent {
        Agent {
            member,
            cluster,
            head: 0,
            spool: Vec::new(),
            produced: Vec::new(),
            report: Report::default(),
        }
    }

    /// Events still in the spool.
    pub fn unshipped(&self) -> usize {
        self.spool.len()
    }

    /// Rounds until `deadline` or `stop`, `think` apart.
    pub async fn run(&mut self, deadline: Instant, think: Duration, stop: &AtomicBool) {
        let mut round = 0u64;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            round += 1;
            self.round(round).await;
            if !think.is_zero() {
                tokio::time::sleep(think).await;
            }
        }
    }

    async fn round(&mut self, round: u64) {
        let team = self.member.team;
        self.authed(Op::Keys, Method::GET, &format!("/teams/{team}/keys"), None)
            .await;
        let chain = format!("/teams/{team}/chain?after={}", self.head);
        if let Some(page) = self.authed(Op::Chain, Method::GET, &chain, None).await
            && let Some(head) = page["head_seq"].as_u64()
        {
            self.head = head;
        }
        for _ in 0..EVENTS_PER_ROUND {
            self.record();
        }
        self.ship().await;
        self.authed(
            Op::Members,
            Method::GET,
            &format!("/teams/{team}/members"),
            None,
        )
        .await;
        if self.member.role == Role::Owner && round.is_multiple_of(5) {
            self.authed(
                Op::Usage,
                Method::GET,
                &format!("/teams/{team}/usage"),
                None,
            )
            .await;
        }
        if round.is_multiple_of(10) {
            self.refresh().await;
        }
        if round.is_multiple_of(50) {
            self.login().await;
        }
    }

    /// An `exec` of two secrets, into the spool.
    fn record(&mut self) {
        let id = Uuid::new_v4();
        self.produced.push(id);
        self.spool.push(json!({
            "id": id,
            "action": "exec",
            "occurred_at": chrono::Utc::now(),
            "secret_names": ["DATABASE_URL", "API_KEY"],
            "path_hash": "5f2b6c0e3a1d4f8e9b7c6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f",
        }));
    }

    /// Sends the oldest events of the spool; the server stores each id
    /// once, so a batch whose answer was lost is safe to send again.
    pub async fn ship(&mut self) -> bool {
        if self.spool.is_empty() {
            return true;
        }
        let n = self.spool.len().min(MAX_BATCH);
        let body = json!({ "events": &self.spool[..n] });
        let path = format!("/teams/{}/audit", self.member.team);
        if self
            .authed(Op::Audit, Method::POST, &path, Some(&body))
            .await
            .is_some()
        {
            self.spool.drain(..n);
            true
        } else {
            false
        }
    }

    /// Ships until the spool is empty or `within` has passed.
    pub async fn flush(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.ship().await && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// An authenticated call; its JSON answer if it succeeded. A 401 or an
    /// interrupted call is followed by a new login, as the agent would.
    async fn authed(
        &mut self,
        op: Op,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Option<Value> {
        let started = Instant::now();
        let outcome = self
            .cluster
            .send(
                method,
                path,
                Some(&self.member.access),
                body,
                Retry::Safe,
                self.member.address,
            )
            .await;
        let answer = self.tally(op, started, outcome);
        if answer.as_ref().is_err_and(|status| *status == Some(401)) {
            self.login().await;
        }
        answer.ok()
    }

    /// Records the outcome; the body on success, else the status if any.
    fn tally(&mut self, op: Op, started: Instant, outcome: Outcome) -> Result<Value, Option<u16>> {
        match outcome {
            Outcome::Answer { status, body, .. } if status.is_success() => {
                self.report.success(op, started.elapsed());
                Ok(body)
            }
            Outcome::Answer { status, body, .. } => {
                let code = body["error"]["code"].as_str().unwrap_or("-");
                self.report
                    .failure(op, format!("{} {code}", status.as_u16()));
                Err(Some(status.as_u16()))
            }
            Outcome::Interrupted => {
                self.report.failure(op, "interrupted");
                Err(None)
            }
            Outcome::Unreachable(_) => {
                self.report.failure(op, "unreachable");
                Err(None)
            }
        }
    }

    /// `POST /auth/refresh`: a new pair. Single use, so not re-sent if the
    /// connection died after sending; the agent then logs in again.
    async fn refresh(&mut self) {
        let started = Instant::now();
        let body = json!({ "refresh_token": self.member.refresh });
        let outcome = self
            .cluster
            .send(
                Method::POST,
                "/auth/refresh",
                None,
                Some(&body),
                Retry::Unsafe,
                self.member.address,
            )
            .await;
        match self.tally(Op::Refresh, started, outcome) {
            Ok(pair) => self.take_tokens(&pair),
            Err(_) => self.login().await,
        }
    }

    /// Prelogin then login, timed together as the agent's login is.
    async fn login(&mut self) {
        let started = Instant::now();
        let email = json!({ "email": self.member.email });
        let outcome = self
            .cluster
            .send(
                Method::POST,
                "/auth/prelogin",
                None,
                Some(&email),
                Retry::Safe,
                self.member.address,
            )
            .await;
        if let Outcome::Answer { status, .. } = &outcome
            && status.is_success()
        {
            let body = json!({ "email": self.member.email, "auth_key": AUTH_KEY });
            let outcome = self
                .cluster
                .send(
                    Method::POST,
                    "/auth/login",
                    None,
                    Some(&body),
                    Retry::Unsafe,
                    self.member.address,
                )
                .await;
            if let Ok(session) = self.tally(Op::Login, started, outcome) {
                self.take_tokens(&session["tokens"]);
            }
        } else {
            let _ = self.tally(Op::Login, started, outcome);
        }
    }

    fn take_tokens(&mut self, pair: &Value) {
        if let (Some(access), Some(refresh)) = (
            pair["access_token"].as_str(),
            pair["refresh_token"].as_str(),
        ) {
            self.member.access = access.to_owned();
            self.member.refresh = refresh.to_owned();
        }
    }
}
