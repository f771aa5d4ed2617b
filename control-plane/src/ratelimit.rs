//! Per-IP limit on failed logins. It lives in memory, so each replica counts
//! its own; the per-account limit is in the database and holds cluster-wide.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct IpLimiter {
    max_failures: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Beyond this many tracked addresses, expired windows are swept.
const SWEEP_AT: usize = 10_000;

impl IpLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        IpLimiter {
            max_failures,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while `ip` is over its limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get(&ip) {
            Some(w)
                if now.duration_since(w.start) < self.window && w.failures >= self.max_failures =>
            {
                Err(self.window - now.duration_since(w.start))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SWEEP_AT {
            let window = self.window;
            seen.retain(|_, w| now.duration_since(w.start) < window);
        }
        let w = seen.entry(ip).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now.duration_since(w.start) >= self.window {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_names_the_wait() {
        let limiter = IpLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
            limiter.record_failure(ip);
        }
        let wait = limiter.check(ip).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(limiter.check("192.0.2.2".parse().unwrap()).is_ok());
    }
}
