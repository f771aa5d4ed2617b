//! The replicas as a load balancer in front of them presents them: one
//! address to the agents, each request sent to the next replica that is up.
//!
//! This is what an operator deploys (docs/operations.md, "Many replicas"):
//! agents take one server URL, and the balancer (HAProxy, nginx, a cloud
//! load balancer) spreads requests and routes around a dead replica. The
//! model keeps the two behaviours such balancers share by default:
//! - a request that could not be sent (connection refused or reset before
//!   the request went out) goes to the next replica, whatever it is, and the
//!   replica is left out for [`DOWN_FOR`];
//! - a request whose connection died after it was sent is re-sent elsewhere
//!   only if it is safe to repeat ([`Retry::Safe`]: reads, and audit batches
//!   the server stores once per event id); otherwise the client hears that
//!   it was interrupted and does what the agent does (logs in again).
//!
//! Each simulated agent also sends `X-Forwarded-For` with an address of its
//! own, as the balancer would add, so the servers (run with
//! `--trust-forwarded-for`) see 200 clients rather than one.

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// How long a replica that refused a connection is left out.
pub const DOWN_FOR: Duration = Duration::from_secs(1);

/// Longest wait for one answer: an agent's own timeout is 20 s; a request
/// that takes this long is counted as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether a request may be sent again after its connection died mid-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    Safe,
    Unsafe,
}

/// Most bytes read of one answer (a page of 1,000 audit events is well
/// under it): a server gone wrong must not make the generator buffer
/// without end.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// What came of one request. Its `Debug` leaves the body out: a login's
/// holds tokens.
pub enum Outcome {
    /// The server answered (any status).
    Answer {
        status: StatusCode,
        retry_after: Option<String>,
        body: Value,
    },
    /// Sent, then the connection died, and it is not safe to send again.
    Interrupted,
    /// No replica could be reached, or every try failed.
    Unreachable(String),
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Answer { status, body, .. } => {
                write!(f, "{status} {}", body["error"]["code"])
            }
            Outcome::Interrupted => f.write_str("interrupted after it was sent"),
            Outcome::Unreachable(why) => write!(f, "unreachable: {why}"),
        }
    }
}

pub struct Cluster {
    http: reqwest::Client,
    replicas: Vec<Replica>,
    next: AtomicUsize,
}

struct Replica {
    base: String,
    down_until: Mutex<Option<Instant>>,
}

impl Replica {
    fn is_up(&self, now: Instant) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|until| now >= until)
    }

    fn mark_down(&self) {
        *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + DOWN_FOR);
    }
}

impl Cluster {
    /// The replicas at `bases` (`http://host:port`), with connections for
    /// `clients` agents at once.
    pub fn new(bases: &[String], clients: usize) -> anyhow::Result<Cluster> {
        anyhow::ensure!(!bases.is_empty(), "give at least one server URL");
        // reqwest's TLS (enabled in the workspace by the agent) wants a
        // process-wide provider even for plain HTTP; a second call finds it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(clients)
            .pool_idle_timeout(Duration::from_secs(15))
            .build()
            .context("building the HTTP client")?;
        Ok(Cluster {
            http,
            replicas: bases
                .iter()
                .map(|b| Replica {
                    base: b.trim_end_matches('/').to_owned(),
                    down_until: Mutex::new(None),
                })
                .collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// The next replica that is up (all are tried if none is).
    fn pick(&self) -> &Replica {
        let now = Instant::now();
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.replicas[(start + i) % n])
            .find(|r| r.is_up(now))
            .unwrap_or(&self.replicas[start % n])
    }

    /// Sends one request through the balancer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        retry: Retry,
        client: Ipv4Addr,
    ) -> Outcome {
        let mut last = String::new();
        // Each replica once, and one more (a replica may come back).
        for _ in 0..=self.replicas.len() {
            let replica = self.pick();
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", replica.base))
                .header("x-forwarded-for", client.to_string());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    match read_bounded(response).await {
                        Ok(bytes) => {
                            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            return Outcome::Answer {
                                status,
                                retry_after,
                                body,
                            };
                        }
                        Err(e) => last = format!("reading the answer: {e}"),
                    }
                }
                Err(e) if e.is_connect() => {
                    replica.mark_down();
                    last = format!("connecting: {e}");
                    continue;
                }
                Err(e) => last = format!("{e}"),
            }
            // Sent, then lost.
            replica.mark_down();
            if retry == Retry::Unsafe {
                return Outcome::Interrupted;
            }
        }
        Outcome::Unreachable(last)
    }
}

/// The answer's body, refused past [`MAX_ANSWER`] bytes.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER as u64)
    {
        return Err(format!("an answer over {MAX_ANSWER} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("an answer over {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
