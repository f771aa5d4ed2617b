//! The clock the lock deadlines are measured on.
//!
//! `Instant` is `CLOCK_MONOTONIC` on Linux, which stops while the machine
//! is suspended: close a laptop's lid for a night and a 10-minute idle lock
//! would still be minutes away when it opens. `CLOCK_BOOTTIME` counts the
//! suspend and, unlike the wall clock, never jumps back when the time is
//! set (rbw polls the wall clock for the same reason). The deadlines are
//! checked on every request as well as by the timer, so the first request
//! after waking finds the agent locked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Time since boot, suspend included; or, in tests, a clock moved by hand.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    Boot,
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// `CLOCK_BOOTTIME`: what the agent runs on.
    pub fn boot() -> Clock {
        Clock(Source::Boot)
    }

    /// A clock that moves only when the returned handle moves it: the
    /// seam through which a test suspends the machine for an hour at once.
    pub fn manual() -> (Clock, ManualClock) {
        // Not zero: a deadline computed from it must not underflow.
        let now = Arc::new(AtomicU64::new(3_600_000_000_000));
        (Clock(Source::Manual(now.clone())), ManualClock(now))
    }

    /// Time since this clock's origin (boot, for the real one).
    pub fn now(&self) -> Duration {
        match &self.0 {
            Source::Boot => {
                let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
                Duration::new(
                    u64::try_from(t.tv_sec).unwrap_or(0),
                    u32::try_from(t.tv_nsec).unwrap_or(0),
                )
            }
            Source::Manual(nanos) => Duration::from_nanos(nanos.load(Ordering::SeqCst)),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Source::Boot => "Clock::boot",
            Source::Manual(_) => "Clock::manual",
        })
    }
}

/// Moves a [`Clock::manual`] forward.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Moves the clock on by `by`, as a suspend of that long would.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_time_moves_forward() {
        let clock = Clock::boot();
        let a = clock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.now() > a);
        // Since boot, not since the epoch: far less than 50 years.
        assert!(a < Duration::from_secs(50 * 365 * 86_400));
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let (clock, hand) = Clock::manual();
        let a = clock.now();
        assert_eq!(clock.now(), a);
        hand.advance(Duration::from_secs(3600));
        assert_eq!(clock.now() - a, Duration::from_secs(3600));
    }
}
