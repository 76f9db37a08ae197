//! Call latency of a plugin, as a fixed-bucket histogram of atomics.
//!
//! Why fixed buckets: recording must cost a few relaxed atomic adds on the
//! request path, with no lock and no allocation, and Prometheus histograms
//! are exported as cumulative bucket counts anyway. The bounds span what a
//! policy call can take: a few microseconds for a header check, up to the
//! largest deadline a manifest may set.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets, in seconds; a last, unbounded bucket
/// (`+Inf`) holds everything slower.
pub const BUCKETS: [f64; 16] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
    0.1, 1.0, 10.0,
];

/// The same bounds in nanoseconds, for comparing without floating point.
const BOUNDS_NANOS: [u64; 16] = [
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
];

/// A histogram of call durations.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    /// Per bucket (not cumulative), the last one for `+Inf`.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A snapshot of a latency histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LatencySnapshot {
    /// Calls per bucket of [`BUCKETS`], not cumulative; one more entry at the
    /// end for calls slower than the last bound.
    pub counts: Vec<u64>,
    /// Total time of the calls, in nanoseconds.
    pub sum_nanos: u64,
}

impl LatencySnapshot {
    /// How many calls were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Cumulative counts: calls at most as slow as each bound of
    /// [`BUCKETS`], as Prometheus' `le` buckets are.
    pub fn cumulative(&self) -> Vec<u64> {
        self.counts
            .iter()
            .take(BUCKETS.len())
            .scan(0u64, |acc, n| {
                *acc += n;
                Some(*acc)
            })
            .collect()
    }
}

impl Latency {
    pub(crate) fn record(&self, nanos: u64) {
        let bucket = BOUNDS_NANOS.iter().position(|&bound| nanos <= bound).unwrap_or(BOUNDS_NANOS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Total time of the calls recorded, in nanoseconds.
    pub(crate) fn sum_nanos(&self) -> u64 {
        self.sum_nanos.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            counts: self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_agree() {
        for (seconds, nanos) in BUCKETS.iter().zip(BOUNDS_NANOS) {
            assert_eq!((seconds * 1e9).round() as u64, nanos);
        }
    }

    #[test]
    fn calls_land_in_the_first_bucket_that_holds_them() {
        let latency = Latency::default();
        for nanos in [1, 5_000, 5_001, 2_000_000, 20_000_000_000] {
            latency.record(nanos);
        }
        let s = latency.snapshot();
        assert_eq!(s.count(), 5);
        assert_eq!(s.counts[0], 2, "the bound is inclusive");
        assert_eq!(s.counts[1], 1);
        assert_eq!(s.counts[8], 1, "2 ms is in the 2.5 ms bucket");
        assert_eq!(s.counts[BUCKETS.len()], 1, "past the last bound: +Inf");
        let cumulative = s.cumulative();
        assert_eq!(cumulative.len(), BUCKETS.len());
        assert_eq!(*cumulative.last().unwrap(), 4);
        assert_eq!(s.sum_nanos, 1 + 5_000 + 5_001 + 2_000_000 + 20_000_000_000);
    }
}
