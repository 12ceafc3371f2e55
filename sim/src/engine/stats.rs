//! What workloads leave behind for the summary: per-workload counters with a fixed-bucket
//! latency histogram ([`WorkloadStats`], [`Histogram`]) and each host's TIME-WAIT occupancy
//! integrated over virtual time ([`Occupancy`]). Constant memory, whatever the history.

use std::collections::BTreeMap;
use twsim_model::{Duration, Instant};

/// Sub-buckets per power of two of the latency histogram: a bucket is at most 1/256 of its
/// values wide.
const SUB: u64 = 256;
const SUB_BITS: u32 = 8;

/// A fixed-bucket histogram of durations in µs: exact below 256 µs, then 256 buckets per
/// power of two (relative width ≤ 1/256, about 0.4 %). Constant memory.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

impl Histogram {
    fn bucket(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let k = 63 - v.leading_zeros(); // ≥ SUB_BITS
        let sub = (v >> (k - SUB_BITS)) & (SUB - 1);
        (SUB + u64::from(k - SUB_BITS) * SUB + sub) as usize
    }

    /// The lowest value of bucket `b`.
    fn lower(b: usize) -> u64 {
        let b = b as u64;
        if b < SUB {
            return b;
        }
        let k = (b - SUB) / SUB + u64::from(SUB_BITS);
        let sub = (b - SUB) % SUB;
        (1 << k) | (sub << (k - u64::from(SUB_BITS)))
    }

    /// Adds one value.
    pub fn add(&mut self, d: Duration) {
        let v = d.micros();
        let b = Self::bucket(v);
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.n += 1;
        self.sum_us += u128::from(v);
        self.min_us = if self.n == 1 { v } else { self.min_us.min(v) };
        self.max_us = self.max_us.max(v);
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Exact mean, µs (`None` when empty).
    pub fn mean_us(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_us as f64 / self.n as f64)
    }

    /// Largest value, µs.
    pub fn max_us(&self) -> Option<u64> {
        (self.n > 0).then_some(self.max_us)
    }

    /// The `q`-quantile (0 < q ≤ 1), µs: the lower edge of the bucket holding the
    /// ⌈q·n⌉-th smallest value (at most 0.4 % below it), raised to the smallest value added
    /// (so equal values give themselves). `None` when empty.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::lower(b).max(self.min_us));
            }
        }
        Some(self.max_us)
    }
}

/// What a workload did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct WorkloadStats {
    /// Workload name.
    pub name: String,
    /// Connections opened (`connect()` called or refused before it).
    pub attempted: u64,
    /// Connects that completed (ESTABLISHED).
    pub connected: u64,
    /// Failed connects by errno name (e.g. `EADDRNOTAVAIL`, `ECONNREFUSED`, `ETIMEDOUT`).
    pub failed: BTreeMap<&'static str, u64>,
    /// The first failed connect: (1-based index among the attempts, when, errno name).
    pub first_failure: Option<(u64, Instant, &'static str)>,
    /// Connections whose exchange ended early, by errno name (`ECONNRESET`, `EPIPE`, or
    /// `EOF` for an end of stream before the whole request or response).
    pub broken: BTreeMap<&'static str, u64>,
    /// Exchanges completed (the client read the whole response).
    pub completed: u64,
    /// Bytes delivered to the applications: request bytes the server read plus response bytes
    /// the client read.
    pub bytes_delivered: u64,
    /// Connect latency (from `connect()` to ESTABLISHED).
    pub latency: Histogram,
    /// Why the server could not listen, if it could not (`bind: EADDRINUSE`).
    pub setup_error: Option<String>,
}

/// TIME-WAIT occupancy of one host, integrated over virtual time.
#[derive(Debug, Clone, Default)]
pub struct Occupancy {
    /// Host name.
    pub host: String,
    /// Most records alive together.
    pub max: usize,
    /// TIME-WAIT records of workload connections during the run (ended or alive at the end;
    /// they are counted, not listed one by one).
    pub records: u64,
    /// Record-microseconds from 0 to the end of the run.
    pub area: u128,
    /// Start of the steady window: the first workload's start plus the host's TIME-WAIT
    /// length (records of the first arrivals have had time to accumulate).
    pub steady_from: Instant,
    /// End of the steady window: the last arrival of the last workload.
    pub steady_to: Option<Instant>,
    /// `area` at `steady_from`, at `steady_to`.
    pub(super) area_from: Option<u128>,
    pub(super) area_to: Option<u128>,
}

impl Occupancy {
    /// Time-average of the count over the steady window (`None` if the window is empty).
    pub fn steady_mean(&self) -> Option<f64> {
        let (a, b) = (self.area_from?, self.area_to?);
        let to = self.steady_to?;
        (to > self.steady_from).then(|| (b - a) as f64 / (to - self.steady_from).micros() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_exact_below_256_and_narrow_above() {
        for v in [0u64, 1, 255, 256, 257, 1000, 20_000, 1 << 40, u64::MAX] {
            let b = Histogram::bucket(v);
            let lo = Histogram::lower(b);
            assert!(lo <= v, "{v}: {lo}");
            assert!(v - lo <= v / 256, "{v}: {lo}");
            assert_eq!(Histogram::bucket(lo), b);
        }
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.add(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.mean_us(), Some(50_500.0));
        let p50 = h.quantile_us(0.5).unwrap();
        assert!((50_000 - 50_000 / 256..=50_000).contains(&p50), "{p50}");
        let p99 = h.quantile_us(0.99).unwrap();
        assert!((99_000 - 99_000 / 256..=99_000).contains(&p99), "{p99}");
        assert_eq!(h.max_us(), Some(100_000));
        let mut h = Histogram::default();
        h.add(Duration::from_millis(10));
        h.add(Duration::from_millis(10));
        assert_eq!(h.quantile_us(0.5), Some(10_000));
    }
}
