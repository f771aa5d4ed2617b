//! Counts and latencies per operation, merged from every simulated agent.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;

/// What an agent does against the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `POST /auth/prelogin`, then `POST /auth/login`.
    Login,
    Refresh,
    /// `GET /teams/{id}/keys`.
    Keys,
    /// `GET /teams/{id}/chain?after=N`.
    Chain,
    /// `POST /teams/{id}/audit`, a batch from the spool.
    Audit,
    /// `GET /teams/{id}/members`.
    Members,
    /// `GET /teams/{id}/usage` (owners).
    Usage,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::Login,
        Op::Refresh,
        Op::Keys,
        Op::Chain,
        Op::Audit,
        Op::Members,
        Op::Usage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Login => "login (prelogin + login)",
            Op::Refresh => "refresh",
            Op::Keys => "GET keys",
            Op::Chain => "GET chain",
            Op::Audit => "POST audit batch",
            Op::Members => "GET members",
            Op::Usage => "GET usage",
        }
    }
}

/// One operation's figures.
#[derive(Clone)]
pub struct Stats {
    /// Latency of the successful ones, in microseconds.
    pub latency: Histogram<u64>,
    /// Failures by kind (`503`, `interrupted`, `unreachable`…).
    pub errors: BTreeMap<String, u64>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            // 1 µs to 5 minutes, 3 significant digits.
            latency: Histogram::new_with_bounds(1, 300_000_000, 3).expect("valid histogram bounds"),
            errors: BTreeMap::new(),
        }
    }
}

impl Stats {
    pub fn ok(&self) -> u64 {
        self.latency.len()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[derive(Clone, Default)]
pub struct Report {
    pub ops: BTreeMap<Op, Stats>,
    /// How long the load ran.
    pub elapsed: Duration,
}

impl Report {
    pub fn success(&mut self, op: Op, took: Duration) {
        let micros = (took.as_micros() as u64).clamp(1, 300_000_000);
        let stats = self.ops.entry(op).or_default();
        // Within the bounds by the clamp above.
        let _ = stats.latency.record(micros);
    }

    pub fn failure(&mut self, op: Op, kind: impl Into<String>) {
        *self
            .ops
            .entry(op)
            .or_default()
            .errors
            .entry(kind.into())
            .or_default() += 1;
    }

    pub fn merge(&mut self, other: &Report) {
        for (op, theirs) in &other.ops {
            let ours = self.ops.entry(*op).or_default();
            // Same bounds on both sides: adding can't fail.
            let _ = ours.latency.add(&theirs.latency);
            for (kind, n) in &theirs.errors {
                *ours.errors.entry(kind.clone()).or_default() += n;
            }
        }
    }

    pub fn errors(&self) -> u64 {
        self.ops.values().map(Stats::error_count).sum()
    }

    pub fn requests(&self) -> u64 {
        self.ops.values().map(|s| s.ok() + s.error_count()).sum()
    }

    /// A Markdown table: one row per operation, then the total.
    pub fn table(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut out = String::from(
            "| operation | ok | ops/s | p50 | p99 | max | errors |\n|---|---:|---:|---:|---:|---:|---|\n",
        );
        let mut all = Stats::default();
        for op in Op::ALL {
            let Some(s) = self.ops.get(&op) else { continue };
            let _ = all.latency.add(&s.latency);
            for (kind, n) in &s.errors {
                *all.errors.entry(kind.clone()).or_default() += n;
            }
            row(&mut out, op.name(), s, secs);
        }
        row(&mut out, "**all**", &all, secs);
        out
    }
}

fn row(out: &mut String, name: &str, s: &Stats, secs: f64) {
    let errors = if s.errors.is_empty() {
        "0".to_owned()
    } else {
        s.errors
            .iter()
            .map(|(k, n)| format!("{n} × {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "| {name} | {} | {:.0} | {} | {} | {} | {errors} |",
        s.ok(),
        s.ok() as f64 / secs,
        ms(s.latency.value_at_quantile(0.5)),
        ms(s.latency.value_at_quantile(0.99)),
        ms(s.latency.max()),
    );
}

fn ms(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_reports_add_up() {
        let mut a = Report::default();
        a.success(Op::Keys, Duration::from_millis(2));
        a.failure(Op::Keys, "503");
        let mut b = Report::default();
        b.success(Op::Keys, Duration::from_millis(4));
        b.failure(Op::Keys, "503");
        b.failure(Op::Login, "interrupted");
        a.merge(&b);
        a.elapsed = Duration::from_secs(1);
        assert_eq!(a.ops[&Op::Keys].ok(), 2);
        assert_eq!(a.ops[&Op::Keys].errors["503"], 2);
        assert_eq!(a.errors(), 3);
        assert_eq!(a.requests(), 5);
        let table = a.table();
        assert!(table.contains("| GET keys | 2 | 2 |"), "{table}");
        assert!(table.contains("2 × 503"), "{table}");
    }
}
